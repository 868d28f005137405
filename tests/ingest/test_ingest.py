"""File ingest: bundles, NDJSON, bad files, and a kill -9 in the middle that loses and duplicates nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
from sqlalchemy import func, select

from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest import ingest_path
from healthbrain.storage import tables as t

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir"
CTX = system_context()


def live_counts(repo: FhirRepository) -> Counter[str]:
    with repo.engine.connect() as conn:
        return repo.store.type_counts(conn)  # type: ignore[return-value]


def test_ndjson_directory_ingests_with_matching_counts(repo: FhirRepository, tmp_path: Path) -> None:
    src = DATA / "bulk-ndjson-10-patients"
    tmp_path = tmp_path / "in"  # the SQLite file lives in tmp_path itself
    tmp_path.mkdir()
    for name in os.listdir(src):
        if name[0].isupper():  # resource files; log.ndjson is the exporter's own log
            shutil.copy(src / name, tmp_path / name)
    expected = Counter(
        {n.split(".")[0]: len((src / n).read_bytes().splitlines()) for n in os.listdir(tmp_path)}
    )
    summary = ingest_path(repo, CTX, tmp_path)
    assert summary.errors == []
    assert dict(summary.resources) == dict(expected)
    counts = live_counts(repo)
    assert {k: counts[k] for k in expected} == dict(expected)
    again = ingest_path(repo, CTX, tmp_path)
    assert again.skipped_units == summary.units and again.units == 0


def test_bad_files_are_reported_and_the_rest_goes_in(repo: FhirRepository, tmp_path: Path) -> None:
    tmp_path = tmp_path / "in"
    tmp_path.mkdir()
    (tmp_path / "a-broken.json").write_text('{"resourceType": "Patient", ', encoding="utf-8")
    invalid = {"resourceType": "Patient", "birthDate": "2020-02-30"}
    (tmp_path / "b-invalid.json").write_text(orjson.dumps(invalid).decode(), encoding="utf-8")
    (tmp_path / "c-good.json").write_text(
        orjson.dumps({"resourceType": "Patient", "id": "ok"}).decode(), encoding="utf-8"
    )
    (tmp_path / "d-manifest.json").write_text('{"transactionTime": "2026-01-01T00:00:00Z"}', encoding="utf-8")
    summary = ingest_path(repo, CTX, tmp_path)
    assert [Path(e.source).name for e in summary.errors] == ["a-broken.json", "b-invalid.json"]
    # a directory may hold non-FHIR JSON (manifests, ground truth): listed as skipped, not an error
    assert [Path(p).name for p in summary.skipped_files] == ["d-manifest.json"]
    alone = ingest_path(repo, CTX, tmp_path / "d-manifest.json")
    assert [e.code for e in alone.errors] == ["fhir.not_a_resource"]
    assert summary.errors[0].code == "request.malformed_json"
    assert "birthDate" in summary.errors[1].location
    assert live_counts(repo)["Patient"] == 1


def test_kill_9_during_ingest_loses_nothing_committed_and_resumes(db_url: str, tmp_path: Path) -> None:
    bundles = sorted((DATA / "synthea-r4-bundles").glob("*.json"))
    expected: Counter[str] = Counter()
    for b in bundles:
        expected.update(e["resource"]["resourceType"] for e in orjson.loads(b.read_bytes())["entry"])
    env = {**os.environ, "HEALTHBRAIN_DATABASE_URL": db_url}
    cmd = [sys.executable, "-m", "healthbrain.cli.main", "ingest", str(DATA / "synthea-r4-bundles")]
    engine = create_db_engine(db_url)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        committed = 0
        while time.time() < deadline and proc.poll() is None:
            with engine.connect() as conn:
                committed = conn.execute(select(func.count()).select_from(t.ingest_journal)).scalar_one()
            if committed >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "ingest finished before it could be interrupted"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    repo = FhirRepository(engine)
    # its worker processes died with it: nothing goes on committing after the kill
    with engine.connect() as conn:
        after_kill = conn.execute(select(func.count()).select_from(t.ingest_journal)).scalar_one()
    time.sleep(3.0)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.ingest_journal)).scalar_one() == after_kill
        journaled = conn.execute(select(func.sum(t.ingest_journal.c.entries))).scalar_one()
        stored = conn.execute(select(func.count()).select_from(t.resource)).scalar_one()
        outbox = conn.execute(select(func.count()).select_from(t.outbox)).scalar_one()
    # exactly the committed bundles are there: nothing partial, nothing lost
    assert 0 < journaled < sum(expected.values())
    assert stored == journaled == outbox
    finished = subprocess.run(cmd, env=env, capture_output=True, timeout=600, check=False)
    assert finished.returncode == 0, finished.stdout.decode()[-2000:]
    assert dict(live_counts(repo)) == dict(expected)
    engine.dispose()
