"""Where a template is evaluated: field paths (`PID-3.4.2`, `ORDER_DETAIL/RXO-1`) and the scope.

A path names the nearest segment of that id: one bound by `$each`, else the innermost group of the
scope that reaches it (its own segments, then those of its non-repeating subgroups), then outwards.
Templates read through getters compiled once per path (`text_getter`, `comps_getter`,
`all_comps_getter`); a message's fields are split on first read and kept for the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from healthbrain.ingest.hl7v2.conventions import Conventions
from healthbrain.ingest.hl7v2.errors import DATA_TYPE_ERROR, Hl7Problem
from healthbrain.ingest.hl7v2.message import Components, Location, Message, Segment, components
from healthbrain.ingest.hl7v2.structure import Group, walk_groups

_PATH = re.compile(
    r"^(?:(?P<group>[A-Z][A-Z0-9_]*)/)?(?P<seg>[A-Z][A-Z0-9]{2})-(?P<field>\d{1,3})"
    r"(?:\((?P<rep>\d{1,3})\))?(?:\.(?P<comp>\d{1,3}))?(?:\.(?P<sub>\d{1,3}))?$"
)
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_GROUP_NAME = re.compile(r"^[A-Z][A-Z0-9_]{3,}$")
POSITION = "$position"


@dataclass(frozen=True, slots=True)
class FieldPath:
    """`GROUP/SEG-field(rep).component.subcomponent`; absent parts are None."""

    segment: str
    field: int
    group: str | None = None
    rep: int | None = None
    comp: int | None = None
    sub: int | None = None

    def __str__(self) -> str:
        out = f"{self.group}/" if self.group else ""
        out += f"{self.segment}-{self.field}"
        if self.rep:
            out += f"({self.rep})"
        if self.comp:
            out += f".{self.comp}"
            if self.sub:
                out += f".{self.sub}"
        return out


def parse_path(text: str) -> FieldPath | None:
    """A field path, or None when `text` is not one."""
    m = _PATH.match(text.strip())
    if m is None:
        return None
    num = {k: int(v) if v else None for k, v in m.groupdict().items() if k not in ("group", "seg")}
    if not num["field"]:
        return None
    return FieldPath(m["seg"], int(num["field"] or 0), m["group"], num["rep"], num["comp"], num["sub"])


def is_segment_id(text: str) -> bool:
    return bool(_SEGMENT_ID.match(text))


def is_group_name(text: str) -> bool:
    return bool(_GROUP_NAME.match(text)) and not is_segment_id(text)


# A resolver of `$ref` (one rule instance) and `$refs` (every instance inside the scope).
RefFinder = Callable[["Scope", str, bool], list[str]]

# A field split into repetitions: each one's components (None for an empty repetition) and the
# non-blank repetitions with their 1-based number. Memoised per message by the field's raw text
# (the same string object is read again and again, and equal values recur across segments).
FieldReps = tuple[tuple[Components | None, ...], tuple[tuple[int, Components], ...]]
_NO_FIELD: FieldReps = ((), ())


class Scope:
    """The evaluation state: the message, the chain of groups, bindings made by `$each`."""

    __slots__ = (
        "bound",
        "cache",
        "chain",
        "conv",
        "facility",
        "find_refs",
        "memo",
        "message",
        "position",
        "problems",
        "reps",
    )

    def __init__(
        self,
        message: Message,
        conv: Conventions,
        chain: tuple[Group, ...],
        find_refs: RefFinder,
        problems: list[Hl7Problem],
        *,
        facility: str | None = None,
        cache: dict[str, FieldReps] | None = None,
        memo: dict[Any, Any] | None = None,
    ) -> None:
        self.message = message
        self.conv = conv
        self.chain = chain
        self.find_refs = find_refs
        self.problems = problems
        self.bound: dict[str, Segment] = {}
        self.reps: dict[tuple[str, int], int] = {}
        self.position = 1
        self.facility = facility if facility is not None else sending_facility(message)
        self.cache: dict[str, FieldReps] = cache if cache is not None else {}
        # Values that are constant for the message (keyed by the compiled function computing them).
        self.memo: dict[Any, Any] = memo if memo is not None else {}

    def field(self, seg: Segment, n: int) -> FieldReps:
        """Field n of `seg` split into repetitions and components, memoised for the message."""
        fields = seg.fields
        raw = fields[n] if 0 < n < len(fields) else ""
        if not raw:
            return _NO_FIELD
        if n <= 2 and seg.name == "MSH":
            return _split_field(self.message, raw, False)
        found = self.cache.get(raw)
        if found is None:
            found = self.cache[raw] = _split_field(self.message, raw, True)
        return found

    # ---- lookups --------------------------------------------------------------------------------
    def segment(self, name: str, group: str | None = None) -> Segment | None:
        if group is not None:
            found = self.group(group)
            return found.first.get(name) if found is not None else None
        return self.bound.get(name) or self.chain[-1].visible.get(name)

    def group(self, name: str) -> Group | None:
        """The nearest group of that name: in the chain, else the first below a group of the chain."""
        for g in reversed(self.chain):
            if g.name == name:
                return g
            below = walk_groups(g, name, ())
            if below:
                return below[0][0]
        return None

    def rep_of(self, path: FieldPath, seg: Segment) -> int:
        return path.rep or self.reps.get((seg.name, path.field), 1)

    def text(self, path: FieldPath) -> str:
        """The primitive value at `path` ('' when absent), unescaped and stripped."""
        return _getters(path)[0](self)

    def comps(self, path: FieldPath) -> tuple[Segment, int, Components] | None:
        """The components of the current repetition at `path` (a component path narrows them)."""
        return _getters(path)[1](self)

    def all_comps(self, path: FieldPath) -> list[tuple[Segment, int, Components]]:
        """Every repetition at `path`, each as components."""
        return _getters(path)[2](self)

    def present(self, name: str) -> bool:
        """A segment id or group name exists in the scope."""
        if is_segment_id(name):
            return self.segment(name) is not None
        return self.group(name) is not None

    # ---- problems -------------------------------------------------------------------------------
    def report(
        self, path: FieldPath, message: str, seg: Segment | None = None, rep: int | None = None
    ) -> None:
        seg = seg or self.segment(path.segment, path.group)
        where = Location(
            path.segment,
            seg.sequence if seg is not None else 1,
            path.field,
            rep if rep is not None else (self.rep_of(path, seg) if seg is not None else None),
            path.comp,
            path.sub,
        )
        self.problems.append(Hl7Problem(DATA_TYPE_ERROR, where, message))

    # ---- bindings (saved and restored around `$each`) ------------------------------------------
    def save(self) -> tuple[Any, ...]:
        return self.chain, dict(self.bound), dict(self.reps), self.position

    def restore(self, state: tuple[Any, ...]) -> None:
        self.chain, self.bound, self.reps, self.position = state


def sending_facility(message: Message) -> str:
    """The sender's name for local code systems: MSH-4 (namespace or universal id), else MSH-3."""
    return message.header(4, 1) or message.header(4, 2) or message.header(3, 1)


def _split_field(message: Message, raw: str, repeats: bool) -> FieldReps:
    """A non-empty raw field split into repetitions (MSH-1/MSH-2 never are) and components."""
    d = message.delimiters
    if not repeats or d.repetition not in raw:
        if d.escape in raw or d.subcomponent in raw:
            comps = components(message, raw)
        elif d.component not in raw:  # the common cases, inlined: a bare value, or components
            comps = ((raw,),)
        else:
            comps = tuple([(c,) for c in raw.split(d.component)])
        return (comps,), (((1, comps),) if raw.strip() else ())
    sep = d.repetition
    raws = raw.split(sep)
    reps = tuple([components(message, r) if r else None for r in raws])
    filled = tuple(
        [
            (i, c)
            for i, (r, c) in enumerate(zip(raws, reps, strict=True), start=1)
            if c is not None and r.strip()
        ]
    )
    return reps, filled


# ---- compiled accessors: a path resolved once, read per message ---------------------------------
# Each getter captures the path's segment, field, repetition and component indexes, so reading a
# value costs a segment lookup and a few tuple indexings (the field is split once per message).
TextGetter = Callable[[Scope], str]
CompsGetter = Callable[[Scope], "tuple[Segment, int, Components] | None"]
AllCompsGetter = Callable[[Scope], "list[tuple[Segment, int, Components]]"]


def _finder(path: FieldPath) -> Callable[[Scope], Segment | None]:
    """The segment a path reads: the one bound by `$each`, else the nearest up the chain."""
    name, group = path.segment, path.group
    if group is not None:
        return lambda s: s.segment(name, group)
    return lambda s: s.bound.get(name) or s.chain[-1].visible.get(name)


def text_getter(path: FieldPath) -> TextGetter:
    """A function giving the primitive value at `path` ('' when absent), unescaped and stripped."""
    name, n, fixed, key = path.segment, path.field, path.rep, (path.segment, path.field)
    ci, si = (path.comp or 1) - 1, (path.sub or 1) - 1
    if path.group is not None or (n <= 2 and name == "MSH"):
        return _general_text_getter(path)

    def get(scope: Scope) -> str:
        seg = scope.bound.get(name) or scope.chain[-1].visible.get(name)
        if seg is None:
            return ""
        fields = seg.fields
        raw = fields[n] if n < len(fields) else ""
        if not raw:
            return ""
        reps = (scope.cache.get(raw) or scope.field(seg, n))[0]
        return _text_at(reps, fixed or (scope.reps.get(key, 1) if scope.reps else 1), ci, si)

    return get


def _text_at(reps: tuple[Components | None, ...], rep: int, ci: int, si: int) -> str:
    """Subcomponent `si` of component `ci` of repetition `rep` (1-based), stripped; '' when absent."""
    if rep > len(reps):
        return ""
    comps = reps[rep - 1]
    if comps is None or ci >= len(comps):
        return ""
    sub = comps[ci]
    return sub[si].strip() if si < len(sub) else ""


def _general_text_getter(path: FieldPath) -> TextGetter:
    """`text_getter` for group paths and for MSH-1/MSH-2 (read as sent: they are the delimiters)."""
    find, n, fixed, key = _finder(path), path.field, path.rep, (path.segment, path.field)
    ci, si = (path.comp or 1) - 1, (path.sub or 1) - 1
    as_sent = n <= 2 and path.segment == "MSH"

    def get(scope: Scope) -> str:
        seg = find(scope)
        if seg is None:
            return ""
        if as_sent:
            return seg.raw(n)
        return _text_at(scope.field(seg, n)[0], fixed or scope.reps.get(key, 1), ci, si)

    return get


def comps_getter(path: FieldPath) -> CompsGetter:
    """A function giving (segment, repetition, components) at `path`, narrowed to a component."""
    name, n, comp, fixed, key = path.segment, path.field, path.comp, path.rep, (path.segment, path.field)
    if path.group is not None or (n <= 2 and name == "MSH"):
        return _general_comps_getter(path)

    def get(scope: Scope) -> tuple[Segment, int, Components] | None:
        seg = scope.bound.get(name) or scope.chain[-1].visible.get(name)
        if seg is None:
            return None
        fields = seg.fields
        raw = fields[n] if n < len(fields) else ""
        if not raw:
            return None
        reps = (scope.cache.get(raw) or scope.field(seg, n))[0]
        rep = fixed or (scope.reps.get(key, 1) if scope.reps else 1)
        if rep > len(reps):
            return None
        comps = reps[rep - 1]
        if comps is None:
            return None
        if comp:
            if comp > len(comps):
                return None
            comps = (comps[comp - 1],)
        return seg, rep, comps

    return get


def _general_comps_getter(path: FieldPath) -> CompsGetter:
    """`comps_getter` for group paths and for MSH-1/MSH-2 (never split into repetitions)."""
    find, n, comp, fixed, key = _finder(path), path.field, path.comp, path.rep, (path.segment, path.field)
    as_sent = n <= 2 and path.segment == "MSH"

    def get(scope: Scope) -> tuple[Segment, int, Components] | None:
        seg = find(scope)
        if seg is None:
            return None
        reps = scope.field(seg, n)[0]
        rep = fixed or scope.reps.get(key, 1)
        # MSH-1/MSH-2: one "repetition" whatever the number asked.
        index = 0 if as_sent else rep - 1
        comps = reps[index] if index < len(reps) else None
        if comps is None:
            return None
        if comp:
            if comp > len(comps):
                return None
            comps = (comps[comp - 1],)
        return seg, rep, comps

    return get


def all_comps_getter(path: FieldPath) -> AllCompsGetter:
    """A function giving every non-blank repetition at `path`, each as components."""
    name, n, comp = path.segment, path.field, path.comp
    general = path.group is not None or (n <= 2 and name == "MSH")
    find = _finder(path)

    def get(scope: Scope) -> list[tuple[Segment, int, Components]]:
        if general:
            seg = find(scope)
            if seg is None:
                return []
            filled = scope.field(seg, n)[1]
        else:
            seg = scope.bound.get(name) or scope.chain[-1].visible.get(name)
            if seg is None:
                return []
            fields = seg.fields
            raw = fields[n] if n < len(fields) else ""
            if not raw:
                return []
            filled = (scope.cache.get(raw) or scope.field(seg, n))[1]
        if not comp:
            return [(seg, i, c) for i, c in filled]
        return [(seg, i, (c[comp - 1],) if comp <= len(c) else ((),)) for i, c in filled]

    return get


@cache
def _getters(path: FieldPath) -> tuple[TextGetter, CompsGetter, AllCompsGetter]:
    """The three getters of a path, built once (for paths read outside a compiled template)."""
    return text_getter(path), comps_getter(path), all_comps_getter(path)
