"""The template directives: each turns an HL7 field (by path) into a FHIR value.

Importing this module registers them with `template.DIRECTIVES`. Options start with `$`; a bad
value in the message is reported as error 102 at its field and the element is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from healthbrain.ingest.hl7v2 import datatypes as dt
from healthbrain.ingest.hl7v2 import people, results
from healthbrain.ingest.hl7v2.conventions import V2_TABLE
from healthbrain.ingest.hl7v2.errors import SpecError
from healthbrain.ingest.hl7v2.message import Components, Segment
from healthbrain.ingest.hl7v2.scope import FieldPath, Scope, is_group_name, is_segment_id
from healthbrain.ingest.hl7v2.structure import walk_groups
from healthbrain.ingest.hl7v2.template import (
    Fn,
    compile_condition,
    compile_format,
    compile_node,
    directive,
    is_empty,
    need_path,
)

Convert = Callable[[Scope, Components], Any]
MSH4 = FieldPath("MSH", 4)


def _flag(opts: dict[str, Any], name: str) -> bool:
    value = opts.pop(name, False)
    if not isinstance(value, bool):
        raise SpecError(name, "must be true or false")
    return value


def _opt_path(
    opts: dict[str, Any], name: str, where: str, default: FieldPath | None = None
) -> FieldPath | None:
    if name not in opts:
        return default
    return need_path(opts.pop(name), f"{where}{name}")


def _complex(path: FieldPath, convert: Convert, every: bool) -> Fn:
    """Apply `convert` to the components at `path` (each repetition when `every`)."""

    def one(scope: Scope, seg: Segment, rep: int, comps: Components) -> Any:
        try:
            return convert(scope, comps)
        except ValueError as exc:
            scope.report(path, str(exc), seg, rep)
            return None

    if every:

        def run_all(scope: Scope) -> Any:
            out = [one(scope, seg, rep, comps) for seg, rep, comps in scope.all_comps(path)]
            return [x for x in out if not is_empty(x)] or None

        return run_all

    def run(scope: Scope) -> Any:
        found = scope.comps(path)
        return one(scope, *found) if found is not None else None

    return run


def _primitive(path: FieldPath, convert: Callable[[Scope, str], Any]) -> Fn:
    def run(scope: Scope) -> Any:
        text = scope.text(path)
        if not text:
            return None
        try:
            return convert(scope, text)
        except ValueError as exc:
            scope.report(path, str(exc))
            return None

    return run


# An empty facility falls back to the application beside it: MSH-4 → MSH-3, MSH-6 → MSH-5.
_FALLBACK = {("MSH", 4): FieldPath("MSH", 3), ("MSH", 6): FieldPath("MSH", 5)}


def _authority(path: FieldPath | None) -> Callable[[Scope], tuple[str, str, str]]:
    """The HD (namespace, universal id, type) at `path`: whose identifiers these are."""
    if path is None:
        return lambda _s: ("", "", "")
    paths = [path]
    fallback = _FALLBACK.get((path.segment, path.field))
    if fallback is not None:
        paths.append(fallback)

    def run(scope: Scope) -> tuple[str, str, str]:
        for p in paths:
            found = scope.comps(p)
            if found is not None and any(dt.hd_of(found[2])):
                return dt.hd_of(found[2])
        return ("", "", "")

    return run


def _suffixed(fn: Fn, suffix: Callable[[Scope], str | None] | None, key: str) -> Fn:
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
            # A derived identifier is not of the source's type or validity period.
            kept = {k: x for k, x in v.items() if k not in ("type", "period")}
            return {**kept, key: f"{v[key]}{tail}"} if key in v else None
        return f"{v}{tail}"

    return run


def _table(opts: dict[str, Any], where: str) -> str | None:
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


def _system(scope: Scope, default: str | None) -> str | None:
    if default is not None and default.startswith("table:"):
        return scope.conv.code_system(default[6:], scope.facility)
    return default


# ---- primitives ---------------------------------------------------------------------------------
@directive("$str")
def _str(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path = need_path(arg, where)
    return lambda s: s.text(path) or None


@directive("$text")
def _text(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path = need_path(arg, where)

    def run(scope: Scope) -> Any:
        lines = [dt.part(comps, 1, path.sub or 1) for _seg, _rep, comps in scope.all_comps(path)]
        return "\n".join(x for x in lines if x) or None

    return run


@directive("$code")
def _code(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path = need_path(arg, where)
    name = opts.pop("$map", None)
    if name is None:
        return lambda s: s.text(path) or None
    return lambda s: s.conv.value_map(str(name)).code(s.text(path))


@directive("$bool")
def _bool(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path = need_path(arg, where)
    name = str(opts.pop("$map", "yes-no"))

    def run(scope: Scope) -> Any:
        v = scope.conv.value_map(name).code(scope.text(path))
        return v if isinstance(v, bool) else None

    return run


@directive("$int")
def _int(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return _primitive(need_path(arg, where), lambda _s, t: dt.integer_value(t))


@directive("$decimal")
def _decimal(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return _primitive(need_path(arg, where), lambda _s, t: dt.decimal_value(t))


@directive("$date")
def _date(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return _primitive(need_path(arg, where), lambda _s, t: dt.fhir_date(t))


@directive("$datetime")
def _datetime(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return _primitive(need_path(arg, where), lambda s, t: dt.fhir_datetime(t, s.conv.default_timezone))


@directive("$instant")
def _instant(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return _primitive(need_path(arg, where), lambda s, t: dt.fhir_instant(t, s.conv.default_timezone))


@directive("$time")
def _time(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return _primitive(need_path(arg, where), lambda _s, t: dt.fhir_time(t))


# ---- codes --------------------------------------------------------------------------------------
@directive("$cwe")
def _cwe(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, every, default = need_path(arg, where), _flag(opts, "$all"), _table(opts, where)
    return _complex(path, lambda s, c: dt.codeable_concept(c, s.conv, s.facility, _system(s, default)), every)


@directive("$coding")
def _coding(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, name, default = need_path(arg, where), opts.pop("$map", None), _table(opts, where)
    if name is not None:

        def mapped(scope: Scope) -> Any:
            found = scope.comps(path)
            return scope.conv.value_map(str(name)).coding(dt.part(found[2], 1) if found else "")

        return mapped

    def convert(scope: Scope, comps: Components) -> Any:
        cc = dt.codeable_concept(comps, scope.conv, scope.facility, _system(scope, default))
        return cc["coding"][0] if cc and "coding" in cc else None

    return _complex(path, convert, False)


@directive("$cwe_ref")
def _cwe_ref(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, kind = need_path(arg, where), str(opts.pop("$type", "Resource"))
    return _complex(path, lambda s, c: people.coded_reference(c, s.conv, s.facility, kind), False)


# ---- identifiers --------------------------------------------------------------------------------
@directive("$cx")
def _cx(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, every = need_path(arg, where), _flag(opts, "$all")
    authority = _authority(_opt_path(opts, "$authority", where))
    kind = str(opts.pop("$type", ""))
    suffix = compile_format(opts.pop("$suffix"), f"{where}$suffix") if "$suffix" in opts else None
    fn = _complex(path, lambda s, c: dt.cx_identifier(c, s.conv, authority(s), kind), every)
    return _suffixed(fn, suffix, "value")


@directive("$ei")
def _ei(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, every = need_path(arg, where), _flag(opts, "$all")
    authority = _authority(_opt_path(opts, "$authority", where))
    kind = str(opts.pop("$type", ""))
    suffix = compile_format(opts.pop("$suffix"), f"{where}$suffix") if "$suffix" in opts else None
    fn = _complex(path, lambda s, c: dt.ei_identifier(c, s.conv, authority(s), kind), every)
    return _suffixed(fn, suffix, "value")


@directive("$hd_system")
def _hd_system(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    authority = _authority(need_path(arg, where))
    suffix = compile_format(opts.pop("$suffix"), f"{where}$suffix") if "$suffix" in opts else None
    return _suffixed(lambda s: s.conv.identifier_system(*authority(s)), suffix, "")


# ---- people, places, contacts --------------------------------------------------------------------
@directive("$xpn")
def _xpn(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return _complex(need_path(arg, where), lambda _s, c: people.human_name(c), _flag(opts, "$all"))


@directive("$xad")
def _xad(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return _complex(need_path(arg, where), lambda _s, c: people.address(c), _flag(opts, "$all"))


@directive("$xtn")
def _xtn(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, every, use = need_path(arg, where), _flag(opts, "$all"), opts.pop("$use", None)
    return _complex(path, lambda _s, c: people.contact_point(c, use), every)


@directive("$xcn")
def _xcn(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, every = need_path(arg, where), _flag(opts, "$all")
    authority = _authority(_opt_path(opts, "$authority", where, MSH4))
    return _complex(path, lambda s, c: people.practitioner_reference(c, s.conv, authority(s)), every)


@directive("$xon")
def _xon(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, every = need_path(arg, where), _flag(opts, "$all")
    authority = _authority(_opt_path(opts, "$authority", where, MSH4))
    return _complex(path, lambda s, c: people.organization_reference(c, s.conv, authority(s)), every)


@directive("$pl")
def _pl(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return _complex(need_path(arg, where), lambda _s, c: people.location_reference(c), False)


# ---- quantities and results -----------------------------------------------------------------------
def _units(scope: Scope, path: FieldPath | None) -> Components | None:
    found = scope.comps(path) if path is not None else None
    return found[2] if found is not None else None


@directive("$quantity")
def _quantity(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, units = need_path(arg, where), _opt_path(opts, "$unit", where)
    return _primitive(path, lambda s, t: results.quantity(t, _units(s, units)))


@directive("$range")
def _range(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, units = need_path(arg, where), _opt_path(opts, "$unit", where)
    return _primitive(path, lambda s, t: results.reference_range(t, _units(s, units)))


def _segment_arg(arg: Any, where: str) -> str:
    if not isinstance(arg, str) or not is_segment_id(arg):
        raise SpecError(where, "takes a segment id such as OBX")
    return arg


@directive("$obx_value")
def _obx_value(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    name = _segment_arg(arg, where)
    kind, values, units = FieldPath(name, 2), FieldPath(name, 5), FieldPath(name, 6)

    code = FieldPath(name, 3)

    def run(scope: Scope) -> Any:
        reps = [comps for _seg, _rep, comps in scope.all_comps(values)]
        try:
            found = results.observation_value(
                scope.text(kind), reps, _units(scope, units), scope.conv, scope.facility
            )
        except ValueError as exc:
            scope.report(values, str(exc))
            return None
        if found and "component" in found:
            coded = scope.comps(code)
            cc = dt.codeable_concept(coded[2], scope.conv, scope.facility) if coded else None
            found = {"component": [{"code": cc or {"text": "value"}, **c} for c in found["component"]]}
        return found

    return run


@directive("$attachment")
def _attachment(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    name = _segment_arg(arg, where)
    created = _opt_path(opts, "$created", where)
    kind, content = FieldPath(name, 2), FieldPath(name, 5)

    def run(scope: Scope) -> Any:
        found = scope.comps(content)
        if found is None:
            return None
        when = dt.fhir_datetime(scope.text(created), scope.conv.default_timezone) if created else None
        try:
            return results.attachment(scope.text(kind), found[2], when)
        except ValueError as exc:
            scope.report(content, str(exc))
            return None

    return run


@directive("$text_attachment")
def _text_attachment(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    if not isinstance(arg, str) or not is_group_name(arg):
        raise SpecError(where, "takes a group name such as OBSERVATION")
    created = _opt_path(opts, "$created", where)

    def run(scope: Scope) -> Any:
        lines: list[str] = []
        for group, _chain in walk_groups(scope.chain[-1], arg, scope.chain):
            obx = group.first.get("OBX")
            if obx is None:
                continue
            saved = scope.save()
            scope.bound = {"OBX": obx}
            if scope.text(FieldPath("OBX", 2)).upper() in results.TEXT:
                lines += [dt.part(c, 1) for _s, _r, c in scope.all_comps(FieldPath("OBX", 5))]
            scope.restore(saved)
        when = dt.fhir_datetime(scope.text(created), scope.conv.default_timezone) if created else None
        return results.text_attachment(lines, when)

    return run


# ---- structure: references, formats, choices ----------------------------------------------------
@directive("$ref")
def _ref(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    if not isinstance(arg, str) or not arg:
        raise SpecError(where, "takes the name of a resource rule")

    def run(scope: Scope) -> Any:
        found = scope.find_refs(scope, arg, False)
        return {"reference": found[0]} if found else None

    return run


@directive("$refs")
def _refs(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    if not isinstance(arg, str) or not arg:
        raise SpecError(where, "takes the name of a resource rule")
    return lambda s: [{"reference": url} for url in s.find_refs(s, arg, True)] or None


@directive("$fmt")
def _fmt(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return compile_format(arg, where)


@directive("$first")
def _first(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    if not isinstance(arg, list) or not arg:
        raise SpecError(where, "takes a list of alternatives")
    fns = [compile_node(x, f"{where}[{i}]") for i, x in enumerate(arg)]

    def run(scope: Scope) -> Any:
        for fn in fns:
            v = fn(scope)
            if isinstance(v, list):
                v = next((x for x in v if not is_empty(x)), None)
            if not is_empty(v):
                return v
        return None

    return run


@directive("$if")
def _if(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    cond = compile_condition(arg, where)
    then = compile_node(opts.pop("$then", None), f"{where}$then")
    other = compile_node(opts.pop("$else", None), f"{where}$else")
    return lambda s: then(s) if cond(s) else other(s)
