"""From scored pairs to residents: connected components, one-to-one links, stable resident ids."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from healthbrain.mpi.frame import IntArray


def connected_clusters(n: int, left: IntArray, right: IntArray) -> IntArray:
    """Cluster label of each of `n` records, joining every linked pair (transitively)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int64)


def one_to_one(
    left: IntArray, right: IntArray, score: NDArray[np.float64], source: NDArray[np.int32]
) -> NDArray[np.bool_]:
    """Keep each record's best link into every other source (greedy by descending score).

    Used when each source is known to hold at most one record per person.
    """
    keep = np.zeros(len(left), dtype=bool)
    taken: set[tuple[int, int]] = set()  # (record, other source)
    for k in np.argsort(-score, kind="stable").tolist():
        a, b = int(left[k]), int(right[k])
        key_a, key_b = (a, int(source[b])), (b, int(source[a]))
        if key_a in taken or key_b in taken:
            continue
        taken.add(key_a)
        taken.add(key_b)
        keep[k] = True
    return keep


def stable_ids(
    labels: IntArray,
    record_ids: Sequence[str],
    previous: Mapping[str, str],
    new_id: Callable[[], str],
) -> dict[str, str]:
    """A resident id for every record, keeping ids from the previous run where clusters persist.

    Each previous resident id goes to the cluster holding most of its records (ties: the cluster
    it makes up most of, then the larger, then the smaller label); other clusters get fresh ids.
    """
    members: dict[int, list[int]] = defaultdict(list)
    for pos, label in enumerate(labels.tolist()):
        members[label].append(pos)
    claims: list[tuple[int, float, int, int, str]] = []  # (-votes, -share, -size, label, old id)
    for label, positions in members.items():
        votes = Counter(previous[record_ids[p]] for p in positions if record_ids[p] in previous)
        claims.extend((-n, -n / len(positions), -len(positions), label, rid) for rid, n in votes.items())
    assigned: dict[int, str] = {}
    used: set[str] = set()
    for _, _, _, label, rid in sorted(claims):
        if label not in assigned and rid not in used:
            assigned[label] = rid
            used.add(rid)
    out: dict[str, str] = {}
    for label in sorted(members):
        rid = assigned.get(label) or new_id()
        for p in members[label]:
            out[record_ids[p]] = rid
    return out
