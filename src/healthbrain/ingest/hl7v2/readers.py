"""Readers, the building blocks of directives: a field path and a converter compiled into a
function of the scope.

A value that breaks its data type is reported as error 102 at its field and read as absent. What is
the same for the whole message (the sender's authority in MSH, a converted date that recurs across
segments) is computed once per message, in `Scope.memo`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from healthbrain.ingest.hl7v2 import datatypes as dt
from healthbrain.ingest.hl7v2.conventions import V2_TABLE
from healthbrain.ingest.hl7v2.errors import SpecError
from healthbrain.ingest.hl7v2.message import Components, Segment
from healthbrain.ingest.hl7v2.scope import (
    FieldPath,
    Scope,
    all_comps_getter,
    comps_getter,
    is_segment_id,
    text_getter,
)
from healthbrain.ingest.hl7v2.template import Fn, kept, need_path

Convert = Callable[[Scope, Components], Any]  # components → a FHIR value (ValueError: bad data)
MSH4 = FieldPath("MSH", 4)
_UNSEEN = object()
_DERIVED_DROPS = frozenset({"type", "period"})


def flag_option(opts: dict[str, Any], name: str) -> bool:
    """Take the boolean option `name` (default false) out of `opts`."""
    value = opts.pop(name, False)
    if not isinstance(value, bool):
        raise SpecError(name, "must be true or false")
    return value


def path_option(
    opts: dict[str, Any], name: str, where: str, default: FieldPath | None = None
) -> FieldPath | None:
    """Take the field-path option `name` out of `opts` (`default` when it is not given)."""
    if name not in opts:
        return default
    return need_path(opts.pop(name), f"{where}{name}")


def read_complex(path: FieldPath, convert: Convert, every: bool) -> Fn:
    """Apply `convert` to the components at `path` (each repetition when `every`)."""
    if every:
        every_rep = all_comps_getter(path)

        def run_all(scope: Scope) -> Any:
            out = []
            for seg, rep, comps in every_rep(scope):
                try:
                    v = convert(scope, comps)
                except ValueError as exc:
                    scope.report(path, str(exc), seg, rep)
                    continue
                if kept(v):
                    out.append(v)
            return out or None

        return run_all
    current = comps_getter(path)

    def run(scope: Scope) -> Any:
        found = current(scope)
        if found is None:
            return None
        try:
            return convert(scope, found[2])
        except ValueError as exc:
            scope.report(path, str(exc), found[0], found[1])
            return None

    return run


def read_primitive(path: FieldPath, convert: Callable[[Scope, str], Any], *, immutable: bool = False) -> Fn:
    """Apply `convert` to the text at `path`; an `immutable` result (a string, a number) is
    remembered for the message by text, as the same date or number recurs across its segments."""
    get = text_getter(path)

    def run(scope: Scope) -> Any:
        text = get(scope)
        if not text:
            return None
        try:
            return convert(scope, text)
        except ValueError as exc:
            scope.report(path, str(exc))
            return None

    if not immutable:
        return run

    def remembered(scope: Scope) -> Any:
        text = get(scope)
        if not text:
            return None
        seen: dict[str, Any] | None = scope.memo.get(remembered)
        if seen is None:
            seen = scope.memo[remembered] = {}
        found = seen.get(text, _UNSEEN)
        if found is _UNSEEN:
            try:
                found = seen[text] = convert(scope, text)
            except ValueError as exc:  # not remembered: each occurrence is reported where it is
                scope.report(path, str(exc))
                return None
        return found

    return remembered


# An empty facility falls back to the application beside it: MSH-4 → MSH-3, MSH-6 → MSH-5.
_FALLBACK = {("MSH", 4): FieldPath("MSH", 3), ("MSH", 6): FieldPath("MSH", 5)}


def read_authority(path: FieldPath | None) -> Callable[[Scope], tuple[str, str, str]]:
    """The HD (namespace, universal id, type) at `path`: whose identifiers these are."""
    if path is None:
        return lambda _s: ("", "", "")
    getters = [comps_getter(path)]
    fallback = _FALLBACK.get((path.segment, path.field))
    if fallback is not None:
        getters.append(comps_getter(fallback))

    def read(scope: Scope) -> tuple[str, str, str]:
        for get in getters:
            found = get(scope)
            if found is not None:
                hd = dt.hd_of(found[2])
                if any(hd):
                    return hd
        return ("", "", "")

    if path.segment != "MSH" or path.group is not None:
        return read

    def from_header(scope: Scope) -> tuple[str, str, str]:
        # A message has one MSH: the authority read there is the same for every resource, unless
        # a `$each` walks repetitions (then it is read as usual).
        msh = scope.bound.get("MSH") or scope.chain[-1].visible.get("MSH")
        if msh is None or scope.reps:
            return read(scope)
        found: tuple[Segment, tuple[str, str, str]] | None = scope.memo.get(from_header)
        if found is None or found[0] is not msh:
            found = scope.memo[from_header] = (msh, read(scope))
        return found[1]

    return from_header


def with_suffix(fn: Fn, suffix: Callable[[Scope], str | None] | None, key: str) -> Fn:
    """`$suffix`: the value (or the `key` element of an identifier) with the formatted suffix."""
    if suffix is None:
        return fn

    def run(scope: Scope) -> Any:
        v = fn(scope)
        if v is None:
            return None
        tail = suffix(scope)
        if tail is None:
            return None
        if isinstance(v, dict):
            if key not in v:
                return None
            # A derived identifier is not of the source's type or validity period.
            out = {k: x for k, x in v.items() if k not in _DERIVED_DROPS}
            out[key] = f"{v[key]}{tail}"
            return out
        return f"{v}{tail}"

    return run


def table_option(opts: dict[str, Any], where: str) -> str | None:
    """The default system of `$system` or `$table` (a v2 table, or `table:NAME` to resolve)."""
    if "$system" in opts:
        return str(opts.pop("$system"))
    if "$table" not in opts:
        return None
    table = str(opts.pop("$table"))
    if table.isdigit() and len(table) == 4:
        return V2_TABLE + table
    if not table:
        raise SpecError(where, "$table is a 4-digit HL7 table number or a coding system name")
    return f"table:{table}"


def code_system_of(scope: Scope, default: str | None) -> str | None:
    """A `table_option` value as a system URI (`table:NAME` resolved for the sender)."""
    if default is not None and default.startswith("table:"):
        return scope.conv.code_system(default[6:], scope.facility)
    return default


def read_units(path: FieldPath | None) -> Callable[[Scope], Components | None]:
    """The components at `path` (units such as OBX-6), None when absent or no path is given."""
    if path is None:
        return lambda _s: None
    current = comps_getter(path)

    def run(scope: Scope) -> Components | None:
        found = current(scope)
        return found[2] if found is not None else None

    return run


def segment_arg(arg: Any, where: str) -> str:
    """A directive argument that must be a segment id."""
    if not isinstance(arg, str) or not is_segment_id(arg):
        raise SpecError(where, "takes a segment id such as OBX")
    return arg
