"""Scoring: match weight and probability of each candidate pair, with each field's contribution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from healthbrain.core.errors import InvalidInput
from healthbrain.mpi.comparisons import Comparison
from healthbrain.mpi.frame import IntArray, RecordFrame
from healthbrain.mpi.model import MatchModel, compare


@dataclass(frozen=True, slots=True, eq=False)
class ScoredPairs:
    """Candidate pairs with their levels, per-field weights (TF-adjusted) and totals."""

    left: IntArray
    right: IntArray
    levels: NDArray[np.int8]  # pairs x comparisons
    field_weights: NDArray[np.float32]  # pairs x comparisons
    weight: NDArray[np.float64]
    probability: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.left)


def probability_of(weight: NDArray[np.float64]) -> NDArray[np.float64]:
    """Match probability from a total match weight (log2 odds)."""
    return 1.0 / (1.0 + np.exp2(-np.clip(weight, -1000, 1000)))


def _tf_adjustment(
    frame: RecordFrame, comp: Comparison, model: MatchModel, u_top: float, i: IntArray, top: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """log2(u_top / share of the agreed value) for pairs agreeing exactly (Splink's TF adjustment)."""
    out = np.zeros(len(i), dtype=np.float64)
    table = model.term_frequencies.get(comp.name)
    if table is None or comp.tf_column is None or not top.any():
        return out
    where = np.flatnonzero(top)
    codes = frame.code(comp.tf_column)[i[where]]
    unique, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    values = frame.column(comp.tf_column)[i[where]][first]
    shares = np.maximum(table.shares(list(values)), 1e-12)
    del unique
    out[where] = np.log2(u_top / shares)[inverse.ravel()]
    return out


def score_pairs(
    frame: RecordFrame, comparisons: Sequence[Comparison], model: MatchModel, left: IntArray, right: IntArray
) -> ScoredPairs:
    """Score pairs (left[k], right[k]) of `frame` with `model`.

    Raises:
        InvalidInput: when the model was trained with other comparisons.
    """
    names = [c.name for c in comparisons]
    if names != [f.name for f in model.fields] or any(
        c.n_levels != len(f.m) for c, f in zip(comparisons, model.fields, strict=True)
    ):
        raise InvalidInput("the model does not fit these comparisons", code="mpi.model_mismatch")
    levels = compare(frame, comparisons, left, right)
    field_weights = np.zeros(levels.shape, dtype=np.float32)
    for c, (comp, params) in enumerate(zip(comparisons, model.fields, strict=True)):
        table = np.asarray(params.weights, dtype=np.float64)
        lv = levels[:, c]
        ok = lv >= 0
        w = np.zeros(len(lv), dtype=np.float64)
        w[ok] = table[lv[ok]]
        w += _tf_adjustment(frame, comp, model, params.u[-1], left, lv == comp.n_levels - 1)
        field_weights[:, c] = w
    weight = model.prior_weight + field_weights.sum(axis=1, dtype=np.float64)
    return ScoredPairs(left, right, levels, field_weights, weight, probability_of(weight))
