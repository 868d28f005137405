"""ValueSet expansion: compose includes/excludes, hierarchy and property filters, text filters.

See: https://hl7.org/fhir/R4/valueset.html#compositions and valueset-operation-expand.html. A
full expansion is computed once per index generation and cached; `filter`, `count` and `offset`
then work on the cached list, so paging through ICD-10 is a slice, not a recomputation.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pypinyin import Style, lazy_pinyin

from healthbrain.core.errors import Issue, Unprocessable
from healthbrain.terminology.index import Snapshot
from healthbrain.terminology.model import (
    CodeSystemEntry,
    ComposePart,
    Concept,
    Designation,
    Filter,
    ValueSetEntry,
)

MAX_DEPTH = 10
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True, slots=True)
class Item:
    """One code of an expansion, with the text a filter searches (code, names, pinyin)."""

    system: str
    version: str | None
    code: str
    display: str | None
    designations: tuple[Designation, ...]
    abstract: bool
    inactive: bool
    haystack: str

    def display_in(self, language: str | None) -> str | None:
        if language:
            wanted = language.lower()
            for d in self.designations:
                if d.language and (
                    d.language.lower() == wanted or d.language.lower().startswith(wanted + "-")
                ):
                    return d.value
        return self.display


@dataclass(frozen=True, slots=True)
class Expansion:
    """The codes of a value set in order, and an index by (system, code) for membership checks."""

    items: tuple[Item, ...]
    members: Mapping[tuple[str, str], Item]


def fold(text: str) -> str:
    """The form text is compared in: NFKC (full-width → half-width), case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def _haystack(code: str, display: str | None, designations: Iterable[Designation]) -> str:
    names = [display or "", *(d.value for d in designations)]
    parts = [code, *names]
    for name in names:
        if _CJK.search(name):
            parts.append("".join(lazy_pinyin(name)))
            parts.append("".join(lazy_pinyin(name, style=Style.FIRST_LETTER)))
    return fold("\n".join(p for p in parts if p))


def _item(cs: CodeSystemEntry, concept: Concept, display: str | None = None) -> Item:
    shown = display or concept.display
    return Item(
        cs.url,
        cs.version,
        concept.code,
        shown,
        concept.designations,
        concept.abstract,
        concept.inactive,
        _haystack(concept.code, shown, concept.designations),
    )


def _error(message: str, code: str, where: str | None = None) -> Unprocessable:
    return Unprocessable(message, issues=[Issue("error", "not-supported", message, where)], code=code)


def _values(concept: Concept, prop: str) -> list[str]:
    if prop in ("concept", "code"):
        return [concept.code]
    if prop == "display":
        return [concept.display or ""]
    out = []
    for value in concept.property_values(prop):
        if isinstance(value, bool):
            out.append("true" if value else "false")
        elif isinstance(value, dict):
            out.append(str(value.get("code", "")))
        else:
            out.append(str(value))
    return out


def _apply_filter(cs: CodeSystemEntry, codes: list[str], f: Filter) -> list[str]:
    """The codes of `codes` (document order kept) that pass one compose filter."""
    op, value = f.op, f.value
    if op in ("is-a", "descendent-of", "is-not-a", "generalizes") and f.property in ("concept", "code"):
        root = cs.get(value)
        if root is None:
            below: set[str] = set()
        elif op == "generalizes":
            below = {root.code, *cs.ancestors(root.code)}
        else:
            below = set(cs.descendants(root.code))
            if op != "descendent-of":
                below.add(root.code)
        if op == "is-not-a":
            return [c for c in codes if c not in below]
        return [c for c in codes if c in below]
    if op in ("=", "in", "not-in"):
        wanted = {value} if op == "=" else {v.strip() for v in value.split(",")}
        hit = [c for c in codes if wanted.intersection(_values(cs.concepts[c], f.property))]
        if op == "not-in":
            hits = set(hit)
            return [c for c in codes if c not in hits]
        return hit
    if op == "regex":
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise _error("the filter's regex is not valid", "terminology.bad_filter") from exc
        return [c for c in codes if any(pattern.fullmatch(v) for v in _values(cs.concepts[c], f.property))]
    if op == "exists":
        want = value.lower() == "true"
        return [c for c in codes if bool(_values(cs.concepts[c], f.property)) == want]
    raise _error(f"the filter operator '{op}' is not supported", "terminology.unsupported_filter")


def _system(snapshot: Snapshot, part: ComposePart, where: str) -> list[Item]:
    assert part.system is not None
    cs = snapshot.code_system(part.system, part.version)
    if part.concepts:
        items = []
        for ref in part.concepts:
            concept = cs.get(ref.code) if cs is not None else None
            if concept is not None and cs is not None:
                items.append(_item(cs, concept, ref.display))
            elif cs is None:  # an enumerated code of a system we do not hold: trust the value set
                items.append(
                    Item(
                        part.system,
                        part.version,
                        ref.code,
                        ref.display,
                        ref.designations,
                        False,
                        False,
                        _haystack(ref.code, ref.display, ref.designations),
                    )
                )
        return items
    if cs is None:
        raise Unprocessable(
            f"the code system {part.system} is not known to this server",
            issues=[Issue("error", "not-found", "unknown code system", where)],
            code="terminology.unknown_system",
        )
    codes = list(cs.order)
    for f in part.filters:
        codes = _apply_filter(cs, codes, f)
    return [_item(cs, cs.concepts[c]) for c in codes]


def _part(snapshot: Snapshot, part: ComposePart, where: str, depth: int) -> list[Item]:
    items = _system(snapshot, part, where) if part.system else None
    for url in part.value_sets:
        ref = snapshot.value_set(url)
        if ref is None:
            raise Unprocessable(
                f"the value set {url} is not known to this server",
                issues=[Issue("error", "not-found", "unknown value set", where)],
                code="terminology.unknown_value_set",
            )
        other = expand_entry(snapshot, ref, depth=depth + 1)
        if items is None:
            items = list(other.items)
        else:
            items = [i for i in items if (i.system, i.code) in other.members]
    return items or []


def expand_entry(snapshot: Snapshot, vs: ValueSetEntry, *, depth: int = 0) -> Expansion:
    """Every code of a value set, in compose order, each once (the full, unfiltered expansion)."""
    if depth > MAX_DEPTH:
        raise _error("value sets include each other too deeply (a cycle?)", "terminology.value_set_cycle")
    if not vs.includes and vs.expansion:
        stored = [Item(s, v, c, d, (), False, False, _haystack(c, d, ())) for s, v, c, d in vs.expansion]
        return _collect(stored, set())
    items: list[Item] = []
    for i, part in enumerate(vs.includes):
        items.extend(_part(snapshot, part, f"ValueSet.compose.include[{i}]", depth))
    excluded: set[tuple[str, str]] = set()
    for i, part in enumerate(vs.excludes):
        excluded.update(
            (x.system, x.code) for x in _part(snapshot, part, f"ValueSet.compose.exclude[{i}]", depth)
        )
    if vs.inactive is False:
        items = [i for i in items if not i.inactive]
    return _collect(items, excluded)


def _collect(items: Iterable[Item], excluded: set[tuple[str, str]]) -> Expansion:
    members: dict[tuple[str, str], Item] = {}
    for item in items:
        key = (item.system, item.code)
        if key not in excluded and key not in members:
            members[key] = item
    return Expansion(tuple(members.values()), MappingProxyType(members))


def text_filter(items: Iterable[Item], text: str) -> list[Item]:
    """Items whose code, names or pinyin contain every word of `text`; exact and prefix hits first."""
    terms = [t for t in fold(text).split() if t]
    if not terms:
        return list(items)
    first = terms[0]
    ranked: list[tuple[int, int, Item]] = []
    for pos, item in enumerate(items):
        hay = item.haystack
        if all(t in hay for t in terms):
            code = item.code.casefold()
            display = fold(item.display or "")
            rank = (
                0 if code == first else 1 if code.startswith(first) else 2 if display.startswith(first) else 3
            )
            ranked.append((rank, pos, item))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in ranked]


class ExpansionCache:
    """Full expansions of stored value sets, valid for one index generation (bounded LRU)."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, str, str | None, str | None], Expansion] = OrderedDict()

    def get(self, snapshot: Snapshot, vs: ValueSetEntry) -> Expansion:
        """The expansion of `vs` under `snapshot`, computed at most once per generation."""
        key = (snapshot.generation, vs.resource_id or "", vs.url, vs.version)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        expansion = expand_entry(snapshot, vs)
        with self._lock:
            stale = [k for k in self._entries if k[0] != snapshot.generation]
            for k in stale:
                del self._entries[k]
            self._entries[key] = expansion
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return expansion
