"""Translate one FHIR search value (per parameter type, modifier and prefix) into storage criteria."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from healthbrain.core.errors import InvalidInput, Issue
from healthbrain.fhir.indexing import date_range
from healthbrain.fhir.searchparams import SearchParamDef
from healthbrain.fhir.text import normalise
from healthbrain.storage.query import AnyOf, Cond, Criterion, IndexMatch, Not

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_PREFIX_RE = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)(?=[0-9\-+.])")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def bad_value(param: str, message: str) -> InvalidInput:
    """An error for a search value that cannot be understood (no value echoed back)."""
    return InvalidInput(
        f"invalid value for search parameter '{param}': {message}",
        issues=[Issue("error", "invalid", f"invalid value for search parameter '{param}': {message}", param)],
        code="search.invalid_value",
    )


def split_escaped(value: str, sep: str) -> list[str]:
    """Split on `sep` not preceded by a backslash; unescape `\\,` `\\|` `\\$` `\\\\`.

    See: https://hl7.org/fhir/R4/search.html#escaping
    """
    parts: list[str] = []
    buf: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            buf.append(value[i + 1])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return parts


def has_unescaped(value: str, sep: str) -> bool:
    return len(split_escaped(value, sep)) > 1


def split_prefix(value: str) -> tuple[str, str]:
    m = _PREFIX_RE.match(value)
    if m:
        return m.group(1), value[2:]
    return "eq", value


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---- token -------------------------------------------------------------------------------------
def token_conds(value: str) -> tuple[Cond, ...]:
    """`code`, `system|code`, `|code` (no system), `system|` (any code in system)."""
    if has_unescaped(value, "|"):
        system, code = split_escaped(value, "|")[:2]
        conds: list[Cond] = []
        conds.append(Cond("system", "is_null") if system == "" else Cond("system", "=", system))
        if code != "":
            conds.append(Cond("code", "=", code))
        return tuple(conds)
    return (Cond("code", "=", split_escaped(value, "|")[0]),)


def token_criterion(sp: SearchParamDef, modifier: str | None, values: list[str]) -> Criterion:
    if modifier == "text":
        opts = tuple(
            IndexMatch("string", f"{sp.code}:text", (Cond("norm", "like", _like_escape(normalise(v)) + "%"),))
            for v in values
        )
        return AnyOf(opts)
    if modifier not in (None, "not"):
        raise unsupported_modifier(sp.code, modifier)
    matches = AnyOf(tuple(IndexMatch("token", sp.code, token_conds(v)) for v in values))
    return Not(matches) if modifier == "not" else matches


# ---- string ------------------------------------------------------------------------------------
def string_criterion(sp: SearchParamDef, modifier: str | None, values: list[str]) -> Criterion:
    opts: list[Criterion] = []
    for v in values:
        if modifier == "exact":
            opts.append(IndexMatch("string", sp.code, (Cond("exact", "=", v),)))
        elif modifier == "contains":
            opts.append(
                IndexMatch("string", sp.code, (Cond("norm", "like", "%" + _like_escape(normalise(v)) + "%"),))
            )
        elif modifier is None:
            opts.append(
                IndexMatch("string", sp.code, (Cond("norm", "like", _like_escape(normalise(v)) + "%"),))
            )
        else:
            raise unsupported_modifier(sp.code, modifier)
    return AnyOf(tuple(opts))


# ---- ranges: date, number, quantity --------------------------------------------------------------
def range_conds(prefix: str, lo: float, hi: float, *, approx: float) -> Criterion | tuple[Cond, ...]:
    """Conditions on a stored range [low, high) for a search range [lo, hi) and a prefix.

    See: https://hl7.org/fhir/R4/search.html#prefix
    """
    if prefix == "eq":
        return (Cond("low", ">=", lo), Cond("high", "<=", hi))
    if prefix == "gt":
        return (Cond("high", ">", hi),)
    if prefix == "lt":
        return (Cond("low", "<", lo),)
    if prefix == "ge":
        return (Cond("high", ">", lo),)
    if prefix == "le":
        return (Cond("low", "<", hi),)
    if prefix == "sa":
        return (Cond("low", ">=", hi),)
    if prefix == "eb":
        return (Cond("high", "<=", lo),)
    if prefix == "ap":
        return (Cond("high", ">", lo - approx), Cond("low", "<", hi + approx))
    raise ValueError(prefix)


def _ranged(
    kind: str, param: str, prefix: str, lo: float, hi: float, approx: float, extra: tuple[Cond, ...] = ()
) -> Criterion:
    if prefix == "ne":
        return Not(_ranged(kind, param, "eq", lo, hi, approx, extra))
    conds = range_conds(prefix, lo, hi, approx=approx)
    assert isinstance(conds, tuple)
    return IndexMatch(kind, param, conds + extra)  # type: ignore[arg-type]


def date_criterion(
    sp: SearchParamDef, modifier: str | None, values: list[str], now: Callable[[], float]
) -> Criterion:
    if modifier is not None:
        raise unsupported_modifier(sp.code, modifier)
    opts: list[Criterion] = []
    for v in values:
        prefix, text = split_prefix(v)
        try:
            lo, hi = date_range(text)
        except ValueError:
            raise bad_value(sp.code, "not a valid FHIR date/dateTime") from None
        # `ap`: within 10% of the gap between now and the value (at least one day).
        approx = max(abs(now() - lo) * 0.1, 86400.0)
        opts.append(_ranged("date", sp.code, prefix, lo, hi, approx))
    return AnyOf(tuple(opts))


def number_range(param: str, text: str) -> tuple[float, float, float]:
    """The implicit range of a number by its significant digits, and its value.

    See: https://hl7.org/fhir/R4/search.html#number  (100 means [99.5, 100.5))
    """
    if not _NUMBER_RE.match(text):
        raise bad_value(param, "not a number")
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise bad_value(param, "not a number") from None
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5) * Decimal(10) ** (exponent - 1)
    value = float(d)
    if not math.isfinite(value):
        raise bad_value(param, "not a finite number")
    return float(d - half), float(d + half), value


def number_criterion(
    sp: SearchParamDef,
    modifier: str | None,
    values: list[str],
    kind: str = "quantity",
    extra_for: Callable[[str], tuple[str, tuple[Cond, ...]]] | None = None,
) -> Criterion:
    if modifier is not None:
        raise unsupported_modifier(sp.code, modifier)
    opts: list[Criterion] = []
    for v in values:
        prefix, text = split_prefix(v)
        extra: tuple[Cond, ...] = ()
        if extra_for is not None:
            text, extra = extra_for(text)
        lo, hi, value = number_range(sp.code, text)
        if prefix in ("gt", "lt", "ge", "le", "sa", "eb"):
            lo = hi = value
        if prefix in ("eq", "ne"):
            # a stored single value v is [v, v]: inclusive match on the implicit range
            cond: tuple[Cond, ...] = (Cond("low", ">=", lo), Cond("high", "<", hi))
            crit: Criterion = IndexMatch(kind, sp.code, cond + extra)  # type: ignore[arg-type]
            opts.append(Not(crit) if prefix == "ne" else crit)
            continue
        approx = abs(value) * 0.1
        opts.append(_number_prefix(kind, sp.code, prefix, value, approx, extra))
    return AnyOf(tuple(opts))


def _number_prefix(
    kind: str, param: str, prefix: str, v: float, approx: float, extra: tuple[Cond, ...]
) -> Criterion:
    conds = {
        "gt": (Cond("high", ">", v),),
        "lt": (Cond("low", "<", v),),
        "ge": (Cond("high", ">=", v),),
        "le": (Cond("low", "<=", v),),
        "sa": (Cond("low", ">", v),),
        "eb": (Cond("high", "<", v),),
        "ap": (Cond("high", ">=", v - approx), Cond("low", "<=", v + approx)),
    }[prefix]
    return IndexMatch(kind, param, conds + extra)  # type: ignore[arg-type]


def quantity_unit(text: str) -> tuple[str, tuple[Cond, ...]]:
    """`5.4|http://unitsofmeasure.org|mg` → number and unit conditions; `5.4||mg` matches the code."""
    parts = split_escaped(text, "|")
    if len(parts) == 1:
        return parts[0], ()
    if len(parts) != 3:
        raise ValueError("quantity must be number|system|code")
    number, system, code = parts
    conds: list[Cond] = []
    if system:
        conds.append(Cond("system", "=", system))
    if code:
        conds.append(Cond("code", "=", code))
    return number, tuple(conds)


def quantity_criterion(sp: SearchParamDef, modifier: str | None, values: list[str]) -> Criterion:
    def extra(text: str) -> tuple[str, tuple[Cond, ...]]:
        try:
            return quantity_unit(text)
        except ValueError:
            raise bad_value(sp.code, "quantity must be [prefix]number|system|code") from None

    return number_criterion(sp, modifier, values, "quantity", extra)


# ---- uri -----------------------------------------------------------------------------------------
def uri_criterion(sp: SearchParamDef, modifier: str | None, values: list[str]) -> Criterion:
    opts: list[Criterion] = []
    for v in values:
        if modifier is None:
            opts.append(IndexMatch("uri", sp.code, (Cond("uri", "=", v),)))
        elif modifier == "below":
            opts.append(IndexMatch("uri", sp.code, (Cond("uri", "like", _like_escape(v) + "%"),)))
        elif modifier == "above":
            # every stored uri that is a path-prefix of the value
            segments = v.split("/")
            prefixes = tuple("/".join(segments[:i]) for i in range(1, len(segments) + 1))
            opts.append(IndexMatch("uri", sp.code, (Cond("uri", "in", prefixes),)))
        else:
            raise unsupported_modifier(sp.code, modifier)
    return AnyOf(tuple(opts))


def unsupported_modifier(param: str, modifier: str) -> InvalidInput:
    msg = f"modifier ':{modifier}' is not supported for search parameter '{param}'"
    return InvalidInput(
        msg, issues=[Issue("error", "not-supported", msg, param)], code="search.unsupported_modifier"
    )
