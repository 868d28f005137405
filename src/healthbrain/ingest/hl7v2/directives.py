"""The template directives: each turns an HL7 field (by path) into a FHIR value.

Importing this module registers them with `template.DIRECTIVES`. Options start with `$`; a bad
value in the message is reported as error 102 at its field and the element is left out.
"""

from __future__ import annotations

from typing import Any

from healthbrain.ingest.hl7v2 import datatypes as dt
from healthbrain.ingest.hl7v2 import people, results
from healthbrain.ingest.hl7v2.errors import SpecError
from healthbrain.ingest.hl7v2.message import Components
from healthbrain.ingest.hl7v2.readers import (
    MSH4,
    code_system_of,
    flag_option,
    path_option,
    read_authority,
    read_complex,
    read_primitive,
    read_units,
    segment_arg,
    table_option,
    with_suffix,
)
from healthbrain.ingest.hl7v2.scope import (
    FieldPath,
    Scope,
    all_comps_getter,
    comps_getter,
    is_group_name,
    text_getter,
)
from healthbrain.ingest.hl7v2.structure import walk_groups
from healthbrain.ingest.hl7v2.template import (
    Fn,
    compile_condition,
    compile_format,
    compile_node,
    directive,
    is_empty,
    kept,
    need_path,
)


# ---- primitives ---------------------------------------------------------------------------------
@directive("$str")
def _str(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    get = text_getter(need_path(arg, where))
    return lambda s: get(s) or None


@directive("$text")
def _text(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path = need_path(arg, where)
    every, sub = all_comps_getter(path), path.sub or 1

    def run(scope: Scope) -> Any:
        lines = [dt.part(comps, 1, sub) for _seg, _rep, comps in every(scope)]
        return "\n".join(x for x in lines if x) or None

    return run


@directive("$code")
def _code(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    get = text_getter(need_path(arg, where))
    name = opts.pop("$map", None)
    if name is None:
        return lambda s: get(s) or None
    map_name = str(name)
    return lambda s: s.conv.value_map(map_name).code(get(s))


@directive("$bool")
def _bool(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    get = text_getter(need_path(arg, where))
    name = str(opts.pop("$map", "yes-no"))

    def run(scope: Scope) -> Any:
        v = scope.conv.value_map(name).code(get(scope))
        return v if isinstance(v, bool) else None

    return run


@directive("$int")
def _int(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return read_primitive(need_path(arg, where), lambda _s, t: dt.integer_value(t), immutable=True)


@directive("$decimal")
def _decimal(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return read_primitive(need_path(arg, where), lambda _s, t: dt.decimal_value(t), immutable=True)


@directive("$date")
def _date(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return read_primitive(need_path(arg, where), lambda _s, t: dt.fhir_date(t), immutable=True)


@directive("$datetime")
def _datetime(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return read_primitive(
        need_path(arg, where), lambda s, t: dt.fhir_datetime(t, s.conv.default_timezone), immutable=True
    )


@directive("$instant")
def _instant(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return read_primitive(
        need_path(arg, where), lambda s, t: dt.fhir_instant(t, s.conv.default_timezone), immutable=True
    )


@directive("$time")
def _time(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return read_primitive(need_path(arg, where), lambda _s, t: dt.fhir_time(t), immutable=True)


# ---- codes --------------------------------------------------------------------------------------
@directive("$cwe")
def _cwe(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, every, default = need_path(arg, where), flag_option(opts, "$all"), table_option(opts, where)
    return read_complex(
        path, lambda s, c: dt.codeable_concept(c, s.conv, s.facility, code_system_of(s, default)), every
    )


@directive("$coding")
def _coding(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, name, default = need_path(arg, where), opts.pop("$map", None), table_option(opts, where)
    if name is not None:
        current, map_name = comps_getter(path), str(name)

        def mapped(scope: Scope) -> Any:
            found = current(scope)
            return scope.conv.value_map(map_name).coding(dt.part(found[2], 1) if found else "")

        return mapped

    def convert(scope: Scope, comps: Components) -> Any:
        cc = dt.codeable_concept(comps, scope.conv, scope.facility, code_system_of(scope, default))
        return cc["coding"][0] if cc and "coding" in cc else None

    return read_complex(path, convert, False)


@directive("$cwe_ref")
def _cwe_ref(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, kind = need_path(arg, where), str(opts.pop("$type", "Resource"))
    return read_complex(path, lambda s, c: people.coded_reference(c, s.conv, s.facility, kind), False)


# ---- identifiers --------------------------------------------------------------------------------
@directive("$cx")
def _cx(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, every = need_path(arg, where), flag_option(opts, "$all")
    authority = read_authority(path_option(opts, "$authority", where))
    kind = str(opts.pop("$type", ""))
    suffix = compile_format(opts.pop("$suffix"), f"{where}$suffix") if "$suffix" in opts else None
    fn = read_complex(path, lambda s, c: dt.cx_identifier(c, s.conv, authority(s), kind), every)
    return with_suffix(fn, suffix, "value")


@directive("$ei")
def _ei(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, every = need_path(arg, where), flag_option(opts, "$all")
    authority = read_authority(path_option(opts, "$authority", where))
    kind = str(opts.pop("$type", ""))
    suffix = compile_format(opts.pop("$suffix"), f"{where}$suffix") if "$suffix" in opts else None
    fn = read_complex(path, lambda s, c: dt.ei_identifier(c, s.conv, authority(s), kind), every)
    return with_suffix(fn, suffix, "value")


@directive("$hd_system")
def _hd_system(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    authority = read_authority(need_path(arg, where))
    suffix = compile_format(opts.pop("$suffix"), f"{where}$suffix") if "$suffix" in opts else None
    return with_suffix(lambda s: s.conv.identifier_system(*authority(s)), suffix, "")


# ---- people, places, contacts --------------------------------------------------------------------
@directive("$xpn")
def _xpn(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return read_complex(need_path(arg, where), lambda _s, c: people.human_name(c), flag_option(opts, "$all"))


@directive("$xad")
def _xad(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return read_complex(need_path(arg, where), lambda _s, c: people.address(c), flag_option(opts, "$all"))


@directive("$xtn")
def _xtn(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, every, use = need_path(arg, where), flag_option(opts, "$all"), opts.pop("$use", None)
    return read_complex(path, lambda _s, c: people.contact_point(c, use), every)


@directive("$xcn")
def _xcn(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, every = need_path(arg, where), flag_option(opts, "$all")
    authority = read_authority(path_option(opts, "$authority", where, MSH4))
    return read_complex(path, lambda s, c: people.practitioner_reference(c, s.conv, authority(s)), every)


@directive("$xon")
def _xon(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, every = need_path(arg, where), flag_option(opts, "$all")
    authority = read_authority(path_option(opts, "$authority", where, MSH4))
    return read_complex(path, lambda s, c: people.organization_reference(c, s.conv, authority(s)), every)


@directive("$pl")
def _pl(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    return read_complex(need_path(arg, where), lambda _s, c: people.location_reference(c), False)


# ---- quantities and results -----------------------------------------------------------------------
@directive("$quantity")
def _quantity(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, units = need_path(arg, where), read_units(path_option(opts, "$unit", where))
    return read_primitive(path, lambda s, t: results.quantity(t, units(s)))


@directive("$range")
def _range(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    path, units = need_path(arg, where), read_units(path_option(opts, "$unit", where))
    return read_primitive(path, lambda s, t: results.reference_range(t, units(s)))


@directive("$obx_value")
def _obx_value(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    name = segment_arg(arg, where)
    values = FieldPath(name, 5)
    kind, every_value = text_getter(FieldPath(name, 2)), all_comps_getter(values)
    units, code = read_units(FieldPath(name, 6)), comps_getter(FieldPath(name, 3))

    def run(scope: Scope) -> Any:
        reps = [comps for _seg, _rep, comps in every_value(scope)]
        try:
            found = results.observation_value(kind(scope), reps, units(scope), scope.conv, scope.facility)
        except ValueError as exc:
            scope.report(values, str(exc))
            return None
        if found and "component" in found:
            coded = code(scope)
            cc = dt.codeable_concept(coded[2], scope.conv, scope.facility) if coded else None
            found = {"component": [{"code": cc or {"text": "value"}, **c} for c in found["component"]]}
        return found

    return run


@directive("$attachment")
def _attachment(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    name = segment_arg(arg, where)
    created = path_option(opts, "$created", where)
    content = FieldPath(name, 5)
    kind, current = text_getter(FieldPath(name, 2)), comps_getter(content)
    created_text = text_getter(created) if created else None

    def run(scope: Scope) -> Any:
        found = current(scope)
        if found is None:
            return None
        when = dt.fhir_datetime(created_text(scope), scope.conv.default_timezone) if created_text else None
        try:
            return results.attachment(kind(scope), found[2], when)
        except ValueError as exc:
            scope.report(content, str(exc))
            return None

    return run


@directive("$text_attachment")
def _text_attachment(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    if not isinstance(arg, str) or not is_group_name(arg):
        raise SpecError(where, "takes a group name such as OBSERVATION")
    created = path_option(opts, "$created", where)
    created_text = text_getter(created) if created else None
    kind, values = text_getter(FieldPath("OBX", 2)), all_comps_getter(FieldPath("OBX", 5))

    def run(scope: Scope) -> Any:
        lines: list[str] = []
        for group, _chain in walk_groups(scope.chain[-1], arg, scope.chain):
            obx = group.first.get("OBX")
            if obx is None:
                continue
            saved = scope.save()
            scope.bound = {"OBX": obx}
            if kind(scope).upper() in results.TEXT:
                lines += [dt.part(c, 1) for _s, _r, c in values(scope)]
            scope.restore(saved)
        when = dt.fhir_datetime(created_text(scope), scope.conv.default_timezone) if created_text else None
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
            if v is None:
                continue
            if isinstance(v, list):
                v = next((x for x in v if not is_empty(x)), None)
            if kept(v):
                return v
        return None

    return run


@directive("$if")
def _if(arg: Any, opts: dict[str, Any], where: str) -> Fn:
    cond = compile_condition(arg, where)
    then = compile_node(opts.pop("$then", None), f"{where}$then")
    other = compile_node(opts.pop("$else", None), f"{where}$else")
    return lambda s: then(s) if cond(s) else other(s)
