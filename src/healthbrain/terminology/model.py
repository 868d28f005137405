"""The terminology model: frozen views of CodeSystem, ValueSet and ConceptMap resources parsed from JSON.

See: https://hl7.org/fhir/R4/codesystem.html, valueset.html, conceptmap.html. Parsing is pure and
lenient about what it does not use; what it cannot use at all raises `Unprocessable` with the
FHIRPath of the problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from healthbrain.core.errors import Issue, Unprocessable

VALUE_KEYS = (
    "valueCode",
    "valueCoding",
    "valueString",
    "valueInteger",
    "valueBoolean",
    "valueDateTime",
    "valueDecimal",
)
INACTIVE_STATUS = frozenset({"retired", "inactive", "deprecated"})


@dataclass(frozen=True, slots=True)
class Designation:
    """Another name of a concept: its language (BCP-47, e.g. zh-CN), optional use and text."""

    value: str
    language: str | None = None
    use: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PropertyValue:
    """One concept property: its code, the FHIR value key (valueCode ...) and the value."""

    code: str
    key: str
    value: Any


@dataclass(frozen=True, slots=True)
class Concept:
    """A concept of a code system, with its parents (is-a) and whether it is selectable/active."""

    code: str
    display: str | None
    definition: str | None = None
    designations: tuple[Designation, ...] = ()
    properties: tuple[PropertyValue, ...] = ()
    parents: tuple[str, ...] = ()
    abstract: bool = False
    inactive: bool = False

    def property_values(self, code: str) -> list[Any]:
        return [p.value for p in self.properties if p.code == code]

    def display_in(self, language: str | None) -> str | None:
        """The display in `language` (a designation whose language matches), else the display."""
        if language:
            wanted = language.lower()
            for d in self.designations:
                if d.language and (
                    d.language.lower() == wanted or d.language.lower().startswith(wanted + "-")
                ):
                    return d.value
        return self.display


@dataclass(frozen=True, slots=True)
class CodeSystemEntry:
    """A parsed CodeSystem: concepts by code, children of each code, and codes in document order."""

    resource_id: str | None
    url: str
    version: str | None
    name: str | None
    title: str | None
    content: str
    case_sensitive: bool
    language: str | None
    concepts: Mapping[str, Concept]
    children: Mapping[str, tuple[str, ...]]
    order: tuple[str, ...]
    folded: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, code: str) -> Concept | None:
        """The concept of `code`; case-insensitively when the system is not case sensitive."""
        found = self.concepts.get(code)
        if found is None and not self.case_sensitive:
            real = self.folded.get(code.casefold())
            found = self.concepts.get(real) if real is not None else None
        return found

    def descendants(self, code: str) -> list[str]:
        """Every code below `code` (is-a), depth first, each once."""
        out: list[str] = []
        seen = {code}
        stack = list(reversed(self.children.get(code, ())))
        while stack:
            c = stack.pop()
            if c in seen:
                continue
            seen.add(c)
            out.append(c)
            stack.extend(reversed(self.children.get(c, ())))
        return out

    def ancestors(self, code: str) -> list[str]:
        """Every code above `code`, nearest first, each once."""
        out: list[str] = []
        concept = self.concepts.get(code)
        frontier = list(concept.parents) if concept else []
        seen: set[str] = set()
        while frontier:
            c = frontier.pop(0)
            if c in seen:
                continue
            seen.add(c)
            out.append(c)
            parent = self.concepts.get(c)
            frontier.extend(parent.parents if parent else ())
        return out


@dataclass(frozen=True, slots=True)
class Filter:
    """A compose filter: property, op (is-a, descendent-of, =, in, regex ...) and value."""

    property: str
    op: str
    value: str


@dataclass(frozen=True, slots=True)
class ConceptRef:
    """A concept listed in a compose include/exclude, with the display it gives."""

    code: str
    display: str | None = None
    designations: tuple[Designation, ...] = ()


@dataclass(frozen=True, slots=True)
class ComposePart:
    """One compose.include or compose.exclude."""

    system: str | None
    version: str | None
    concepts: tuple[ConceptRef, ...]
    filters: tuple[Filter, ...]
    value_sets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ValueSetEntry:
    """A parsed ValueSet: its compose, or the expansion it carries when it has no compose."""

    resource_id: str | None
    url: str | None
    version: str | None
    name: str | None
    title: str | None
    includes: tuple[ComposePart, ...]
    excludes: tuple[ComposePart, ...]
    inactive: bool | None
    expansion: tuple[tuple[str, str | None, str, str | None], ...] = ()  # (system, version, code, display)


@dataclass(frozen=True, slots=True)
class MapTarget:
    """Where one source code maps to, and how closely (ConceptMap equivalence)."""

    system: str | None
    version: str | None
    code: str | None
    display: str | None
    equivalence: str
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class MapGroup:
    """A ConceptMap group: source system → target system, elements by source code, unmapped rule."""

    source: str | None
    source_version: str | None
    target: str | None
    target_version: str | None
    elements: Mapping[str, tuple[MapTarget, ...]]
    displays: Mapping[str, str]
    unmapped_mode: str | None = None
    unmapped_code: str | None = None
    unmapped_display: str | None = None


@dataclass(frozen=True, slots=True)
class ConceptMapEntry:
    """A parsed ConceptMap."""

    resource_id: str | None
    url: str | None
    version: str | None
    name: str | None
    source_scope: str | None
    target_scope: str | None
    groups: tuple[MapGroup, ...]


def _bad(message: str, where: str) -> Unprocessable:
    return Unprocessable(
        message, issues=[Issue("error", "invalid", message, where)], code="terminology.invalid_resource"
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _designations(items: Any) -> tuple[Designation, ...]:
    out = []
    for d in items or ():
        if isinstance(d, dict) and _str(d.get("value")):
            use = d.get("use") if isinstance(d.get("use"), dict) else None
            out.append(Designation(str(d["value"]), _str(d.get("language")), use))
    return tuple(out)


def _properties(items: Any) -> tuple[PropertyValue, ...]:
    out = []
    for p in items or ():
        if not isinstance(p, dict) or not _str(p.get("code")):
            continue
        for key in VALUE_KEYS:
            if key in p:
                out.append(PropertyValue(str(p["code"]), key, p[key]))
                break
    return tuple(out)


def _flatten(
    items: Any, parent: str | None, where: str, out: list[tuple[dict[str, Any], str | None]]
) -> None:
    if not isinstance(items, list):
        raise _bad("concept must be a list", where)
    for i, c in enumerate(items):
        if not isinstance(c, dict) or not _str(c.get("code")):
            raise _bad("every concept needs a code", f"{where}[{i}].code")
        out.append((c, parent))
        if c.get("concept"):
            _flatten(c["concept"], str(c["code"]), f"{where}[{i}].concept", out)


def _concept(raw: dict[str, Any], nested_parent: str | None) -> Concept:
    props = _properties(raw.get("property"))
    parents = [str(p.value) for p in props if p.code == "parent" and isinstance(p.value, str)]
    if nested_parent is not None and nested_parent not in parents:
        parents.insert(0, nested_parent)
    abstract = any(p.code == "notSelectable" and p.value is True for p in props)
    inactive = any(
        (p.code == "status" and str(p.value) in INACTIVE_STATUS) or (p.code == "inactive" and p.value is True)
        for p in props
    )
    return Concept(
        code=str(raw["code"]),
        display=_str(raw.get("display")),
        definition=_str(raw.get("definition")),
        designations=_designations(raw.get("designation")),
        properties=props,
        parents=tuple(parents),
        abstract=abstract,
        inactive=inactive,
    )


def parse_code_system(resource: dict[str, Any]) -> CodeSystemEntry:
    """A CodeSystem resource as an index entry; needs a url (the system it defines)."""
    url = _str(resource.get("url"))
    if url is None:
        raise _bad("a CodeSystem needs a url to be used for terminology operations", "CodeSystem.url")
    flat: list[tuple[dict[str, Any], str | None]] = []
    _flatten(resource.get("concept") or [], None, "CodeSystem.concept", flat)
    concepts: dict[str, Concept] = {}
    order: list[str] = []
    for raw, parent in flat:
        concept = _concept(raw, parent)
        if concept.code in concepts:  # a polyhierarchy lists a concept under several parents
            old = concepts[concept.code]
            merged = tuple(dict.fromkeys((*old.parents, *concept.parents)))
            concepts[concept.code] = Concept(
                old.code,
                old.display,
                old.definition,
                old.designations,
                old.properties,
                merged,
                old.abstract,
                old.inactive,
            )
            continue
        concepts[concept.code] = concept
        order.append(concept.code)
    children: dict[str, list[str]] = {}
    for code in order:
        for parent_code in concepts[code].parents:
            children.setdefault(parent_code, []).append(code)
    case_sensitive = resource.get("caseSensitive") is not False
    folded = {} if case_sensitive else {c.casefold(): c for c in order}
    return CodeSystemEntry(
        resource_id=_str(resource.get("id")),
        url=url,
        version=_str(resource.get("version")),
        name=_str(resource.get("name")),
        title=_str(resource.get("title")),
        content=_str(resource.get("content")) or "complete",
        case_sensitive=case_sensitive,
        language=_str(resource.get("language")),
        concepts=MappingProxyType(concepts),
        children=MappingProxyType({k: tuple(v) for k, v in children.items()}),
        order=tuple(order),
        folded=MappingProxyType(folded),
    )


def _compose_part(raw: Any, where: str) -> ComposePart:
    if not isinstance(raw, dict):
        raise _bad("an include/exclude must be an object", where)
    concepts = tuple(
        ConceptRef(str(c["code"]), _str(c.get("display")), _designations(c.get("designation")))
        for c in raw.get("concept") or ()
        if isinstance(c, dict) and _str(c.get("code"))
    )
    filters = []
    for i, f in enumerate(raw.get("filter") or ()):
        if not isinstance(f, dict) or not all(_str(f.get(k)) for k in ("property", "op", "value")):
            raise _bad("a filter needs property, op and value", f"{where}.filter[{i}]")
        filters.append(Filter(str(f["property"]), str(f["op"]), str(f["value"])))
    value_sets = tuple(str(v) for v in raw.get("valueSet") or () if _str(v))
    system = _str(raw.get("system"))
    if system is None and not value_sets:
        raise _bad("an include/exclude needs a system or a valueSet", where)
    if (concepts or filters) and system is None:
        raise _bad("concepts and filters need a system", where)
    return ComposePart(system, _str(raw.get("version")), concepts, tuple(filters), value_sets)


def parse_value_set(resource: dict[str, Any]) -> ValueSetEntry:
    """A ValueSet resource as an index entry (compose, or a stored expansion)."""
    raw_compose = resource.get("compose")
    compose: dict[str, Any] = raw_compose if isinstance(raw_compose, dict) else {}
    includes = tuple(
        _compose_part(p, f"ValueSet.compose.include[{i}]") for i, p in enumerate(compose.get("include") or ())
    )
    excludes = tuple(
        _compose_part(p, f"ValueSet.compose.exclude[{i}]") for i, p in enumerate(compose.get("exclude") or ())
    )
    expansion: list[tuple[str, str | None, str, str | None]] = []
    if not includes and isinstance(resource.get("expansion"), dict):
        stack = list(resource["expansion"].get("contains") or ())
        while stack:
            c = stack.pop(0)
            if isinstance(c, dict):
                if _str(c.get("system")) and _str(c.get("code")):
                    expansion.append((c["system"], _str(c.get("version")), c["code"], _str(c.get("display"))))
                stack.extend(c.get("contains") or ())
    inactive = compose.get("inactive")
    return ValueSetEntry(
        resource_id=_str(resource.get("id")),
        url=_str(resource.get("url")),
        version=_str(resource.get("version")),
        name=_str(resource.get("name")),
        title=_str(resource.get("title")),
        includes=includes,
        excludes=excludes,
        inactive=inactive if isinstance(inactive, bool) else None,
        expansion=tuple(expansion),
    )


def _map_group(raw: Any, where: str) -> MapGroup:
    if not isinstance(raw, dict):
        raise _bad("a group must be an object", where)
    elements: dict[str, list[MapTarget]] = {}
    displays: dict[str, str] = {}
    target_system = _str(raw.get("target"))
    for i, el in enumerate(raw.get("element") or ()):
        if not isinstance(el, dict) or not _str(el.get("code")):
            raise _bad("every element needs a code", f"{where}.element[{i}].code")
        code = str(el["code"])
        if _str(el.get("display")):
            displays.setdefault(code, str(el["display"]))
        bucket = elements.setdefault(code, [])
        for j, t in enumerate(el.get("target") or ()):
            if not isinstance(t, dict) or not _str(t.get("equivalence")):
                raise _bad(
                    "every target needs an equivalence", f"{where}.element[{i}].target[{j}].equivalence"
                )
            bucket.append(
                MapTarget(
                    target_system,
                    _str(raw.get("targetVersion")),
                    _str(t.get("code")),
                    _str(t.get("display")),
                    str(t["equivalence"]),
                    _str(t.get("comment")),
                )
            )
    raw_unmapped = raw.get("unmapped")
    unmapped: dict[str, Any] = raw_unmapped if isinstance(raw_unmapped, dict) else {}
    return MapGroup(
        source=_str(raw.get("source")),
        source_version=_str(raw.get("sourceVersion")),
        target=target_system,
        target_version=_str(raw.get("targetVersion")),
        elements=MappingProxyType({k: tuple(v) for k, v in elements.items()}),
        displays=MappingProxyType(displays),
        unmapped_mode=_str(unmapped.get("mode")),
        unmapped_code=_str(unmapped.get("code")),
        unmapped_display=_str(unmapped.get("display")),
    )


def parse_concept_map(resource: dict[str, Any]) -> ConceptMapEntry:
    """A ConceptMap resource as an index entry."""
    groups = tuple(_map_group(g, f"ConceptMap.group[{i}]") for i, g in enumerate(resource.get("group") or ()))
    return ConceptMapEntry(
        resource_id=_str(resource.get("id")),
        url=_str(resource.get("url")),
        version=_str(resource.get("version")),
        name=_str(resource.get("name")),
        source_scope=_str(resource.get("sourceUri")) or _str(resource.get("sourceCanonical")),
        target_scope=_str(resource.get("targetUri")) or _str(resource.get("targetCanonical")),
        groups=groups,
    )
