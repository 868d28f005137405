"""ConceptMap $translate (forward and reverse) and the code mapping the ingest adapters use (pure functions).

See: https://hl7.org/fhir/R4/conceptmap-operation-translate.html. A match is a "result" unless its
equivalence says the concepts do not correspond (unmatched, disjoint).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from healthbrain.core.errors import InvalidInput, Issue, NotFound
from healthbrain.terminology.index import Snapshot
from healthbrain.terminology.model import ConceptMapEntry, MapGroup, parse_concept_map
from healthbrain.terminology.output import coding, parameters, part
from healthbrain.terminology.params import OpParams, coding_input

TRANSLATE_PARAMS = frozenset(
    {
        "url",
        "conceptMap",
        "conceptMapVersion",
        "code",
        "system",
        "version",
        "source",
        "coding",
        "codeableConcept",
        "target",
        "targetsystem",
        "dependency",
        "reverse",
    }
)
NOT_A_MATCH = frozenset({"unmatched", "disjoint"})


@dataclass(frozen=True, slots=True)
class Match:
    """One translation: the target concept, how close it is, and the map that said so."""

    equivalence: str
    system: str | None
    code: str | None
    display: str | None
    version: str | None
    source_map: str | None
    comment: str | None = None

    @property
    def is_result(self) -> bool:
        return self.equivalence not in NOT_A_MATCH and bool(self.code)


def _candidate_maps(
    snapshot: Snapshot, cm: ConceptMapEntry | None, source: str | None, target: str | None
) -> list[ConceptMapEntry]:
    if cm is not None:
        return [cm]
    maps = list(snapshot.concept_maps)
    if source:
        maps = [m for m in maps if m.source_scope == source]
    if target:
        maps = [m for m in maps if m.target_scope == target]
    return maps


def _forward(group: MapGroup, cm: ConceptMapEntry, code: str) -> list[Match]:
    targets = group.elements.get(code)
    if targets:
        return [
            Match(t.equivalence, t.system, t.code, t.display, t.version, cm.url, t.comment) for t in targets
        ]
    if targets is None and group.unmapped_mode == "provided":
        return [Match("equal", group.target, code, None, group.target_version, cm.url)]
    if targets is None and group.unmapped_mode == "fixed" and group.unmapped_code:
        return [
            Match(
                "inexact",
                group.target,
                group.unmapped_code,
                group.unmapped_display,
                group.target_version,
                cm.url,
            )
        ]
    return []


def map_code(
    snapshot: Snapshot,
    system: str,
    code: str,
    *,
    target_system: str | None = None,
    maps: Iterable[ConceptMapEntry] | None = None,
) -> list[Match]:
    """Every mapping of `system|code` (to `target_system` only, when given), through every map."""
    pairs: Iterable[tuple[ConceptMapEntry, MapGroup]]
    if maps is None:
        pairs = snapshot.maps_by_source.get(system, ())
    else:
        pairs = [(m, g) for m in maps for g in m.groups if g.source in (system, None)]
    out: list[Match] = []
    for cm, group in pairs:
        if target_system and group.target != target_system:
            continue
        out.extend(_forward(group, cm, code))
    return out


def _reverse(
    maps: Iterable[ConceptMapEntry], system: str | None, code: str, target_system: str | None
) -> list[Match]:
    out: list[Match] = []
    for cm in maps:
        for group in cm.groups:
            if system and group.target not in (system, None):
                continue
            if target_system and group.source != target_system:
                continue
            for source_code, targets in group.elements.items():
                for t in targets:
                    if t.code == code:
                        out.append(
                            Match(
                                t.equivalence,
                                group.source,
                                source_code,
                                group.displays.get(source_code),
                                group.source_version,
                                cm.url,
                            )
                        )
    return out


def _inline_map(params: OpParams) -> ConceptMapEntry | None:
    given = params.complex("conceptMap")
    if given is None:
        return None
    resource, where = given
    if resource.get("resourceType") != "ConceptMap":
        raise InvalidInput(
            "conceptMap must be a ConceptMap resource",
            code="terminology.invalid_parameter",
            issues=[Issue("error", "invalid", "not a ConceptMap", where)],
        )
    return parse_concept_map(resource)


def translate(snapshot: Snapshot, params: OpParams, cm: ConceptMapEntry | None = None) -> dict[str, Any]:
    """$translate: the matches of a code, coding or codeableConcept, through one map or every map."""
    cm = cm or _inline_map(params)
    url = params.text("url")
    if cm is None and url:
        cm = snapshot.concept_map(url, params.text("conceptMapVersion"))
        if cm is None:
            message = f"the concept map {url} is not known to this server"
            raise NotFound(
                message, issues=[Issue("error", "not-found", message, "url")], code="terminology.unknown_map"
            )
    codings = coding_input(params)
    if not codings:
        raise InvalidInput(
            "$translate needs code+system, coding or codeableConcept",
            issues=[Issue("error", "required", "code, coding or codeableConcept is required", "code")],
            code="terminology.missing_parameter",
        )
    maps = _candidate_maps(snapshot, cm, params.text("source"), params.text("target"))
    target_system = params.text("targetsystem")
    reverse = params.flag("reverse")
    matches: list[Match] = []
    for given, _ in codings:
        system, code = given.get("system"), str(given["code"])
        if reverse:
            matches += _reverse(maps, system, code, target_system)
        elif system is None:
            matches += [
                m
                for c in maps
                for g in c.groups
                for m in _forward(g, c, code)
                if not target_system or g.target == target_system
            ]
        else:
            matches += map_code(
                snapshot,
                system,
                code,
                target_system=target_system,
                maps=maps if (cm is not None or params.text("source") or params.text("target")) else None,
            )
    found = any(m.is_result for m in matches)
    out = [part("result", "valueBoolean", found)]
    if not found:
        shown = ", ".join(f"{c.get('system') or ''}|{c['code']}" for c, _ in codings)
        out.append(part("message", "valueString", f"no mapping found for {shown}"))
    for m in matches:
        parts = [part("equivalence", "valueCode", m.equivalence)]
        if m.code:
            display = m.display or _display(snapshot, m.system, m.code)
            parts.append(part("concept", "valueCoding", coding(m.system, m.code, display, m.version)))
        if m.source_map:
            parts.append(part("source", "valueUri", m.source_map))
        out.append({"name": "match", "part": parts})
    return parameters(*out)


def _display(snapshot: Snapshot, system: str | None, code: str) -> str | None:
    cs = snapshot.code_system(system) if system else None
    concept = cs.get(code) if cs is not None else None
    return concept.display if concept is not None else None
