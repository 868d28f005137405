"""The in-memory terminology index: parsed CodeSystems, ValueSets and ConceptMaps by canonical url.

Built from the stored resources and kept current by the dispatcher subscriber. Writers replace
whole maps under a lock (copy on write), so readers never lock and always see one consistent state.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from healthbrain.terminology.model import (
    CodeSystemEntry,
    ConceptMapEntry,
    MapGroup,
    ValueSetEntry,
    parse_code_system,
    parse_concept_map,
    parse_value_set,
)

TERMINOLOGY_TYPES = frozenset({"CodeSystem", "ValueSet", "ConceptMap"})
Entry = CodeSystemEntry | ValueSetEntry | ConceptMapEntry


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One consistent state of the index; `generation` changes whenever anything does."""

    generation: int = 0
    by_resource: dict[tuple[str, str], Entry] = field(default_factory=dict)
    code_systems: dict[str, tuple[CodeSystemEntry, ...]] = field(default_factory=dict)
    value_sets: dict[str, tuple[ValueSetEntry, ...]] = field(default_factory=dict)
    concept_maps: tuple[ConceptMapEntry, ...] = ()
    maps_by_source: dict[str, tuple[tuple[ConceptMapEntry, MapGroup], ...]] = field(default_factory=dict)

    def code_system(self, url: str, version: str | None = None) -> CodeSystemEntry | None:
        """The code system of `url` (a `url|version` canonical works too), newest version by default."""
        url, version = _split_canonical(url, version)
        found = self.code_systems.get(url, ())
        if version is not None:
            return next((cs for cs in found if cs.version == version), None)
        return found[-1] if found else None

    def value_set(self, url: str, version: str | None = None) -> ValueSetEntry | None:
        url, version = _split_canonical(url, version)
        found = self.value_sets.get(url, ())
        if version is not None:
            return next((vs for vs in found if vs.version == version), None)
        return found[-1] if found else None

    def concept_map(self, url: str, version: str | None = None) -> ConceptMapEntry | None:
        url, version = _split_canonical(url, version)
        found = [
            cm for cm in self.concept_maps if cm.url == url and (version is None or cm.version == version)
        ]
        return found[-1] if found else None

    def resource_entry(self, resource_type: str, resource_id: str) -> Entry | None:
        return self.by_resource.get((resource_type, resource_id))


def _split_canonical(url: str, version: str | None) -> tuple[str, str | None]:
    if "|" in url:
        base, _, ver = url.partition("|")
        return base, version or ver or None
    return url, version


def _version_key(entry: CodeSystemEntry | ValueSetEntry) -> tuple[int, str]:
    return (0 if entry.version is None else 1, entry.version or "")


class TerminologyIndex:
    """Thread-safe holder of the current Snapshot, updated one resource at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot = Snapshot()

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def put(self, resource: dict[str, Any]) -> None:
        """Add or replace one stored CodeSystem/ValueSet/ConceptMap (by its id)."""
        rt = str(resource.get("resourceType"))
        rid = str(resource.get("id") or "")
        entry = _parse(rt, resource)
        with self._lock:
            by_resource = dict(self._snapshot.by_resource)
            if entry is None:
                by_resource.pop((rt, rid), None)
            else:
                by_resource[(rt, rid)] = entry
            self._snapshot = _rebuild(by_resource, self._snapshot.generation + 1)

    def put_many(self, resources: Iterable[dict[str, Any]]) -> int:
        """Add many resources with one rebuild; returns how many were indexed."""
        parsed = [
            (str(r.get("resourceType")), str(r.get("id") or ""), _parse(str(r.get("resourceType")), r))
            for r in resources
        ]
        with self._lock:
            by_resource = dict(self._snapshot.by_resource)
            for rt, rid, entry in parsed:
                if entry is None:
                    by_resource.pop((rt, rid), None)
                else:
                    by_resource[(rt, rid)] = entry
            self._snapshot = _rebuild(by_resource, self._snapshot.generation + 1)
        return sum(1 for _, _, e in parsed if e is not None)

    def remove(self, resource_type: str, resource_id: str) -> None:
        with self._lock:
            if (resource_type, resource_id) not in self._snapshot.by_resource:
                return
            by_resource = dict(self._snapshot.by_resource)
            del by_resource[(resource_type, resource_id)]
            self._snapshot = _rebuild(by_resource, self._snapshot.generation + 1)


def _parse(rt: str, resource: dict[str, Any]) -> Entry | None:
    """Parse a resource for the index; a resource the operations cannot use is left out (None)."""
    if resource.get("status") == "retired":
        return None
    if rt == "CodeSystem":
        if not resource.get("url"):
            return None
        return parse_code_system(resource)
    if rt == "ValueSet":
        return parse_value_set(resource) if resource.get("url") else None
    if rt == "ConceptMap":
        return parse_concept_map(resource)
    return None


def _rebuild(by_resource: dict[tuple[str, str], Entry], generation: int) -> Snapshot:
    code_systems: dict[str, list[CodeSystemEntry]] = {}
    value_sets: dict[str, list[ValueSetEntry]] = {}
    maps: list[ConceptMapEntry] = []
    for entry in by_resource.values():
        if isinstance(entry, CodeSystemEntry):
            code_systems.setdefault(entry.url, []).append(entry)
        elif isinstance(entry, ValueSetEntry) and entry.url:
            value_sets.setdefault(entry.url, []).append(entry)
        elif isinstance(entry, ConceptMapEntry):
            maps.append(entry)
    maps.sort(key=lambda m: (m.url or "", m.version or "", m.resource_id or ""))
    by_source: dict[str, list[tuple[ConceptMapEntry, MapGroup]]] = {}
    for cm in maps:
        for group in cm.groups:
            by_source.setdefault(group.source or "", []).append((cm, group))
    return Snapshot(
        generation=generation,
        by_resource=by_resource,
        code_systems={k: tuple(sorted(v, key=_version_key)) for k, v in code_systems.items()},
        value_sets={k: tuple(sorted(v, key=_version_key)) for k, v in value_sets.items()},
        concept_maps=tuple(maps),
        maps_by_source={k: tuple(v) for k, v in by_source.items()},
    )
