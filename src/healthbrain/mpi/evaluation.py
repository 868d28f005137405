"""Accuracy against ground truth: pairwise precision, recall and F1 of a clustering."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from healthbrain.mpi.frame import IntArray


@dataclass(frozen=True, slots=True)
class Accuracy:
    """Pairwise accuracy: a predicted pair is right when both records belong to the same person."""

    true_positives: int
    predicted_pairs: int
    true_pairs: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_json(self) -> dict[str, float]:
        return {
            "precision": round(self.precision, 5),
            "recall": round(self.recall, 5),
            "f1": round(self.f1, 5),
            "truePositives": self.true_positives,
            "predictedPairs": self.predicted_pairs,
            "truePairs": self.true_pairs,
        }


def _pairs_in(groups: NDArray[np.int64], sources: NDArray[np.int64] | None) -> int:
    """Pairs of records sharing a group (across sources only, when `sources` is given)."""
    _, counts = np.unique(groups, return_counts=True)
    total = int((counts * (counts - 1) // 2).sum())
    if sources is None:
        return total
    key = groups * (int(sources.max()) + 1) + sources
    _, same = np.unique(key, return_counts=True)
    return total - int((same * (same - 1) // 2).sum())


def pairwise_accuracy(
    predicted: IntArray, truth: IntArray, sources: NDArray[np.int64] | None = None
) -> Accuracy:
    """Accuracy of cluster labels `predicted` against true labels `truth` (same record order).

    With `sources`, only pairs across sources count (a linkage task).
    """
    _, pred = np.unique(predicted, return_inverse=True)
    _, true = np.unique(truth, return_inverse=True)
    both = pred.astype(np.int64) * (int(true.max()) + 1 if len(true) else 1) + true
    src = None if sources is None else np.asarray(sources, dtype=np.int64)
    return Accuracy(
        _pairs_in(both.ravel(), src), _pairs_in(pred.astype(np.int64).ravel(), src),
        _pairs_in(true.astype(np.int64).ravel(), src),
    )  # fmt: skip
