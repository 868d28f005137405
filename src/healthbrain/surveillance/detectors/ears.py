"""EARS C1, C2 and C3 (CDC Early Aberration Reporting System), as in R `surveillance::earsC` 1.20.3."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.stats import norm

from healthbrain.surveillance.detectors.result import (
    Detection,
    FloatArray,
    evaluation_index,
    notes_from,
)
from healthbrain.surveillance.options import check, is_int_at_least, is_number, is_probability
from healthbrain.surveillance.series import CountSeries

EarsMethod = Literal["C1", "C2", "C3"]
MIN_BASELINE_VALUES = 3


@dataclass(frozen=True, slots=True)
class EarsOptions:
    """Options of the EARS detectors.

    Attributes:
        method: C1 (baseline = the `baseline` periods just before), C2 (the same, two periods back),
            C3 (C2 accumulated over the last three periods).
        baseline: number of baseline periods (at least 3; 7 in EARS).
        alpha: one-sided level; default 0.001 for C1/C2 and 0.025 for C3, as in R.
        min_sigma: floor of the baseline standard deviation (0 as in R; CDC uses 0.2 for C1/C2 on
            sparse data so that a flat baseline does not alarm on a single case).
    """

    method: EarsMethod = "C1"
    baseline: int = 7
    alpha: float | None = None
    min_sigma: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if self.method not in ("C1", "C2", "C3"):
            problems.append("method must be C1, C2 or C3")
        if not is_int_at_least(self.baseline, MIN_BASELINE_VALUES):
            problems.append("baseline must be an integer of at least 3")
        if self.alpha is not None and not is_probability(self.alpha):
            problems.append("alpha must lie in (0, 1)")
        if not is_number(self.min_sigma, 0.0):
            problems.append("min_sigma must be a non-negative number")
        check(problems, "EarsOptions")

    @property
    def level(self) -> float:
        """The alpha in force (the method's default when not given)."""
        if self.alpha is not None:
            return self.alpha
        return 0.025 if self.method == "C3" else 0.001

    @property
    def max_lag(self) -> int:
        """How many periods of history the method needs before the evaluated one."""
        return self.baseline + {"C1": 0, "C2": 2, "C3": 4}[self.method]


def _baseline_stats(counts: FloatArray, baseline: int, gap: int) -> tuple[FloatArray, FloatArray]:
    """Mean and sample SD of the `baseline` values ending `gap` periods before each position.

    Both arrays have the shape of `counts` (last axis = time); NaN where fewer than three of the
    baseline values are known or the history is too short.
    """
    shape = counts.shape
    mean = np.full(shape, np.nan)
    sd = np.full(shape, np.nan)
    lead = baseline + gap  # positions before this have no complete baseline window
    if shape[-1] <= lead:
        return mean, sd
    windows = sliding_window_view(counts, baseline, axis=-1)[..., : shape[-1] - lead, :]
    known = np.isfinite(windows).sum(axis=-1)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        m = np.nanmean(windows, axis=-1)
        s = np.nanstd(windows, axis=-1, ddof=1)
    few = known < MIN_BASELINE_VALUES
    m[few] = np.nan
    s[few] = np.nan
    mean[..., lead:] = m
    sd[..., lead:] = s
    return mean, sd


def ears_bounds(counts: FloatArray, options: EarsOptions) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Expected values, upper bounds and p-values of EARS for every position of one or many series.

    The p-value is the one-sided normal tail of the method's statistic, so that an alarm at level
    alpha is exactly `pvalue < alpha` (C3: of the two lagged excesses that R's C3 bound uses).

    Args:
        counts: counts with time on the last axis (1-D for a series, 2-D for series × time).
        options: the EARS variant.

    Returns:
        (expected, upperbound, pvalue), each shaped like `counts`, NaN where not computable.
    """
    z = float(norm.ppf(1.0 - options.level))
    b, floor = options.baseline, options.min_sigma
    mean, sd = _baseline_stats(counts, b, 0 if options.method == "C1" else 2)
    sd = np.maximum(sd, floor)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = (counts - mean) / sd
    if options.method != "C3":
        return mean, mean + z * sd, norm.sf(stat)
    excess = np.maximum(stat - 1.0, 0.0)
    lagged = np.full(counts.shape, np.nan)
    lagged[..., 2:] = excess[..., :-2] + excess[..., 1:-1]
    # R's C3 bound is expressed around the current count: observed + sd * (z - lagged excess), so
    # a positive count alarms exactly when the lagged excess exceeds z.
    with np.errstate(invalid="ignore"):
        upper = np.maximum(counts + sd * (z - lagged), 0.0)
    unknown = np.isnan(lagged) | np.isnan(counts)
    upper[unknown] = np.nan
    with np.errstate(invalid="ignore"):
        pvalue = np.where((counts > 0) & (sd > 0), norm.sf(lagged), 1.0)
    pvalue[unknown | np.isnan(sd)] = np.nan
    return mean, upper, pvalue


def detect_ears(
    series: CountSeries, options: EarsOptions | None = None, at: Sequence[int] | None = None
) -> Detection:
    """Run EARS C1/C2/C3 on a series.

    Upper bounds equal R `surveillance::earsC` on complete data. Periods without enough history
    or with fewer than three known baseline values get no bound and no alarm, and are counted in
    a note; unknown baseline values are skipped rather than read as zeros.

    Args:
        series: the counts.
        options: EARS variant (default C1).
        at: positions to evaluate (default: every position with enough history).
    """
    opts = options or EarsOptions()
    index = evaluation_index(series, at, opts.max_lag)
    expected, upper, pvalue = ears_bounds(series.counts, opts)
    obs = series.counts[index]
    ub = upper[index]
    exp_ = expected[index]
    short = int((index < opts.max_lag).sum())
    gaps = int(np.isnan(ub).sum()) - short
    window = series.counts[np.clip(index[:, None] - np.arange(1, opts.max_lag + 1), 0, None)]
    partial = int((np.isnan(window).any(axis=1) & ~np.isnan(ub)).sum()) if index.size else 0
    with np.errstate(invalid="ignore"):
        alarm = np.asarray(obs > ub) & ~np.isnan(ub)
    notes = notes_from(
        [
            ("history.insufficient", f"fewer than {opts.max_lag} earlier periods", short),
            ("baseline.unknown", "fewer than 3 known baseline values or unknown count", gaps),
            ("baseline.partial", "some baseline values unknown; the known ones were used", partial),
        ]
    )
    return Detection(
        method=f"ears_{opts.method.lower()}",
        index=index,
        observed=obs,
        expected=exp_,
        upperbound=ub,
        pvalue=pvalue[index],
        alarm=alarm,
        notes=notes,
    )
