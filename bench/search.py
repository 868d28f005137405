"""Search benchmark: read-by-id and patient-scoped searches at >=1,000,000 stored resources.

The store is filled once per backend with Synthea bundles (fresh ids per copy) through the repository
(full indexing, versions, outbox) and kept in bench/out for later runs. Then worker threads run a mix
for a fixed time: 50 % read by id, 50 % patient-scoped searches (a patient's latest vitals by code,
their conditions, encounters since a date, active prescriptions). Latencies are taken per call inside
the repository (no HTTP); p50/p95/p99 are reported per operation over several rounds, with the median
round shown. Targets: p95 read < 10 ms, p95 patient search < 50 ms.
Usage: python bench/search.py [--resources 1000000] [--threads 4] [--seconds 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.transaction import process_transaction
from healthbrain.storage import tables as t
from healthbrain.storage.migrate import upgrade_database

from common import OUT, PG_DSN, fresh_copies, machine, median, percentile, pg_available, save, synthea_bundles

CTX = system_context()


def _pg_url(name: str) -> str:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'create database "{name}"')
    params = dict(p.split("=", 1) for p in PG_DSN.split())
    return f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host')}:{params.get('port')}/{name}"


def live_resources(repo: FhirRepository) -> int:
    with repo.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.resource)).scalar_one())


def fill(repo: FhirRepository, target: int) -> None:
    have = live_resources(repo)
    if have >= target:
        print(f"store already holds {have:,} resources")
        return
    started, done = time.perf_counter(), have
    # copies are numbered, so a partly filled store continues with new ids
    for bundle in fresh_copies(synthea_bundles(), target, skip=have):
        process_transaction(repo, CTX, bundle)
        done += len(bundle["entry"])
        if done // 50_000 != (done - len(bundle["entry"])) // 50_000:
            rate = (done - have) / (time.perf_counter() - started)
            print(f"  {done:,} resources stored ({rate:,.0f}/s)", flush=True)
    with repo.engine.begin() as conn:
        repo.store.refresh_statistics(conn)  # as `healthbrain ingest` does after a bulk load


def sample_ids(repo: FhirRepository, rt: str, n: int, seed: int) -> list[str]:
    with repo.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(select(t.resource.c.res_id).where(t.resource.c.res_type == rt))]
    return random.Random(seed).sample(ids, min(n, len(ids)))


def workload(repo: FhirRepository, seconds: float, threads: int, seed: int) -> dict[str, list[float]]:
    patients = sample_ids(repo, "Patient", 2000, seed)
    observations = sample_ids(repo, "Observation", 5000, seed)
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
                repo.read(CTX, rt, rid)
                local["read"].append((time.perf_counter() - t0) * 1000)
            else:
                rt, params = rng.choice(searches(rng.choice(patients)))
                t0 = time.perf_counter()
                run_search(repo, CTX, rt, params)
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
    ap.add_argument("--resources", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--backend", default="all", choices=["sqlite", "postgres", "all"])
    args = ap.parse_args()
    results: dict[str, object] = {"machine": machine(), "threads": args.threads, "seconds": args.seconds}
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    for backend in backends:
        if backend == "postgres" and not pg_available():
            print("PostgreSQL not reachable: skipped")
            continue
        OUT.mkdir(parents=True, exist_ok=True)
        url = (
            f"sqlite:///{Path(OUT) / 'search-bench.db'}"
            if backend == "sqlite"
            else _pg_url("hb_search_bench")
        )
        engine = create_db_engine(url)
        upgrade_database(engine)
        repo = FhirRepository(engine, validate=False)
        fill(repo, args.resources)
        stored = live_resources(repo)
        rounds = []
        for r in range(args.rounds):
            timings = workload(repo, args.seconds, args.threads, seed=r + 1)
            rounds.append({k: summary(v) for k, v in timings.items()})
            print(
                f"{backend} round {r + 1}: " + ", ".join(f"{k} {v}" for k, v in rounds[-1].items()),
                flush=True,
            )
        med = {
            op: {m: median([float(rd[op][m]) for rd in rounds]) for m in ("p50_ms", "p95_ms", "p99_ms")}
            for op in ("read", "search")
        }
        results[backend] = {"stored_resources": stored, "rounds": rounds, "median_of_rounds": med}
        print(f"{backend}: {stored:,} resources; median of rounds {med}")
        engine.dispose()
    print(f"results in {save('search', results)}")


if __name__ == "__main__":
    main()
