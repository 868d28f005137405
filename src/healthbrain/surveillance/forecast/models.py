"""Quantile forecasts of weekly counts or rates, 1–4 weeks ahead: the FluSight flat baseline and a
seasonal direct-regression model on the log scale with season-phase empirical residual quantiles."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from healthbrain.core.errors import InvalidInput
from healthbrain.surveillance.forecast.scoring import FLUSIGHT_QUANTILES
from healthbrain.surveillance.options import check, is_int_at_least, is_number

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
SEASON = 52


@dataclass(frozen=True, slots=True, eq=False)
class WeeklySeries:
    """One location's weekly values (NaN = not reported) and each week's week-of-season (0..52)."""

    values: FloatArray
    season_week: IntArray

    def __post_init__(self) -> None:
        if self.values.shape != self.season_week.shape or self.values.ndim != 1:
            raise InvalidInput(
                "values and season weeks must be 1-D of equal length", code="surveillance.bad_series"
            )
        finite = self.values[np.isfinite(self.values)]
        if (finite < 0).any():
            raise InvalidInput("values must not be negative", code="surveillance.bad_series")


@dataclass(frozen=True, slots=True, eq=False)
class QuantileForecast:
    """Forecast quantiles: `values[h - 1, q]` for horizon h (weeks ahead) and `levels[q]`."""

    origin: int
    horizons: tuple[int, ...]
    levels: FloatArray
    values: FloatArray


@dataclass(frozen=True, slots=True)
class ForecastOptions:
    """Options of the seasonal model.

    Attributes:
        horizons: weeks ahead.
        levels: quantile levels (FluSight's 23 by default).
        log_offset: the model works on log(value + log_offset).
        phase_window: residuals of training weeks within this many weeks of season of the
            origin's give its quantiles (volatility differs between peak and off season).
        min_residuals: fewer residuals in the phase window than this widens it to all weeks.
    """

    horizons: tuple[int, ...] = (1, 2, 3, 4)
    levels: tuple[float, ...] = field(default=FLUSIGHT_QUANTILES)
    log_offset: float = 0.1
    phase_window: int = 4
    min_residuals: int = 40

    def __post_init__(self) -> None:
        problems = []
        if not self.horizons or not all(is_int_at_least(h, 1) for h in self.horizons):
            problems.append("horizons must be positive integers")
        if not self.levels or not all(0.0 < q < 1.0 for q in self.levels):
            problems.append("levels must lie in (0, 1)")
        if not is_number(self.log_offset) or self.log_offset <= 0:
            problems.append("log_offset must be positive")
        if not is_int_at_least(self.phase_window, 0) or not is_int_at_least(self.min_residuals, 1):
            problems.append("phase_window and min_residuals must be non-negative integers")
        check(problems, "ForecastOptions")


def flat_baseline(
    series: WeeklySeries, origin: int, options: ForecastOptions | None = None
) -> QuantileForecast:
    """The FluSight flat baseline: the median is the last value; the spread at horizon h is that
    of the symmetrised h-week changes seen so far, truncated at 0.

    Args:
        series: the location's history.
        origin: position of the last known value (the forecast is made after it).
        options: horizons and levels.
    """
    opts = options or ForecastOptions()
    y = series.values[: origin + 1]
    last = y[-1]
    if not np.isfinite(last):
        raise InvalidInput(
            "the last value before a forecast must be known", code="surveillance.unknown_origin"
        )
    levels = np.array(opts.levels)
    out = np.empty((len(opts.horizons), levels.size))
    for i, h in enumerate(opts.horizons):
        d = y[h:] - y[:-h]
        d = d[np.isfinite(d)]
        spread = np.concatenate([d, -d]) if d.size else np.zeros(1)
        out[i] = np.maximum(last + np.quantile(spread, levels), 0.0)
    return QuantileForecast(origin, tuple(opts.horizons), levels, out)
