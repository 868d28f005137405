"""Local codes in clinical resources: which coded elements are looked at, adding mapped standard codes,
and finding the local codes nobody has mapped yet (pure functions).

A CodeableConcept that carries only local codings (an institution's own test or drug codes) gets
the standard codings its institution's ConceptMap gives, next to the local ones (which are kept:
the sender's own code stays traceable). When no map knows the code, it goes to the review queue.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Translate = Callable[[str, str], list[dict[str, Any]]]
IsLocal = Callable[[str | None], bool]


@dataclass(frozen=True, slots=True)
class CodedElement:
    """A coded element of a resource type and the token search parameter that finds it."""

    resource_type: str
    search_param: str
    path: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.resource_type}.{'.'.join(self.path)}"


CODED_ELEMENTS: tuple[CodedElement, ...] = (
    CodedElement("Observation", "code", ("code",)),
    CodedElement("Observation", "component-code", ("component", "code")),
    CodedElement("DiagnosticReport", "code", ("code",)),
    CodedElement("ServiceRequest", "code", ("code",)),
    CodedElement("Condition", "code", ("code",)),
    CodedElement("Procedure", "code", ("code",)),
    CodedElement("AllergyIntolerance", "code", ("code",)),
    CodedElement("Immunization", "vaccine-code", ("vaccineCode",)),
    CodedElement("MedicationRequest", "code", ("medicationCodeableConcept",)),
    CodedElement("MedicationAdministration", "code", ("medicationCodeableConcept",)),
    CodedElement("MedicationStatement", "code", ("medicationCodeableConcept",)),
    CodedElement("MedicationDispense", "code", ("medicationCodeableConcept",)),
)
CODED_TYPES = frozenset(e.resource_type for e in CODED_ELEMENTS)


@dataclass(frozen=True, slots=True)
class Unmapped:
    """A local coding without any standard code, and the element it was found in."""

    element: str
    system: str
    code: str
    display: str | None


def concepts_at(resource: dict[str, Any], path: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """The CodeableConcepts at `path` (lists are walked), as the very objects inside `resource`."""
    nodes: list[Any] = [resource]
    for step in path:
        nxt: list[Any] = []
        for node in nodes:
            value = node.get(step) if isinstance(node, dict) else None
            if isinstance(value, list):
                nxt.extend(value)
            elif value is not None:
                nxt.append(value)
        nodes = nxt
    for node in nodes:
        if isinstance(node, dict) and isinstance(node.get("coding"), list):
            yield node


def _local_codings(concept: dict[str, Any], is_local: IsLocal) -> list[dict[str, Any]]:
    return [
        c
        for c in concept["coding"]
        if isinstance(c, dict) and is_local(c.get("system")) and isinstance(c.get("code"), str) and c["code"]
    ]


def map_concept(
    concept: dict[str, Any], translate: Translate, is_local: IsLocal, element: str
) -> tuple[list[dict[str, Any]], list[Unmapped]]:
    """(standard codings to add, local codings nobody maps) for one CodeableConcept."""
    local = _local_codings(concept, is_local)
    if not local:
        return [], []
    present = {(c.get("system"), c.get("code")) for c in concept["coding"] if isinstance(c, dict)}
    has_standard = any(isinstance(c, dict) and not is_local(c.get("system")) for c in concept["coding"])
    additions: list[dict[str, Any]] = []
    missing: list[Unmapped] = []
    for c in local:
        targets = translate(str(c["system"]), str(c["code"]))
        for target in targets:
            key = (target.get("system"), target.get("code"))
            if key not in present:
                present.add(key)
                additions.append(target)
        if not targets and not has_standard:
            display = c.get("display") if isinstance(c.get("display"), str) else concept.get("text")
            missing.append(Unmapped(element, str(c["system"]), str(c["code"]), display))
    if additions:  # once one local coding maps, the concept has its standard code
        missing = []
    return additions, missing


def enrich(
    resource: dict[str, Any], translate: Translate, is_local: IsLocal
) -> tuple[dict[str, Any] | None, list[Unmapped]]:
    """The resource with mapped standard codings added (None: no change), and what stays unmapped."""
    rt = resource.get("resourceType")
    elements = [e for e in CODED_ELEMENTS if e.resource_type == rt]
    if not elements:
        return None, []
    changed: dict[str, Any] | None = None
    unmapped: list[Unmapped] = []
    for element in elements:
        for index, concept in enumerate(list(concepts_at(resource, element.path))):
            additions, missing = map_concept(concept, translate, is_local, element.name)
            unmapped.extend(missing)
            if additions:
                if changed is None:
                    changed = copy.deepcopy(resource)
                target = list(concepts_at(changed, element.path))[index]
                target["coding"] = [*target["coding"], *additions]
    return changed, unmapped


def local_codes_of(resource: dict[str, Any], is_local: IsLocal) -> set[tuple[str, str]]:
    """Every (system, code) of a local coding in the resource's coded elements."""
    found: set[tuple[str, str]] = set()
    for element in CODED_ELEMENTS:
        if element.resource_type != resource.get("resourceType"):
            continue
        for concept in concepts_at(resource, element.path):
            found.update((str(c["system"]), str(c["code"])) for c in _local_codings(concept, is_local))
    return found
