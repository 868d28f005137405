"""The search indexer: one resource version in, every search index row out.

For each resource type the official parameter expressions are compiled once (see `fhirpath`);
indexing a resource evaluates them over its JSON and turns each value into rows by parameter type:

- token: (system, code) from Coding, CodeableConcept, Identifier, ContactPoint, code, boolean; the
  display texts also go to a `<param>:text` string row for the `:text` modifier;
- string: normalised and exact forms; HumanName and Address contribute every part, and a Chinese
  name its joined form (张 + 伟 → 张伟);
- date: half-open ranges in epoch seconds at the value's precision (2024-03 → all of March);
- reference: (type, id) for relative and same-server references, the URL for others;
- number and quantity: a point or a Range, with the unit's system and code;
- uri, and composites as pairs of the two components' values.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from healthbrain.fhir.fhirpath import (
    CHOICE_SUFFIXES,
    CompiledPath,
    Node,
    UnsupportedExpression,
    compile_path,
    compile_relative,
)
from healthbrain.fhir.searchparams import SearchParamDef, SearchParamRegistry, split_union
from healthbrain.fhir.text import name_variants, normalise
from healthbrain.storage.rows import IndexRows

__all__ = ["DATE_MAX", "DATE_MIN", "ResourceIndexer", "date_range"]

log = logging.getLogger(__name__)

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
DATE_MIN = float((date(1, 1, 1).toordinal() - _EPOCH_ORDINAL) * 86400)
DATE_MAX = float((date(9999, 12, 31).toordinal() + 1 - _EPOCH_ORDINAL) * 86400)

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def date_range(text: str) -> tuple[float, float]:
    """The half-open range [low, high) in epoch seconds that a FHIR date/dateTime/instant covers.

    Precision sets the width: `2024` is the whole year, `2024-03-05T10:00` one minute. A time
    without a zone is taken as UTC. Raises ValueError for anything that is not a valid date.
    """
    m = _DATE_RE.match(text.strip())
    if m is None:
        raise ValueError("not a FHIR date")
    year = int(m["y"])
    if year < 1:
        raise ValueError("year out of range")
    if m["m"] is None:
        lo_days = date(year, 1, 1).toordinal() - _EPOCH_ORDINAL
        hi_days = lo_days + (366 if calendar.isleap(year) else 365)
        return float(lo_days * 86400), float(hi_days * 86400)
    month = int(m["m"])
    if not 1 <= month <= 12:
        raise ValueError("month out of range")
    if m["d"] is None:
        lo_days = date(year, month, 1).toordinal() - _EPOCH_ORDINAL
        return float(lo_days * 86400), float((lo_days + calendar.monthrange(year, month)[1]) * 86400)
    day_ordinal = date(year, month, int(m["d"])).toordinal()  # ValueError on 2024-02-30
    lo = float((day_ordinal - _EPOCH_ORDINAL) * 86400)
    if m["H"] is None:
        return lo, lo + 86400.0
    hour, minute = int(m["H"]), int(m["M"])
    second = int(m["S"]) if m["S"] is not None else 0
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError("time out of range")
    offset = 0
    if m["tz"] and m["tz"] != "Z":
        sign = -1 if m["tz"][0] == "-" else 1
        tz_h, tz_m = int(m["tz"][1:3]), int(m["tz"][4:6])
        if tz_h > 14 or tz_m > 59:
            raise ValueError("zone out of range")
        offset = sign * (tz_h * 3600 + tz_m * 60)
    lo += hour * 3600 + minute * 60 + second - offset
    if m["S"] is None:
        return lo, lo + 60.0
    if m["f"]:
        frac = float(m["f"])
        width = 10.0 ** -(len(m["f"]) - 1)
        return lo + frac, lo + frac + width
    return lo, lo + 1.0


@dataclass(frozen=True, slots=True)
class _CompiledParam:
    code: str
    type: str
    paths: tuple[CompiledPath, ...]
    components: tuple[tuple[int, str, CompiledPath], ...] = ()  # (component index, type, path)


class ResourceIndexer:
    """Builds `IndexRows` for resources; compiled parameter sets are cached per resource type."""

    def __init__(self, registry: SearchParamRegistry) -> None:
        self.registry = registry
        self._compiled: dict[str, tuple[_CompiledParam, ...]] = {}
        # per type: top-level element name -> indexes of the parameters whose paths start there
        self._by_field: dict[str, dict[str, tuple[int, ...]]] = {}
        self._key_cache: dict[tuple[str, str], tuple[int, ...]] = {}
        self.unsupported: list[tuple[str, str]] = []
        self._paths: dict[str, CompiledPath] = {}

    def _dispatch(self, rt: str) -> dict[str, tuple[int, ...]]:
        found = self._by_field.get(rt)
        if found is None:
            table: dict[str, list[int]] = {}
            for i, param in enumerate(self.params_for(rt)):
                for path in param.paths:
                    table.setdefault(path.first_field or "*", []).append(i)
            found = {k: tuple(dict.fromkeys(v)) for k, v in table.items()}
            self._by_field[rt] = found
        return found

    def _params_for_key(self, rt: str, key: str) -> tuple[int, ...]:
        """Parameters reached through a top-level key (`valueQuantity` reaches those on `value`)."""
        cached = self._key_cache.get((rt, key))
        if cached is None:
            table = self._dispatch(rt)
            hits = list(table.get(key, ()))
            for i in range(1, len(key)):
                if key[i].isupper() and key[:i] in table and key[i:] in CHOICE_SUFFIXES:
                    hits.extend(table[key[:i]])
            cached = tuple(dict.fromkeys(hits))
            self._key_cache[(rt, key)] = cached
        return cached

    def _intern(self, term: str) -> CompiledPath:
        """One compiled path per distinct expression, so that evaluation can be shared per resource."""
        key = term.strip()
        found = self._paths.get(key)
        if found is None:
            found = self._paths[key] = compile_path(key)
        return found

    def _intern_relative(self, term: str) -> CompiledPath:
        key = "relative:" + term.strip()
        found = self._paths.get(key)
        if found is None:
            found = self._paths[key] = compile_relative(term)
        return found

    def params_for(self, rt: str) -> tuple[_CompiledParam, ...]:
        found = self._compiled.get(rt)
        if found is None:
            found = self._compile(rt)
            self._compiled[rt] = found
        return found

    def _compile(self, rt: str) -> tuple[_CompiledParam, ...]:
        defs: list[SearchParamDef] = list(self.registry.for_type(rt))
        for common in ("_tag", "_profile", "_security", "_source"):
            sp = self.registry.get(rt, common)
            if sp is not None:
                defs.append(sp)
        out: list[_CompiledParam] = []
        for sp in defs:
            if not sp.expression or sp.type == "special":
                continue
            try:
                paths = tuple(self._intern(t) for t in split_union(sp.expression))
                # a component with a union (value.as(DateTime) | value.as(Period)) keeps every term
                comps = tuple(
                    (i, c.type, self._intern_relative(t))
                    for i, c in enumerate(sp.components)
                    for t in split_union(c.expression)
                )
            except UnsupportedExpression:
                self.unsupported.append((rt, sp.code))
                log.warning("search parameter expression not supported", extra={"type": rt, "param": sp.code})
                continue
            out.append(_CompiledParam(sp.code, sp.type, paths, comps))
        return tuple(out)

    def references_of(self, resource: dict[str, Any], code: str) -> list[tuple[str | None, str | None]]:
        """(target type, target id) of the reference parameter `code` of one resource."""
        rt = resource.get("resourceType")
        if not isinstance(rt, str):
            return []
        rows = IndexRows()
        for param in self.params_for(rt):
            if param.code == code and param.type == "reference":
                nodes: list[Node] = []
                for path in param.paths:
                    nodes.extend(path.evaluate(resource))
                _references(rows, code, nodes)
        return [(target_type, target_id) for _, target_type, target_id, _ in rows.references]

    def index(self, resource: dict[str, Any]) -> IndexRows:
        rows = IndexRows()
        rt = resource.get("resourceType")
        if not isinstance(rt, str):
            return rows
        params = self.params_for(rt)
        selected: set[int] = set(self._dispatch(rt).get("*", ()))
        for key in resource:
            selected.update(self._params_for_key(rt, key))
        # Many parameters share an expression (code, combo-code, code-value-quantity ...): evaluate
        # each compiled path once per resource. Keys are ids of the long-lived compiled paths.
        memo: dict[int, list[Node]] = {}
        component_memo: dict[tuple[int, int], list[Node]] = {}
        for i in sorted(selected):
            param = params[i]
            nodes: list[Node] = []
            for path in param.paths:
                found = memo.get(id(path))
                if found is None:
                    found = memo[id(path)] = path.evaluate(resource)
                nodes.extend(found)
            if not nodes:
                continue
            kind = param.type
            if kind == "token":
                _tokens(rows, param.code, nodes)
            elif kind == "string":
                _strings(rows, param.code, nodes)
            elif kind == "date":
                _dates(rows, param.code, nodes)
            elif kind == "reference":
                _references(rows, param.code, nodes)
            elif kind in ("quantity", "number"):
                _quantities(rows, param.code, nodes)
            elif kind == "uri":
                for node in nodes:
                    if isinstance(node.value, str):
                        rows.uris.append((param.code, node.value))
            elif kind == "composite":
                _composites(rows, param, nodes, resource, component_memo)
        _dedupe(rows)
        return rows


# Column widths of the index tables (storage.tables); longer values are cut, never rejected.
_CODE_MAX = 256
_TEXT_MAX = 512


def _cut(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else value[:limit]


def _dedupe(rows: IndexRows) -> None:
    rows.tokens = list(dict.fromkeys((p, _cut(s, _CODE_MAX), _cut(c, _CODE_MAX)) for p, s, c in rows.tokens))
    rows.strings = list(dict.fromkeys((p, n[:_TEXT_MAX], e[:_TEXT_MAX]) for p, n, e in rows.strings))
    rows.dates = list(dict.fromkeys(rows.dates))
    rows.references = list(
        dict.fromkeys(
            (p, t, i, _cut(u, _TEXT_MAX)) for p, t, i, u in rows.references if i is None or len(i) <= 64
        )
    )
    rows.quantities = list(
        dict.fromkeys(
            (p, lo, hi, _cut(s, _CODE_MAX), _cut(c, _CODE_MAX)) for p, lo, hi, s, c in rows.quantities
        )
    )
    rows.uris = list(dict.fromkeys((p, u[:_TEXT_MAX]) for p, u in rows.uris))
    rows.composites = list(
        dict.fromkeys(
            (
                p,
                _cut(s1, _CODE_MAX),
                _cut(c1, _CODE_MAX),
                _cut(s2, _CODE_MAX),
                _cut(c2, _CODE_MAX),
                lo,
                hi,
                _cut(text, _TEXT_MAX),
            )
            for p, s1, c1, s2, c2, lo, hi, text in rows.composites
        )
    )


# ---- token ----------------------------------------------------------------------------------------
def token_values(node: Node) -> Iterable[tuple[str | None, str | None, str | None]]:
    """(system, code, display text) for one token-typed value."""
    v = node.value
    if isinstance(v, bool):
        yield None, "true" if v else "false", None
    elif isinstance(v, str):
        yield None, v, None
    elif isinstance(v, (int, float)):
        yield None, str(v), None
    elif isinstance(v, dict):
        if "coding" in v or (node.type == "CodeableConcept"):
            for c in v.get("coding") or ():
                if isinstance(c, dict) and (c.get("code") is not None or c.get("system")):
                    yield c.get("system"), _str_or_none(c.get("code")), c.get("display")
            text = v.get("text")
            if isinstance(text, str):
                yield None, None, text
        elif "value" in v and ("system" in v or "use" in v or "type" in v or "assigner" in v):
            # Identifier (system|value) or ContactPoint (system is phone/email ...)
            typ = v.get("type")
            display = typ.get("text") if isinstance(typ, dict) else None
            yield _str_or_none(v.get("system")), _str_or_none(v.get("value")), display
        elif "code" in v or "system" in v:
            yield _str_or_none(v.get("system")), _str_or_none(v.get("code")), v.get("display")
        elif "value" in v:
            yield None, _str_or_none(v.get("value")), None


def _str_or_none(v: Any) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else str(v)


def _tokens(rows: IndexRows, code: str, nodes: list[Node]) -> None:
    text_param = code + ":text"
    for node in nodes:
        for system, value, display in token_values(node):
            if value is not None or system is not None:
                rows.tokens.append((code, system, value))
            if isinstance(display, str) and display:
                rows.strings.append((text_param, normalise(display), display))


# ---- string ---------------------------------------------------------------------------------------
_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")


def _string_values(node: Node) -> Iterable[str]:
    v = node.value
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        if "family" in v or "given" in v or (node.type == "HumanName"):
            for part in _NAME_PARTS:
                yield from _strs(v.get(part))
            family = v.get("family") if isinstance(v.get("family"), str) else None
            given = [g for g in v.get("given") or () if isinstance(g, str)]
            yield from name_variants(family, given)
        elif any(k in v for k in _ADDRESS_PARTS):
            for part in _ADDRESS_PARTS:
                yield from _strs(v.get(part))
        else:
            for item in v.values():
                if isinstance(item, str):
                    yield item


def _strs(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (x for x in value if isinstance(x, str))


def _strings(rows: IndexRows, code: str, nodes: list[Node]) -> None:
    for node in nodes:
        for s in _string_values(node):
            if s:
                rows.strings.append((code, normalise(s), s[:2000]))


# ---- date -----------------------------------------------------------------------------------------
def date_values(node: Node) -> Iterable[tuple[float, float]]:
    v = node.value
    if isinstance(v, str):
        try:
            yield date_range(v)
        except ValueError:
            return
    elif isinstance(v, dict):
        if "start" in v or "end" in v:
            lo, hi = DATE_MIN, DATE_MAX
            try:
                if isinstance(v.get("start"), str):
                    lo = date_range(v["start"])[0]
                if isinstance(v.get("end"), str):
                    hi = date_range(v["end"])[1]
            except ValueError:
                return
            yield lo, max(lo, hi)
        elif "event" in v or "repeat" in v:
            for event in v.get("event") or ():
                if isinstance(event, str):
                    try:
                        yield date_range(event)
                    except ValueError:
                        continue
            repeat = v.get("repeat")
            if isinstance(repeat, dict) and isinstance(repeat.get("boundsPeriod"), dict):
                yield from date_values(Node(repeat["boundsPeriod"], "Period"))


def _dates(rows: IndexRows, code: str, nodes: list[Node]) -> None:
    for node in nodes:
        for lo, hi in date_values(node):
            rows.dates.append((code, lo, hi))


# ---- reference ------------------------------------------------------------------------------------
def parse_reference(ref: str) -> tuple[str | None, str | None, str | None]:
    """(type, id, url) of a reference string; relative ones give type and id, others the URL."""
    if ref.startswith("#"):
        return None, None, None
    if "://" in ref or ref.startswith("urn:"):
        return None, None, ref
    parts = ref.split("/")
    if len(parts) == 4 and parts[2] == "_history":
        parts = parts[:2]
    if len(parts) == 2 and parts[0] and parts[1]:
        return parts[0], parts[1].split("?")[0], None
    return None, None, ref


def _references(rows: IndexRows, code: str, nodes: list[Node]) -> None:
    for node in nodes:
        v = node.value
        ref = v.get("reference") if isinstance(v, dict) else v if isinstance(v, str) else None
        if not isinstance(ref, str) or not ref:
            continue
        rtype, rid, url = parse_reference(ref)
        if rtype is None and url is None:
            continue
        rows.references.append((code, rtype, rid, url))


# ---- number and quantity --------------------------------------------------------------------------
def quantity_values(node: Node) -> Iterable[tuple[float, float, str | None, str | None]]:
    v = node.value
    if isinstance(v, bool):
        return
    if isinstance(v, (int, float)):
        yield float(v), float(v), None, None
    elif isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return
        yield f, f, None, None
    elif isinstance(v, dict):
        if "low" in v or "high" in v:
            low, high = v.get("low"), v.get("high")
            lo = _num(low.get("value")) if isinstance(low, dict) else None
            hi = _num(high.get("value")) if isinstance(high, dict) else None
            unit_src = low if isinstance(low, dict) else high if isinstance(high, dict) else {}
            system, unit = _unit(unit_src)
            low_v = lo if lo is not None else float("-inf")
            yield low_v, (hi if hi is not None else float("inf")), system, unit
            return
        value = _num(v.get("value"))
        if value is None:
            return
        system, unit = _unit(v)
        yield value, value, system, unit
        if "currency" not in v and v.get("unit") and v.get("code") and v["unit"] != v["code"]:
            yield value, value, None, str(v["unit"])


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def _unit(v: dict[str, Any]) -> tuple[str | None, str | None]:
    if "currency" in v:
        return "urn:iso:std:iso:4217", _str_or_none(v.get("currency"))
    code = v.get("code") if v.get("code") is not None else v.get("unit")
    return _str_or_none(v.get("system")), _str_or_none(code)


def _quantities(rows: IndexRows, code: str, nodes: list[Node]) -> None:
    for node in nodes:
        for lo, hi, system, unit in quantity_values(node):
            rows.quantities.append((code, lo, hi, system, unit))


# ---- composite ------------------------------------------------------------------------------------
_C1 = tuple[str | None, str | None]
_C2 = tuple[str | None, str | None, float | None, float | None, str | None]


def _composites(
    rows: IndexRows,
    param: _CompiledParam,
    nodes: list[Node],
    resource: dict[str, Any],
    memo: dict[tuple[int, int], list[Node]],
) -> None:
    if not param.components:
        return
    first_type = param.components[0][1]
    first_paths = [p for i, _, p in param.components if i == 0]
    second = [(t, p) for i, t, p in param.components if i == 1]
    for node in nodes:
        c1: list[_C1] = []
        for path in first_paths:
            for sub in _eval_component(path, node, resource, memo):
                if first_type == "token":
                    c1.extend((s, c) for s, c, _ in token_values(sub) if c is not None)
                elif first_type == "reference":
                    ref = sub.value.get("reference") if isinstance(sub.value, dict) else None
                    if isinstance(ref, str):
                        c1.append((None, ref))
        if not c1:
            continue
        c2: list[_C2] = []
        for ctype, path in second:
            for sub in _eval_component(path, node, resource, memo):
                if ctype == "token":
                    c2.extend((s, c, None, None, None) for s, c, _ in token_values(sub) if c is not None)
                elif ctype in ("quantity", "number"):
                    c2.extend((s, u, lo, hi, None) for lo, hi, s, u in quantity_values(sub))
                elif ctype == "date":
                    c2.extend((None, None, lo, hi, None) for lo, hi in date_values(sub))
                elif ctype == "string":
                    c2.extend((None, None, None, None, normalise(s)) for s in _string_values(sub))
        for s1, k1 in c1:
            for s2, k2, lo, hi, text in c2:
                rows.composites.append((param.code, s1, k1, s2, k2, lo, hi, text))


def _eval_component(
    path: CompiledPath, node: Node, resource: dict[str, Any], memo: dict[tuple[int, int], list[Node]]
) -> list[Node]:
    """Relative component paths start at the composite's node; `%resource` ones at the resource.

    Results are memoised per (path, node) for the resource being indexed: the value-quantity,
    value-concept ... composites of one code all start from the same component nodes.
    """
    start = node.value if path.root == "_" else resource
    if not isinstance(start, dict):
        return []
    key = (id(path), id(start))
    found = memo.get(key)
    if found is None:
        found = memo[key] = path.evaluate(start)
    return found
