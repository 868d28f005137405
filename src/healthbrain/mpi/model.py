"""The Fellegi-Sunter model: per-field m and u probabilities, the prior, and term-frequency tables.

Training is label-free: u from random record pairs (exact-match u computed from value frequencies),
m by EM sessions on the pairs of training blocking rules (with u fixed, comparisons the rule
blocked on left out), then the prior by a fixed point over the candidate pairs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from healthbrain.core.errors import InvalidInput
from healthbrain.mpi.comparisons import Comparison
from healthbrain.mpi.frame import IntArray, RecordFrame

FloatArray = NDArray[np.float64]
CHUNK = 1_000_000


@dataclass(frozen=True, slots=True)
class FieldParams:
    """One comparison's parameters. `fixed` ones (set by reviewers) are not re-estimated."""

    name: str
    labels: tuple[str, ...]
    m: tuple[float, ...]
    u: tuple[float, ...]
    fixed: bool = False

    @property
    def weights(self) -> tuple[float, ...]:
        """Match weight (log2 m/u) of each level."""
        return tuple(math.log2(max(m, 1e-12) / max(u, 1e-12)) for m, u in zip(self.m, self.u, strict=True))


@dataclass(frozen=True, slots=True)
class TermFrequencies:
    """How often each value of a column occurs (values seen at least twice), for TF adjustment."""

    column: str
    total: int
    counts: Mapping[str, int] = field(default_factory=dict)

    def shares(self, values: Sequence[str]) -> FloatArray:
        """Share of records holding each value (a value not in the table is taken as unique)."""
        total = max(self.total, 1)
        return np.asarray([max(self.counts.get(v, 1), 1) / total for v in values], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class MatchModel:
    """A trained model: prior probability that two random records match, and each field's parameters."""

    prior: float
    fields: tuple[FieldParams, ...]
    term_frequencies: Mapping[str, TermFrequencies] = field(default_factory=dict)
    auto_link: float = 0.95
    review: float = 0.5

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    def field(self, name: str) -> FieldParams:
        for f in self.fields:
            if f.name == name:
                return f
        raise InvalidInput(f"the model has no field {name!r}", code="mpi.unknown_field")

    def with_field(self, params: FieldParams) -> MatchModel:
        """A copy with one field's parameters replaced."""
        fields = tuple(params if f.name == params.name else f for f in self.fields)
        return replace(self, fields=fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "prior": self.prior,
            "autoLink": self.auto_link,
            "review": self.review,
            "fields": [
                {"name": f.name, "labels": list(f.labels), "m": list(f.m), "u": list(f.u), "fixed": f.fixed}
                for f in self.fields
            ],
            "termFrequencies": {
                name: {"column": tf.column, "total": tf.total, "counts": dict(tf.counts)}
                for name, tf in self.term_frequencies.items()
            },
        }

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> MatchModel:
        fields = tuple(
            FieldParams(f["name"], tuple(f["labels"]), tuple(f["m"]), tuple(f["u"]), bool(f.get("fixed")))
            for f in doc["fields"]
        )
        tfs = {
            name: TermFrequencies(tf["column"], int(tf["total"]), dict(tf["counts"]))
            for name, tf in doc.get("termFrequencies", {}).items()
        }
        return MatchModel(float(doc["prior"]), fields, tfs, float(doc["autoLink"]), float(doc["review"]))


def compare(
    frame: RecordFrame, comparisons: Sequence[Comparison], left: IntArray, right: IntArray
) -> NDArray[np.int8]:
    """The level matrix (pairs x comparisons), computed in chunks to bound memory."""
    out = np.empty((len(left), len(comparisons)), dtype=np.int8)
    for start in range(0, len(left), CHUNK):
        i, j = left[start : start + CHUNK], right[start : start + CHUNK]
        for c, comparison in enumerate(comparisons):
            out[start : start + CHUNK, c] = comparison.compute(frame, i, j)
    return out


def term_frequencies(frame: RecordFrame, column: str, min_count: int = 2) -> TermFrequencies:
    """Counts of the values of `column` that occur at least `min_count` times."""
    codes = frame.code(column)
    present = codes[codes >= 0]
    values, counts = np.unique(present, return_counts=True)
    keep = counts >= min_count
    by_code = {code: value for value, code in frame.vocabulary.items()} if keep.any() else {}
    table = {by_code[int(c)]: int(n) for c, n in zip(values[keep], counts[keep], strict=True)}
    return TermFrequencies(column, len(present), table)


def default_m(n_levels: int) -> FloatArray:
    """Starting m values: most true matches agree exactly, fewer at each weaker level."""
    raw = np.array([0.5 ** (n_levels - 1 - k) for k in range(n_levels)], dtype=np.float64)
    raw[0] = max(raw[0], 0.05)
    return np.asarray(raw / raw.sum(), dtype=np.float64)


def exact_u(frame: RecordFrame, column: str, link_type: str) -> float:
    """Probability that two random records (of different sources when linking) share a value."""
    codes = frame.code(column)
    ok = codes >= 0
    if link_type == "link":
        sources = np.unique(frame.source)
        total_pairs, agreeing = 0.0, 0.0
        per_source = [
            np.bincount(codes[ok & (frame.source == s)], minlength=len(frame.vocabulary)) for s in sources
        ]
        sizes = [float(c.sum()) for c in per_source]
        for a in range(len(sources)):
            for b in range(a + 1, len(sources)):
                agreeing += float(np.dot(per_source[a].astype(np.float64), per_source[b]))
                total_pairs += sizes[a] * sizes[b]
        return agreeing / total_pairs if total_pairs else 0.0
    counts = np.bincount(codes[ok]).astype(np.float64)
    n = counts.sum()
    return float((counts * (counts - 1)).sum() / (n * (n - 1))) if n > 1 else 0.0


def random_pairs(frame: RecordFrame, n_pairs: int, link_type: str, seed: int) -> tuple[IntArray, IntArray]:
    """About `n_pairs` uniformly drawn distinct pairs (from different sources when linking)."""
    rng = np.random.default_rng(seed)
    n = len(frame)
    draw = int(n_pairs * 1.2) + 10
    i = rng.integers(0, n, draw)
    j = rng.integers(0, n, draw)
    keep = i != j
    if link_type == "link":
        keep &= frame.source[i] != frame.source[j]
    return i[keep][:n_pairs], j[keep][:n_pairs]
