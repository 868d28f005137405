"""CDS latency benchmark: Observation POST → alert on the SSE stream, and prescription audit time.

1. Alerts: a real server (uvicorn, separate process) receives Observations over HTTP at a sustained
   rate (default 200/s, 5 % critical potassium, the rest normal results of other analytes); a client
   listens on /api/v1/cds/alerts/stream. Latency = alert event received − POST sent. Anchor: p99 < 200 ms
   (the plans ask for <= 10 s).
2. Prescription audit, per MedicationRequest, for patients with allergies, labs and active orders:
   the rule engine alone, the full subscriber (context read through the repository + DetectedIssues and
   the review row written), and a CDS Hooks order-sign call over HTTP. Anchor: p95 < 50 ms.
Medians over several runs. Usage: python bench/cds_latency.py [--rate 200] [--seconds 20] [--runs 3]
[--backend sqlite|postgres|all]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from common import ROOT, fresh_pg_database, machine, median, percentile, pg_available, save

AUTH = {"Authorization": "Bearer dev-token"}
LOINC = "http://loinc.org"
NORMAL = [
    ("2951-2", 140, "mmol/L"),
    ("14749-6", 5.4, "mmol/L"),
    ("718-7", 135, "g/L"),
    ("777-3", 210, "10*9/L"),
    ("6690-2", 6.1, "10*9/L"),
    ("14682-9", 80, "umol/L"),
    ("1742-6", 25, "U/L"),
    ("2823-3", 4.2, "mmol/L"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HEALTHBRAIN_DATABASE_URL": url,
        "HEALTHBRAIN_EXPORT_DIR": str(log.parent / "export"),
        "HEALTHBRAIN_CDS__SSE_HEARTBEAT_SECONDS": "5",
        "HEALTHBRAIN_EVENTS__POLL_INTERVAL_SECONDS": "0.2",
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "healthbrain.api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _wait_up(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


def _seed(base: str, patients: int) -> None:
    org = {"resourceType": "Organization", "id": "bench-h1", "name": "县人民医院"}
    with httpx.Client(base_url=base, headers=AUTH, timeout=60) as c:
        c.put("/fhir/R4/Organization/bench-h1", json=org).raise_for_status()
        c.put(
            "/fhir/R4/Practitioner/bench-dr1", json={"resourceType": "Practitioner", "id": "bench-dr1"}
        ).raise_for_status()
        entries = []
        for i in range(patients):
            pid, eid = f"bp{i}", f"be{i}"
            entries.append(
                {
                    "resource": {
                        "resourceType": "Patient",
                        "id": pid,
                        "gender": "male" if i % 2 else "female",
                        "birthDate": f"{1940 + i % 60}-03-01",
                    },
                    "request": {"method": "PUT", "url": f"Patient/{pid}"},
                }
            )
            entries.append(
                {
                    "resource": {
                        "resourceType": "Encounter",
                        "id": eid,
                        "status": "in-progress",
                        "class": {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                            "code": "IMP",
                        },
                        "subject": {"reference": f"Patient/{pid}"},
                        "serviceProvider": {"reference": "Organization/bench-h1"},
                        "participant": [{"individual": {"reference": "Practitioner/bench-dr1"}}],
                    },
                    "request": {"method": "PUT", "url": f"Encounter/{eid}"},
                }
            )
        for start in range(0, len(entries), 200):
            bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries[start : start + 200]}
            c.post("/fhir/R4", json=bundle).raise_for_status()


def _observation(n: int, patients: int, critical: bool) -> dict[str, Any]:
    code, value, unit = ("2823-3", 6.9, "mmol/L") if critical else NORMAL[n % len(NORMAL)]
    p = n % patients
    return {
        "resourceType": "Observation",
        "id": f"bo{n}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/bp{p}"},
        "encounter": {"reference": f"Encounter/be{p}"},
        "effectiveDateTime": "2026-05-01T08:00:00+08:00",
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


async def _listen(base: str, sent: dict[str, float], got: dict[str, float], ready: asyncio.Event) -> None:
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(None)) as client,
        client.stream(
            "GET",
            f"{base}/api/v1/cds/alerts/stream",
            params={"recipient": "Practitioner/bench-dr1"},
            headers=AUTH,
        ) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith(": connected"):
                ready.set()
            elif line.startswith("data: "):
                now = time.perf_counter()
                data = json.loads(line[6:])
                if data.get("event") == "alert":
                    source = data["alert"]["source"].split("/_history/")[0].split("/")[1]
                    got.setdefault(source, now)


async def _load(
    base: str, rate: float, seconds: float, patients: int, offset: int, panel: int
) -> dict[str, Any]:
    sent: dict[str, float] = {}
    got: dict[str, float] = {}
    post_times: list[float] = []
    ready = asyncio.Event()
    listener = asyncio.create_task(_listen(base, sent, got, ready))
    await asyncio.wait_for(ready.wait(), 30)
    total = int(rate * seconds)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    errors = 0
    async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=60, limits=limits) as client:

        async def post(first: int) -> None:
            nonlocal errors
            batch = [
                _observation(offset + n, patients, n % 20 == 0) for n in range(first, first + panel)
            ]  # 5 %
            start = time.perf_counter()
            for n, obs in zip(range(first, first + panel), batch, strict=True):
                if n % 20 == 0:
                    sent[obs["id"]] = start
            if panel == 1:
                response = await client.put(f"/fhir/R4/Observation/{batch[0]['id']}", json=batch[0])
            else:  # one laboratory report: its results in one transaction, as a LIS sends them
                entries = [
                    {"resource": o, "request": {"method": "PUT", "url": f"Observation/{o['id']}"}}
                    for o in batch
                ]
                response = await client.post(
                    "/fhir/R4", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}
                )
            post_times.append(time.perf_counter() - start)
            if response.status_code >= 300:
                errors += 1

        tasks = []
        began = time.perf_counter()
        for first in range(0, total, panel):
            target = began + first / rate  # open loop: the load does not slow down when the server does
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(first)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    deadline = time.perf_counter() + 30
    while len(got) < len(sent) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    listener.cancel()
    latencies = [(got[k] - sent[k]) * 1000 for k in sent if k in got]
    return {
        "observations": total,
        "panel": panel,
        "achieved_rate": round(total / elapsed, 1),
        "critical": len(sent),
        "alerts_received": len(latencies),
        "http_errors": errors,
        "alert_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1),
            "p99": round(percentile(latencies, 99), 1),
            "max": round(max(latencies, default=0), 1),
        },
        "post_ms": {
            "p50": round(percentile([t * 1000 for t in post_times], 50), 1),
            "p99": round(percentile([t * 1000 for t in post_times], 99), 1),
        },
    }


def alert_runs(backend: str, args: argparse.Namespace, panel: int, rate: float) -> dict[str, Any]:
    runs = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            url = (
                f"sqlite:///{Path(tmp) / 'bench.db'}"
                if backend == "sqlite"
                else fresh_pg_database("hb_bench_cds")
            )
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            server = _start_server(url, port, Path(tmp) / "server.log")
            try:
                _wait_up(base)
                _seed(base, args.patients)
                asyncio.run(_load(base, rate, 3, args.patients, 10_000_000, panel))  # warm-up
                load_before = os.getloadavg()[0]
                result = asyncio.run(_load(base, rate, args.seconds, args.patients, 0, panel))
                result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            finally:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(30)
                except subprocess.TimeoutExpired:
                    server.kill()
        runs.append(result)
        a = result["alert_ms"]
        print(
            f"{backend} panel={panel} target {rate}/s run {run + 1}: {result['observations']} obs at "
            f"{result['achieved_rate']}/s, "
            f"{result['alerts_received']}/{result['critical']} alerts; alert latency p50 {a['p50']} "
            f"p95 {a['p95']} p99 {a['p99']} max {a['max']} ms; POST p50 {result['post_ms']['p50']} ms; "
            f"load average {result['load_average']}"
        )
    return {
        "panel": panel,
        "target_rate": rate,
        "runs": runs,
        "median_achieved_rate": median([r["achieved_rate"] for r in runs]),
        "median_p99_ms": median([r["alert_ms"]["p99"] for r in runs]),
        "median_p95_ms": median([r["alert_ms"]["p95"] for r in runs]),
        "median_p50_ms": median([r["alert_ms"]["p50"] for r in runs]),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--patients", type=int, default=500)
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--backend", default="all", choices=["sqlite", "postgres", "all"])
    ap.add_argument("--skip-alerts", action="store_true")
    ap.add_argument("--skip-audit", action="store_true")
    ap.add_argument("--panel", type=int, default=10, help="Observations per transaction in panel mode")
    ap.add_argument(
        "--single-rate", type=float, default=0, help="also run one-Observation-per-request at this rate"
    )
    args = ap.parse_args()
    from cds_audit_bench import audit_runs

    result: dict[str, Any] = {
        "machine": machine(),
        "rate": args.rate,
        "seconds": args.seconds,
        "critical_share": 0.05,
        "anchors": {"alert_p99_ms": 200, "audit_p95_ms": 50},
    }
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    for backend in backends:
        if backend == "postgres" and not pg_available():
            print("postgres: not reachable, skipped")
            continue
        entry: dict[str, Any] = {}
        if not args.skip_alerts:
            entry["alerts_panel"] = alert_runs(backend, args, args.panel, args.rate)
            if args.single_rate:
                entry["alerts_single"] = alert_runs(backend, args, 1, args.single_rate)
        if not args.skip_audit:
            entry["audit"] = audit_runs(backend, args)
        result[backend] = entry
    print(f"saved {save('cds_latency', result)}")


if __name__ == "__main__":
    main()
