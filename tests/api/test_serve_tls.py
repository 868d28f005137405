"""`healthbrain serve` over HTTPS: a real server process with a certificate, and its refusals."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingest" / "hl7v2"))
from test_hl7_mllp import self_signed

HEALTHBRAIN = Path(sys.executable).with_name("healthbrain")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, HEALTHBRAIN_DATABASE_URL=f"sqlite:///{tmp_path / 'tls.db'}")
    subprocess.run([str(HEALTHBRAIN), "db", "upgrade"], env=env, check=True, capture_output=True)
    return env


@pytest.mark.xdist_group("server-process")
def test_serve_answers_over_https_and_not_over_plain_http(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    command = [str(HEALTHBRAIN), "serve", "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)]
    server = subprocess.Popen(
        command, env=environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                answer = httpx.get(f"https://localhost:{port}/fhir/R4/metadata", verify=str(cert), timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
                assert time.monotonic() < deadline, "the HTTPS server did not come up"
                time.sleep(0.5)
        assert answer.status_code == 200
        assert answer.json()["resourceType"] == "CapabilityStatement"
        with pytest.raises(httpx.TransportError):
            # a client that does not trust the certificate gets no answer
            httpx.get(f"https://localhost:{port}/fhir/R4/metadata", timeout=5)
        plain = None
        with contextlib.suppress(httpx.TransportError):
            plain = httpx.get(f"http://localhost:{port}/fhir/R4/metadata", timeout=5)
        assert plain is None or plain.status_code == 400  # never served in clear text
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize(
    "options",
    [
        ["--tls-cert", "CERT"],
        ["--tls-key", "KEY"],
        ["--tls-client-ca", "CERT"],
        ["--tls-cert", "MISSING", "--tls-key", "KEY"],
    ],
)
def test_serve_refuses_incomplete_tls_options(tmp_path: Path, options: list[str]) -> None:
    cert, key = self_signed(tmp_path)
    paths = {"CERT": str(cert), "KEY": str(key), "MISSING": str(tmp_path / "missing.pem")}
    run = subprocess.run(
        [str(HEALTHBRAIN), "serve", "--port", str(free_port()), *[paths.get(o, o) for o in options]],
        check=False,
        env=environment(tmp_path),
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert b"--tls" in run.stdout or b"no such file" in run.stdout
