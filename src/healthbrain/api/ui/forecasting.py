"""Weekly forecasts for the surveillance page: daily case counts from the API summed into ISO weeks, then
the surveillance package's seasonal model (enough history) or the FluSight flat baseline (little)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from healthbrain.core.errors import InvalidInput
from healthbrain.surveillance.forecast import (
    ForecastOptions,
    QuantileForecast,
    WeeklySeries,
    fit_seasonal,
    flat_baseline,
    forecast_seasonal,
)

__all__ = ["WeeklyForecast", "forecast_option", "forecast_weeks", "weekly_counts"]

LEVELS = (0.025, 0.25, 0.5, 0.75, 0.975)
SEASONAL_MIN_WEEKS = 104  # two seasons before the seasonal model is worth fitting


@dataclass(frozen=True, slots=True)
class WeeklyForecast:
    """History by week (Monday dates) and, for each horizon, the 95 % and 50 % intervals and the median."""

    weeks: tuple[str, ...]
    observed: tuple[float, ...]
    horizon_weeks: tuple[str, ...]
    q025: tuple[float, ...]
    q25: tuple[float, ...]
    median: tuple[float, ...]
    q75: tuple[float, ...]
    q975: tuple[float, ...]
    model: str  # seasonal | baseline


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly_counts(daily: Mapping[str, int], first: date, last: date) -> tuple[list[date], list[float]]:
    """Cases per ISO week from `first`'s week to `last`'s (weeks without a case count zero)."""
    start, end = _monday(first), _monday(last)
    weeks = [start + timedelta(weeks=i) for i in range((end - start).days // 7 + 1)]
    values = [0.0] * len(weeks)
    for day, n in daily.items():
        d = date.fromisoformat(day)
        if first <= d <= last:
            values[(_monday(d) - start).days // 7] += float(n)
    return weeks, values


def forecast_weeks(weeks: list[date], values: list[float]) -> WeeklyForecast | None:
    """1–4 weeks ahead after the last week; None when there is nothing to forecast from."""
    if len(weeks) < 4 or not any(values):
        return None
    season = np.array([min(w.isocalendar().week - 1, 52) for w in weeks], dtype=np.int64)
    series = WeeklySeries(np.array(values, dtype=np.float64), season)
    options = ForecastOptions(levels=LEVELS)
    origin = len(values) - 1
    result: QuantileForecast | None = None
    model = "baseline"
    if len(values) >= SEASONAL_MIN_WEEKS:
        try:
            result = forecast_seasonal(fit_seasonal([series], [origin], options), series, origin)
            model = "seasonal"
        except InvalidInput:
            result = None
    if result is None:
        result = flat_baseline(series, origin, options)
    q = np.round(result.values, 1)

    def col(i: int) -> tuple[float, ...]:
        return tuple(float(v) for v in q[:, i])

    ahead = tuple((weeks[-1] + timedelta(weeks=h)).isoformat() for h in result.horizons)
    return WeeklyForecast(
        tuple(w.isoformat() for w in weeks),
        tuple(values),
        ahead,
        col(0),
        col(1),
        col(2),
        col(3),
        col(4),
        model,
    )


def forecast_option(fc: WeeklyForecast, names: Mapping[str, str]) -> dict[str, object]:
    """An ECharts option: observed weeks, the median ahead, and shaded 50 % / 95 % intervals."""
    x = [*fc.weeks, *fc.horizon_weeks]
    pad = [None] * len(fc.weeks)
    last = [None] * (len(fc.weeks) - 1) + [fc.observed[-1]]

    def band(
        lower: tuple[float, ...], upper: tuple[float, ...], name: str, color: str
    ) -> list[dict[str, object]]:
        low = [*pad[:-1], fc.observed[-1], *lower]
        width = [*pad[:-1], 0.0, *(round(u - lo, 1) for u, lo in zip(upper, lower, strict=True))]
        return [
            {
                "name": name,
                "type": "line",
                "data": low,
                "stack": name,
                "lineStyle": {"opacity": 0},
                "symbol": "none",
                "tooltip": {"show": False},
            },
            {
                "name": name,
                "type": "line",
                "data": width,
                "stack": name,
                "lineStyle": {"opacity": 0},
                "symbol": "none",
                "areaStyle": {"color": color},
            },
        ]

    return {
        "aria": {"enabled": True, "label": {"description": names["title"]}},
        "color": ["#1f5fa8", "#c2410c"],
        "grid": {"left": 48, "right": 24, "top": 36, "bottom": 40, "containLabel": True},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "data": [names["observed"], names["median"], names["i95"], names["i50"]]},
        "xAxis": {"type": "category", "data": x, "boundaryGap": False},
        "yAxis": {"type": "value", "min": 0},
        "series": [
            {
                "name": names["observed"],
                "type": "line",
                "data": [*fc.observed, *([None] * len(fc.horizon_weeks))],
            },
            {
                "name": names["median"],
                "type": "line",
                "data": [*last, *fc.median],
                "lineStyle": {"type": "dashed"},
            },
            *band(fc.q025, fc.q975, names["i95"], "rgba(194,65,12,0.15)"),
            *band(fc.q25, fc.q75, names["i50"], "rgba(194,65,12,0.30)"),
        ],
    }
