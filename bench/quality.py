"""Data-quality benchmark: anomaly recognition against ground truth, rule throughput, the quarantine's
cost on file ingest, the monitor's throughput, and the share of repeated lab orders recognition avoids.

Ground truth: the simulator's identity errors in Patient records plus the clinical anomalies of
healthbrain.quality.injection. Target (the plans' figure): >= 99 % of injected anomalies caught and
<= 1 % false alarms on clean records.
Repeated orders: the simulator writes results, not orders, so every lab panel or single test it
reports is taken as the order that produced it, placed just before its specimen was taken.
Usage: python bench/quality.py [--runs 3] [--patients 5000] [--ingest-patients 500] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest import ingest_path
from healthbrain.ingest.quarantine import open_quarantine
from healthbrain.quality import default_recognition, default_rules, find_reusable, order_of, result_of
from healthbrain.quality.evaluate import rule_count
from healthbrain.quality.evaluation import evaluate_institutions, score_detection
from healthbrain.quality.injection import inject_anomalies
from healthbrain.quality.monitor import QualityMonitor
from healthbrain.quality.screening import institution_of
from healthbrain.simulation import Region, RegionConfig, simulate_region, write_region
from healthbrain.storage.migrate import upgrade_database

from common import fresh_pg_database, machine, median, pg_available, save

ARRIVAL = datetime(2026, 3, 15, tzinfo=UTC)  # the simulated year is 2025


def detection(patients: int, seeds: list[int], noise: float) -> dict[str, Any]:
    """Recall and false alarms per seed, and the rule throughput of the pure evaluation."""
    runs, speeds = [], []
    for seed in seeds:
        config = RegionConfig(
            patients=patients, seed=seed, noise_rate=noise, duplicate_rate=min(noise / 4, 0.2)
        )
        region = simulate_region(config)
        institutions = {k: list(v) for k, v in region.institutions.items()}
        errors = region.ground_truth.errors
        injected = inject_anomalies(
            institutions,
            seed=seed + 1,
            rate=0.002,
            year=config.year,
            arrival=ARRIVAL,
            skip=frozenset(e.record for e in errors),
        )
        started = time.perf_counter()
        evaluations = evaluate_institutions(institutions, default_rules(), ARRIVAL)
        speeds.append(len(evaluations) / (time.perf_counter() - started))
        report = score_detection(
            evaluations, [(e.record, e.kind) for e in errors] + [(a.record, a.kind) for a in injected]
        )
        runs.append(report.to_json())
    return {
        "patients": patients,
        "noiseRate": noise,
        "seeds": seeds,
        "detectionRate": median([r["detectionRate"] for r in runs]),
        "recognitionRate": median([r["recognitionRate"] for r in runs]),
        "falseAlarmRate": median([r["falseAlarmRate"] for r in runs]),
        "injectedPerRun": median([r["injected"] for r in runs]),
        "recordsPerSecond": round(median(speeds)),
        "ruleChecksPerSecond": round(median(speeds) * rule_count(default_rules())),
        "runs": runs,
    }


def _ingest(url: str, feed: Path, quarantine: bool) -> dict[str, float]:
    engine = create_db_engine(url)
    upgrade_database(engine)
    repo = FhirRepository(engine)
    started = time.perf_counter()
    summary = ingest_path(
        repo, system_context(), feed, quarantine=open_quarantine(repo) if quarantine else None
    )
    seconds = time.perf_counter() - started
    out = {
        "resources": summary.total_resources,
        "held": summary.quarantined,
        "resourcesPerSecond": round((summary.total_resources + summary.quarantined) / seconds),
    }
    if quarantine:
        dispatcher = EventDispatcher(engine)
        QualityMonitor(repo).register(dispatcher)
        started = time.perf_counter()
        events = dispatcher.drain(max_rounds=1_000_000)
        out["monitorEventsPerSecond"] = round(events / (time.perf_counter() - started))
    engine.dispose()
    return out


def ingest_cost(patients: int, runs: int, postgres: bool) -> dict[str, Any]:
    """File ingest with and without the quarantine, on SQLite (and PostgreSQL)."""
    out: dict[str, Any] = {"patients": patients}
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "feed"
        write_region(RegionConfig(patients=patients, seed=7), feed)
        backends = ["sqlite"] + (["postgres"] if postgres else [])
        for backend in backends:
            for gate in (False, True):
                results = []
                for run in range(runs):
                    if backend == "sqlite":
                        url = f"sqlite:///{Path(tmp) / f'q{run}{gate}.db'}"
                    else:
                        url = fresh_pg_database(f"hb_bench_quality_{run}")
                    results.append(_ingest(url, feed, gate))
                key = f"{backend}_{'quarantine' if gate else 'plain'}"
                out[key] = {k: median([r[k] for r in results]) for k in results[0]}
    return out


def _orders_and_results(region: Region) -> tuple[list[Any], dict[str, list[Any]], dict[str, str]]:
    """Orders implied by every reported lab panel or single test; results per resident; result -> record."""
    catalog = default_recognition()
    orders, results, subject_of = [], defaultdict(list), {}
    person = region.ground_truth.records
    for resources in region.institutions.values():
        providers = {
            f"Encounter/{r['id']}": r["serviceProvider"]["reference"].split("/", 1)[1]
            for r in resources
            if r["resourceType"] == "Encounter"
        }
        in_report = {
            ref["reference"]
            for r in resources
            if r["resourceType"] == "DiagnosticReport"
            for ref in r.get("result", ())
        }
        for r in resources:
            if (
                r["resourceType"] not in ("DiagnosticReport", "Observation")
                or f"Observation/{r['id']}" in in_report
            ):
                continue
            prior = result_of(r, catalog, institution_of(r, providers.get))
            if prior is None:
                continue
            patient = r["subject"]["reference"]
            results[person[patient]].append(prior)
            subject_of[prior.ref] = patient
            order = {
                "resourceType": "ServiceRequest",
                "id": f"order-{r['id']}",
                "status": "active",
                "intent": "order",
                "code": r["code"],
                "subject": r["subject"],
                "authoredOn": (prior.taken - timedelta(minutes=5)).isoformat(),
            }
            orders.append((person[patient], patient, order_of(order, prior.institution, prior.taken)))
    return orders, results, subject_of


def recognition(patients: int, seed: int) -> dict[str, Any]:
    """Share of orders a reusable prior result would have avoided: with the patient index (every record
    of the resident, from the ground truth, i.e. a perfect index) and with the same Patient record only."""
    region = simulate_region(RegionConfig(patients=patients, seed=seed))
    catalog = default_recognition()
    orgs = {r["id"]: r for r in region.shared if r["resourceType"] == "Organization"}

    def recognised(org: str) -> bool:
        return catalog.recognises(orgs.get(org), org)

    orders, results, subject_of = _orders_and_results(region)
    tallies: Counter[str] = Counter()
    per_test: dict[str, Counter[str]] = defaultdict(Counter)
    started = time.perf_counter()
    for resident, patient, order in orders:
        pool = results[resident]
        found = find_reusable(order, pool, catalog, recognised)
        own = find_reusable(order, [r for r in pool if subject_of[r.ref] == patient], catalog, recognised)
        tallies["avoidableIfAllRecognised"] += bool(find_reusable(order, pool, catalog, lambda o: True))
        test = catalog.test_for(order.codes[0])
        key = test.key if test else "?"
        tallies["orders"] += 1
        per_test[key]["orders"] += 1
        if found:
            tallies["avoidable"] += 1
            per_test[key]["avoidable"] += 1
            tallies["otherInstitution"] += not found[0].same_institution
        tallies["avoidableSamePatientRecordOnly"] += bool(own)
    seconds = time.perf_counter() - started
    n = tallies["orders"] or 1
    return {
        "patients": patients,
        "orders": tallies["orders"],
        "avoidableShare": round(tallies["avoidable"] / n, 4),
        "avoidableFromAnotherInstitution": round(tallies["otherInstitution"] / n, 4),
        "avoidableWithoutPatientIndex": round(tallies["avoidableSamePatientRecordOnly"] / n, 4),
        "avoidableIfEveryInstitutionRecognised": round(tallies["avoidableIfAllRecognised"] / n, 4),
        "ordersCheckedPerSecond": round(tallies["orders"] / seconds) if seconds else None,
        "byTest": {
            k: {**v, "share": round(v["avoidable"] / v["orders"], 4)} for k, v in sorted(per_test.items())
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--ingest-patients", type=int, default=500)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    seeds = [101 + i for i in range(args.runs)]
    result = {
        "machine": machine(),
        "anchor": ">= 99 % of injected anomalies caught, <= 1 % false alarms on clean records (the plans' figure)",
        "detection_noisy": detection(args.patients, seeds, 0.3),
        "detection_default_noise": detection(args.patients, seeds, 0.04),
        "ingest": ingest_cost(args.ingest_patients, args.runs, not args.skip_postgres and pg_available()),
        "recognition": recognition(args.patients, seeds[0]),
    }
    for key in ("detection_noisy", "detection_default_noise"):
        d = result[key]
        print(
            f"{key}: detection {d['detectionRate']:.4f}, recognition {d['recognitionRate']:.4f}, "
            f"false alarms {d['falseAlarmRate']:.5f}, {d['injectedPerRun']:.0f} injected/run, "
            f"{d['recordsPerSecond']:,} records/s, {d['ruleChecksPerSecond']:,} rule checks/s"
        )
    print("ingest:", {k: v for k, v in result["ingest"].items()})
    rec = result["recognition"]
    print(
        f"recognition: {rec['orders']:,} orders, {rec['avoidableShare']:.2%} avoidable "
        f"({rec['avoidableFromAnotherInstitution']:.2%} from another institution; "
        f"{rec['avoidableWithoutPatientIndex']:.2%} with the same patient record only)"
    )
    print("saved", save("quality", result))


if __name__ == "__main__":
    main()
