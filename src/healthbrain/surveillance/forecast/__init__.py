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
from healthbrain.surveillance.forecast.weekly import (
    WeeklyForecast,
    forecast_weekly,
    history_weeks,
    last_complete_week,
)

__all__ = [
    "FLUSIGHT_QUANTILES",
    "ForecastOptions",
    "QuantileForecast",
    "SeasonalModel",
    "WeeklyForecast",
    "WeeklySeries",
    "climatology",
    "fit_seasonal",
    "flat_baseline",
    "forecast_seasonal",
    "forecast_weekly",
    "history_weeks",
    "interval_coverage",
    "last_complete_week",
    "weighted_interval_score",
]
