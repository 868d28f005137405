"""Where a template is evaluated: field paths (`PID-3.4.2`, `ORDER_DETAIL/RXO-1`) and the scope.

A path names the nearest segment of that id: one bound by `$each`, else the innermost group of the
scope that reaches it (its own segments, then those of its non-repeating subgroups), then outwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
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


class Scope:
    """The evaluation state: the message, the chain of groups, bindings made by `$each`."""

    __slots__ = (
        "bound",
        "cache",
        "chain",
        "conv",
        "facility",
        "find_refs",
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
        cache: dict[str, Components] | None = None,
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
        self.cache: dict[str, Components] = cache if cache is not None else {}

    def split(self, raw: str) -> Components:
        """`components()` of a raw repetition, memoised for the message."""
        found = self.cache.get(raw)
        if found is None:
            found = self.cache[raw] = components(self.message, raw)
        return found

    # ---- lookups --------------------------------------------------------------------------------
    def segment(self, name: str, group: str | None = None) -> Segment | None:
        if group is None:
            seg = self.bound.get(name)
            if seg is not None:
                return seg
            for g in reversed(self.chain):
                seg = g.first.get(name)
                if seg is not None:
                    return seg
            return None
        if group is not None:
            found = self.group(group)
            return found.first.get(name) if found is not None else None
        seg = self.bound.get(name)
        if seg is not None:
            return seg
        for g in reversed(self.chain):
            seg = g.first.get(name)
            if seg is not None:
                return seg
        return None

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
        seg = self.segment(path.segment, path.group)
        if seg is None or path.field >= len(seg.fields) or not seg.fields[path.field]:
            return ""
        raw = _raw_rep(self.message, seg, path.field, self.rep_of(path, seg))
        if not raw or (seg.name == "MSH" and path.field <= 2):
            return raw
        comps = self.split(raw)
        c, s = path.comp or 1, path.sub or 1
        if c > len(comps) or s > len(comps[c - 1]):
            return ""
        return comps[c - 1][s - 1].strip()

    def comps(self, path: FieldPath) -> tuple[Segment, int, Components] | None:
        """The components of the current repetition at `path` (a component path narrows them)."""
        seg = self.segment(path.segment, path.group)
        if seg is None or path.field >= len(seg.fields) or not seg.fields[path.field]:
            return None
        rep = self.rep_of(path, seg)
        raw = _raw_rep(self.message, seg, path.field, rep)
        if not raw:
            return None
        comps = self.split(raw)
        if path.comp:
            if path.comp > len(comps):
                return None
            comps = (comps[path.comp - 1],)
        return seg, rep, comps

    def all_comps(self, path: FieldPath) -> list[tuple[Segment, int, Components]]:
        """Every repetition at `path`, each as components."""
        seg = self.segment(path.segment, path.group)
        if seg is None:
            return []
        d = self.message.delimiters
        raw = seg.raw(path.field)
        reps = [raw] if seg.name == "MSH" and path.field <= 2 else (raw.split(d.repetition) if raw else [])
        out = []
        for i, r in enumerate(reps, start=1):
            if r.strip():
                comps = self.split(r)
                if path.comp:
                    comps = (comps[path.comp - 1],) if path.comp <= len(comps) else ((),)
                out.append((seg, i, comps))
        return out

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


def _raw_rep(message: Message, seg: Segment, field: int, rep: int) -> str:
    raw = seg.raw(field)
    if not raw or (seg.name == "MSH" and field <= 2):
        return raw
    reps = raw.split(message.delimiters.repetition)
    return reps[rep - 1] if rep <= len(reps) else ""
