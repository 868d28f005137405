"""Forecasts of stored weekly case counts, 1–4 weeks ahead: the seasonal model fitted on every area of
the disease at the same level (pooled) when two years of weeks are known, else the FluSight flat
baseline, and the caller is told which and why. Pure: the weekly counts come in as arrays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from healthbrain.core.errors import InvalidInput
from healthbrain.surveillance.detectors.result import Note
from healthbrain.surveillance.forecast.models import (
    SEASON,
    FloatArray,
    ForecastOptions,
    QuantileForecast,
    WeeklySeries,
    flat_baseline,
)
from healthbrain.surveillance.forecast.seasonal import fit_seasonal, forecast_seasonal

SEASONAL_MIN_WEEKS = 104  # two seasons before a seasonal model is worth fitting
MIN_WEEKS = 4  # the flat baseline's spread needs a few weekly changes


@dataclass(frozen=True, slots=True, eq=False)
class WeeklyForecast:
    """A forecast made after the `origin` week for the weeks `targets` (1..H weeks ahead).

    Attributes:
        model: seasonal | baseline.
        origin: the last complete ISO week used (e.g. 2025-W40).
        weeks: the history's ISO weeks; `observed` their counts.
        targets: the forecast ISO weeks; `values[h, q]` the quantile `levels[q]` of target h.
        notes: fallbacks and data problems the reader must know.
    """

    model: str
    origin: str
    weeks: tuple[str, ...]
    observed: FloatArray
    targets: tuple[str, ...]
    horizons: tuple[int, ...]
    levels: FloatArray
    values: FloatArray
    notes: tuple[Note, ...]

    def quantile(self, level: float) -> FloatArray:
        """The forecasts' quantile at `level` (one of `levels`)."""
        hit = np.flatnonzero(np.isclose(self.levels, level))
        if hit.size != 1:
            raise InvalidInput(
                f"no {level} quantile in this forecast", code="surveillance.bad_quantile_levels"
            )
        return np.asarray(self.values[:, hit[0]], dtype=np.float64)


def season_weeks(weeks: Sequence[str]) -> np.ndarray:
    """Week of season (0..52) of ISO weeks written `2025-W07`: ISO week number - 1."""
    return np.array([min(int(w.split("-W")[1]) - 1, SEASON) for w in weeks], dtype=np.int64)


def last_complete_week(day: date) -> date:
    """The Monday of the last ISO week that has ended by the end of `day`."""
    monday = day - timedelta(days=day.weekday())
    return monday if day.weekday() == 6 else monday - timedelta(days=7)


def _iso(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year:04d}-W{week:02d}"


def forecast_weekly(
    weeks: Sequence[str],
    target: Sequence[float],
    panel: Mapping[str, Sequence[float]],
    options: ForecastOptions | None = None,
) -> WeeklyForecast:
    """Forecast the week after `weeks[-1]` and beyond from the target area's weekly counts.

    Args:
        weeks: consecutive ISO weeks, oldest first, the last one complete.
        target: the counts of the area forecast, one per week (zeros where no case).
        panel: every area's counts at the same level (the target's included or not), pooled to
            fit the seasonal model; may be empty.
        options: horizons and quantile levels (FluSight's 23 by default).

    Raises:
        InvalidInput: `surveillance.too_little_history` with fewer than 4 weeks.
    """
    opts = options or ForecastOptions()
    if len(weeks) != len(target):
        raise InvalidInput("weeks and counts differ in length", code="surveillance.bad_series")
    if len(weeks) < MIN_WEEKS:
        raise InvalidInput(
            f"a forecast needs at least {MIN_WEEKS} weeks of counts", code="surveillance.too_little_history"
        )
    season = season_weeks(weeks)
    series = WeeklySeries(np.asarray(target, dtype=np.float64), season)
    origin = len(weeks) - 1
    notes: list[Note] = []
    result: QuantileForecast | None = None
    if len(weeks) >= SEASONAL_MIN_WEEKS:
        members = [WeeklySeries(np.asarray(v, dtype=np.float64), season) for v in panel.values()] or [series]
        try:
            model = fit_seasonal(members, [origin] * len(members), opts)
            result = forecast_seasonal(model, series, origin)
        except InvalidInput as exc:
            notes.append(Note("forecast.seasonal_failed", f"seasonal model not usable ({exc.code})", 1))
    else:
        notes.append(Note("forecast.short_history", f"{len(weeks)} weeks known, fewer than "
                          f"{SEASONAL_MIN_WEEKS}: flat baseline", len(weeks)))  # fmt: skip
    name = "seasonal" if result is not None else "baseline"
    if result is None:
        result = flat_baseline(series, origin, opts)
    last = date.fromisocalendar(int(weeks[-1][:4]), int(weeks[-1].split("-W")[1]), 1)
    targets = tuple(_iso(last + timedelta(weeks=h)) for h in result.horizons)
    values = np.maximum.accumulate(
        np.asarray(result.values, dtype=np.float64), axis=1
    )  # quantiles never cross
    return WeeklyForecast(
        name, weeks[-1], tuple(weeks), series.values, targets, result.horizons, result.levels, values,
        tuple(notes),
    )  # fmt: skip


def history_weeks(first: date, as_of: date) -> list[str]:
    """ISO weeks from `first`'s to the last complete week by `as_of` (empty if none is complete)."""
    start = first - timedelta(days=first.weekday())
    end = last_complete_week(as_of)
    out = []
    while start <= end:
        out.append(_iso(start))
        start += timedelta(days=7)
    return out
