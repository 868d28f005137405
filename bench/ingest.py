"""Ingest benchmark: Synthea transaction bundles (fresh ids, >=200,000 resources) through the repository.

Full indexing, versions and outbox events are written, as in production. Reports resources/s per run and
the median, on SQLite and PostgreSQL. Anchors: HAPI ~2,200/s and Aidbox ~2,700/s on 8 vCPUs.

Two ways in: `repository` hands pre-parsed bundles to one process's repository (JSON parsing not
timed); `files` writes the copies as bundle files and times `ingest_path` with `--workers` processes
(reading, parsing, the ingest journal and the workers' start included), as `healthbrain ingest` runs.
Usage: python bench/ingest.py [--resources 200000] [--runs 3] [--validate] [--backend sqlite|postgres|all]
                              [--mode repository|files|all] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path

import orjson

from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.transaction import process_transaction
from healthbrain.ingest import ingest_path
from healthbrain.ingest.workers import plain_repository
from healthbrain.storage.migrate import upgrade_database

from common import fresh_copies, fresh_pg_database, machine, median, pg_available, save, synthea_bundles


def run_once(url: str, n: int, validate: bool) -> tuple[int, float]:
    engine = create_db_engine(url)
    upgrade_database(engine)
    repo = FhirRepository(engine, validate=validate)
    ctx = system_context()
    bundles = list(
        fresh_copies(synthea_bundles(), n)
    )  # parsed up front: measure the repository, not JSON I/O
    count = 0
    started = time.perf_counter()
    for bundle in bundles:
        process_transaction(repo, ctx, bundle)
        count += len(bundle["entry"])
    seconds = time.perf_counter() - started
    engine.dispose()
    return count, seconds


def run_files(url: str, n: int, validate: bool, workers: int, tmp: Path) -> tuple[int, float]:
    engine = create_db_engine(url)
    upgrade_database(engine)
    repo = FhirRepository(engine, validate=validate)
    feed = tmp / "feed"
    feed.mkdir()
    for i, bundle in enumerate(fresh_copies(synthea_bundles(), n)):
        (feed / f"{i:05d}.json").write_bytes(orjson.dumps(bundle))
    started = time.perf_counter()
    summary = ingest_path(
        repo, system_context(), feed, workers=workers, setup=partial(plain_repository, url, validate)
    )
    seconds = time.perf_counter() - started
    assert not summary.errors, summary.errors[:3]
    engine.dispose()
    return summary.total_resources, seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resources", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--validate", action="store_true", help="also validate every resource (R4B models)")
    ap.add_argument("--backend", default="all", choices=["sqlite", "postgres", "all"])
    ap.add_argument("--mode", default="all", choices=["repository", "files", "all"])
    ap.add_argument("--workers", type=int, default=2, help="processes of the files mode")
    args = ap.parse_args()
    results: dict[str, object] = {
        "machine": machine(),
        "resources": args.resources,
        "validate": args.validate,
        "workers": args.workers,
    }
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    modes = ["repository", "files"] if args.mode == "all" else [args.mode]
    for backend in backends:
        if backend == "postgres" and not pg_available():
            print("postgres: not reachable, skipped")
            continue
        for mode in modes:
            label = backend if mode == "repository" else f"{backend}-files-{args.workers}-workers"
            rates = []
            for run in range(args.runs):
                with tempfile.TemporaryDirectory() as tmp:
                    url = (
                        f"sqlite:///{Path(tmp) / 'bench.db'}"
                        if backend == "sqlite"
                        else fresh_pg_database("hb_bench_ingest")
                    )
                    if mode == "repository":
                        count, seconds = run_once(url, args.resources, args.validate)
                    else:
                        count, seconds = run_files(
                            url, args.resources, args.validate, args.workers, Path(tmp)
                        )
                rates.append(count / seconds)
                print(
                    f"{label} run {run + 1}: {count:,} resources in {seconds:.1f}s = {count / seconds:,.0f}/s",
                    flush=True,
                )
            results[label] = {
                "runs_per_second": [round(r) for r in rates],
                "median_per_second": round(median(rates)),
            }
            print(f"{label}: median {median(rates):,.0f} resources/s over {len(rates)} runs")
    print(f"results in {save('ingest' + ('-validate' if args.validate else ''), results)}")


if __name__ == "__main__":
    main()
