"""Epidemic forecasts 1–4 weeks ahead with quantiles: seasonal model, flat baseline, WIS scoring."""

from healthbrain.surveillance.forecast.models import (
    ForecastOptions,
    QuantileForecast,
    WeeklySeries,
    flat_baseline,
)
from healthbrain.surveillance.forecast.scoring import (
    FLUSIGHT_QUANTILES,
    interval_coverage,
    weighted_interval_score,
)
from healthbrain.surveillance.forecast.seasonal import (
    SeasonalModel,
    climatology,
    fit_seasonal,
    forecast_seasonal,
)

__all__ = [
    "FLUSIGHT_QUANTILES",
    "ForecastOptions",
    "QuantileForecast",
    "SeasonalModel",
    "WeeklySeries",
    "climatology",
    "fit_seasonal",
    "flat_baseline",
    "forecast_seasonal",
    "interval_coverage",
    "weighted_interval_score",
]
