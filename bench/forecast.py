"""Forecast benchmark: 1–4 week ahead US ILINet forecasts (national + 10 HHS regions), FluSight style.

Test seasons 2015/16–2018/19 (the classic FluSight ILI target), one forecast a week from EW42 to
EW18, 23 quantiles. The seasonal model is refitted before each test season on all earlier seasons
(from 2003/04; earlier off-season weeks were not reported); the flat baseline uses the history up
to the forecast date. Scored by WIS (relative WIS = mean WIS of the model / of the baseline) and
50 % / 95 % interval coverage. The ILINet values are the final ones, not the real-time vintages
FluSight teams saw, so absolute scores are kinder than in the real challenge for both models.

    .venv/bin/python bench/forecast.py
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from typing import Any

import numpy as np

from healthbrain.surveillance.forecast import (
    ForecastOptions,
    WeeklySeries,
    fit_seasonal,
    flat_baseline,
    forecast_seasonal,
    interval_coverage,
    weighted_interval_score,
)

from common import DATA, machine, save

ILI = DATA / "surveillance" / "us-ilinet"
TEST_SEASONS = ("2015/16", "2016/17", "2017/18", "2018/19")
FIRST_SEASON = "2003/04"
ORIGIN_WEEKS = range(12, 41)  # season weeks (week 1 = EW31): about EW42 to EW18


def load() -> dict[str, tuple[WeeklySeries, list[str]]]:
    """Weighted ILI per location from 2003/04, with each week's season label."""
    rows: dict[str, list[dict[str, str]]] = defaultdict(list)
    for name in ("ilinet.csv", "ilinet_hhs.csv"):
        with (ILI / name).open() as fh:
            for r in csv.DictReader(fh):
                if r["season"] >= FIRST_SEASON:
                    rows[r["region"]].append(r)
    out = {}
    for region, rs in rows.items():
        rs.sort(key=lambda r: r["week_start"])
        values = np.array([float(r["weighted_ili"]) for r in rs])
        values[values <= 0] = np.nan  # 0.0 means not reported
        weeks = np.array([min(int(r["season_week"]) - 1, 52) for r in rs], dtype=np.int64)
        out[region] = (WeeklySeries(values, weeks), [r["season"] for r in rs])
    return out


def main() -> None:
    data = load()
    opts = ForecastOptions()
    levels = np.array(opts.levels)
    scores: dict[str, dict[str, list[float]]] = {m: defaultdict(list) for m in ("seasonal", "baseline")}
    t0 = time.perf_counter()
    forecasts = 0
    for season in TEST_SEASONS:
        ends = [seasons.index(season) - 1 for _, seasons in data.values()]
        model = fit_seasonal([s for s, _ in data.values()], ends, opts)
        for series, seasons in data.values():
            start = seasons.index(season)
            for origin in range(start, len(seasons)):
                if seasons[origin] != season or series.season_week[origin] not in ORIGIN_WEEKS:
                    continue
                truth = np.array([series.values[origin + h] for h in opts.horizons])
                fc = {
                    "seasonal": forecast_seasonal(model, series, origin),
                    "baseline": flat_baseline(series, origin, opts),
                }
                forecasts += 1
                for name, f in fc.items():
                    wis = weighted_interval_score(f.values, levels, truth)
                    c50 = interval_coverage(f.values, levels, truth, 0.5)
                    c95 = interval_coverage(f.values, levels, truth, 0.95)
                    for i, h in enumerate(opts.horizons):
                        scores[name][f"wis_h{h}"].append(float(wis[i]))
                        scores[name]["wis"].append(float(wis[i]))
                        scores[name]["cov50"].append(float(c50[i]))
                        scores[name]["cov95"].append(float(c95[i]))
    elapsed = time.perf_counter() - t0
    table = {m: {k: round(float(np.mean(v)), 4) for k, v in s.items()} for m, s in scores.items()}
    relative = {
        k: round(table["seasonal"][k] / table["baseline"][k], 3)
        for k in table["seasonal"]
        if k.startswith("wis")
    }
    result: dict[str, Any] = {
        "machine": machine(),
        "target": "US ILINet weighted ILI, national + 10 HHS regions",
        "test_seasons": list(TEST_SEASONS),
        "forecast_dates_x_locations": forecasts,
        "seconds": round(elapsed, 1),
        "scores": table,
        "relative_wis": relative,
    }
    save("forecast", result)
    print(f"{forecasts} forecasts x 4 horizons in {elapsed:.1f} s")
    for m, t in table.items():
        print(f"{m:9s} WIS {t['wis']:.4f}  cov50 {t['cov50']:.3f}  cov95 {t['cov95']:.3f}")
    print("relative WIS (seasonal / baseline):", relative)


if __name__ == "__main__":
    main()
