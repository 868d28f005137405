"""Forecasts: WIS as Bracher et al. define it, the flat baseline, and the seasonal model on ILINet."""

from __future__ import annotations

import csv
from collections import defaultdict

import numpy as np
import pytest
from survdata import SHARED

from healthbrain.core.errors import InvalidInput
from healthbrain.surveillance.forecast import (
    FLUSIGHT_QUANTILES,
    ForecastOptions,
    WeeklySeries,
    fit_seasonal,
    flat_baseline,
    forecast_seasonal,
    interval_coverage,
    weighted_interval_score,
)

LEVELS = np.array(FLUSIGHT_QUANTILES)


def _interval_score(lo: float, hi: float, y: float, alpha: float) -> float:
    return (hi - lo) + 2 / alpha * max(lo - y, 0) + 2 / alpha * max(y - hi, 0)


def test_wis_equals_the_interval_score_definition() -> None:
    levels = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    q = np.array([1.0, 2.0, 3.0, 5.0, 8.0])
    for y in (0.0, 2.5, 3.0, 6.0, 12.0):
        by_hand = (0.5 * abs(y - 3.0) + 0.1 / 2 * _interval_score(1, 8, y, 0.1)
                   + 0.5 / 2 * _interval_score(2, 5, y, 0.5)) / 2.5  # fmt: skip
        assert weighted_interval_score(q, levels, np.array(y)) == pytest.approx(by_hand)


def test_a_sharp_correct_forecast_scores_zero_and_a_wrong_one_more() -> None:
    exact = np.full(23, 4.0)
    assert weighted_interval_score(exact, LEVELS, np.array(4.0)) == 0.0
    assert weighted_interval_score(exact, LEVELS, np.array(6.0)) > 0.0


def test_coverage_of_the_central_intervals() -> None:
    q = np.linspace(0, 22, 23)  # quantile i = i
    inside = interval_coverage(q, LEVELS, np.array([11.0, 6.0, 20.0]), 0.5)
    assert inside.tolist() == [1.0, 1.0, 0.0]  # the 50 % interval is [6, 16]
    with pytest.raises(InvalidInput):
        interval_coverage(q, LEVELS, np.array([1.0]), 0.33)


def _series(values: np.ndarray) -> WeeklySeries:
    return WeeklySeries(values, (np.arange(values.size) % 52).astype(np.int64))


def test_flat_baseline_is_centred_on_the_last_value_and_widens_with_horizon() -> None:
    rng = np.random.default_rng(2)
    s = _series(np.abs(10 + np.cumsum(rng.normal(0, 1, 200))))
    fc = flat_baseline(s, 199)
    median = fc.values[:, LEVELS.tolist().index(0.5)]
    assert np.allclose(median, s.values[199])
    width = fc.values[:, -1] - fc.values[:, 0]
    assert np.all(np.diff(width) > 0)


def test_the_seasonal_model_needs_history() -> None:
    s = _series(np.ones(20))
    with pytest.raises(InvalidInput) as err:
        fit_seasonal([s], [19])
    assert err.value.code == "surveillance.too_little_history"


def test_forecasts_need_the_last_weeks_known() -> None:
    rng = np.random.default_rng(3)
    values = rng.gamma(5.0, 1.0, 300)
    model = fit_seasonal([_series(values)], [299])
    gap = values.copy()
    gap[-1] = np.nan
    with pytest.raises(InvalidInput):
        forecast_seasonal(model, _series(gap), 299)


def _ilinet(regions: int = 4) -> list[tuple[WeeklySeries, list[str]]]:
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    with (SHARED / "us-ilinet" / "ilinet_hhs.csv").open() as fh:
        for r in csv.DictReader(fh):
            if r["season"] >= "2003/04" and int(r["region"].split()[1]) <= regions:
                rows[r["region"]].append(r)
    out = []
    for rs in rows.values():
        values = np.array([float(r["weighted_ili"]) for r in rs])
        values[values <= 0] = np.nan
        weeks = np.array([min(int(r["season_week"]) - 1, 52) for r in rs], dtype=np.int64)
        out.append((WeeklySeries(values, weeks), [r["season"] for r in rs]))
    return out


def test_the_seasonal_model_beats_the_flat_baseline_on_a_flu_season() -> None:
    data = _ilinet()
    season = "2017/18"
    opts = ForecastOptions()
    model = fit_seasonal([s for s, _ in data], [seasons.index(season) - 1 for _, seasons in data], opts)
    ours, base = [], []
    for series, seasons in data:
        for origin in range(seasons.index(season), len(seasons) - 4):
            if seasons[origin] != season or not 12 <= series.season_week[origin] <= 40:
                continue
            truth = series.values[origin + 1 : origin + 5]
            ours.append(
                weighted_interval_score(forecast_seasonal(model, series, origin).values, LEVELS, truth)
            )
            base.append(weighted_interval_score(flat_baseline(series, origin).values, LEVELS, truth))
    assert np.mean(ours) / np.mean(base) < 0.85
