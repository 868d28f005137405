"""CIDARS moving percentile (移动百分位数法): the last `window` periods against the same and adjacent
windows of past years; an alarm when the current total exceeds the chosen percentile (P50–P90)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from healthbrain.surveillance.detectors.result import Detection, evaluation_index, notes_from
from healthbrain.surveillance.options import check, is_int_at_least, is_number
from healthbrain.surveillance.series import CountSeries

MIN_BLOCKS = 3


@dataclass(frozen=True, slots=True)
class CidarsOptions:
    """Options of `detect_cidars` (CIDARS defaults: 7 days, 3 years, one block either side).

    Attributes:
        window: periods summed into the current total (7 for daily series, 1 for weekly).
        years: past years in the baseline.
        adjacent: windows either side of the same window of each past year (1 = previous and next).
        percentile: the threshold percentile of the baseline totals, 50–99 (per disease in CIDARS).
        min_cases: no alarm below this current total.
    """

    window: int = 7
    years: int = 3
    adjacent: int = 1
    percentile: float = 80.0
    min_cases: float = 1.0

    def __post_init__(self) -> None:
        problems = []
        if not is_int_at_least(self.window, 1):
            problems.append("window must be an integer of at least 1")
        if not is_int_at_least(self.years, 1):
            problems.append("years must be an integer of at least 1")
        if not is_int_at_least(self.adjacent, 0):
            problems.append("adjacent must be a non-negative integer")
        if not is_number(self.percentile) or not 50.0 <= self.percentile < 100.0:
            problems.append("percentile must lie in [50, 100)")
        if not is_number(self.min_cases, 0.0):
            problems.append("min_cases must be a non-negative number")
        check(problems, "CidarsOptions")


def cidars_bounds(
    counts: np.ndarray, freq: int, opts: CidarsOptions, positions: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Current totals, thresholds and baseline sizes at `positions` (default: every position).

    Time is on the last axis; the outputs have the evaluated positions on it.

    A baseline window with an unknown count is left out; a position with fewer than three known
    baseline windows gets no threshold (NaN). Works on one series or a (series × time) matrix.
    """
    w = opts.window
    n = counts.shape[-1]
    padded = np.concatenate(
        [np.zeros((*counts.shape[:-1], 1)), np.cumsum(np.nan_to_num(counts), axis=-1)], axis=-1
    )
    unknown = np.concatenate(
        [np.zeros((*counts.shape[:-1], 1)), np.cumsum(np.isnan(counts), axis=-1)], axis=-1
    )
    pos = np.arange(n) if positions is None else np.asarray(positions, dtype=np.int64)

    def window_total(end: np.ndarray) -> np.ndarray:
        ok = end - w + 1 >= 0
        e = np.clip(end, 0, n - 1)
        s = np.clip(end - w + 1, 0, n - 1)
        tot = padded[..., e + 1] - padded[..., s]
        gaps = unknown[..., e + 1] - unknown[..., s]
        return np.where(ok & (gaps == 0), tot, np.nan)

    current = window_total(pos)
    blocks = []
    for year in range(1, opts.years + 1):
        for shift in range(-opts.adjacent, opts.adjacent + 1):
            end = pos - year * freq + shift * w
            blocks.append(np.where(end >= 0, window_total(end), np.nan))
    base = np.stack(blocks, axis=-1)
    known = np.isfinite(base).sum(axis=-1)
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            limit = np.nanpercentile(base, opts.percentile, axis=-1)
    limit = np.where(known >= MIN_BLOCKS, limit, np.nan)
    return current, limit, known


def detect_cidars(
    series: CountSeries, options: CidarsOptions | None = None, at: Sequence[int] | None = None
) -> Detection:
    """Run the CIDARS moving-percentile method.

    `observed` is the current window total; an alarm when it exceeds the percentile of the
    baseline totals and reaches `min_cases`. With fewer past years than `years` the available ones
    are used (note `cidars.fewer_years`); with fewer than three baseline windows, no threshold.
    """
    opts = options or CidarsOptions()
    reach = opts.years * series.freq + opts.adjacent * opts.window
    index = evaluation_index(series, at, min(reach, series.freq + opts.window))
    current, limit, known = cidars_bounds(series.counts, series.freq, opts)
    obs, ub = current[index], limit[index]
    full = (2 * opts.adjacent + 1) * opts.years
    with np.errstate(invalid="ignore"):
        alarm = (obs > ub) & (obs >= opts.min_cases) & np.isfinite(ub)
    median = np.full(index.size, np.nan)
    notes = notes_from(
        [
            (
                "cidars.fewer_years",
                "baseline with fewer windows than configured",
                int(((known[index] < full) & np.isfinite(ub)).sum()),
            ),
            ("history.insufficient", "fewer than 3 known baseline windows", int(np.isnan(ub).sum())),
        ]
    )
    return Detection("cidars", index, obs, median, ub, np.full(index.size, np.nan), alarm, notes)
