"""The nightly surveillance run at province scale: 3,000 counties x 40 diseases of daily counts.

Each night, for every (county, disease) series: EARS C1/C2/C3 on the last day (7-day baseline),
the CIDARS moving percentile on the last 7 days (3 past years, adjacent weeks, P80), the fixed
threshold, Noufaily on the last complete ISO week of the weekly totals (5 past years), and the
prospective space-time permutation scan over the last 56 days (counties of one city neighbours,
zones of up to 5 counties, windows up to 7 days, 999 replicates).
The counts are synthetic (seasonal negative-binomial, mostly sparse as county series are);
drawing them is timed apart from detection. Two worker processes, one disease at a time each.

    .venv/bin/python bench/surveillance_nightly.py [--counties 3000] [--diseases 40]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from healthbrain.surveillance.adjacency import same_city_adjacency, zone_order
from healthbrain.surveillance.clusters import ClusterOptions
from healthbrain.surveillance.detectors import (
    CidarsOptions,
    EarsOptions,
    cidars_bounds,
    detect_farrington_many,
    ears_bounds,
    noufaily_options,
    scan_zones,
)
from healthbrain.surveillance.series import CountSeries

DAYS = 6 * 364  # six years of whole weeks, so weekly totals line up with the last day
WORKERS = 2


def draw(disease: int, counties: int) -> np.ndarray:
    """Daily counts (counties x DAYS): county means log-normal around a disease level, yearly season."""
    rng = np.random.default_rng(1000 + disease)
    level = rng.uniform(-3.5, 1.0)
    means = np.exp(level + rng.normal(0.0, 1.0, counties))
    t = np.arange(DAYS)
    season = np.exp(0.6 * np.cos(2 * np.pi * (t - rng.uniform(0, 365)) / 365.25))
    mu = means[:, None] * season[None, :]
    size = 2.0
    return rng.negative_binomial(size, size / (size + mu)).astype(np.float64)


def detect_disease(counts: np.ndarray) -> dict[str, float]:
    """All detectors on the last day / last week of every county's series; returns alarm counts."""
    last = counts.shape[1] - 1
    recent = counts[:, -20:]
    out: dict[str, float] = {}
    for method in ("C1", "C2", "C3"):
        _, upper, _ = ears_bounds(recent, EarsOptions(method))  # type: ignore[arg-type]
        with np.errstate(invalid="ignore"):
            out[f"ears_{method}"] = float((recent[:, -1] > upper[:, -1]).sum())
    current, limit, _ = cidars_bounds(counts, 365, CidarsOptions(), positions=np.array([last]))
    with np.errstate(invalid="ignore"):
        out["cidars"] = float(((current[:, 0] > limit[:, 0]) & (current[:, 0] >= 1)).sum())
    out["threshold"] = float((counts[:, -1] >= 1).sum())
    weekly = counts.reshape(counts.shape[0], -1, 7).sum(axis=2)
    k = weekly.shape[1] - 1
    items = [(CountSeries(row, 52), [k]) for row in weekly]
    detections = detect_farrington_many(items, noufaily_options(b=5))
    out["noufaily"] = float(sum(d.alarms for d in detections))
    return out


def county_codes(counties: int) -> list[str]:
    """Synthetic six-digit codes, ten counties to a prefecture-level city."""
    return [f"{1000 + i // 10:04d}{i % 10 + 1:02d}" for i in range(counties)]


def scan_disease(counts: np.ndarray, order: np.ndarray) -> float:
    """The nightly scan of one disease over its last 56 days; returns significant clusters."""
    opts = ClusterOptions()
    window = counts[:, -opts.study_days :]
    if window[:, -opts.scan.max_days :].sum() < opts.min_recent:
        return 0.0
    found = scan_zones(window, order, opts.scan)
    return float(sum(c.p_value <= opts.alpha and c.observed >= opts.min_cluster_cases for c in found))


def _one(args: tuple[int, int]) -> tuple[float, float, dict[str, float], float]:
    disease, counties = args
    t0 = time.perf_counter()
    counts = draw(disease, counties)
    t1 = time.perf_counter()
    found = detect_disease(counts)
    t2 = time.perf_counter()
    order = zone_order(same_city_adjacency(county_codes(counties)), ClusterOptions().scan.max_areas)
    found["scan_clusters"] = scan_disease(counts, order)
    return t1 - t0, t2 - t1, found, time.perf_counter() - t2


def run_nightly(counties: int = 3000, diseases: int = 40) -> dict[str, Any]:
    """Run the nightly job on synthetic data with two workers; wall time and per-part sums."""
    t0 = time.perf_counter()
    with ProcessPoolExecutor(WORKERS) as pool:
        parts = list(pool.map(_one, [(d, counties) for d in range(diseases)]))
    wall = time.perf_counter() - t0
    alarms: dict[str, float] = {}
    for _, _, found, _ in parts:
        for key, value in found.items():
            alarms[key] = alarms.get(key, 0.0) + value
    series = counties * diseases
    return {
        "series": series,
        "days_per_series": DAYS,
        "workers": WORKERS,
        "wall_seconds": round(wall, 1),
        "drawing_cpu_seconds": round(sum(p[0] for p in parts), 1),
        "detection_cpu_seconds": round(sum(p[1] for p in parts), 1),
        "detection_ms_per_series": round(1000 * sum(p[1] for p in parts) / series, 3),
        "scan_cpu_seconds": round(sum(p[3] for p in parts), 1),
        "alarm_share": {k: round(v / series, 4) for k, v in sorted(alarms.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counties", type=int, default=3000)
    parser.add_argument("--diseases", type=int, default=40)
    args = parser.parse_args()
    print(run_nightly(args.counties, args.diseases))


if __name__ == "__main__":
    main()
