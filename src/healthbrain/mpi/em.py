"""Expectation-maximisation of Fellegi-Sunter m probabilities (and the match share) without labels.

Pairs are first collapsed into distinct comparison patterns with counts, so each iteration costs
O(patterns x comparisons) whatever the number of pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
FLOOR = 1e-9


@dataclass(frozen=True, slots=True)
class Patterns:
    """Distinct rows of a level matrix (levels, -1 = missing) and how many pairs show each."""

    levels: NDArray[np.int8]  # (patterns, comparisons)
    counts: NDArray[np.int64]
    inverse: NDArray[np.int64]  # pattern of each pair


@dataclass(frozen=True, slots=True)
class EmResult:
    m: tuple[FloatArray, ...]
    u: tuple[FloatArray, ...]
    match_share: float
    iterations: int
    converged: bool


def collapse(gamma: NDArray[np.int8], n_levels: Sequence[int]) -> Patterns:
    """Distinct patterns of `gamma` (pairs x comparisons) with their counts."""
    code = np.zeros(len(gamma), dtype=np.int64)
    for c, k in enumerate(n_levels):
        code = code * (k + 1) + (gamma[:, c].astype(np.int64) + 1)
    unique, inverse, counts = np.unique(code, return_inverse=True, return_counts=True)
    levels = np.zeros((len(unique), len(n_levels)), dtype=np.int8)
    rest = unique.copy()
    for c in range(len(n_levels) - 1, -1, -1):
        base = n_levels[c] + 1
        levels[:, c] = (rest % base) - 1
        rest //= base
    return Patterns(levels, counts.astype(np.int64), inverse.astype(np.int64).ravel())


def log_likelihoods(
    levels: NDArray[np.int8], probs: Sequence[FloatArray], active: Sequence[bool]
) -> FloatArray:
    """Sum over active comparisons of log(prob[level]); missing levels contribute nothing."""
    total = np.zeros(len(levels), dtype=np.float64)
    for c, p in enumerate(probs):
        if not active[c]:
            continue
        lv = levels[:, c]
        ok = lv >= 0
        total[ok] += np.log(np.maximum(p[lv[ok]], FLOOR))
    return total


def _reestimate(
    levels: NDArray[np.int8], weight: FloatArray, k: int, c: int, old: FloatArray, pseudo: float
) -> FloatArray:
    """New level probabilities; `pseudo` pairs per level (a Dirichlet prior) keep unseen levels
    possible, so that one never-seen kind of disagreement cannot veto a match on its own."""
    lv = levels[:, c]
    ok = lv >= 0
    mass = np.asarray(np.bincount(lv[ok], weights=weight[ok], minlength=k), dtype=np.float64)
    if mass.sum() <= 0:
        return old
    mass = mass + pseudo
    return np.asarray(np.maximum(mass / mass.sum(), FLOOR), dtype=np.float64)


def run_em(
    patterns: Patterns,
    m: Sequence[FloatArray],
    u: Sequence[FloatArray],
    match_share: float,
    active: Sequence[bool],
    *,
    fix_u: bool = True,
    pseudo_count: float = 1.0,
    max_iterations: int = 50,
    tolerance: float = 1e-5,
) -> EmResult:
    """Iterate E and M steps until no m (or u) probability moves by more than `tolerance`.

    Inactive comparisons (those the training pairs were selected on) keep their values.
    """
    m = [np.asarray(x, dtype=np.float64) for x in m]
    u = [np.asarray(x, dtype=np.float64) for x in u]
    counts = patterns.counts.astype(np.float64)
    share = min(max(match_share, 1e-6), 1 - 1e-6)
    for iteration in range(1, max_iterations + 1):
        log_m = log_likelihoods(patterns.levels, m, active) + np.log(share)
        log_u = log_likelihoods(patterns.levels, u, active) + np.log(1 - share)
        posterior = 1.0 / (1.0 + np.exp(np.clip(log_u - log_m, -700, 700)))
        w_match = counts * posterior
        w_non = counts * (1 - posterior)
        share = float(min(max(w_match.sum() / counts.sum(), 1e-6), 1 - 1e-6))
        change = 0.0
        for c in range(len(m)):
            if not active[c]:
                continue
            new_m = _reestimate(patterns.levels, w_match, len(m[c]), c, m[c], pseudo_count)
            change = max(change, float(np.abs(new_m - m[c]).max()))
            m[c] = new_m
            if not fix_u:
                new_u = _reestimate(patterns.levels, w_non, len(u[c]), c, u[c], pseudo_count)
                change = max(change, float(np.abs(new_u - u[c]).max()))
                u[c] = new_u
        if change < tolerance:
            return EmResult(tuple(m), tuple(u), share, iteration, True)
    return EmResult(tuple(m), tuple(u), share, max_iterations, False)
