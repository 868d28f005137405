"""Compiling resource templates (YAML) into functions of a `Scope`.

A template is FHIR JSON in which a mapping holding a `$directive` computes a value from the message
(`{$cwe: OBX-3}`), `$each` repeats an element, `$when` keeps an element only when a field is sent,
and `${param}` is filled from the rule's params. Empty results are dropped, so a template can name
every element it knows and the resource keeps only what the message carried.
Directive builders live in `directives.py`; the language is documented in docs/hl7v2-mapping.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from healthbrain.ingest.hl7v2.errors import SpecError
from healthbrain.ingest.hl7v2.scope import (
    POSITION,
    FieldPath,
    Scope,
    is_group_name,
    is_segment_id,
    parse_path,
)
from healthbrain.ingest.hl7v2.structure import Group, walk_groups

Fn = Callable[[Scope], Any]
Builder = Callable[[Any, dict[str, Any], str], Fn]
DIRECTIVES: dict[str, Builder] = {}
_PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
OBJECT_KEYS = frozenset({"$when", "$merge"})
EACH_KEYS = frozenset({"$each", "$where", "$value", "$when", "$merge"})


def is_empty(value: Any) -> bool:
    return value is None or value in ("", [], {})


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


def _compile_list(node: list[Any], where: str) -> Fn:
    fns = [compile_node(x, f"{where}[{i}]") for i, x in enumerate(node)]

    def run(scope: Scope) -> Any:
        out: list[Any] = []
        for fn in fns:
            v = fn(scope)
            if isinstance(v, list):
                out.extend(x for x in v if not is_empty(x))
            elif not is_empty(v):
                out.append(v)
        return out or None

    return run


def _compile_object(node: dict[str, Any], where: str) -> Fn:
    bad = [k for k in node if k.startswith("$") and k not in OBJECT_KEYS]
    if bad:
        raise SpecError(where, f"unknown directive {bad[0]}")
    keys = [(str(k), compile_node(v, f"{where}.{k}")) for k, v in node.items() if not str(k).startswith("$")]
    when = compile_condition(node["$when"], f"{where}.$when") if "$when" in node else None
    merge = compile_node(node["$merge"], f"{where}.$merge") if "$merge" in node else None

    def run(scope: Scope) -> Any:
        if when is not None and not when(scope):
            return None
        out: dict[str, Any] = {}
        for key, fn in keys:
            v = fn(scope)
            if not is_empty(v):
                out[key] = v
        if merge is not None:
            extra = merge(scope)
            if isinstance(extra, dict):
                out.update(extra)
        return out or None

    return run


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


def compile_condition(value: Any, where: str) -> Callable[[Scope], bool]:
    """`$when`/`$if`: a field path (sent?), a segment id or group name (present?), or a literal."""
    if isinstance(value, bool) or value is None:
        fixed = bool(value)
        return lambda _s: fixed
    if not isinstance(value, str):
        raise SpecError(where, "a condition is a field path, a segment id, a group name or true/false")
    path = parse_path(value)
    if path is not None:
        return lambda s: s.text(path) != ""
    if is_segment_id(value) or is_group_name(value):
        return lambda s: s.present(value)
    literal = bool(value.strip())
    return lambda _s: literal


def need_path(arg: Any, where: str) -> FieldPath:
    path = parse_path(arg) if isinstance(arg, str) else None
    if path is None:
        raise SpecError(where, f"'{arg}' is not a field path such as PID-3 or OBX-5.1")
    return path


def compile_format(text: Any, where: str) -> Callable[[Scope], str | None]:
    """`"{OBR-3.1}/{OBX-1|$position}"`: each placeholder takes its first non-empty alternative;
    the result is None when a placeholder has none."""
    if not isinstance(text, str):
        raise SpecError(where, "a format is a string")
    pieces: list[str | list[FieldPath | None]] = []
    last = 0
    for m in _PLACEHOLDER.finditer(text):
        pieces.append(text[last : m.start()])
        alts: list[FieldPath | None] = []
        for alt in m.group(1).split("|"):
            alts.append(None if alt.strip() == POSITION else need_path(alt, where))
        pieces.append(alts)
        last = m.end()
    pieces.append(text[last:])

    def run(scope: Scope) -> str | None:
        out: list[str] = []
        for piece in pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            got = ""
            for alt in piece:
                got = str(scope.position) if alt is None else scope.text(alt)
                if got:
                    break
            if not got:
                return None
            out.append(got)
        return "".join(out)

    return run


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
    filters = _compile_where(node.get("$where"), f"{where}.$where")
    items = _iterator(source, f"{where}.$each")

    def run(scope: Scope) -> Any:
        out: list[Any] = []
        saved = scope.save()
        try:
            for position, bind in enumerate(items(scope), start=1):
                bind(scope)
                scope.position = position
                if any(scope.text(p) not in allowed for p, allowed in filters):
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


Binder = Callable[[Scope], None]


def _iterator(source: Any, where: str) -> Callable[[Scope], list[Binder]]:
    """What `$each` walks: a field's repetitions, a segment id, or a group name."""
    if not isinstance(source, str):
        raise SpecError(where, "$each takes a field path, a segment id or a group name")
    path = parse_path(source)
    if path is not None:

        def reps(scope: Scope) -> list[Binder]:
            found = scope.all_comps(path)
            out: list[Binder] = []
            for seg, rep, _comps in found:

                def bind(s: Scope, seg_name: str = seg.name, rep: int = rep, bound: Any = seg) -> None:
                    s.bound[seg_name] = bound
                    s.reps[(seg_name, path.field)] = rep

                out.append(bind)
            return out

        return reps
    if is_segment_id(source):

        def segments(scope: Scope) -> list[Binder]:
            group = scope.chain[-1]
            return [_bind_segment(seg) for seg in _reachable(group, source)]

        return segments
    if is_group_name(source):

        def groups(scope: Scope) -> list[Binder]:
            return [_bind_chain(chain) for _g, chain in walk_groups(scope.chain[-1], source, scope.chain)]

        return groups
    raise SpecError(where, f"'{source}' is not a field path, segment id or group name")


def _bind_segment(seg: Any) -> Binder:
    def bind(s: Scope) -> None:
        s.bound[seg.name] = seg

    return bind


def _bind_chain(chain: tuple[Group, ...]) -> Binder:
    def bind(s: Scope) -> None:
        s.chain = chain
        s.bound = {}

    return bind


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
