"""Forecasts of the stored weekly counts: 23 quantiles 1–4 weeks ahead, the seasonal model when two
years are known (better than the flat baseline on seasonal series), the baseline otherwise, said so."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from healthbrain.core.db import begin_write
from healthbrain.core.errors import InvalidInput, Unprocessable
from healthbrain.fhir.repository import FhirRepository
from healthbrain.surveillance import SurveillanceService
from healthbrain.surveillance.counts import iso_week
from healthbrain.surveillance.forecast import (
    FLUSIGHT_QUANTILES,
    forecast_weekly,
    last_complete_week,
    weighted_interval_score,
)
from healthbrain.surveillance.reports import DIAGNOSIS, ReportPart
from healthbrain.surveillance.store import Report


def _weeks(first: date, n: int) -> list[str]:
    return [iso_week(first + timedelta(weeks=i)) for i in range(n)]


def test_a_short_history_gets_the_flat_baseline_and_a_note() -> None:
    weeks = _weeks(date(2025, 10, 27), 9)  # up to 2025-W52
    values = [3, 4, 2, 5, 4, 6, 5, 4, 5]
    fc = forecast_weekly(weeks, values, {})
    assert fc.model == "baseline" and [n.code for n in fc.notes] == ["forecast.short_history"]
    assert fc.targets == ("2026-W01", "2026-W02", "2026-W03", "2026-W04")
    assert fc.values.shape == (4, 23) and tuple(fc.levels) == FLUSIGHT_QUANTILES
    assert (np.diff(fc.values, axis=1) >= 0).all() and (fc.values >= 0).all()
    assert fc.quantile(0.5).tolist() == [5.0] * 4  # the baseline's median is the last week
    assert (fc.quantile(0.975) - fc.quantile(0.025) >= fc.quantile(0.75) - fc.quantile(0.25)).all()


def test_fewer_than_four_weeks_cannot_be_forecast() -> None:
    with pytest.raises(InvalidInput) as info:
        forecast_weekly(_weeks(date(2025, 1, 6), 3), [1, 2, 3], {})
    assert info.value.code == "surveillance.too_little_history"


def _seasonal(rng: np.random.Generator, weeks: int, level: float) -> np.ndarray:
    t = np.arange(weeks)
    mean = level * np.exp(1.2 * np.cos(2 * np.pi * (t - 20) / 52.18))
    return rng.poisson(mean).astype(float)


def test_the_seasonal_model_beats_the_flat_baseline_on_seasonal_counts() -> None:
    rng = np.random.default_rng(1)
    n = 52 * 4
    weeks = _weeks(date(2021, 1, 4), n)
    panel = {f"area{i}": _seasonal(rng, n, lvl).tolist() for i, lvl in enumerate((4, 8, 15, 25, 40))}
    levels = np.array(FLUSIGHT_QUANTILES)
    wis_model, wis_base = [], []
    for origin in range(160, n - 4, 3):
        target = panel["area3"][: origin + 1]
        history = {k: v[: origin + 1] for k, v in panel.items()}
        fc = forecast_weekly(weeks[: origin + 1], target, history)
        base = forecast_weekly(weeks[: origin + 1][-60:], target[-60:], {})
        truth = np.array(panel["area3"][origin + 1 : origin + 5])
        assert fc.model == "seasonal" and fc.notes == ()
        wis_model.append(weighted_interval_score(fc.values, levels, truth).mean())
        wis_base.append(weighted_interval_score(base.values, levels, truth).mean())
    assert np.mean(wis_model) / np.mean(wis_base) < 0.9


def test_the_last_complete_week() -> None:
    assert last_complete_week(date(2025, 6, 29)) == date(2025, 6, 23)  # a Sunday ends its week
    assert last_complete_week(date(2025, 7, 2)) == date(2025, 6, 23)  # mid-week: the week before


def _cases(svc: SurveillanceService, county: str, day: date, n: int) -> None:
    with begin_write(svc.store.engine) as conn:
        for k in range(n):
            report = Report(f"Condition/{county}-{day}-{k}", 1, f"R{county}{day}{k}", county, None, "c",
                            (ReportPart("hfmd", DIAGNOSIS, day),))  # fmt: skip
            svc.store.record(conn, report, 0.0)


def test_the_service_forecasts_a_county_and_the_region_from_stored_weeks(repo: FhirRepository) -> None:
    svc = SurveillanceService(repo)
    first = date(2025, 3, 3)  # a Monday
    for w in range(10):
        _cases(svc, "330802", first + timedelta(weeks=w, days=2), 2 + w)
        _cases(svc, "330803", first + timedelta(weeks=w, days=4), 1)
    as_of = first + timedelta(weeks=9, days=3)  # a Thursday of week 10: week 10 is not complete
    county = svc.forecast("hfmd", "330802", as_of=as_of)
    assert county.origin == iso_week(first + timedelta(weeks=8)) and county.observed[-1] == 10.0
    assert county.model == "baseline" and county.quantile(0.5)[0] == 10.0
    region = svc.forecast("hfmd", as_of=as_of)
    assert region.observed[-1] == 11.0
    quiet = svc.forecast("hfmd", "331102", as_of=as_of)  # a county without cases: zeros, forecast zero
    assert quiet.quantile(0.975).max() == 0.0
    with pytest.raises(InvalidInput):
        svc.forecast("ebola", as_of=as_of)
    with pytest.raises(Unprocessable):
        svc.forecast("hfmd", as_of=first + timedelta(days=20))
