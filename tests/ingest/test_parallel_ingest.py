"""Parallel file ingest: worker processes share the files, the result is the serial one; units that
wait on another file's resource are retried, serially and in parallel."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from functools import partial
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.transaction import UNRESOLVED_CONDITIONAL
from healthbrain.ingest import ingest_path
from healthbrain.ingest.workers import plain_repository
from healthbrain.simulation import RegionConfig
from healthbrain.simulation.writer import write_region
from healthbrain.storage import tables as t
from healthbrain.storage.migrate import upgrade_database

CTX = system_context()


def _expected(directory: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for file in directory.glob("*.json"):
        data = orjson.loads(file.read_bytes())
        if data.get("resourceType") == "Bundle":
            counts.update(e["resource"]["resourceType"] for e in data["entry"])
    return counts


def _index_rows(repo: FhirRepository) -> dict[str, int]:
    with repo.engine.connect() as conn:
        return {
            kind: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for kind, table in {**t.INDEX_TABLES, "care_link": t.care_link}.items()
        }


def _live(repo: FhirRepository) -> dict[str, int]:
    with repo.engine.connect() as conn:
        return repo.store.type_counts(conn)


def test_two_workers_load_a_region_exactly_once(repo: FhirRepository, db_url: str, tmp_path: Path) -> None:
    region = tmp_path / "region"
    write_region(RegionConfig(patients=80, seed=11, chunk_size=200), region)
    expected = _expected(region)
    assert len(list(region.glob("*.json"))) > 8  # enough files for both workers

    summary = ingest_path(repo, CTX, region, workers=2, setup=partial(plain_repository, db_url))

    assert summary.errors == []
    assert dict(summary.resources) == dict(expected)
    assert _live(repo) == dict(expected)
    with repo.engine.connect() as conn:
        versions = conn.execute(select(func.count()).select_from(t.resource_version)).scalar_one()
        outbox = conn.execute(select(func.count()).select_from(t.outbox)).scalar_one()
    assert versions == outbox == sum(expected.values())  # one version and one event per resource
    # the same index rows as a serial load of the same files
    serial = FhirRepository(create_db_engine(f"sqlite:///{tmp_path / 'serial.db'}"), validate=False)
    upgrade_database(serial.engine)
    assert ingest_path(serial, CTX, region).errors == []
    assert _index_rows(repo) == _index_rows(serial)
    assert _index_rows(repo)["care_link"] > 0  # the region's encounters link patients to hospitals
    serial.engine.dispose()
    again = ingest_path(repo, CTX, region, workers=2, setup=partial(plain_repository, db_url))
    assert again.units == 0 and again.skipped_units == summary.units


def _bundle(*entries: dict[str, object]) -> bytes:
    return orjson.dumps({"resourceType": "Bundle", "type": "transaction", "entry": list(entries)})


def _observation(identifier: str) -> dict[str, object]:
    return {
        "resource": {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": f"Patient?identifier=urn:example:mrn|{identifier}"},
        },
        "request": {"method": "POST", "url": "Observation"},
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_a_unit_waiting_for_a_later_file_is_retried_and_a_dangling_one_reported(
    repo: FhirRepository, db_url: str, tmp_path: Path, workers: int
) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    # "a" names a patient that only "b" creates; "c" names one that never comes
    (feed / "a.json").write_bytes(_bundle(_observation("1001")))
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:example:mrn", "value": "1001"}]}
    (feed / "b.json").write_bytes(
        _bundle({"resource": patient, "request": {"method": "POST", "url": "Patient"}})
    )
    (feed / "c.json").write_bytes(_bundle(_observation("4040")))

    summary = ingest_path(repo, CTX, feed, workers=workers, setup=partial(plain_repository, db_url))

    assert [(Path(e.source).name, e.code) for e in summary.errors] == [("c.json", UNRESOLVED_CONDITIONAL)]
    assert summary.units == 2
    assert _live(repo) == {"Observation": 1, "Patient": 1}


def test_cli_ingest_with_workers_keeps_the_audit_chain_intact(tmp_path: Path) -> None:
    region = tmp_path / "region"
    write_region(RegionConfig(patients=60, seed=5, chunk_size=200), region)
    env = {**os.environ, "COLUMNS": "200", "HEALTHBRAIN_DATABASE_URL": f"sqlite:///{tmp_path / 'hb.db'}"}
    cli = [sys.executable, "-m", "healthbrain.cli.main"]
    done = subprocess.run([*cli, "ingest", str(region), "--workers", "2"], env=env, capture_output=True,
                          timeout=600, check=False)  # fmt: skip
    out = done.stdout.decode()
    assert done.returncode == 0, out[-2000:]
    assert "2 processes" in out
    # the workers screened with the quarantine too: what they held back is all that is missing
    held = re.search(r"([\d,]+) records quarantined", out)
    assert held is not None
    engine = create_db_engine(env["HEALTHBRAIN_DATABASE_URL"])
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(t.resource)).scalar_one()
    engine.dispose()
    assert stored + int(held.group(1).replace(",", "")) == sum(_expected(region).values())
    verify = subprocess.run([*cli, "audit", "verify"], env=env, capture_output=True, timeout=120, check=False)
    assert verify.returncode == 0, verify.stdout.decode()[-2000:]
