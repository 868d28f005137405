"""Farrington baselines: reference periods of past years, Noufaily's seasonal blocks, GLM data per period.

Mirrors R `surveillance` 1.20.3 (`algo.farrington.referencetimepoints`, `blocks`,
`algo.farrington.data.glm`): dated weekly series look up the same calendar day in past years and
move to the nearest same weekday; position-indexed series go back `freq` positions per year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from healthbrain.surveillance.series import CountSeries

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class Baseline:
    """The GLM data of one evaluated period.

    Attributes:
        k: the evaluated position.
        years: how many past years the baseline spans.
        response: baseline counts (known ones only).
        wtime: their time covariate.
        groups: their seasonal block (1..no_periods; no_periods = the current season) or None.
        wtime_now: the time covariate of the evaluated period.
    """

    k: int
    years: int
    response: FloatArray
    wtime: FloatArray
    groups: IntArray | None
    wtime_now: float


def _years_back(day: date, years: int) -> date:
    """The same month and day `years` earlier; 29 February becomes 1 March (R's seq by '-1 year')."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return date(day.year - years, 3, 1)


def _same_weekday(ref: date, day: date) -> date:
    """The date nearest to `ref` on the weekday of `day` (ties go to the earlier candidate, as in R)."""
    a = ref - timedelta(days=(ref.isoweekday() % 7) - (day.isoweekday() % 7))
    b = a + timedelta(days=-7 if a > ref else 7)
    return a if abs((a - ref).days) <= abs((b - ref).days) else b


def reference_positions(
    series: CountSeries, k: int, years: int, position: dict[date, int]
) -> list[int] | None:
    """Positions of the evaluated period and the same period in each of `years` past years.

    Returns:
        [k, k1, ..., k_years] (descending), or None when a reference period is outside the series.
    """
    if series.dates is None:
        refs = [k - series.freq * i for i in range(years + 1)]
        return refs if refs[-1] >= 0 else None
    day = series.dates[k]
    out = []
    for i in range(years + 1):
        ref = _years_back(day, i)
        if series.freq == 52:
            ref = _same_weekday(ref, day)
        pos = position.get(ref)
        if pos is None:
            return None
        out.append(pos)
    return out


def block_factors(n: int, refs: list[int], w: int, periods: int) -> FloatArray | None:
    """Seasonal block of each position (NaN outside the baseline), as R's `blocks`.

    Windows of ±w around each reference period (and the w periods up to now) are block `periods`;
    with `periods` > 1 the stretch between two windows is cut into `periods - 1` blocks.

    Returns:
        The factor vector, or None when the stretches are too short for that many blocks.
    """
    factors = np.full(n, np.nan)
    now = refs[0]
    if min(refs) - w < 0:
        return None
    factors[now - w : now + 1] = periods
    for i in range(1, len(refs)):
        ref = refs[i]
        factors[ref - w : ref + w + 1] = periods
        if periods == 1:
            continue
        stretch = refs[i - 1] - 2 * w - 1 - ref
        length, rest = divmod(stretch, periods - 1)
        if length < 1:
            return None
        start = ref + w + 1
        for j in range(1, periods):
            size = length + (1 if j <= rest else 0)
            factors[start : start + size] = j
            start += size
    return factors


def farrington_baseline(
    series: CountSeries,
    k: int,
    *,
    years: int,
    w: int,
    periods: int,
    past_excluded: int,
    position: dict[date, int],
) -> Baseline | None:
    """The GLM data for evaluating position `k`, or None if the series lacks the history.

    Args:
        series: the counts.
        k: evaluated position.
        years: past years in the baseline (R's `b`).
        w: half-width of the reference windows.
        periods: number of seasonal blocks (R's `noPeriods`).
        past_excluded: the most recent periods left out of the baseline (R's `pastWeeksNotIncluded`).
        position: date -> position lookup of a dated series.
    """
    refs = reference_positions(series, k, years, position)
    if refs is None:
        return None
    factors = block_factors(len(series), refs, w, periods)
    if factors is None:
        return None
    factors[max(0, k - past_excluded) : k + 1] = np.nan
    rows = np.flatnonzero(~np.isnan(factors))
    if series.dates is None:
        wtime_all = rows.astype(np.float64) + 1.0  # R's positions are 1-based
    else:
        step = (series.dates[1] - series.dates[0]).days
        origin = series.dates[rows[0]]
        wtime_all = np.array([(series.dates[r] - origin).days / step for r in rows])
    response = series.counts[rows]
    known = ~np.isnan(response)
    rows, wtime, response = rows[known], wtime_all[known], response[known]
    if rows.size == 0:
        return None
    if series.dates is None:
        wtime_now = float(k + 1)
    else:
        # R measures the evaluated period from the first *known* baseline period.
        wtime_now = (series.dates[k] - series.dates[rows[0]]).days / step
    groups = factors[rows].astype(np.int64) if periods > 1 else None
    return Baseline(k, years, response, wtime, groups, wtime_now)


def design(base: Baseline, periods: int, trend: bool) -> tuple[FloatArray, FloatArray] | None:
    """Design matrix and the evaluated period's row: intercept, time (if `trend`), block dummies.

    Block dummies use treatment contrasts against the lowest block present, as R's factor coding.
    Returns None when the current block is absent from the baseline (nothing to predict from).
    """
    n = base.response.shape[0]
    levels: list[int] = []
    if base.groups is not None:
        present = np.bincount(base.groups, minlength=periods + 1)
        levels = [int(v) for v in np.flatnonzero(present)]
        if periods not in levels:
            return None
        levels = levels[1:]  # treatment contrasts: the lowest block present is the reference
    p = 1 + int(trend) + len(levels)
    x = np.zeros((n, p))
    now = np.zeros(p)
    x[:, 0] = 1.0
    now[0] = 1.0
    if trend:
        x[:, 1] = base.wtime
        now[1] = base.wtime_now
    if levels and base.groups is not None:
        column = np.full(periods + 1, -1)
        column[levels] = np.arange(1 + int(trend), p)
        cols = column[base.groups]
        rows = np.flatnonzero(cols >= 0)
        x[rows, cols[rows]] = 1.0
        now[column[periods]] = 1.0
    return x, now
