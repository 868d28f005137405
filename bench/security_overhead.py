"""Security overhead: the read/search mix of bench/search.py with and without policy, audit and encryption.

One store (Synthea bundles with fresh ids and hospitals shared by all copies, loaded through a repository that seals identifiers and
labels sensitive data), two repositories over it:
- open: the permit-all policy and an audit sink that drops entries (the foundation without security);
- secured: the role policy for a clinician of the organisation with the most encounters (care
  relationship, consent, labels as constraints on every query), the hash-chained audit trail with its
  writer process (as a server runs it), and identifiers revealed on every read.
The same workload (reads by id and patient-scoped searches over patients the clinician may see) runs
against both, alternating in slices of a few seconds, for several rounds; p50/p95/p99 per operation and the added p95 are
reported. Target: at most 15 % added p95 latency.
Usage: python bench/security_overhead.py [--resources 200000] [--seconds 20] [--rounds 3] [--threads 4] [--slice 3]
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select

from healthbrain.core.access import AuditEntry
from healthbrain.core.context import Principal, PurposeOfUse, RequestContext, system_context
from healthbrain.core.db import create_db_engine
from healthbrain.core.settings import SecuritySettings
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.transaction import process_transaction
from healthbrain.security import SecurityServices
from healthbrain.storage import tables as t
from healthbrain.storage.migrate import upgrade_database

from common import OUT, fresh_copies, machine, median, percentile, save, synthea_bundles


class DropAudit:
    def record(self, ctx: RequestContext, entry: AuditEntry) -> None:
        return None


def shared_institutions(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle with its organisations created once per name (conditional create), not once per copy.

    Synthea gives every patient file its own Organization resources; a region has a few dozen hospitals
    that each see many residents, so the copies share them and a hospital's clinician has a real panel.
    """
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Organization" and resource.get("name"):
            resource["identifier"] = [{"system": "urn:healthbrain:bench:org", "value": resource["name"]}]
            entry["request"]["ifNoneExist"] = "identifier=" + quote(
                f"urn:healthbrain:bench:org|{resource['name']}"
            )
    return bundle


def fill(url: str, target: int, settings: SecuritySettings) -> None:
    engine = create_db_engine(url)
    upgrade_database(engine)
    with engine.connect() as conn:
        have = int(conn.execute(select(t.resource.c.res_id).limit(1)).first() is not None)
    if have:
        print("store already filled")
        return
    security = SecurityServices.build(engine, settings)
    loader = FhirRepository(engine, validate=False, labeler=security.labeler, protector=security.protector)
    done = 0
    for bundle in fresh_copies(synthea_bundles(), target):
        process_transaction(loader, system_context(), shared_institutions(bundle))
        done += len(bundle["entry"])
    with engine.begin() as conn:
        loader.store.refresh_statistics(conn)
    print(f"stored {done:,} resources")
    engine.dispose()


def busiest_organization(repo: FhirRepository) -> str:
    """The organisation whose encounters concern the most distinct patients."""
    provider, patient = t.idx_reference.alias("provider"), t.idx_reference.alias("patient")
    query = (
        select(provider.c.target_id, func.count(func.distinct(patient.c.target_id)).label("n"))
        .join(
            patient,
            (patient.c.res_id == provider.c.res_id)
            & (patient.c.res_type == "Encounter")
            & (patient.c.param == "patient"),
        )
        .where(provider.c.res_type == "Encounter", provider.c.param == "service-provider")
        .group_by(provider.c.target_id)
        .order_by(func.count(func.distinct(patient.c.target_id)).desc())
        .limit(1)
    )
    with repo.engine.connect() as conn:
        return str(conn.execute(query).one().target_id)


def visible_sample(repo: FhirRepository, ctx: RequestContext, seed: int) -> tuple[list[str], list[str]]:
    patients = [p["id"] for p in run_search(repo, ctx, "Patient", [("_count", "1000")]).matches]
    rng = random.Random(seed)
    patients = rng.sample(patients, min(300, len(patients)))
    observations: list[str] = []
    for pid in patients[:100]:
        found = run_search(repo, ctx, "Observation", [("subject", f"Patient/{pid}"), ("_count", "20")])
        observations += [o["id"] for o in found.matches]
    return patients, observations


def workload(
    repo: FhirRepository,
    ctx: RequestContext,
    patients: list[str],
    observations: list[str],
    seconds: float,
    threads: int,
    seed: int,
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"read": [], "search": []}
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def searches(pid: str) -> list[tuple[str, list[tuple[str, str]]]]:
        subject = f"Patient/{pid}"
        return [
            (
                "Observation",
                [
                    ("subject", subject),
                    ("code", "http://loinc.org|8302-2"),
                    ("_sort", "-date"),
                    ("_count", "10"),
                ],
            ),
            ("Condition", [("patient", subject), ("_count", "50")]),
            (
                "Encounter",
                [("patient", subject), ("date", "ge2015-01-01"), ("_sort", "-date"), ("_count", "20")],
            ),
            ("MedicationRequest", [("patient", subject), ("status", "active,stopped"), ("_count", "20")]),
            ("Observation", [("patient", subject), ("category", "vital-signs"), ("_count", "20")]),
        ]

    def worker(k: int) -> None:
        rng = random.Random(seed * 100 + k)
        local: dict[str, list[float]] = {"read": [], "search": []}
        while time.perf_counter() < stop:
            if rng.random() < 0.5:
                rt, rid = (
                    ("Observation", rng.choice(observations))
                    if rng.random() < 0.7
                    else ("Patient", rng.choice(patients))
                )
                t0 = time.perf_counter()
                repo.read(ctx, rt, rid)
                local["read"].append((time.perf_counter() - t0) * 1000)
            else:
                rt, params = rng.choice(searches(rng.choice(patients)))
                t0 = time.perf_counter()
                run_search(repo, ctx, rt, params)
                local["search"].append((time.perf_counter() - t0) * 1000)
        with lock:
            for key, values in local.items():
                timings[key].extend(values)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return timings


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 2),
        "p95_ms": round(percentile(values, 95), 2),
        "p99_ms": round(percentile(values, 99), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resources", type=int, default=200_000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--slice", type=float, default=3.0, help="seconds of one variant before the other runs")
    args = ap.parse_args()
    # Synthea's encounters span decades: a wide care window keeps the clinician's population realistic
    # and the chain written by a writer process, as a server writes it (Settings' default)
    settings = SecuritySettings(care_window_days=36500, audit_writer="process")
    OUT.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{Path(OUT) / f'security-overhead-{args.resources}.db'}"
    fill(url, args.resources, settings)
    engine = create_db_engine(url)
    security = SecurityServices.build(engine, settings)
    security.audit.start()
    secured = FhirRepository(engine, **security.repository_options(), validate=False)
    opened = FhirRepository(engine, audit=DropAudit(), validate=False)  # no policy, audit or decryption
    org = busiest_organization(secured)
    clinician = RequestContext(
        Principal(
            "bench-clinician", "user", frozenset({"clinician"}), org, frozenset({"user/*.*"}), mfa=True
        ),
        PurposeOfUse.TREATMENT,
    )
    patients, observations = visible_sample(secured, clinician, seed=7)
    print(f"clinician of {org}: sample of {len(patients)} visible patients, {len(observations)} observations")
    results: dict[str, Any] = {
        "machine": machine(),
        "resources": args.resources,
        "threads": args.threads,
        "seconds": args.seconds,
        "slice_seconds": args.slice,
        "rounds": [],
    }
    variants = (("open", opened, system_context()), ("secured", secured, clinician))
    slices = max(1, round(args.seconds / args.slice))
    for r in range(args.rounds):
        # the two alternate in short slices (open first in even slices, secured first in odd ones), so
        # a shared machine's drift over a round falls on both alike
        gathered: dict[str, dict[str, list[float]]] = {
            name: {"read": [], "search": []} for name, _, _ in variants
        }
        for k in range(slices):
            for name, repo, ctx in variants if k % 2 == 0 else variants[::-1]:
                timings = workload(
                    repo,
                    ctx,
                    patients,
                    observations,
                    args.seconds / slices,
                    args.threads,
                    seed=(r + 1) * 1000 + k,
                )
                for op, values in timings.items():
                    gathered[name][op].extend(values)
        round_result = {name: {op: summary(v) for op, v in ops.items()} for name, ops in gathered.items()}
        for name, figures in round_result.items():
            print(f"round {r + 1} {name}: {figures}", flush=True)
        results["rounds"].append(round_result)
    security.audit.stop()
    med: dict[str, Any] = {}
    for name in ("open", "secured"):
        med[name] = {
            op: {
                m: median([float(rd[name][op][m]) for rd in results["rounds"]])
                for m in ("p50_ms", "p95_ms", "p99_ms")
            }
            for op in ("read", "search")
        }
    for op in ("read", "search"):
        base, sec = med["open"][op]["p95_ms"], med["secured"][op]["p95_ms"]
        med[f"added_p95_{op}_percent"] = round(100 * (sec - base) / base, 1) if base else None
    results["median_of_rounds"] = med
    print(f"median of rounds: {med}")
    print(f"results in {save('security-overhead', results)}")


if __name__ == "__main__":
    main()
