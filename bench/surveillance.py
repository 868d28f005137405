"""Outbreak detection benchmark: the Noufaily et al. (2013) simulation design side by side with R.

42 scenarios (7 baseline shapes x trend or not x 0/1/2 seasonal harmonics), 624 weeks each, four
past outbreaks injected in the baseline years and one current outbreak (k = 1..10 standard
deviations) in the last 49 weeks. For each method and alpha: false-positive rate over the last
49 weeks without the current outbreak, probability of detecting the current outbreak (any alarm
in its weeks), delay; R's figures are those of `../shared/data/surveillance/sim/` (R surveillance
1.20.3), computed on the very same series (bench/r/nsim_series.R re-draws them with R's seeds).
Also: run time per evaluated week next to R's farringtonFlexible, the nightly run over
3,000 counties x 40 diseases of daily counts (bench/surveillance_nightly.py), and the service
finding the simulator's injected outbreaks end to end over a year: sensitivity, specificity and
delay per outbreak next to CIDARS's published 92.7 %, 95.0 % and 2.1 days for HFMD
(bench/surveillance_sim.py).

    .venv/bin/python bench/surveillance.py [--reps 10] [--skip-nightly] [--skip-sim] [--skip-noufaily]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from healthbrain.surveillance.detectors import (
    EarsOptions,
    detect_farrington,
    ears_bounds,
    farrington_options,
    noufaily_options,
)
from healthbrain.surveillance.series import CountSeries
from surveillance_nightly import run_nightly
from surveillance_sim import evaluate_region, pooled

from common import DATA, OUT, ROOT, machine, median, save

ALPHAS = (0.05, 0.01, 0.005, 0.001)
CUR = np.arange(575, 624)  # weeks 576..624, 0-based
METHODS = ("farrington", "noufaily", "earsC1", "earsC2", "earsC3")
SIM = DATA / "surveillance" / "sim"


def r_series(reps: int) -> list[dict[str, Any]]:
    """The simulated series as R drew them (re-drawn with R if the cached CSV is missing)."""
    path = OUT / "nsim_series.csv"
    if not path.exists():
        if shutil.which("Rscript") is None:
            raise SystemExit("Rscript not found: install r-base-core r-cran-surveillance to draw the series")
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["Rscript", str(ROOT / "bench" / "r" / "nsim_series.R"), str(reps), str(OUT)], check=True
        )
    rows = []
    with path.open() as fh:
        for r in csv.DictReader(fh):
            rows.append(
                {
                    "scenario": int(r["scenario"]),
                    "rep": int(r["rep"]),
                    "k": int(r["k"]),
                    "weeks": [int(w) - 1 for w in r["outbreak_weeks"].split()],
                    "y": np.array(r["y"].split(), dtype=float),
                    "y2": np.array(r["y2"].split(), dtype=float),
                }
            )
    return [r for r in rows if r["rep"] <= reps]


def alarms(method: str, y: np.ndarray) -> np.ndarray:
    """(49 weeks x 4 alphas) alarms; NaN where R's alarm is NA (no bound)."""
    s = CountSeries(y, 52)
    out = np.full((CUR.size, len(ALPHAS)), np.nan)
    if method in ("farrington", "noufaily"):
        opts = (noufaily_options if method == "noufaily" else farrington_options)(b=5)
        d = detect_farrington(s, opts, CUR.tolist())
        recent = np.array([y[k - 3 : k + 1].sum() for k in CUR])
        enough = (recent >= 5) & (y[CUR] != 0)
        q = d.pvalue
        for j, a in enumerate(ALPHAS):
            hit = q < a if method == "farrington" else q <= a
            out[:, j] = enough & ~np.isnan(q) & hit
        return out
    for j, a in enumerate(ALPHAS):
        _, upper, _ = ears_bounds(y, EarsOptions(method[-2:], alpha=a))  # type: ignore[arg-type]
        ub = upper[CUR]
        out[:, j] = np.where(np.isnan(ub), np.nan, y[CUR] > ub)
    return out


def evaluate(row: dict[str, Any]) -> list[dict[str, Any]]:
    """FPR, detection, first-week detection and delay per method and alpha for one replicate."""
    out = []
    weeks = np.array(row["weeks"], dtype=int)
    in_outbreak = np.isin(CUR, weeks)
    for method in METHODS:
        false = alarms(method, row["y"])
        fpr = np.nanmean(false, axis=0)
        det = first = delay = [None] * len(ALPHAS)
        if weeks.size:
            g = alarms(method, row["y2"])[in_outbreak]
            det = [bool(np.nansum(g[:, j]) > 0) for j in range(len(ALPHAS))]
            first = [bool(g[0, j] == 1) for j in range(len(ALPHAS))]
            delay = [int(np.argmax(g[:, j] == 1)) if det[j] else None for j in range(len(ALPHAS))]
        for j, a in enumerate(ALPHAS):
            out.append(
                {"scenario": row["scenario"], "rep": row["rep"], "method": method, "alpha": a,
                 "fpr": float(fpr[j]), "detected": det[j], "first": first[j], "delay": delay[j]}
            )  # fmt: skip
    return out


def r_results() -> dict[tuple[int, int, str, float], dict[str, str]]:
    """R's per-replicate results (the re-run file replaces the pairs that crashed the first time)."""
    out: dict[tuple[int, int, str, float], dict[str, str]] = {}
    for name in ("nsim_42x10.csv", "nsim_42x10_rerun.csv"):
        with (SIM / name).open() as fh:
            for r in csv.DictReader(fh):
                out[(int(r["scenario"]), int(r["rep"]), r["method"], float(r["alpha"]))] = r
    return out


def _bool(text: str) -> bool | None:
    return None if text == "NA" else text == "TRUE"


def summarise(
    ours: list[dict[str, Any]], theirs: dict[tuple[int, int, str, float], dict[str, str]]
) -> dict[str, Any]:
    """Per method@alpha: mean FPR and POD for Python and R on the same replicates, and agreement."""
    groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    same_fpr = same_det = compared = 0
    for r in ours:
        key = (r["scenario"], r["rep"], r["method"], r["alpha"])
        ref = theirs.get(key)
        if ref is None:
            continue
        g = groups[f"{r['method']} @a={r['alpha']}"]
        g["fpr_py"].append(r["fpr"])
        g["fpr_r"].append(float(ref["fpr"]))
        compared += 1
        same_fpr += abs(r["fpr"] - float(ref["fpr"])) < 1e-12
        rdet = _bool(ref["detected"])
        same_det += r["detected"] == rdet
        if rdet is not None and r["detected"] is not None:
            g["pod_py"].append(float(r["detected"]))
            g["pod_r"].append(float(rdet))
            g["first_py"].append(float(bool(r["first"])))
            g["first_r"].append(float(_bool(ref["detected_first_week"]) or False))
    table = {
        name: {k: round(float(np.mean(v)), 4) for k, v in sorted(g.items())}
        for name, g in sorted(groups.items())
    }
    return {
        "compared_rows": compared,
        "identical_fpr": same_fpr,
        "identical_detection": same_det,
        "table": table,
    }


def timing(rows: list[dict[str, Any]], runs: int = 5, with_r: bool = True) -> dict[str, Any]:
    """Median milliseconds per evaluated week over the first replicate of every scenario, and
    R's farringtonFlexible on the same series right after (bench/r/nsim_timing.R)."""
    first = [r for r in rows if r["rep"] == 1]
    out: dict[str, Any] = {}
    for method, preset in (("noufaily", noufaily_options), ("farrington", farrington_options)):
        per_run = []
        for _ in range(runs):
            t0 = time.perf_counter()
            for r in first:
                detect_farrington(CountSeries(r["y"], 52), preset(b=5), CUR.tolist())
            per_run.append((time.perf_counter() - t0) * 1000 / (len(first) * CUR.size))
        out[method] = {"python_ms_per_week": round(median(per_run), 4)}
    if with_r and shutil.which("Rscript"):
        subprocess.run(["Rscript", str(ROOT / "bench" / "r" / "nsim_timing.R"), str(OUT)], check=True)
        with (OUT / "nsim_r_timing_now.csv").open() as fh:
            for t in csv.DictReader(fh):
                entry = out[t["method"]]
                entry["r_ms_per_week"] = round(float(t["ms_per_week"]), 3)
                entry["speedup"] = round(entry["r_ms_per_week"] / entry["python_ms_per_week"], 1)
    return out


def noufaily_design(reps: int, with_r: bool) -> dict[str, Any]:
    """The Noufaily design side by side with R (see the module docstring)."""
    rows = r_series(reps)
    t0 = time.perf_counter()
    ours = [x for r in rows for x in evaluate(r)]
    elapsed = time.perf_counter() - t0
    summary = summarise(ours, r_results())
    print(f"{summary['compared_rows']} (scenario, rep, method, alpha) rows compared with R: "
          f"{summary['identical_fpr']} identical FPR, {summary['identical_detection']} identical detection")  # fmt: skip
    print(f"{'method':22s} {'FPR py':>8s} {'FPR R':>8s} {'POD py':>8s} {'POD R':>8s}")
    for name, g in summary["table"].items():
        print(
            f"{name:22s} {g['fpr_py']:8.4f} {g['fpr_r']:8.4f} {g.get('pod_py', 0):8.4f} {g.get('pod_r', 0):8.4f}"
        )
    out = {
        "design": "Noufaily et al. 2013: 42 scenarios x reps, 624 weeks, evaluated weeks 576-624",
        "replicates": len(rows),
        "evaluation_seconds": round(elapsed, 1),
        "side_by_side": summary,
        "timing": timing(rows, with_r=with_r),
    }
    print("timing:", out["timing"])
    return out


def simulated_region(patients: int, seeds: list[int]) -> dict[str, Any]:
    """The injected outbreaks of several simulated regions found by the service, scored like CIDARS."""
    runs = [evaluate_region(patients, seed) for seed in seeds]
    result = {"runs": runs, "pooled": pooled(runs)}
    p = result["pooled"]
    print(f"simulated regions: {p['outbreaks']} outbreaks in {p['regions']} regions: sensitivity "
          f"{p['sensitivity']}, specificity {p['specificity']}, median delay {p['median_delay_days']} d "
          f"(CIDARS HFMD: {p['cidars_published_hfmd']})")  # fmt: skip
    for kind, k in p["per_outbreak_kind"].items():
        print(f"  {kind:24s} detected {k['detected']}/{k['of']}  delays {k['delays']}  cases {k['cases']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--skip-nightly", action="store_true")
    parser.add_argument("--skip-r-timing", action="store_true")
    parser.add_argument("--skip-noufaily", action="store_true")
    parser.add_argument("--skip-sim", action="store_true")
    parser.add_argument("--sim-patients", type=int, default=4000)
    parser.add_argument("--sim-seeds", default="7,11,42,5")
    args = parser.parse_args()
    previous = OUT / "surveillance.json"  # parts not rerun keep their last figures
    result: dict[str, Any] = json.loads(previous.read_text()) if previous.exists() else {}
    result["machine"] = machine()
    if not args.skip_noufaily:
        result.update(noufaily_design(args.reps, with_r=not args.skip_r_timing))
    if not args.skip_sim:
        seeds = [int(s) for s in args.sim_seeds.split(",")]
        result["simulated_region"] = simulated_region(args.sim_patients, seeds)
    if not args.skip_nightly:
        result["nightly"] = run_nightly()
        print("nightly:", result["nightly"])
    path = save("surveillance", result)
    print("saved", Path(path).relative_to(ROOT))


if __name__ == "__main__":
    main()
