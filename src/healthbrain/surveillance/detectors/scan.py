"""Space-time permutation scan statistic (Kulldorff et al. 2005) for clusters across neighbouring areas.

Needs only case counts per area and day: the expected count of a cylinder (a circle of areas ×
a window of days) is C_zone · C_day / C, the log-likelihood ratio is Poisson's, and significance
comes from Monte Carlo replicates that shuffle the days among the cases (keeping each area's and
each day's totals). Prospective by default: only windows ending on the last day, as in daily
surveillance (SaTScan's prospective space-time permutation analysis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from healthbrain.core.errors import InvalidInput
from healthbrain.surveillance.options import check, is_int_at_least

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """Options of `scan_space_time`.

    Attributes:
        max_areas: most areas in a circle (the nearest ones to its centre).
        max_days: longest time window (days).
        prospective: only windows ending on the last day (else every window).
        replicates: Monte Carlo permutations (999 gives p-values to 0.001).
        max_clusters: clusters reported: the most likely one and secondary ones not overlapping it.
        seed: seed of the permutations, so a run can be reproduced.
    """

    max_areas: int = 10
    max_days: int = 7
    prospective: bool = True
    replicates: int = 999
    max_clusters: int = 3
    seed: int = 20050101

    def __post_init__(self) -> None:
        problems = []
        for name in ("max_areas", "max_days", "max_clusters"):
            if not is_int_at_least(getattr(self, name), 1):
                problems.append(f"{name} must be a positive integer")
        if not is_int_at_least(self.replicates, 0):
            problems.append("replicates must be a non-negative integer")
        if not isinstance(self.prospective, bool):
            problems.append("prospective must be a boolean")
        if not is_int_at_least(self.seed, 0):
            problems.append("seed must be a non-negative integer")
        check(problems, "ScanOptions")


@dataclass(frozen=True, slots=True, eq=False)
class Cluster:
    """A space-time cluster: its areas (indices, the centre first), days [start, end], counts, LLR, p."""

    areas: IntArray
    start: int
    end: int
    observed: float
    expected: float
    llr: float
    p_value: float


def _llr(c: FloatArray, mu: FloatArray, total: float) -> FloatArray:
    """Poisson log-likelihood ratio of cylinders with more cases than expected (0 otherwise)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = np.where(c > 0, c * np.log(c / mu), 0.0)
        rest = total - c
        outside = np.where(rest > 0, rest * np.log(rest / (total - mu)), 0.0)
        llr = inside + outside
    return np.where((c > mu) & np.isfinite(llr), llr, 0.0)


def _windows(d: int, opts: ScanOptions) -> list[tuple[int, int]]:
    ends = [d - 1] if opts.prospective else list(range(d))
    return [(e - length + 1, e) for e in ends for length in range(1, min(opts.max_days, e + 1) + 1)]


def _cylinder_sums(counts: FloatArray, order: IntArray, windows: list[tuple[int, int]]) -> FloatArray:
    """(centres, circle sizes, windows) sums of `counts` (areas × days)."""
    by_day = np.concatenate([np.zeros((counts.shape[0], 1)), np.cumsum(counts, axis=1)], axis=1)
    starts = np.array([s for s, _ in windows])
    ends = np.array([e for _, e in windows])
    per_area = by_day[:, ends + 1] - by_day[:, starts]  # areas × windows
    return np.asarray(np.cumsum(per_area[order], axis=1), dtype=np.float64)  # centres × k × windows


def scan_space_time(
    counts: FloatArray, coords: FloatArray, options: ScanOptions | None = None
) -> list[Cluster]:
    """Find space-time clusters of cases, circles being each area with its nearest neighbours.

    Args:
        counts: (areas, days) case counts; the last day is the most recent.
        coords: (areas, 2) planar coordinates of each area's centroid (e.g. km).
        options: see `ScanOptions`.

    Returns:
        The most likely cluster and non-overlapping secondary clusters, by decreasing LLR, each
        with its Monte Carlo p-value; empty when no cylinder has more cases than expected.
    """
    opts = options or ScanOptions()
    counts = _checked(counts)
    if coords.shape != (counts.shape[0], 2) or not np.isfinite(coords).all():
        raise InvalidInput("coords must be finite, areas × 2", code="surveillance.bad_scan_input")
    k = min(opts.max_areas, counts.shape[0])
    dist = np.linalg.norm(coords[:, None, :] - coords[None, :, :], axis=-1)
    return scan_zones(counts, np.argsort(dist, axis=1, kind="stable")[:, :k], opts)


def scan_zones(counts: FloatArray, order: IntArray, options: ScanOptions | None = None) -> list[Cluster]:
    """Find space-time clusters with the zones given: row i lists area i's neighbours in order of
    closeness (itself first), as SaTScan's non-Euclidean neighbours file; the zones of centre i
    are its first 1, 2, ... entries. Rows shorter than the longest are padded with -1.

    Args:
        counts: (areas, days) case counts; the last day is the most recent.
        order: (areas, k) area indices, -1 for padding; at most `options.max_areas` are used.
        options: see `ScanOptions`.
    """
    opts = options or ScanOptions()
    counts = _checked(counts)
    areas = counts.shape[0]
    order = np.asarray(order, dtype=np.int64)
    if order.ndim != 2 or order.shape[0] != areas or order.shape[1] < 1 or (order >= areas).any():
        raise InvalidInput("order must list, for each area, area indices", code="surveillance.bad_scan_input")
    if counts.sum() == 0:
        return []
    # Padding points at an extra area without cases, so padded zones repeat the previous zone.
    padded = np.vstack([counts, np.zeros((1, counts.shape[1]))])
    order = np.where(order < 0, areas, order)[:, : opts.max_areas]
    return _scan(padded, order, opts, areas)


def _checked(counts: FloatArray) -> FloatArray:
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2:
        raise InvalidInput("counts must be areas × days", code="surveillance.bad_scan_input")
    if (counts < 0).any() or not np.isfinite(counts).all() or (counts != np.round(counts)).any():
        raise InvalidInput("counts must be non-negative whole numbers", code="surveillance.bad_scan_input")
    return counts


def _scan(counts: FloatArray, order: IntArray, opts: ScanOptions, real_areas: int) -> list[Cluster]:
    total = float(counts.sum())
    if total == 0:
        return []
    windows = _windows(counts.shape[1], opts)
    expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / total
    mu = _cylinder_sums(expected, order, windows)
    observed = _cylinder_sums(counts, order, windows)
    llr = _llr(observed, mu, total)
    maxima = _replicate_maxima(counts, order, windows, mu, total, opts)
    return _clusters(llr, mu, observed, order, windows, maxima, opts, real_areas)


def _replicate_maxima(
    counts: FloatArray,
    order: IntArray,
    windows: list[tuple[int, int]],
    mu: FloatArray,
    total: float,
    opts: ScanOptions,
) -> FloatArray:
    """Largest LLR of each permuted data set (days shuffled among the cases)."""
    if opts.prospective:
        return _recent_maxima(counts, order, mu, total, opts)
    rng = np.random.default_rng(opts.seed)
    areas, days = counts.shape
    flat = counts.astype(np.int64).ravel()
    case_area = np.repeat(np.repeat(np.arange(areas), days), flat)
    case_day = np.repeat(np.tile(np.arange(days), areas), flat)
    maxima = np.empty(opts.replicates)
    for r in range(opts.replicates):
        shuffled = rng.permutation(case_day)
        perm = np.bincount(case_area * days + shuffled, minlength=areas * days).reshape(areas, days)
        maxima[r] = _llr(_cylinder_sums(perm.astype(np.float64), order, windows), mu, total).max()
    return maxima


def _recent_maxima(
    counts: FloatArray, order: IntArray, mu: FloatArray, total: float, opts: ScanOptions
) -> FloatArray:
    """The prospective scan's replicates: only the last `max_days` days enter a cylinder, so only
    their permuted counts are drawn. Shuffling days among the cases puts a uniformly random subset
    of the cases not yet placed on each recent day: per area, a multivariate hypergeometric draw
    with the day's total, the same distribution as the full permutation at a cost independent of
    the number of cases (millions of cases on a province's busiest diseases)."""
    rng = np.random.default_rng(opts.seed)
    areas, days = counts.shape
    recent = min(opts.max_days, days)
    day_totals = counts.sum(axis=0)[-recent:].astype(np.int64)
    area_totals = counts.sum(axis=1).astype(np.int64)
    # "count" is fast for few cases, "marginals" for many (numpy's cost models).
    method: Literal["count", "marginals"] = "count" if area_totals.sum() < 100 * areas else "marginals"
    windows = _windows(recent, opts)
    maxima = np.empty(opts.replicates)
    drawn = np.empty((areas, recent))
    for r in range(opts.replicates):
        left = area_totals.copy()
        for j in range(recent):
            day = rng.multivariate_hypergeometric(left, int(day_totals[j]), method=method)
            drawn[:, j] = day
            left -= day
        maxima[r] = _llr(_cylinder_sums(drawn, order, windows), mu, total).max()
    return maxima


def _clusters(
    llr: FloatArray,
    mu: FloatArray,
    observed: FloatArray,
    order: IntArray,
    windows: list[tuple[int, int]],
    maxima: FloatArray,
    opts: ScanOptions,
    real_areas: int,
) -> list[Cluster]:
    found: list[Cluster] = []
    used: set[int] = set()
    ranked = np.argsort(llr, axis=None)[::-1]
    for flat in ranked:
        if len(found) >= opts.max_clusters:
            break
        centre, size, window = np.unravel_index(flat, llr.shape)
        value = float(llr[centre, size, window])
        if value <= 0:
            break
        members = order[centre, : size + 1]
        members = members[members < real_areas]
        if used & set(members.tolist()):
            continue
        used.update(members.tolist())
        p = (1 + int((maxima >= value).sum())) / (1 + maxima.size) if maxima.size else float("nan")
        start, end = windows[window]
        found.append(
            Cluster(members.astype(np.int64), start, end, float(observed[centre, size, window]),
                    float(mu[centre, size, window]), value, p)
        )  # fmt: skip
    return found
