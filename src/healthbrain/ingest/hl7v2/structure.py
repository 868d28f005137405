"""Message structures (a grammar of segments and groups, loaded from data) and the segment tree.

A structure such as ORU_R01 is a list of items: `PID` (exactly one), `PD1?`, `NTE*`, `OBX+`, a choice
`OBR|RXO`, or a group `{ORDER_OBSERVATION+: [...]}` (its items a list or a space-separated line).
Matching is lenient, as receivers must be: a segment that is unknown or out of place joins the
innermost open group instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from healthbrain.ingest.hl7v2.message import Segment


@dataclass(frozen=True, slots=True)
class Item:
    """A segment (`names` has the alternatives) or a group (`children` set) with its cardinality."""

    name: str
    names: frozenset[str]
    required: bool
    repeats: bool
    children: tuple[Item, ...] = ()

    @property
    def is_group(self) -> bool:
        return bool(self.children)


@dataclass(eq=False, slots=True)
class Group:
    """One instance of a group in a message; `first` indexes the segments a lookup may reach."""

    name: str
    repeats: bool
    children: list[Segment | Group] = field(default_factory=list)
    first: dict[str, Segment] = field(default_factory=dict)

    def segments(self) -> list[Segment]:
        return [c for c in self.children if isinstance(c, Segment)]

    def groups(self) -> list[Group]:
        return [c for c in self.children if isinstance(c, Group)]


def parse_structure(name: str, spec: Any) -> Item:
    """Compile a structure definition (a YAML list) into an `Item` tree; raises ValueError."""
    if not isinstance(spec, list) or not spec:
        raise ValueError(f"structure {name}: must be a non-empty list")
    return Item(name, frozenset(), True, False, tuple(_item(x, name) for x in spec))


def _cardinality(text: str) -> tuple[str, bool, bool]:
    if text.endswith("?"):
        return text[:-1], False, False
    if text.endswith("*"):
        return text[:-1], False, True
    if text.endswith("+"):
        return text[:-1], True, True
    return text, True, False


def _item(spec: Any, where: str) -> Item:
    if isinstance(spec, str):
        base, required, repeats = _cardinality(spec.strip())
        names = frozenset(n.strip() for n in base.split("|"))
        if not all(len(n) == 3 and n.isalnum() for n in names):
            raise ValueError(f"structure {where}: '{spec}' is not a segment id")
        return Item(base, names, required, repeats)
    if isinstance(spec, dict) and len(spec) == 1:
        ((key, body),) = spec.items()
        base, required, repeats = _cardinality(str(key).strip())
        if isinstance(body, str):
            body = body.split()
        if not isinstance(body, list) or not body:
            raise ValueError(f"structure {where}: group {base} needs a list of items")
        return Item(base, frozenset(), required, repeats, tuple(_item(x, f"{where}/{base}") for x in body))
    raise ValueError(f"structure {where}: an item is a segment id or a one-key group mapping")


def _firsts(item: Item) -> frozenset[str]:
    """The segment ids that can open this item."""
    if not item.is_group:
        return item.names
    out: set[str] = set()
    for child in item.children:
        out |= _firsts(child)
        if child.required:
            break
    return frozenset(out)


def _known(item: Item) -> frozenset[str]:
    if not item.is_group:
        return item.names
    out: set[str] = set()
    for child in item.children:
        out |= _known(child)
    return frozenset(out)


@dataclass(slots=True)
class _Frame:
    item: Item
    group: Group
    index: int = 0  # the first child item still allowed


def build_tree(structure: Item, segments: tuple[Segment, ...]) -> Group:
    """Group the segments of a message according to `structure` (lenient, never fails)."""
    root = Group(structure.name, False)
    known = _known(structure)
    stack = [_Frame(structure, root)]
    firsts_cache: dict[int, frozenset[str]] = {}

    def firsts(item: Item) -> frozenset[str]:
        key = id(item)
        if key not in firsts_cache:
            firsts_cache[key] = _firsts(item)
        return firsts_cache[key]

    def find(frame: _Frame, name: str) -> int | None:
        for j in range(frame.index, len(frame.item.children)):
            if name in firsts(frame.item.children[j]):
                return j
        return None

    for seg in segments:
        depth = len(stack) - 1
        while depth >= 0 and find(stack[depth], seg.name) is None:
            depth -= 1
        if depth < 0 or seg.name not in known:
            stack[-1].group.children.append(seg)  # unknown or out of place: stays with its neighbours
            continue
        del stack[depth + 1 :]
        _place(stack, find(stack[-1], seg.name) or 0, seg, firsts)
    _index(root)
    return root


def _place(stack: list[_Frame], j: int, seg: Segment, firsts: Any) -> None:
    """Open groups down to the segment's item and append it there."""
    frame = stack[-1]
    while True:
        item = frame.item.children[j]
        frame.index = j if item.repeats else j + 1
        if not item.is_group:
            frame.group.children.append(seg)
            return
        group = Group(item.name, item.repeats)
        frame.group.children.append(group)
        frame = _Frame(item, group)
        stack.append(frame)
        j = next(k for k, child in enumerate(item.children) if seg.name in firsts(child))


def _index(group: Group) -> None:
    """Fill `first`: direct segments first, then those of non-repeating subgroups (recursively)."""
    for child in group.children:
        if isinstance(child, Segment):
            group.first.setdefault(child.name, child)
    for child in group.children:
        if isinstance(child, Group):
            _index(child)
            if not child.repeats:
                for name, seg in child.first.items():
                    group.first.setdefault(name, seg)


def walk_groups(group: Group, name: str, chain: tuple[Group, ...]) -> list[tuple[Group, tuple[Group, ...]]]:
    """Every descendant group instance named `name`, in message order, with its chain of ancestors."""
    out: list[tuple[Group, tuple[Group, ...]]] = []
    for child in group.groups():
        here = (*chain, child)
        if child.name == name:
            out.append((child, here))
        out += walk_groups(child, name, here)
    return out


def walk_segments(
    group: Group, name: str, chain: tuple[Group, ...]
) -> list[tuple[Segment, tuple[Group, ...]]]:
    """Every segment named `name` under `group`, in message order, with the chain of its groups."""
    out: list[tuple[Segment, tuple[Group, ...]]] = []
    for child in group.children:
        if isinstance(child, Segment):
            if child.name == name:
                out.append((child, chain))
        else:
            out += walk_segments(child, name, (*chain, child))
    return out
