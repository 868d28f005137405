"""Label-free training of a MatchModel: u by random sampling, m by EM sessions, prior by fixed point."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from healthbrain.mpi.blocking import BlockingRule, Pairs, block_pairs
from healthbrain.mpi.comparisons import Comparison
from healthbrain.mpi.em import FloatArray, collapse, log_likelihoods, run_em
from healthbrain.mpi.frame import RecordFrame
from healthbrain.mpi.model import (
    FieldParams,
    MatchModel,
    compare,
    default_m,
    exact_u,
    random_pairs,
    term_frequencies,
)

log = logging.getLogger("healthbrain.mpi")


@dataclass(frozen=True, slots=True)
class TrainingSettings:
    """How to train. `em_rules` select the pairs of each EM session (Splink's training rules)."""

    em_rules: tuple[BlockingRule, ...]
    u_sample_pairs: int = 250_000
    max_em_iterations: int = 50
    seed: int = 1
    tf_min_count: int = 2
    auto_link: float = 0.95
    review: float = 0.5


def estimate_u(
    frame: RecordFrame, comparisons: Sequence[Comparison], link_type: str, n_pairs: int, seed: int
) -> list[FloatArray]:
    """u of each level from random pairs; the top level's u exactly from value frequencies."""
    i, j = random_pairs(frame, n_pairs, link_type, seed)
    gamma = compare(frame, comparisons, i, j)
    out = []
    for c, comp in enumerate(comparisons):
        lv = gamma[:, c]
        counts = np.bincount(lv[lv >= 0], minlength=comp.n_levels).astype(np.float64)
        u = (counts + 0.5) / (counts.sum() + 0.5 * comp.n_levels)
        if comp.exact_column is not None:
            top = max(exact_u(frame, comp.exact_column, link_type), 1e-12)
            rest = u[:-1] * (1 - top) / max(u[:-1].sum(), 1e-12)
            u = np.r_[rest, top]
        out.append(u)
    return out


def estimate_m(
    frame: RecordFrame,
    comparisons: Sequence[Comparison],
    u: Sequence[FloatArray],
    rules: Sequence[BlockingRule],
    link_type: str,
    max_iterations: int,
) -> list[FloatArray]:
    """m of each comparison: the mean over the EM sessions that could estimate it."""
    sums = [np.zeros(c.n_levels) for c in comparisons]
    sessions = [0] * len(comparisons)
    for rule in rules:
        pairs = block_pairs(frame, [rule], link_type)
        if len(pairs) == 0:
            continue
        active = [not (set(c.columns) & rule.columns) for c in comparisons]
        gamma = compare(frame, comparisons, pairs.left, pairs.right)
        patterns = collapse(gamma, [c.n_levels for c in comparisons])
        start = [default_m(c.n_levels) for c in comparisons]
        result = run_em(patterns, start, u, 0.3, active, max_iterations=max_iterations)
        log.info(
            "mpi.em_session",
            extra={"fields": {"rule": rule.name, "pairs": len(pairs), "iterations": result.iterations}},
        )
        for c, is_active in enumerate(active):
            if is_active:
                sums[c] += result.m[c]
                sessions[c] += 1
    return [s / n if n else default_m(len(s)) for s, n in zip(sums, sessions, strict=True)]


def total_pairs(frame: RecordFrame, link_type: str) -> float:
    """How many pairs the link type admits (all pairs, or pairs across sources)."""
    n = float(len(frame))
    if link_type != "link":
        return n * (n - 1) / 2
    sizes = np.bincount(frame.source).astype(np.float64)
    return float((sizes.sum() ** 2 - (sizes**2).sum()) / 2)


def estimate_prior(
    gamma: np.ndarray,
    m: Sequence[FloatArray],
    u: Sequence[FloatArray],
    all_pairs: float,
    iterations: int = 100,
) -> float:
    """The share of matches among all pairs: expected matches among candidates / all pairs, to a fixed point.

    Pairs left out by blocking are taken as non-matches, which is what blocking asserts.
    """
    patterns = collapse(gamma, [len(x) for x in m])
    active = [True] * len(m)
    log_ratio = log_likelihoods(patterns.levels, m, active) - log_likelihoods(patterns.levels, u, active)
    counts = patterns.counts.astype(np.float64)
    prior = min(max(counts.sum() / all_pairs * 0.1, 1e-12), 0.5)
    for _ in range(iterations):
        logit = np.log(prior / (1 - prior)) + log_ratio
        expected = float((counts / (1 + np.exp(-np.clip(logit, -700, 700)))).sum())
        new = min(max(expected / all_pairs, 1e-12), 0.5)
        if abs(new - prior) <= 1e-6 * prior:
            return float(new)
        prior = new
    return float(prior)


def train_model(
    frame: RecordFrame,
    comparisons: Sequence[Comparison],
    blocking: Sequence[BlockingRule],
    settings: TrainingSettings,
    link_type: str = "dedupe",
    *,
    candidates: Pairs | None = None,
    previous: MatchModel | None = None,
) -> MatchModel:
    """Estimate a model on `frame` without labels.

    Fields of `previous` marked `fixed` (set by reviewers) keep their m and u values.
    """
    u = estimate_u(frame, comparisons, link_type, settings.u_sample_pairs, settings.seed)
    m = estimate_m(frame, comparisons, u, settings.em_rules, link_type, settings.max_em_iterations)
    if previous is not None:
        for c, comp in enumerate(comparisons):
            old = next((f for f in previous.fields if f.name == comp.name and f.fixed), None)
            if old is not None and len(old.m) == comp.n_levels:
                m[c], u[c] = np.asarray(old.m), np.asarray(old.u)
    pairs = candidates if candidates is not None else block_pairs(frame, blocking, link_type)
    gamma = compare(frame, comparisons, pairs.left, pairs.right)
    prior = estimate_prior(gamma, m, u, total_pairs(frame, link_type))
    fields = tuple(
        FieldParams(
            comp.name,
            comp.labels,
            tuple(float(x) for x in m[c]),
            tuple(float(x) for x in u[c]),
            previous is not None and any(f.fixed and f.name == comp.name for f in previous.fields),
        )
        for c, comp in enumerate(comparisons)
    )
    tfs = {
        comp.name: term_frequencies(frame, comp.tf_column, settings.tf_min_count)
        for comp in comparisons
        if comp.tf_column is not None
    }
    model = MatchModel(prior, fields, tfs, settings.auto_link, settings.review)
    if previous is not None:
        model = replace(model, auto_link=previous.auto_link, review=previous.review)
    return model
