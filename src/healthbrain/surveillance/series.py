"""Count time series: regular weekly/daily/monthly counts, with missing periods kept as unknown (NaN)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from healthbrain.core.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
FREQUENCIES = {12: "month", 52: "week", 365: "day"}
_STEP_DAYS = {52: 7, 365: 1}


@dataclass(frozen=True, slots=True, eq=False)
class CountSeries:
    """A regular series of case counts.

    Attributes:
        counts: one count per period; NaN marks a period whose count is unknown (a reporting gap),
            which is different from a period with zero cases.
        freq: periods per year: 52 (ISO weeks), 365 (days) or 12 (months).
        dates: the first day of each period, or None for a series indexed by position only
            (R `surveillance`'s `epochAsDate = FALSE`: reference periods are `freq` positions back).
    """

    counts: FloatArray
    freq: int
    dates: tuple[date, ...] | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.counts.ndim != 1:
            problems.append("counts must be one-dimensional")
        if self.freq not in FREQUENCIES:
            problems.append("freq must be 12, 52 or 365")
        finite = self.counts[np.isfinite(self.counts)]
        if np.isinf(self.counts).any():
            problems.append("counts must be finite or missing (NaN)")
        if (finite < 0).any():
            problems.append("counts must not be negative")
        if self.dates is not None:
            if len(self.dates) != len(self.counts):
                problems.append("dates and counts differ in length")
            elif not _regular(self.dates, self.freq):
                problems.append("dates must be consecutive periods without gaps or repeats")
        if problems:
            raise InvalidInput("; ".join(problems), code="surveillance.invalid_series")

    def __len__(self) -> int:
        return int(self.counts.shape[0])

    @property
    def missing(self) -> int:
        """Number of periods whose count is unknown."""
        return int(np.isnan(self.counts).sum())


def _regular(dates: Sequence[date], freq: int) -> bool:
    if len(dates) < 2:
        return True
    if freq == 12:
        months = [d.year * 12 + d.month for d in dates]
        return all(b - a == 1 for a, b in itertools.pairwise(months))
    step = _STEP_DAYS[freq]
    return all((b - a).days == step for a, b in itertools.pairwise(dates))


def series_from_counts(counts: Iterable[float | None], freq: int, start: date | None = None) -> CountSeries:
    """A series from consecutive counts (None = unknown), dated from `start` when given.

    Args:
        counts: one value per period, oldest first.
        freq: 52, 365 or 12 periods a year.
        start: first day of the first period; None for a position-indexed series.
    """
    values = np.array([np.nan if c is None else float(c) for c in counts], dtype=np.float64)
    dates = None if start is None else tuple(period_starts(start, len(values), freq))
    return CountSeries(values, freq, dates)


def series_from_dated(
    points: Iterable[tuple[date, float]], freq: int, *, first: date | None = None, last: date | None = None
) -> CountSeries:
    """A regular dated series from (period start, count) pairs; periods absent from `points` are unknown.

    A period reported twice is an error: de-duplication belongs upstream, where the cases are.

    Args:
        points: (first day of the period, count) pairs in any order.
        freq: 52, 365 or 12.
        first: first period of the series (default: the earliest point).
        last: last period of the series (default: the latest point).
    """
    seen: dict[date, float] = {}
    for day, value in points:
        if day in seen:
            raise InvalidInput("a period appears twice in the series", code="surveillance.duplicate_period")
        seen[day] = float(value)
    if not seen:
        raise InvalidInput("the series has no data", code="surveillance.empty_series")
    start = first or min(seen)
    end = last or max(seen)
    dates: list[date] = []
    for day in period_starts(start, 10**6, freq):
        if day > end:
            break
        dates.append(day)
    stray = set(seen) - set(dates)
    if stray:
        raise InvalidInput(
            f"{len(stray)} dates are not period starts of this series", code="surveillance.misaligned_period"
        )
    counts = np.array([seen.get(d, np.nan) for d in dates], dtype=np.float64)
    return CountSeries(counts, freq, tuple(dates))


def period_starts(start: date, count: int, freq: int) -> Iterable[date]:
    """The first days of `count` consecutive periods from `start`."""
    if freq == 12:
        for i in range(count):
            months = start.month - 1 + i
            yield date(start.year + months // 12, months % 12 + 1, start.day)
        return
    step = timedelta(days=_STEP_DAYS[freq])
    day = start
    for _ in range(count):
        yield day
        day += step
