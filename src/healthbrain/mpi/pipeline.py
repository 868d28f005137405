"""The batch linkage pipeline: block, (train), score, decide, cluster — over a RecordFrame."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from healthbrain.mpi.blocking import BlockingRule, Pairs, block_pairs
from healthbrain.mpi.cluster import connected_clusters, one_to_one
from healthbrain.mpi.comparisons import Comparison
from healthbrain.mpi.frame import IntArray, RecordFrame
from healthbrain.mpi.model import MatchModel
from healthbrain.mpi.scoring import ScoredPairs, score_pairs
from healthbrain.mpi.training import TrainingSettings, train_model

# A guard looks at scored pairs (levels in the order of the comparison names it is given) and
# returns, per pair, a bit mask of reasons not to auto-link.
Guard = Callable[[RecordFrame, ScoredPairs, Sequence[str]], NDArray[np.int32]]


@dataclass(frozen=True, eq=False)
class LinkSettings:
    """What to compare, how to block, how to train, and how to decide."""

    comparisons: tuple[Comparison, ...]
    blocking: tuple[BlockingRule, ...]
    training: TrainingSettings
    link_type: str = "dedupe"
    one_to_one: bool = False
    guard: Guard | None = None
    review_floor: float = 0.05  # guarded pairs go to a reviewer from this probability on


@dataclass(frozen=True, eq=False)
class LinkResult:
    """Scored candidate pairs, the decision for each, and the resulting clusters."""

    model: MatchModel
    pairs: Pairs
    scored: ScoredPairs
    linked: NDArray[np.bool_]  # auto-linked pairs
    review: NDArray[np.bool_]  # pairs for a reviewer
    reasons: NDArray[np.int32]  # guard reasons per pair (0 = none)
    labels: IntArray  # cluster of each record
    timings: dict[str, float] = field(default_factory=dict)


def decide(
    model: MatchModel,
    probability: NDArray[np.float64],
    reasons: NDArray[np.int32],
    review_floor: float = 0.05,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(auto-link, review) masks: above `auto_link` without guard reasons links; the rest above
    `review` go to a reviewer, and so do guarded pairs from `review_floor` on."""
    auto = (probability >= model.auto_link) & (reasons == 0)
    review = (probability >= model.review) | ((reasons != 0) & (probability >= review_floor))
    return auto, review & ~auto


def link_records(frame: RecordFrame, settings: LinkSettings, model: MatchModel | None = None) -> LinkResult:
    """Link the records of `frame`; trains a model first unless one is given."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    pairs = block_pairs(frame, settings.blocking, settings.link_type)
    timings["blocking"] = time.perf_counter() - started
    if model is None:
        t0 = time.perf_counter()
        model = train_model(
            frame, settings.comparisons, settings.blocking, settings.training, settings.link_type,
            candidates=pairs,
        )  # fmt: skip
        timings["training"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    scored = score_pairs(frame, settings.comparisons, model, pairs.left, pairs.right)
    timings["scoring"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    names = [c.name for c in settings.comparisons]
    reasons = (
        settings.guard(frame, scored, names) if settings.guard else np.zeros(len(scored), dtype=np.int32)
    )
    auto, review = decide(model, scored.probability, reasons, settings.review_floor)
    if settings.one_to_one:
        best = one_to_one(scored.left[auto], scored.right[auto], scored.weight[auto], frame.source)
        auto_idx = np.flatnonzero(auto)
        auto[auto_idx[~best]] = False
    labels = connected_clusters(len(frame), scored.left[auto], scored.right[auto])
    timings["clustering"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    return LinkResult(model, pairs, scored, auto, review, reasons, labels, timings)


def rules_touching(rules: Sequence[BlockingRule], column: str) -> list[BlockingRule]:
    """The rules that block on `column` (for explaining why a pair was compared)."""
    return [r for r in rules if column in r.columns]
