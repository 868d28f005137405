"""The detection run: for a day, every disease × county with recent cases is tested with its
disease's rule (every case for 甲类-like diseases; EARS C2 otherwise, plus the CIDARS moving
percentile once a year of history exists), and each alarm becomes a signal draft with its evidence.
The space-time scan across neighbouring counties is in `clusters`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from healthbrain.surveillance.casedef import BY_KEY
from healthbrain.surveillance.detectors import (
    CidarsOptions,
    Detection,
    EarsOptions,
    ThresholdOptions,
    detect_cidars,
    detect_ears,
    detect_threshold,
)
from healthbrain.surveillance.series import CountSeries
from healthbrain.surveillance.signal_store import SignalDraft
from healthbrain.surveillance.store import SurveillanceStore

RECENT_DAYS = 60
CHART_DAYS = 28
EARS_DAILY = EarsOptions("C2", alpha=0.001, min_sigma=0.5)  # a flat zero baseline needs 2 cases, not 1
CIDARS_DAILY = CidarsOptions(window=7, years=3, adjacent=1, percentile=80.0, min_cases=3.0)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a detection run looked at and found."""

    day: str
    series: int
    alarms: int
    drafts: tuple[SignalDraft, ...]


def daily_series(store: SurveillanceStore, disease: str, area: str, first: date, day: date) -> CountSeries:
    """Daily cases of onset from `first` (the start of surveillance) to `day`; days without a
    case are zeros, because every case is reported (a notifiable disease has no silent days)."""
    counts = store.counts(disease, area, first, day)
    size = (day - first).days + 1
    values = np.zeros(size)
    for d, n in counts.items():
        values[(date.fromisoformat(d) - first).days] = n
    return CountSeries(values, 365, tuple(first + timedelta(days=i) for i in range(size)))


def detections(series: CountSeries, disease: str) -> list[Detection]:
    """The disease's detectors on the last day of its series."""
    last = [len(series) - 1]
    rule = BY_KEY[disease].detector if disease in BY_KEY else "ears"
    if rule == "threshold":
        return [detect_threshold(series, ThresholdOptions(cases=1), last)]
    found = [detect_ears(series, EARS_DAILY, last)]
    if len(series) > 365 + 2 * CIDARS_DAILY.window:
        found.append(detect_cidars(series, CIDARS_DAILY, last))
    return found


def _num(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _draft(disease: str, area: str, series: CountSeries, d: Detection) -> SignalDraft:
    assert series.dates is not None
    tail = slice(max(0, len(series) - CHART_DAYS), len(series))
    evidence = {
        "notes": [{"code": n.code, "message": n.message, "periods": n.periods} for n in d.notes],
        "chart": {
            "days": [x.isoformat() for x in series.dates[tail]],
            "cases": [int(v) for v in series.counts[tail]],
        },
    }
    return SignalDraft(
        disease=disease, area=area, day=series.dates[-1].isoformat(), method=d.method,
        observed=float(d.observed[-1]), expected=_num(d.expected[-1]), threshold=_num(d.upperbound[-1]),
        pvalue=_num(d.pvalue[-1]), evidence=evidence,
    )  # fmt: skip


def run_detection(store: SurveillanceStore, day: date) -> RunSummary:
    """Test every disease × county with a case in the last 60 days; returns the alarms as drafts.
    Syndromes are counted but not tested: their baselines swing with every respiratory season."""
    first = store.first_day()
    if first is None or first > day:
        return RunSummary(day.isoformat(), 0, 0, ())
    pairs = [(k, a) for k, a in store.active_series(day - timedelta(days=RECENT_DAYS), day) if k in BY_KEY]
    drafts = []
    for disease, area in pairs:
        series = daily_series(store, disease, area, first, day)
        for d in detections(series, disease):
            if d.alarm[-1]:
                drafts.append(_draft(disease, area, series, d))
    return RunSummary(day.isoformat(), len(pairs), len(drafts), tuple(drafts))
