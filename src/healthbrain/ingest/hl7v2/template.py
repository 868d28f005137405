"""Compiling resource templates (YAML) into functions of a `Scope`.

A template is FHIR JSON in which a mapping holding a `$directive` computes a value from the message
(`{$cwe: OBX-3}`), `$each` repeats an element, `$when` keeps an element only when a field is sent,
and `${param}` is filled from the rule's params. Empty results are dropped, so a template can name
every element it knows and the resource keeps only what the message carried.
Directive builders live in `directives.py`; the language is documented in docs/hl7v2-mapping.md.

Compilation happens once per spec: paths become getters with their indexes resolved, constant
sub-trees are evaluated once (and copied per use), each node becomes a closure specialised to
what it holds, and an object's elements are built by one generated straight-line function, so a
message only pays for the fields it reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from healthbrain.ingest.hl7v2.errors import SpecError
from healthbrain.ingest.hl7v2.message import Segment
from healthbrain.ingest.hl7v2.scope import (
    POSITION,
    FieldPath,
    Scope,
    TextGetter,
    all_comps_getter,
    is_group_name,
    is_segment_id,
    parse_path,
    text_getter,
)
from healthbrain.ingest.hl7v2.structure import Group, walk_groups

Fn = Callable[[Scope], Any]
Builder = Callable[[Any, dict[str, Any], str], Fn]
DIRECTIVES: dict[str, Builder] = {}
_PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
OBJECT_KEYS = frozenset({"$when", "$merge"})
EACH_KEYS = frozenset({"$each", "$where", "$value", "$when", "$merge"})


_EMPTY: tuple[Any, ...] = ("", [], {})  # never mutated: a tuple display would rebuild them


def is_empty(value: Any) -> bool:
    return value is None or value in _EMPTY


def kept(value: Any) -> bool:
    """Not empty; the common cases (None, a non-empty value) are decided by truthiness alone."""
    return bool(value) or (value is not None and value not in _EMPTY)


def directive(name: str) -> Callable[[Builder], Builder]:
    """Register a directive builder under `$name`."""

    def register(builder: Builder) -> Builder:
        DIRECTIVES[name] = builder
        return builder

    return register


def substitute(node: Any, params: dict[str, Any], where: str) -> Any:
    """Replace `${name}` with the rule's params (a whole-string placeholder keeps the param's type)."""
    if isinstance(node, str):
        whole = _PARAM.fullmatch(node)
        if whole:
            if whole.group(1) not in params:
                raise SpecError(where, f"unknown param ${{{whole.group(1)}}}")
            return params[whole.group(1)]

        def one(m: re.Match[str]) -> str:
            if m.group(1) not in params:
                raise SpecError(where, f"unknown param ${{{m.group(1)}}}")
            return str(params[m.group(1)])

        return _PARAM.sub(one, node)
    if isinstance(node, list):
        return [substitute(x, params, f"{where}[{i}]") for i, x in enumerate(node)]
    if isinstance(node, dict):
        return {k: substitute(v, params, f"{where}.{k}") for k, v in node.items()}
    return node


def compile_node(node: Any, where: str) -> Fn:
    """Compile one template node; raises SpecError naming the element at fault."""
    if isinstance(node, list):
        return _compile_list(node, where)
    if isinstance(node, dict):
        if "$each" in node:
            return _compile_each(node, where)
        names = [k for k in node if k in DIRECTIVES]
        if names:
            return _compile_directive(node, names, where)
        return _compile_object(node, where)
    if node is None or isinstance(node, str | int | float | bool):
        constant: Any = node
        return lambda _s: constant
    raise SpecError(where, f"unsupported template value {type(node).__name__}")


# ---- constant sub-trees -------------------------------------------------------------------------
_UNFOLDED = object()


def _fold(node: Any) -> Any:
    """The value of a node that reads nothing from the message, else `_UNFOLDED`.

    Mirrors what the compiled node computes: empty elements dropped, lists flattened one level.
    """
    if node is None or isinstance(node, str | int | float | bool):
        return node
    if isinstance(node, list):
        out: list[Any] = []
        for x in node:
            v = _fold(x)
            if v is _UNFOLDED:
                return _UNFOLDED
            if isinstance(v, list):
                out.extend(y for y in v if not is_empty(y))
            elif not is_empty(v):
                out.append(v)
        return out or None
    if isinstance(node, dict):
        if any(str(k).startswith("$") and k != "$when" for k in node):
            return _UNFOLDED
        if "$when" in node:
            fixed = literal_condition(node["$when"])
            if fixed is None:
                return _UNFOLDED
            if not fixed:
                return None
        obj: dict[str, Any] = {}
        for k, x in node.items():
            if str(k).startswith("$"):
                continue
            v = _fold(x)
            if v is _UNFOLDED:
                return _UNFOLDED
            if not is_empty(v):
                obj[str(k)] = v
        return obj or None
    return _UNFOLDED


def _copier(value: Any) -> Callable[[], Any]:
    """A function returning a fresh deep copy of JSON data (callers may mutate what they get)."""
    if isinstance(value, dict):
        if not any(isinstance(v, dict | list) for v in value.values()):
            return value.copy
        parts = [(k, _copier(v)) for k, v in value.items()]
        return lambda: {k: make() for k, make in parts}
    if isinstance(value, list):
        if not any(isinstance(v, dict | list) for v in value):
            return value.copy
        makers = [_copier(v) for v in value]
        return lambda: [make() for make in makers]
    return lambda: value


def _constant(node: Any) -> Fn | None:
    """A function giving the folded value of a constant list or mapping, else None."""
    value = _fold(node)
    if value is _UNFOLDED:
        return None
    make = _copier(value)
    return lambda _s: make()


# ---- lists and mappings -------------------------------------------------------------------------
def _compile_list(node: list[Any], where: str) -> Fn:
    fns = [compile_node(x, f"{where}[{i}]") for i, x in enumerate(node)]
    constant = _constant(node)
    if constant is not None:
        return constant
    if len(fns) == 1:
        (only,) = fns

        def run_one(scope: Scope) -> Any:
            v = only(scope)
            if v is None:
                return None
            if isinstance(v, list):
                return [x for x in v if x or (x is not None and x not in _EMPTY)] or None
            return [v] if kept(v) else None

        return run_one

    def run(scope: Scope) -> Any:
        out: list[Any] = []
        for fn in fns:
            v = fn(scope)
            if v is None:
                continue
            if isinstance(v, list):
                out.extend([x for x in v if x or (x is not None and x not in _EMPTY)])
            elif kept(v):
                out.append(v)
        return out or None

    return run


def _compile_object(node: dict[str, Any], where: str) -> Fn:
    bad = [k for k in node if k.startswith("$") and k not in OBJECT_KEYS]
    if bad:
        raise SpecError(where, f"unknown directive {bad[0]}")
    keys: list[tuple[str, Fn, bool]] = []
    for k, v in node.items():
        if str(k).startswith("$"):
            continue
        # A one-element list is evaluated inside the object's function (see `_object_builder`).
        one = isinstance(v, list) and len(v) == 1 and _constant(v) is None
        keys.append((str(k), compile_node(v[0] if one else v, f"{where}.{k}{'[0]' if one else ''}"), one))
    when = compile_condition(node["$when"], f"{where}.$when") if "$when" in node else None
    merge = compile_node(node["$merge"], f"{where}.$merge") if "$merge" in node else None
    constant = _constant(node)
    if constant is not None:
        return constant
    return _object_builder(keys, when, merge)


def _object_builder(
    keys: list[tuple[str, Fn, bool]], when: Callable[[Scope], bool] | None, merge: Fn | None
) -> Fn:
    """A function building the object's elements, generated as straight-line Python source.

    The same as looping over (key, fn) pairs and dropping empty values, without the loop: an
    Observation has some thirty elements, most of them absent in any one message, and the loop's
    per-element overhead was a large share of mapping it. A `one` key holds a one-element list
    template (`identifier: [{$first: ...}]`): its value is listed here, as `_compile_list` would.
    `$when` is checked first; `$merge` adds its mapping's elements last.
    """
    names: dict[str, Any] = {"_EMPTY": _EMPTY, "when": when, "merge": merge}
    lines = ["def build(scope):"]
    if when is not None:
        lines.append("    if not when(scope):\n        return None")
    lines.append("    out = {}")
    for i, (key, fn, one) in enumerate(keys):
        names[f"f{i}"], names[f"k{i}"] = fn, key
        lines.append(f"    v = f{i}(scope)")
        if one:
            lines += [
                "    if v is not None:",
                "        if isinstance(v, list):",
                "            v = [x for x in v if x or (x is not None and x not in _EMPTY)]",
                "            if v:",
                f"                out[k{i}] = v",
                "        elif v or v not in _EMPTY:",
                f"            out[k{i}] = [v]",
            ]
        else:
            lines.append(f"    if v or (v is not None and v not in _EMPTY):\n        out[k{i}] = v")
    if merge is not None:
        lines.append("    extra = merge(scope)\n    if isinstance(extra, dict):\n        out.update(extra)")
    lines.append("    return out or None")
    exec(compile("\n".join(lines), "<hl7v2 template>", "exec"), names)  # the source is ours, built above
    built: Fn = names["build"]
    return built


def _compile_directive(node: dict[str, Any], names: list[str], where: str) -> Fn:
    if len(names) > 1:
        raise SpecError(where, f"one directive per mapping, found {', '.join(names)}")
    name = names[0]
    opts = {k: v for k, v in node.items() if k != name}
    plain = [k for k in opts if not str(k).startswith("$")]
    if plain:
        raise SpecError(where, f"{name} takes $options only, not '{plain[0]}'")
    default = compile_node(opts.pop("$default"), f"{where}.$default") if "$default" in opts else None
    fn = DIRECTIVES[name](node[name], opts, f"{where}.{name}")
    if opts:
        raise SpecError(where, f"{name} does not take {next(iter(opts))}")
    if default is None:
        return fn

    def with_default(scope: Scope) -> Any:
        v = fn(scope)
        return default(scope) if is_empty(v) else v

    return with_default


# ---- conditions, paths and formats --------------------------------------------------------------
def literal_condition(value: Any) -> bool | None:
    """The fixed outcome of a condition that names no field, segment or group, else None."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    if not isinstance(value, str) or parse_path(value) is not None:
        return None
    if is_segment_id(value) or is_group_name(value):
        return None
    return bool(value.strip())


def compile_condition(value: Any, where: str) -> Callable[[Scope], bool]:
    """`$when`/`$if`: a field path (sent?), a segment id or group name (present?), or a literal."""
    if isinstance(value, bool) or value is None:
        fixed = bool(value)
        return lambda _s: fixed
    if not isinstance(value, str):
        raise SpecError(where, "a condition is a field path, a segment id, a group name or true/false")
    path = parse_path(value)
    if path is not None:
        get = text_getter(path)
        return lambda s: get(s) != ""
    if is_segment_id(value):
        return lambda s: (s.bound.get(value) or s.chain[-1].visible.get(value)) is not None
    if is_group_name(value):
        return lambda s: s.group(value) is not None
    literal = bool(value.strip())
    return lambda _s: literal


def need_path(arg: Any, where: str) -> FieldPath:
    path = parse_path(arg) if isinstance(arg, str) else None
    if path is None:
        raise SpecError(where, f"'{arg}' is not a field path such as PID-3 or OBX-5.1")
    return path


def _position(scope: Scope) -> str:
    return str(scope.position)


def compile_format(text: Any, where: str) -> Callable[[Scope], str | None]:
    """`"{OBR-3.1}/{OBX-1|$position}"`: each placeholder takes its first non-empty alternative;
    the result is None when a placeholder has none."""
    if not isinstance(text, str):
        raise SpecError(where, "a format is a string")
    pieces: list[str | tuple[TextGetter, ...]] = []
    last = 0
    for m in _PLACEHOLDER.finditer(text):
        pieces.append(text[last : m.start()])
        alts: list[TextGetter] = []
        for alt in m.group(1).split("|"):
            alts.append(_position if alt.strip() == POSITION else text_getter(need_path(alt, where)))
        pieces.append(tuple(alts))
        last = m.end()
    pieces.append(text[last:])
    pieces = [p for p in pieces if p != ""]

    def run(scope: Scope) -> str | None:
        out: list[str] = []
        for piece in pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            got = ""
            for alt in piece:
                got = alt(scope)
                if got:
                    break
            if not got:
                return None
            out.append(got)
        return "".join(out)

    return run


# ---- $each --------------------------------------------------------------------------------------
def _compile_each(node: dict[str, Any], where: str) -> Fn:
    bad = [k for k in node if str(k).startswith("$") and k not in EACH_KEYS]
    if bad:
        raise SpecError(where, f"$each does not take {bad[0]}")
    source = node["$each"]
    body_node = {k: v for k, v in node.items() if k not in ("$each", "$where", "$value")}
    if "$value" in node:
        if any(not str(k).startswith("$") for k in body_node):
            raise SpecError(where, "$each takes either $value or elements, not both")
        body = compile_node(node["$value"], f"{where}.$value")
        when = compile_condition(node["$when"], f"{where}.$when") if "$when" in node else None
    else:
        body = _compile_object(body_node, where)
        when = None
    filters = [
        (text_getter(p), allowed) for p, allowed in _compile_where(node.get("$where"), f"{where}.$where")
    ]
    items, bind = _iterator(source, f"{where}.$each")

    def run(scope: Scope) -> Any:
        found = items(scope)
        if not found:
            return None
        out: list[Any] = []
        saved = scope.save()
        try:
            for position, item in enumerate(found, start=1):
                bind(scope, item)
                scope.position = position
                if filters and any(get(scope) not in allowed for get, allowed in filters):
                    continue
                if when is not None and not when(scope):
                    continue
                v = body(scope)
                if not is_empty(v):
                    out.append(v)
        finally:
            scope.restore(saved)
        return out or None

    return run


def _compile_where(spec: Any, where: str) -> list[tuple[FieldPath, frozenset[str]]]:
    if spec is None:
        return []
    if not isinstance(spec, dict):
        raise SpecError(where, "$where maps field paths to a value or a list of values")
    out = []
    for key, allowed in spec.items():
        values = allowed if isinstance(allowed, list) else [allowed]
        out.append((need_path(key, f"{where}.{key}"), frozenset(str(v) for v in values)))
    return out


# What `$each` walks (the items of the scope) and how one item is bound into the scope.
Items = Callable[[Scope], list[Any]]
Bind = Callable[[Scope, Any], None]


def _iterator(source: Any, where: str) -> tuple[Items, Bind]:
    """What `$each` walks: a field's repetitions, a segment id, or a group name."""
    if not isinstance(source, str):
        raise SpecError(where, "$each takes a field path, a segment id or a group name")
    path = parse_path(source)
    if path is not None:
        every = all_comps_getter(path)
        field = path.field

        def bind_rep(s: Scope, item: tuple[Segment, int, Any]) -> None:
            seg, rep, _comps = item
            s.bound[seg.name] = seg
            s.reps[(seg.name, field)] = rep

        return every, bind_rep
    if is_segment_id(source):

        def segments(scope: Scope) -> list[Any]:
            return _reachable(scope.chain[-1], source)

        def bind_segment(s: Scope, seg: Segment) -> None:
            s.bound[seg.name] = seg

        return segments, bind_segment
    if is_group_name(source):

        def groups(scope: Scope) -> list[Any]:
            return [chain for _g, chain in walk_groups(scope.chain[-1], source, scope.chain)]

        def bind_chain(s: Scope, chain: tuple[Group, ...]) -> None:
            s.chain = chain
            s.bound = {}

        return groups, bind_chain
    raise SpecError(where, f"'{source}' is not a field path, segment id or group name")


def _reachable(group: Group, name: str) -> list[Any]:
    """Segments of `group` and of its non-repeating subgroups, in message order."""
    out: list[Any] = []
    for child in group.children:
        if isinstance(child, Group):
            if not child.repeats:
                out += _reachable(child, name)
        elif child.name == name:
            out.append(child)
    return out
