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
    """A segment (`names` has the alternatives) or a group (`children` set) with its cardinality.

    `opens` (the segment ids that can open the item), `known` (every segment id inside it) and
    `slots` (segment id → the children it can open, in order) are derived once, at load time.
    """

    name: str
    names: frozenset[str]
    required: bool
    repeats: bool
    children: tuple[Item, ...] = ()
    opens: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    known: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    slots: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_group(self) -> bool:
        return bool(self.children)


def _make(
    name: str, names: frozenset[str], required: bool, repeats: bool, children: tuple[Item, ...]
) -> Item:
    item = Item(name, names, required, repeats, children)
    return Item(name, names, required, repeats, children, _firsts(item), _known(item), _slots(item))


def _slots(item: Item) -> dict[str, tuple[int, ...]]:
    out: dict[str, list[int]] = {}
    for j, child in enumerate(item.children):
        for name in child.opens or _firsts(child):
            out.setdefault(name, []).append(j)
    return {name: tuple(js) for name, js in out.items()}


@dataclass(eq=False, slots=True)
class Group:
    """One instance of a group in a message; `first` indexes the segments a lookup may reach.

    `visible` is what a path read in this group resolves to: `first` of the group, else of its
    ancestors, innermost first (a scope's chain is always the path from the root to its group).
    """

    name: str
    repeats: bool
    children: list[Segment | Group] = field(default_factory=list)
    first: dict[str, Segment] = field(default_factory=dict)
    visible: dict[str, Segment] = field(default_factory=dict)

    def segments(self) -> list[Segment]:
        return [c for c in self.children if isinstance(c, Segment)]

    def groups(self) -> list[Group]:
        return [c for c in self.children if isinstance(c, Group)]


def parse_structure(name: str, spec: Any) -> Item:
    """Compile a structure definition (a YAML list) into an `Item` tree; raises ValueError."""
    if not isinstance(spec, list) or not spec:
        raise ValueError(f"structure {name}: must be a non-empty list")
    return _make(name, frozenset(), True, False, tuple(_item(x, name) for x in spec))


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
        return _make(base, names, required, repeats, ())
    if isinstance(spec, dict) and len(spec) == 1:
        ((key, body),) = spec.items()
        base, required, repeats = _cardinality(str(key).strip())
        if isinstance(body, str):
            body = body.split()
        if not isinstance(body, list) or not body:
            raise ValueError(f"structure {where}: group {base} needs a list of items")
        children = tuple(_item(x, f"{where}/{base}") for x in body)
        return _make(base, frozenset(), required, repeats, children)
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
    known = structure.known or _known(structure)
    stack = [_Frame(structure, root)]

    def find(frame: _Frame, name: str) -> int | None:
        for j in _slots_of(frame.item).get(name, ()):
            if j >= frame.index:
                return j
        return None

    for seg in segments:
        name = seg.name
        depth = len(stack) - 1
        j = find(stack[depth], name)
        while j is None and depth > 0:
            depth -= 1
            j = find(stack[depth], name)
        if j is None or name not in known:
            stack[-1].group.children.append(seg)  # unknown or out of place: stays with its neighbours
            continue
        del stack[depth + 1 :]
        _place(stack, j, seg)
    _index(root)
    _make_visible(root, {})
    return root


def _slots_of(item: Item) -> dict[str, tuple[int, ...]]:
    return item.slots if item.opens else _slots(item)


def _place(stack: list[_Frame], j: int, seg: Segment) -> None:
    """Open groups down to the segment's item and append it there."""
    frame = stack[-1]
    while True:
        item = frame.item.children[j]
        frame.index = j if item.repeats else j + 1
        if not item.children:
            frame.group.children.append(seg)
            return
        group = Group(item.name, item.repeats)
        frame.group.children.append(group)
        frame = _Frame(item, group)
        stack.append(frame)
        j = _slots_of(item)[seg.name][0]


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


def _make_visible(group: Group, outer: dict[str, Segment]) -> None:
    group.visible = {**outer, **group.first} if outer else dict(group.first)
    for child in group.children:
        if isinstance(child, Group):
            _make_visible(child, group.visible)


def walk_groups(group: Group, name: str, chain: tuple[Group, ...]) -> list[tuple[Group, tuple[Group, ...]]]:
    """Every descendant group instance named `name`, in message order, with its chain of ancestors."""
    out: list[tuple[Group, tuple[Group, ...]]] = []

    def walk(group: Group, chain: tuple[Group, ...]) -> None:
        for child in group.children:
            if isinstance(child, Group):
                here = (*chain, child)
                if child.name == name:
                    out.append((child, here))
                walk(child, here)

    walk(group, chain)
    return out


def walk_segments(
    group: Group, name: str, chain: tuple[Group, ...]
) -> list[tuple[Segment, tuple[Group, ...]]]:
    """Every segment named `name` under `group`, in message order, with the chain of its groups."""
    out: list[tuple[Segment, tuple[Group, ...]]] = []

    def walk(group: Group, chain: tuple[Group, ...]) -> None:
        for child in group.children:
            if isinstance(child, Segment):
                if child.name == name:
                    out.append((child, chain))
            else:
                walk(child, (*chain, child))

    walk(group, chain)
    return out
