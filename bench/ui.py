"""Cockpit page times: every page, server-side render through the platform's APIs, p50/p95 over runs.

Builds a simulated region (--patients, default 2000; the issue's anchor is 100,000) with the CLI as
`make run` does, starts the real server, signs in one user per role with password + TOTP and times each page
(first load = cold caches, then --runs more). With --region DIR the built region (and the services'
tables once caught up) stays in DIR, and a later run with the same DIR measures it again without
rebuilding. Usage: .venv/bin/python bench/ui.py --patients 20000 [--region bench/out/ui-20000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from healthbrain.api.app import create_app
from healthbrain.core.settings import ApiSettings, Settings
from healthbrain.security import totp

from common import machine, median, percentile, save

PASSWORD = "Bench#Cockpit2026"
PAGES = [  # role, organisation, paths
    (
        "regional-officer",
        "adm-330000",
        ["/ui/", "/ui/overview/records", "/ui/overview/map", "/ui/overview/conditions", "/ui/datahub"],
    ),
    (
        "clinician",
        "kecheng-rmyy",
        [
            "/ui/",
            "/ui/overview/records",
            "/ui/alerts",
            "/ui/patients?q=张",
            "/ui/patients/kecheng-rmyy-p-000001",
        ],
    ),
    ("cdc-officer", "adm-330000", ["/ui/surveillance"]),
    ("security-auditor", "adm-330000", ["/ui/audit"]),
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(tmp: Path, patients: int) -> tuple[Settings, float]:
    """The demo region as `make run` builds it: `healthbrain simulate`, then `healthbrain ingest`
    (validation, quarantine and worker processes as the CLI chooses them)."""
    started = time.perf_counter()
    url = f"sqlite:///{tmp / 'bench.db'}"
    port = _port()
    api = ApiSettings(base_url=f"http://127.0.0.1:{port}/fhir/R4")
    settings = Settings(database_url=url, export_dir=str(tmp / "x"), api=api)
    if (tmp / "built").exists():  # a kept region of an earlier run
        return settings, 0.0
    env = {**os.environ, "HEALTHBRAIN_DATABASE_URL": url}
    cli = [sys.executable, "-m", "healthbrain.cli.main"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        [*cli, "simulate", "--patients", str(patients), "--seed", "42", "--out", str(tmp / "sim")],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    # validation off, as in bench/ingest.py: the simulator writes valid R4 (its tests validate it)
    ingest = [*cli, "ingest", "--no-validate", str(tmp / "sim")]
    subprocess.run(ingest, env=env, check=True, stdout=subprocess.DEVNULL)
    (tmp / "built").write_text(f"{patients}\n", encoding="utf-8")
    return settings, time.perf_counter() - started


def settle(app: Any, base: str) -> float:
    """Seconds until the services have been delivered every ingested change (patient index, quality ...)."""
    started = time.perf_counter()
    head = int(httpx.get(f"{base}/healthz", timeout=60).json()["outbox_head"])
    dispatcher = app.state.dispatcher
    while not all(dispatcher.position(name) >= head for name in dispatcher.subscribers):
        time.sleep(1)
    return time.perf_counter() - started


def sign_in(base: str, app: Any, role: str, org: str) -> httpx.Client:
    username = f"bench-{role}-{int(time.time())}"  # a kept region holds the users of earlier runs
    enrol = app.state.hb.security.identity.create_user(username, PASSWORD, [role], org, None)
    client = httpx.Client(base_url=base, timeout=120, follow_redirects=False)
    form = client.get("/ui/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    data = {
        "csrf": csrf.group(1),
        "username": username,
        "password": PASSWORD,
        "totp": totp(enrol.totp_secret),
    }
    assert client.post("/ui/login", data=data).status_code == 303
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--region", type=Path, help="keep the built region here (and reuse it if it is there)"
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.region is not None:
            args.region.mkdir(parents=True, exist_ok=True)
            tmp = str(args.region)
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
        settings, build_seconds = build(Path(tmp), args.patients)
        app = create_app(settings)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=int(httpx.URL(settings.api.base_url).port or 0),
                log_level="warning",
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = settings.api.base_url.removesuffix("/fhir/R4")
        print(f"built and ingested {args.patients:,} patients in {build_seconds:.0f} s", flush=True)
        settled = settle(app, base)
        print(f"services caught up in {settled:.0f} s", flush=True)
        catch_up = getattr(app.state, "catch_up", None)
        workers = dict(catch_up.figures) if catch_up is not None else {}
        for name, fig in workers.items():
            print(f"  {name}: {fig['events']:,.0f} events in {fig['seconds']:.0f} s (worker process)")
        results: dict[str, Any] = {}
        try:
            for role, org, paths in PAGES:
                client = sign_in(base, app, role, org)
                for path in paths:
                    times = []
                    for _ in range(args.runs + 1):
                        t0 = time.perf_counter()
                        r = client.get(path)
                        times.append(time.perf_counter() - t0)
                        assert r.status_code == 200, (path, r.status_code)
                    warm = times[1:]
                    results[f"{path} [{role}]"] = {
                        "role": role,
                        "first_s": round(times[0], 3),
                        "p50_s": round(median(warm), 3),
                        "p95_s": round(percentile(warm, 95), 3),
                    }
                    print(
                        f"{path + ' [' + role + ']':60s} first {times[0]:.3f}s  p50 {median(warm):.3f}s  p95 {percentile(warm, 95):.3f}s"
                    )
                client.close()
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    out = save(
        "ui",
        {
            "patients": args.patients,
            "runs": args.runs,
            "build_seconds": round(build_seconds, 1),
            "settle_seconds": round(settled, 1),
            "catch_up_workers": workers,
            "machine": machine(),
            "pages": results,
            "anchor": "p95 < 1 s per page (issue 8)",
        },
    )
    print(f"saved {out}")


if __name__ == "__main__":
    main()
