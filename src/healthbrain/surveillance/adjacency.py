"""Which counties neighbour which, for the space-time scan: derived from the 省/市/县 hierarchy that
GB/T 2260 codes carry (counties of one prefecture-level city are neighbours), or read from a file
of adjacent pairs; and the zones (each county with its nearest neighbours by steps) the scan grows."""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from healthbrain.core.errors import InvalidInput

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Adjacency:
    """Areas (sorted) and each area's neighbours (symmetric, never itself)."""

    areas: tuple[str, ...]
    neighbours: Mapping[str, frozenset[str]]

    def index(self) -> dict[str, int]:
        """Position of each area in `areas`."""
        return {a: i for i, a in enumerate(self.areas)}


def _build(areas: Iterable[str], pairs: Iterable[tuple[str, str]]) -> Adjacency:
    known = sorted(set(areas))
    links: dict[str, set[str]] = {a: set() for a in known}
    for a, b in pairs:
        if a != b and a in links and b in links:
            links[a].add(b)
            links[b].add(a)
    return Adjacency(tuple(known), MappingProxyType({a: frozenset(n) for a, n in links.items()}))


def city_of(area: str) -> str | None:
    """The prefecture-level city of a six-digit county code (its first four digits), if it is one."""
    return area[:4] if len(area) == 6 and area.isdigit() and not area.endswith("00") else None


def same_city_adjacency(areas: Iterable[str]) -> Adjacency:
    """Counties of the same prefecture-level city are neighbours; other areas stand alone."""
    known = sorted(set(areas))
    by_city: dict[str, list[str]] = {}
    for area in known:
        city = city_of(area)
        if city is not None:
            by_city.setdefault(city, []).append(area)
    pairs = [(a, b) for group in by_city.values() for a in group for b in group if a < b]
    return _build(known, pairs)


def adjacency_from_pairs(areas: Iterable[str], pairs: Iterable[tuple[str, str]]) -> Adjacency:
    """Adjacency from a list of neighbouring pairs (order within a pair does not matter)."""
    return _build(areas, pairs)


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """Neighbouring pairs from CSV text with columns `area,neighbour` (a header row).

    Raises:
        InvalidInput: `surveillance.bad_adjacency` when the header or a row is malformed.
    """
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"area", "neighbour"} <= set(reader.fieldnames):
        raise InvalidInput(
            "an adjacency file has the columns area,neighbour", code="surveillance.bad_adjacency"
        )
    pairs = []
    for n, row in enumerate(reader, start=2):
        a, b = (row.get("area") or "").strip(), (row.get("neighbour") or "").strip()
        if not a or not b:
            raise InvalidInput(f"adjacency line {n} is incomplete", code="surveillance.bad_adjacency")
        pairs.append((a, b))
    return pairs


def merge(first: Adjacency, second: Adjacency) -> Adjacency:
    """Both adjacencies' areas and neighbours."""
    pairs = [(a, b) for adj in (first, second) for a, ns in adj.neighbours.items() for b in ns]
    return _build([*first.areas, *second.areas], pairs)


def zone_order(adjacency: Adjacency, max_areas: int) -> IntArray:
    """For each area, itself then its neighbours by breadth-first steps (ties by code), at most
    `max_areas` of them, padded with -1: the zones of the scan (SaTScan's non-Euclidean neighbours)."""
    index = adjacency.index()
    width = max(1, min(max_areas, len(adjacency.areas)))
    out = np.full((len(adjacency.areas), width), -1, dtype=np.int64)
    for i, start in enumerate(adjacency.areas):
        seen, queue = {start}, deque([start])
        order: list[int] = []
        while queue and len(order) < width:
            area = queue.popleft()
            order.append(index[area])
            for nxt in sorted(adjacency.neighbours[area] - seen):
                seen.add(nxt)
                queue.append(nxt)
        out[i, : len(order)] = order
    return out
