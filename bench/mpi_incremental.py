"""Incremental patient-index benchmark: per-arrival latency, and agreement with the batch re-link.

Simulated records (mpi_data.py) arrive one by one through PatientIndex.ingest (the code the
Patient event subscriber runs), on SQLite and on PostgreSQL; then the batch re-link runs over the
same records and the two partitions are compared. Reports p50/p95/p99 per arrival (ms), over
the whole load, for each backend, with the index's identifying rows sealed by a key ring (as
deployed: encrypted records, golden records and model, blind-index blocking keys) and, for
comparison in the same run, unsealed.
Usage: python bench/mpi_incremental.py [--residents 10000] [--sealing both|keyring|plain]
"""

from __future__ import annotations

import argparse
import base64
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from healthbrain.core.db import create_db_engine
from healthbrain.mpi import KeyRingSealer, open_index, relink
from healthbrain.mpi.index import PatientIndex
from healthbrain.security import KeyRing
from healthbrain.storage.migrate import upgrade_database
from mpi_data import chinese_records

from common import OUT, fresh_pg_database, machine, percentile, pg_available, save


def _partition(index: PatientIndex) -> list[list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    with index.engine.connect() as conn:
        for row in index.store.all_links(conn):
            groups[row.resident_id].append(row.patient_ref)
    return sorted(sorted(g) for g in groups.values())


def run(url: str, patients: list[dict[str, Any]], sealed: bool) -> dict[str, Any]:
    engine = create_db_engine(url)
    upgrade_database(engine)
    keys = KeyRing(engine, base64.b64encode(os.urandom(32)).decode())
    index = open_index(engine, sealer=KeyRingSealer(keys) if sealed else None)
    took, cpu = [], []
    for p in patients:
        started, started_cpu = time.perf_counter(), time.process_time()
        index.ingest(p, 1)
        took.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)  # this process only: robust to load
    incremental = _partition(index)
    summary = relink(index)
    agree = _partition(index) == incremental
    engine.dispose()
    return {
        "arrivals": len(took),
        "p50_ms": round(percentile(took, 50), 2),
        "p95_ms": round(percentile(took, 95), 2),
        "p99_ms": round(percentile(took, 99), 2),
        "cpu_mean_ms": round(sum(cpu) / len(cpu), 3),
        "batchSeconds": round(summary.seconds, 2),
        "residents": summary.residents,
        "samePartitionAsBatch": agree,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--sealing", choices=("both", "keyring", "plain"), default="both")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    patients = chinese_records(args.residents, seed=7).patients
    result: dict[str, Any] = {"machine": machine(), "records": len(patients)}
    modes = {"both": (True, False), "keyring": (True,), "plain": (False,)}[args.sealing]
    db = Path(OUT) / "mpi-incremental.db"
    OUT.mkdir(parents=True, exist_ok=True)
    for sealed in modes:
        suffix_name = "" if sealed else "-plain"
        if not args.skip_sqlite:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            result[f"sqlite{suffix_name}"] = run(f"sqlite:///{db}", patients, sealed)
            print(f"sqlite{suffix_name}", result[f"sqlite{suffix_name}"])
        if pg_available():
            result[f"postgresql{suffix_name}"] = run(fresh_pg_database("hb_bench_mpi"), patients, sealed)
            print(f"postgresql{suffix_name}", result[f"postgresql{suffix_name}"])
    print(save("mpi-incremental", result))


if __name__ == "__main__":
    main()
