"""The simulator's injected outbreaks found by the running service, end to end, scored like CIDARS.

A synthetic region (`healthbrain.simulation`, with the outbreaks of `simulation.outbreaks` besides the
spring influenza cluster) is loaded through the FHIR repository: organisations, the Patients with
reports, every Condition with a notifiable-disease code and every pathogen test. The service's
subscribers build the cases; then, day by day over the year, the per-county detectors and the
space-time scan run as the nightly job would. Signals are scored against the ground truth:
sensitivity (outbreaks signalled between their first onset and a week after their last),
specificity (tested disease x county x days outside outbreaks without a signal), delay.

Used by bench/surveillance.py and tests/surveillance/test_simulated_outbreaks.py.

    .venv/bin/python bench/surveillance_sim.py [--patients 4000] [--seeds 7,11,42]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.simulation import Region, RegionConfig, simulate_region
from healthbrain.storage.migrate import upgrade_database
from healthbrain.surveillance import (
    BY_KEY,
    ClusterOptions,
    Evaluation,
    OutbreakTruth,
    SignalHit,
    SurveillanceService,
    disease_of,
    evaluate_signals,
)
from healthbrain.surveillance.casedef import icd10_codes
from healthbrain.surveillance.detection import RECENT_DAYS
from healthbrain.surveillance.detectors import ScanOptions
from healthbrain.surveillance.labdef import lab_test_of, lab_tests

# CIDARS's published evaluation for HFMD (moving percentile method), Yang et al. / Li et al.
CIDARS = {"sensitivity": 0.927, "specificity": 0.950, "delay_days": 2.1}
NAMES = {"J11.1": "influenza-school", "B05.9": "measles-community", "A08.1": "norovirus-school",
         "A38": "scarlet-fever-school"}  # fmt: skip


def reported(region: Region) -> list[dict[str, Any]]:
    """What reaches surveillance: notifiable diagnoses and pathogen tests (in region order)."""
    tests = lab_tests()
    out = []
    for r in region.resources():
        diagnosis = r["resourceType"] == "Condition" and any(disease_of(c) for c in icd10_codes(r))
        if diagnosis or (r["resourceType"] == "Observation" and lab_test_of(r, tests) is not None):
            out.append(r)
    return out


def load(repo: FhirRepository, region: Region) -> int:
    """Write organisations, the reported Patients and their reports; returns resources written."""
    reports = reported(region)
    patients = {r["subject"]["reference"] for r in reports}
    ctx = system_context()
    written = 0
    for r in region.resources():
        if r["resourceType"] == "Organization" or (
            r["resourceType"] == "Patient" and f"Patient/{r['id']}" in patients
        ):
            repo.update(ctx, r["resourceType"], r["id"], r)
            written += 1
    for r in reports:
        repo.update(ctx, r["resourceType"], r["id"], r)
    return written + len(reports)


def truth(region: Region) -> list[OutbreakTruth]:
    """The region's outbreaks as the evaluation reads them (disease keys, county, window, size)."""
    out = []
    for n, ob in enumerate([*region.ground_truth.outbreaks, *region.ground_truth.extra_outbreaks]):
        disease = disease_of(ob.disease)
        assert disease is not None, ob.disease
        name = NAMES.get(ob.disease, f"{disease.key}-{ob.start:%m}")
        out.append(OutbreakTruth(f"{n}:{name}", disease.key, ob.county, ob.start, ob.end, len(ob.conditions)))
    return out


def run_year(service: SurveillanceService, first: date, last: date, scan: bool = True) -> dict[str, Any]:
    """Detect (and scan) every day; returns the signals, the tested series-days and timings."""
    tested: set[tuple[str, str, date]] = set()
    detect_s = scan_s = 0.0
    day = first
    while day <= last:
        t0 = time.perf_counter()
        service.detect(day)
        t1 = time.perf_counter()
        if scan:
            service.scan(day)
        scan_s += time.perf_counter() - t1
        detect_s += t1 - t0
        for key, area in service.store.active_series(day - timedelta(days=RECENT_DAYS), day):
            if key in BY_KEY:
                tested.add((key, area, day))
        day += timedelta(days=1)
    hits = []
    for s in service.signals.list(limit=1_000_000):
        areas = tuple(service.signals.get(s["id"])["evidence"].get("areas") or [s["area"]])
        hits.append(SignalHit(s["disease"], areas, date.fromisoformat(s["day"]), s["method"]))
    return {"signals": hits, "tested": tested, "detect_seconds": detect_s, "scan_seconds": scan_s}


def summary(ev: Evaluation) -> dict[str, Any]:
    """An evaluation as JSON-ready figures."""
    return {
        "sensitivity": ev.sensitivity,
        "specificity": None if ev.specificity is None else round(ev.specificity, 4),
        "median_delay_days": ev.median_delay,
        "mean_delay_days": None if ev.mean_delay is None else round(ev.mean_delay, 2),
        "negative_days": ev.negative_days,
        "false_days": ev.false_days,
        "true_signals": ev.true_signals,
        "false_signals": ev.false_signals,
        "outbreaks": [
            {"name": r.outbreak.name, "county": r.outbreak.county, "start": r.outbreak.start.isoformat(),
             "days": (r.outbreak.end - r.outbreak.start).days + 1, "cases": r.outbreak.cases,
             "detected": r.detected, "delay_days": r.delay_days, "first_methods": list(r.methods)}
            for r in ev.outbreaks
        ],
    }  # fmt: skip


def by_method(outbreaks: list[OutbreakTruth], result: dict[str, Any]) -> dict[str, Any]:
    """The evaluation of each method's signals alone."""
    methods = sorted({s.method for s in result["signals"]})
    out = {}
    for m in methods:
        ev = evaluate_signals(outbreaks, [s for s in result["signals"] if s.method == m], result["tested"])
        out[m] = {
            "sensitivity": ev.sensitivity,
            "specificity": ev.specificity,
            "median_delay_days": ev.median_delay,
        }
    return out


def evaluate_region(
    patients: int, seed: int, db_url: str | None = None, replicates: int = 999, scan: bool = True
) -> dict[str, Any]:
    """Simulate, load, run the year and score it; SQLite in a temporary file unless `db_url`."""
    t0 = time.perf_counter()
    region = simulate_region(RegionConfig(patients=patients, seed=seed))
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_db_engine(db_url or f"sqlite:///{Path(tmp) / 'sim.db'}")
        upgrade_database(engine)
        repo = FhirRepository(engine, validate=False)
        options = ClusterOptions(
            scan=ScanOptions(max_areas=5, max_days=7, max_clusters=3, replicates=replicates)
        )
        service = SurveillanceService(repo, cluster_options=options)
        dispatcher = EventDispatcher(engine)
        service.register(dispatcher)
        t1 = time.perf_counter()
        written = load(repo, region)
        dispatcher.drain(max_rounds=100_000)
        t2 = time.perf_counter()
        year = region.config.year
        result = run_year(service, date(year, 1, 1), date(year, 12, 31), scan=scan)
        engine.dispose()
    outbreaks = truth(region)
    ev = evaluate_signals(outbreaks, result["signals"], result["tested"])
    return {
        "patients": patients, "seed": seed, "resources_loaded": written,
        "seconds": {"simulate": round(t1 - t0, 1), "load_and_cases": round(t2 - t1, 1),
                    "detect_year": round(result["detect_seconds"], 1), "scan_year": round(result["scan_seconds"], 1)},
        "all_methods": summary(ev), "by_method": by_method(outbreaks, result),
    }  # fmt: skip


def _kind(outbreaks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "detected": sum(o["detected"] for o in outbreaks),
        "of": len(outbreaks),
        "delays": [o["delay_days"] for o in outbreaks],
        "cases": [o["cases"] for o in outbreaks],
    }


def pooled(runs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Sensitivity, specificity and delays over the outbreaks and days of several regions."""
    runs = list(runs)
    outbreaks = [o for r in runs for o in r["all_methods"]["outbreaks"]]
    detected = [o for o in outbreaks if o["detected"]]
    negatives = sum(r["all_methods"]["negative_days"] for r in runs)
    false = sum(r["all_methods"]["false_days"] for r in runs)
    delays = sorted(o["delay_days"] for o in detected)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for o in outbreaks:
        by_kind.setdefault(o["name"].split(":", 1)[1], []).append(o)
    return {
        "regions": len(runs),
        "outbreaks": len(outbreaks),
        "sensitivity": round(len(detected) / len(outbreaks), 3) if outbreaks else None,
        "specificity": round(1 - false / negatives, 4) if negatives else None,
        "median_delay_days": delays[len(delays) // 2] if delays else None,
        "mean_delay_days": round(sum(delays) / len(delays), 2) if delays else None,
        "per_outbreak_kind": {k: _kind(v) for k, v in sorted(by_kind.items())},
        "cidars_published_hfmd": CIDARS,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=4000)
    parser.add_argument("--seeds", default="7,11,42")
    args = parser.parse_args()
    runs = [evaluate_region(args.patients, int(s)) for s in args.seeds.split(",")]
    print(json.dumps({"runs": runs, "pooled": pooled(runs)}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
