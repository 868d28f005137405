"""Parse a FHIR search request (URL parameters) into storage criteria and result controls.

See: https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from healthbrain.core.errors import InvalidInput, Issue
from healthbrain.fhir.indexing import date_range
from healthbrain.fhir.protection import FieldProtector, protect_query
from healthbrain.fhir.search_values import (
    bad_value,
    date_criterion,
    has_unescaped,
    number_criterion,
    quantity_unit,
    range_conds,
    split_escaped,
    split_prefix,
    string_criterion,
    token_conds,
    token_criterion,
    unsupported_modifier,
    uri_criterion,
)
from healthbrain.fhir.searchparams import SearchParamDef, SearchParamRegistry
from healthbrain.fhir.text import normalise
from healthbrain.storage.query import (
    AllOf,
    AnyOf,
    Chain,
    Cond,
    Criterion,
    HasParam,
    IdIn,
    IndexMatch,
    LastUpdated,
    Not,
    Query,
    ReverseChain,
    SortKey,
)

RESULT_PARAMS = {
    "_count",
    "_offset",
    "_sort",
    "_include",
    "_revinclude",
    "_summary",
    "_elements",
    "_total",
    "_format",
    "_pretty",
    "_contained",
    "_containedType",
}
SUMMARY_MODES = {"true", "false", "text", "data", "count"}
TOTAL_MODES = {"none", "estimate", "accurate"}
MAX_CHAIN_DEPTH = 4


@dataclass(frozen=True, slots=True)
class Include:
    """`_include=Source:param[:Target]` or `_revinclude=...`, optionally `:iterate`."""

    source_type: str
    param: str | None  # None for `*`
    target_type: str | None
    iterate: bool = False


@dataclass(slots=True)
class SearchRequest:
    """A parsed search: the storage query plus what the result should contain."""

    query: Query
    count: int
    offset: int = 0
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    summary: str | None = None
    elements: list[str] = field(default_factory=list)
    total: str = "accurate"
    warnings: list[Issue] = field(default_factory=list)
    # the parameters that were applied, for the self link
    applied: list[tuple[str, str]] = field(default_factory=list)


class SearchParser:
    """Parses search parameters of any resource type against the registry."""

    def __init__(
        self,
        registry: SearchParamRegistry,
        *,
        default_count: int = 50,
        max_count: int = 1000,
        base_url: str = "",
        now: Callable[[], float] = time.time,
        protector: FieldProtector | None = None,
    ) -> None:
        self.registry = registry
        self.default_count = default_count
        self.max_count = max_count
        self.base_url = base_url.rstrip("/")
        self.now = now
        self.protector = protector

    def parse(
        self, resource_type: str, params: Sequence[tuple[str, str]], *, lenient: bool = False
    ) -> SearchRequest:
        """Parse; unknown or malformed parameters raise 400 unless `lenient` (then they become warnings)."""
        req = SearchRequest(query=Query(resource_type), count=self.default_count)
        criteria: list[Criterion] = []
        sort: list[SortKey] = []
        problems: list[Issue] = []
        for name, value in params:
            try:
                if name.split(":", 1)[0] in RESULT_PARAMS:
                    self._result_param(req, resource_type, name, value, sort)
                else:
                    criteria.append(self.criterion(resource_type, name, value))
                req.applied.append((name, value))
            except InvalidInput as err:
                problems.extend(err.issues)
        if problems:
            if not lenient:
                raise InvalidInput(problems[0].diagnostics, issues=problems, code="search.invalid")
            req.warnings = [
                Issue("warning", i.code, i.diagnostics + " (ignored)", i.expression) for i in problems
            ]
        req.query = Query(resource_type, tuple(criteria), tuple(sort))
        if self.protector is not None:
            req.query = protect_query(self.protector, req.query)
        return req

    # ---- result parameters -----------------------------------------------------------------------
    def _result_param(self, req: SearchRequest, rt: str, name: str, value: str, sort: list[SortKey]) -> None:
        if name == "_count":
            req.count = min(self._int(name, value), self.max_count)
        elif name == "_offset":
            req.offset = self._int(name, value)
        elif name == "_sort":
            sort.extend(self._sort_keys(rt, value))
        elif name.split(":", 1)[0] in ("_include", "_revinclude"):
            base, _, modifier = name.partition(":")
            if modifier not in ("", "iterate", "recurse"):
                raise _invalid(name, "the only modifier of _include/_revinclude is :iterate")
            inc = self._include(name, value)
            (req.includes if base == "_include" else req.revincludes).append(inc)
        elif name == "_summary":
            if value not in SUMMARY_MODES:
                raise _invalid(name, "must be one of true, false, text, data, count")
            req.summary = value
        elif name == "_elements":
            req.elements = [e.strip() for e in value.split(",") if e.strip()]
        elif name == "_total":
            if value not in TOTAL_MODES:
                raise _invalid(name, "must be one of none, estimate, accurate")
            req.total = value
        elif name in ("_contained", "_containedType"):
            raise _not_supported(name)

    def _int(self, name: str, value: str) -> int:
        if not value.isdigit():
            raise _invalid(name, "must be a non-negative integer")
        return int(value)

    def _sort_keys(self, rt: str, value: str) -> list[SortKey]:
        keys: list[SortKey] = []
        for raw in value.split(","):
            desc = raw.startswith("-")
            code = raw[1:] if desc else raw
            if code in ("_id", "_lastUpdated"):
                keys.append(SortKey("meta", code, desc))
                continue
            sp = self.registry.get(rt, code)
            if sp is None or sp.type in ("special", "composite"):
                raise _unknown(rt, code)
            kind = "quantity" if sp.type == "number" else sp.type
            keys.append(SortKey(kind, code, desc))  # type: ignore[arg-type]
        return keys

    def _include(self, name: str, value: str) -> Include:
        parts = value.split(":")
        iterate = False
        if name.endswith(":iterate") or name.endswith(":recurse"):
            iterate = True
        if value == "*":
            return Include("*", None, None, iterate)
        if len(parts) < 2 or len(parts) > 3:
            raise _invalid(name, "must be SourceType:param[:TargetType]")
        source, param = parts[0], parts[1]
        target = parts[2] if len(parts) == 3 else None
        if param == "*":
            return Include(source, None, target, iterate)
        sp = self.registry.get(source, param)
        if sp is None or sp.type != "reference":
            raise _invalid(name, f"'{source}:{param}' is not a reference search parameter")
        return Include(source, param, target, iterate)

    # ---- criteria ----------------------------------------------------------------------------------
    def criterion(self, rt: str, name: str, value: str, depth: int = 0) -> Criterion:
        """One `name=value` pair as a criterion over resources of type `rt`."""
        if depth > MAX_CHAIN_DEPTH:
            raise _invalid(name, "chain is too deep")
        if name.startswith("_has:"):
            return self._reverse_chain(rt, name, value, depth)
        head, _, rest = name.partition(".")
        code, _, modifier = head.partition(":")
        mod: str | None = modifier or None
        if code == "_id":
            return self._id(mod, value)
        if code == "_lastUpdated":
            return self._last_updated(value)
        sp = self.registry.get(rt, code)
        if sp is None:
            raise _unknown(rt, code)
        if rest:
            return self._chain(rt, sp, mod, rest, value, depth)
        if mod == "missing":
            if value not in ("true", "false"):
                raise _invalid(code, ":missing takes true or false")
            kind = "quantity" if sp.type == "number" else sp.type
            return HasParam(kind, code, present=value == "false")  # type: ignore[arg-type]
        values = split_escaped(value, ",") if sp.type != "composite" else _split_composite_or(value)
        return self._typed(rt, sp, mod, values)

    def _typed(self, rt: str, sp: SearchParamDef, mod: str | None, values: list[str]) -> Criterion:
        if sp.type == "token":
            return token_criterion(sp, mod, values)
        if sp.type == "string":
            return string_criterion(sp, mod, values)
        if sp.type == "date":
            return date_criterion(sp, mod, values, self.now)
        if sp.type == "number":
            return number_criterion(sp, mod, values)
        if sp.type == "quantity":
            from healthbrain.fhir.search_values import quantity_criterion

            return quantity_criterion(sp, mod, values)
        if sp.type == "uri":
            return uri_criterion(sp, mod, values)
        if sp.type == "reference":
            return AnyOf(tuple(self._reference(sp, mod, v) for v in values))
        if sp.type == "composite":
            return AnyOf(tuple(self._composite(sp, v) for v in values))
        raise _not_supported(sp.code)

    def _id(self, mod: str | None, value: str) -> Criterion:
        ids = tuple(v for v in split_escaped(value, ",") if v)
        if mod == "not":
            return Not(IdIn(ids))
        if mod is not None:
            raise unsupported_modifier("_id", mod)
        return IdIn(ids)

    def _last_updated(self, value: str) -> Criterion:
        opts: list[Criterion] = []
        for v in split_escaped(value, ","):
            prefix, text = split_prefix(v)
            try:
                lo, hi = date_range(text)
            except ValueError:
                raise bad_value("_lastUpdated", "not a valid FHIR instant") from None
            conds = range_conds("eq" if prefix == "ne" else prefix, lo, hi, approx=86400.0)
            assert isinstance(conds, tuple)
            # last_updated is a point in time: low == high == the column
            parts = tuple(LastUpdated(c.op, float(c.value)) for c in conds)  # type: ignore[arg-type]
            crit: Criterion = parts[0] if len(parts) == 1 else AllOf(parts)
            opts.append(Not(crit) if prefix == "ne" else crit)
        return AnyOf(tuple(opts))

    def _reference(self, sp: SearchParamDef, mod: str | None, value: str) -> Criterion:
        if mod is not None and mod not in sp.targets and mod != "identifier":
            if mod == "missing":
                raise _invalid(sp.code, ":missing takes true or false")
            raise unsupported_modifier(sp.code, mod)
        if mod == "identifier":
            raise unsupported_modifier(sp.code, mod)
        ref = value
        if self.base_url and ref.startswith(self.base_url + "/"):
            ref = ref[len(self.base_url) + 1 :]
        if "://" in ref or ref.startswith("urn:"):
            return IndexMatch("reference", sp.code, (Cond("url", "=", value),))
        parts = ref.split("/")
        if len(parts) >= 4 and parts[-2] == "_history":
            parts = parts[:-2]
        if len(parts) == 2:
            rtype, rid = parts
            if mod is not None and mod != rtype:
                raise _invalid(sp.code, "type modifier and reference type disagree")
            return IndexMatch(
                "reference", sp.code, (Cond("target_type", "=", rtype), Cond("target_id", "=", rid))
            )
        if len(parts) == 1 and ref:
            conds: tuple[Cond, ...] = (Cond("target_id", "=", ref),)
            if mod is not None:
                conds += (Cond("target_type", "=", mod),)
            elif len(sp.targets) == 1:
                conds += (Cond("target_type", "=", sp.targets[0]),)
            return IndexMatch("reference", sp.code, conds)
        raise bad_value(sp.code, "not a reference (Type/id, id or URL)")

    def _chain(
        self, rt: str, sp: SearchParamDef, mod: str | None, rest: str, value: str, depth: int
    ) -> Criterion:
        if sp.type != "reference":
            raise _invalid(sp.code, "only reference parameters can be chained")
        targets = (mod,) if mod else sp.targets
        next_code = rest.split(".", 1)[0].split(":", 1)[0]
        opts: list[Criterion] = []
        for target in targets:
            if target is None or (
                next_code not in ("_id", "_lastUpdated") and self.registry.get(target, next_code) is None
            ):
                continue
            inner = self.criterion(target, rest, value, depth + 1)
            opts.append(Chain(sp.code, target, (inner,)))
        if not opts:
            raise _invalid(sp.code, f"no target type of '{sp.code}' has search parameter '{next_code}'")
        return opts[0] if len(opts) == 1 else AnyOf(tuple(opts))

    def _reverse_chain(self, rt: str, name: str, value: str, depth: int) -> Criterion:
        # _has:Observation:patient:code=1234-5  |  _has:Observation:patient:_has:AuditEvent:entity:user=x
        parts = name.split(":", 3)
        if len(parts) < 4:
            raise _invalid(name, "must be _has:Type:reference:parameter")
        _, source, ref_param, rest = parts
        sp = self.registry.get(source, ref_param)
        if sp is None or sp.type != "reference":
            raise _invalid(name, f"'{source}:{ref_param}' is not a reference search parameter")
        inner = self.criterion(source, rest, value, depth + 1)
        return ReverseChain(source, ref_param, (inner,))

    def _composite(self, sp: SearchParamDef, value: str) -> Criterion:
        parts = split_escaped(value, "$")
        if len(parts) != len(sp.components) or len(parts) != 2:
            raise bad_value(sp.code, "composite value must have two parts separated by $")
        first, second = sp.components
        conds: list[Cond] = []
        if first.type == "token":
            conds += [Cond("c1_" + c.column, c.op, c.value) for c in token_conds(parts[0])]
        elif first.type == "reference":
            conds.append(Cond("c1_code", "=", parts[0]))
        else:
            raise _not_supported(sp.code)
        conds += self._composite_second(sp, second.type, parts[1])
        return IndexMatch("composite", sp.code, tuple(conds))

    def _composite_second(self, sp: SearchParamDef, ctype: str, text: str) -> list[Cond]:
        if ctype == "token":
            return [Cond("c2_" + c.column, c.op, c.value) for c in token_conds(text)]
        if ctype == "string":
            return [Cond("c2_string", "like", normalise(text).replace("%", "\\%") + "%")]
        if ctype in ("quantity", "date"):
            prefix, rest = split_prefix(text)
            if prefix in ("ne", "ap"):
                raise bad_value(sp.code, f"prefix '{prefix}' is not supported inside a composite")
            extra: tuple[Cond, ...] = ()
            if ctype == "quantity":
                try:
                    rest, unit = quantity_unit(rest)
                except ValueError:
                    raise bad_value(sp.code, "quantity must be [prefix]number|system|code") from None
                extra = tuple(Cond("c2_" + c.column, c.op, c.value) for c in unit)
                crit = number_criterion(SearchParamDef("", sp.code, "number", None), None, [prefix + rest])
                inner = crit.options[0] if isinstance(crit, AnyOf) else crit
                assert isinstance(inner, IndexMatch)
                return [Cond("c2_" + c.column, c.op, c.value) for c in inner.conds] + list(extra)
            try:
                lo, hi = date_range(rest)
            except ValueError:
                raise bad_value(sp.code, "not a valid FHIR date") from None
            conds = range_conds(prefix, lo, hi, approx=86400.0)
            assert isinstance(conds, tuple)
            return [Cond("c2_" + c.column, c.op, c.value) for c in conds]
        raise _not_supported(sp.code)


def _split_composite_or(value: str) -> list[str]:
    return split_escaped(value, ",") if has_unescaped(value, ",") else [value]


def _invalid(param: str, message: str) -> InvalidInput:
    msg = f"invalid search parameter '{param}': {message}"
    return InvalidInput(msg, issues=[Issue("error", "invalid", msg, param)], code="search.invalid")


def _unknown(rt: str, code: str) -> InvalidInput:
    msg = f"unknown search parameter '{code}' for resource type '{rt}'"
    return InvalidInput(
        msg, issues=[Issue("error", "not-supported", msg, code)], code="search.unknown_parameter"
    )


def _not_supported(code: str) -> InvalidInput:
    msg = f"search parameter '{code}' is not supported by this server"
    return InvalidInput(msg, issues=[Issue("error", "not-supported", msg, code)], code="search.not_supported")
