"""Access-anomaly detection benchmark: rule cost per audited request, and detection latency end to end.

1. `AnomalyDetector.observe` on a synthetic stream (`--principals` users, `--events` audited reads of
   1-20 patients each, over a working week): median and p99 cost per call.
2. Through the repository on a simulated region (SQLite, and PostgreSQL when reachable): a clinician
   reads other institutions' patients until the `no-relationship` rule fires; the time from the start
   of the offending request to the anomaly being readable in `security_anomaly`, over `--trials`
   clinicians. Anchor: the issue's target, flagged within 0.3 s.
3. The listener's added cost on a plain read (median of reads with and without it).

    .venv/bin/python bench/anomaly.py [--events 200000] [--trials 30] [--backend sqlite|postgres|all]
"""

from __future__ import annotations

import argparse
import logging
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from healthbrain.core.access import AuditEntry
from healthbrain.core.context import Principal, PurposeOfUse, RequestContext, system_context
from healthbrain.core.db import create_db_engine
from healthbrain.core.errors import NotFound
from healthbrain.core.settings import SecuritySettings
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest import ingest_path
from healthbrain.security import SecurityServices
from healthbrain.security import tables as t
from healthbrain.security.anomaly import AnomalyDetector, BlockingPolicy
from healthbrain.simulation import RegionConfig, write_region
from healthbrain.storage.migrate import upgrade_database

from common import fresh_pg_database, machine, median, percentile, pg_available, save

TARGET = 0.3


def bench_observe(engine: Engine, principals: int, events: int) -> dict[str, Any]:
    detector = AnomalyDetector(engine)
    detector.start()
    rng = random.Random(3)
    users = [
        RequestContext(Principal(f"user-{i}", "user", frozenset({"clinician"}), "org"))
        for i in range(principals)
    ]
    start = time.time() - 5 * 86400
    costs = []
    for n in range(events):
        ctx = users[rng.randrange(principals)]
        patients = tuple(f"p{rng.randrange(200_000)}" for _ in range(rng.randint(1, 20)))
        entry = AuditEntry(
            "search" if len(patients) > 1 else "read", "Patient", None, "success", patients=patients
        )
        now = start + n * (5 * 86400 / events)
        began = time.perf_counter_ns()
        detector.observe(ctx, entry, now)
        costs.append((time.perf_counter_ns() - began) / 1000)
    detector.flush()
    detector.stop()
    with engine.connect() as conn:
        raised = dict(Counter(r.rule for r in conn.execute(select(t.anomaly.c.rule))))
    return {
        "events": events,
        "principals": principals,
        "median_us": round(median(costs), 1),
        "p99_us": round(percentile(costs, 99), 1),
        "anomalies_raised": raised,
    }


def region_engine(url: str, tmp: Path) -> tuple[Engine, SecurityServices]:
    engine = create_db_engine(url)
    upgrade_database(engine)
    write_region(RegionConfig(patients=200, seed=5), tmp / "sim")
    security = SecurityServices.build(engine, SecuritySettings())
    loader = FhirRepository(engine, validate=False, labeler=security.labeler, protector=security.protector)
    ingest_path(loader, system_context(), tmp / "sim")
    return engine, security


def stored_after(engine: Engine, principal: str, started: float) -> float:
    a = t.anomaly.c
    while True:
        with engine.connect() as conn:
            if conn.execute(select(a.id).where(a.principal == principal)).first() is not None:
                return time.perf_counter() - started
        if time.perf_counter() - started > 5:
            return float("inf")
        time.sleep(0.001)


def bench_latency(url: str, tmp: Path, trials: int) -> dict[str, Any]:
    engine, security = region_engine(url, tmp)
    detector = AnomalyDetector(engine, audit=security.audit)
    security.audit.listeners.append(detector.observe)
    security.audit.start()
    detector.start()
    repo = FhirRepository(
        engine,
        **{**security.repository_options(), "policy": BlockingPolicy(security.policy, detector)},
        validate=False,
    )
    system = system_context()
    other = [
        p["id"]
        for p in run_search(
            repo, system, "Patient", [("organization", "Organization/kaihua-rmyy"), ("_count", "60")]
        ).matches
    ]
    own = run_search(repo, system, "Patient", [("organization", "Organization/kecheng-rmyy")]).matches[0][
        "id"
    ]
    latencies = []
    for trial in range(trials):
        ctx = RequestContext(
            Principal(
                f"dr-{trial}",
                "user",
                frozenset({"clinician"}),
                "kecheng-rmyy",
                frozenset({"user/*.*"}),
                mfa=True,
            ),
            PurposeOfUse.TREATMENT,
        )
        refused, started = 0, 0.0
        for pid in other:
            started = time.perf_counter()
            try:
                repo.read(ctx, "Patient", pid)
            except NotFound:
                refused += 1
            if refused == detector.settings.refused_threshold:
                break
        latencies.append(stored_after(engine, ctx.principal.id, started))
    reader = RequestContext(
        Principal(
            "dr-reader", "user", frozenset({"clinician"}), "kecheng-rmyy", frozenset({"user/*.*"}), mfa=True
        )
    )

    def read_times(n: int = 500) -> float:
        times = []
        for _ in range(n):
            began = time.perf_counter()
            repo.read(reader, "Patient", own)
            times.append(time.perf_counter() - began)
        return median(times) * 1000

    with_listener = read_times()
    security.audit.listeners.remove(detector.observe)
    without_listener = read_times()
    detector.stop()
    security.audit.stop()
    engine.dispose()
    return {
        "trials": trials,
        "median_ms": round(median(latencies) * 1000, 2),
        "p95_ms": round(percentile(latencies, 95) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
        "target_ms": TARGET * 1000,
        "read_median_ms_with_listener": round(with_listener, 3),
        "read_median_ms_without_listener": round(without_listener, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--principals", type=int, default=1000)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--backend", default="all", choices=["sqlite", "postgres", "all"])
    args = ap.parse_args()
    logging.getLogger("healthbrain.anomaly").setLevel(logging.ERROR)  # one warning per anomaly otherwise
    tmp = Path(tempfile.mkdtemp(prefix="hb-anomaly-"))
    engine = create_db_engine(f"sqlite:///{tmp / 'observe.db'}")
    upgrade_database(engine)
    out: dict[str, Any] = {
        "machine": machine(),
        "observe": bench_observe(engine, args.principals, args.events),
    }
    print(out["observe"])
    engine.dispose()
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    for backend in backends:
        if backend == "postgres" and not pg_available():
            print("PostgreSQL not reachable: skipped")
            continue
        url = (
            f"sqlite:///{tmp / 'region.db'}" if backend == "sqlite" else fresh_pg_database("hb_bench_anomaly")
        )
        folder = tmp / backend
        folder.mkdir()
        out[backend] = bench_latency(url, folder, args.trials)
        print(backend, out[backend])
    print(save("anomaly", out))


if __name__ == "__main__":
    main()
