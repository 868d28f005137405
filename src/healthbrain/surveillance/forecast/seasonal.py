"""The seasonal direct-regression forecaster: one least-squares model per horizon, pooled over
locations, of the change in log value from the current level, the last two weekly changes, the
location's climatological change to the target week and the current anomaly from climatology.
Quantiles are empirical residual quantiles from training weeks of the same season phase."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from healthbrain.core.errors import InvalidInput
from healthbrain.surveillance.forecast.models import (
    SEASON,
    FloatArray,
    ForecastOptions,
    QuantileForecast,
    WeeklySeries,
)

LAGS = 2


@dataclass(frozen=True, slots=True, eq=False)
class SeasonalModel:
    """Per horizon: coefficients, training residuals and the season week of each residual."""

    options: ForecastOptions
    coef: tuple[FloatArray, ...]
    residuals: tuple[FloatArray, ...]
    phase: tuple[FloatArray, ...]


def climatology(z: FloatArray, weeks: np.ndarray) -> FloatArray:
    """Mean log value per week of season (0..52), smoothed over ±1 week, from the known values."""
    sums = np.bincount(weeks[np.isfinite(z)], weights=z[np.isfinite(z)], minlength=SEASON + 1)
    counts = np.bincount(weeks[np.isfinite(z)], minlength=SEASON + 1).astype(np.float64)
    kernel_sums = sums + np.roll(sums, 1) + np.roll(sums, -1)
    kernel_counts = counts + np.roll(counts, 1) + np.roll(counts, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        clim = kernel_sums / kernel_counts
    overall = float(np.nanmean(z)) if np.isfinite(z).any() else 0.0
    return np.where(np.isfinite(clim), clim, overall)


def _features(z: FloatArray, weeks: np.ndarray, clim: FloatArray, t: np.ndarray, h: int) -> FloatArray:
    """Design rows at origins `t` for horizon `h` (NaN where a lag is unknown)."""
    target_week = np.minimum(weeks[t] + h, SEASON) % (SEASON + 1)
    return np.column_stack(
        [
            np.ones(t.size),
            z[t],
            z[t] - z[t - 1],
            z[t - 1] - z[t - 2],
            clim[target_week] - clim[weeks[t]],
            z[t] - clim[weeks[t]],
        ]
    )


def _log(series: WeeklySeries, offset: float) -> FloatArray:
    return np.asarray(np.log(series.values + offset), dtype=np.float64)


def fit_seasonal(
    panel: Sequence[WeeklySeries], ends: Sequence[int], options: ForecastOptions | None = None
) -> SeasonalModel:
    """Fit the model on each series' weeks up to its `ends` position (inclusive).

    Raises:
        InvalidInput: `surveillance.too_little_history` when a horizon has fewer than 30 usable weeks.
    """
    opts = options or ForecastOptions()
    coefs: list[FloatArray] = []
    resids: list[FloatArray] = []
    phases: list[FloatArray] = []
    for h in opts.horizons:
        xs, ys, ph = [], [], []
        for series, end in zip(panel, ends, strict=True):
            z = _log(series, opts.log_offset)[: end + 1]
            weeks = series.season_week[: end + 1]
            clim = climatology(z, weeks)
            t = np.arange(LAGS, end + 1 - h)
            if t.size == 0:
                continue
            x = _features(z, weeks, clim, t, h)
            y = z[t + h] - z[t]
            ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
            xs.append(x[ok])
            ys.append(y[ok])
            ph.append(weeks[t][ok].astype(np.float64))
        if not xs or sum(len(y) for y in ys) < 30:
            raise InvalidInput(
                "too little history to fit the forecaster", code="surveillance.too_little_history"
            )
        x_all, y_all = np.concatenate(xs), np.concatenate(ys)
        beta, *_ = np.linalg.lstsq(x_all, y_all, rcond=None)
        coefs.append(np.asarray(beta, dtype=np.float64))
        resids.append(np.asarray(y_all - x_all @ beta, dtype=np.float64))
        phases.append(np.concatenate(ph))
    return SeasonalModel(opts, tuple(coefs), tuple(resids), tuple(phases))


def _phase_residuals(model: SeasonalModel, i: int, week: int) -> FloatArray:
    opts = model.options
    gap = np.abs(model.phase[i] - week)
    gap = np.minimum(gap, SEASON + 1 - gap)  # weeks of season wrap around
    near = model.residuals[i][gap <= opts.phase_window]
    return near if near.size >= opts.min_residuals else model.residuals[i]


def forecast_seasonal(model: SeasonalModel, series: WeeklySeries, origin: int) -> QuantileForecast:
    """Quantile forecast made after position `origin` of `series` (its history only up to there)."""
    opts = model.options
    z = _log(series, opts.log_offset)[: origin + 1]
    weeks = series.season_week[: origin + 1]
    if origin < LAGS or not np.isfinite(z[-LAGS - 1 :]).all():
        raise InvalidInput(
            "the last three weeks before a forecast must be known", code="surveillance.unknown_origin"
        )
    clim = climatology(z, weeks)
    levels = np.array(opts.levels)
    out = np.empty((len(opts.horizons), levels.size))
    t = np.array([origin])
    for i, h in enumerate(opts.horizons):
        centre = float((_features(z, weeks, clim, t, h) @ model.coef[i])[0])
        spread = np.quantile(_phase_residuals(model, i, int(weeks[origin])), levels)
        out[i] = np.maximum(np.exp(z[origin] + centre + spread) - opts.log_offset, 0.0)
    return QuantileForecast(origin, tuple(opts.horizons), levels, out)
