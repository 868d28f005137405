"""Bulk Data $export over HTTP: kick-off, status polling, NDJSON files, levels, filters, bad input."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient

from healthbrain.ingest.files import as_transaction

FHIR = "/fhir/R4"
NDJSON = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir" / "bulk-ndjson-10-patients"


REFERENCED = ("Organization", "Location", "Practitioner")


def load_sample(
    client: TestClient, types: tuple[str, ...] = ("Patient", "Encounter", "Condition")
) -> dict[str, int]:
    """Load a few real NDJSON files through the API; returns the count per type."""
    counts: dict[str, int] = {}
    # encounters point at practitioners, locations and organisations by conditional references
    for rt in (*REFERENCED, *types):
        lines = [
            orjson.loads(x) for x in (NDJSON / f"{rt}.000.ndjson").read_bytes().splitlines() if x.strip()
        ]
        lines = lines[:60]
        r = client.post(FHIR, json=as_transaction(lines))
        assert r.status_code == 200, r.text
        counts[rt] = len(lines)
    return counts


def wait_for(client: TestClient, status_url: str, timeout: float = 30) -> Any:
    path = status_url.replace("http://testserver", "")
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = client.get(path)
        if r.status_code != 202:
            return r
        assert "x-progress" in r.headers
        time.sleep(0.05)
    raise AssertionError("the export did not finish")


def ndjson(client: TestClient, url: str) -> list[dict[str, Any]]:
    r = client.get(url.replace("http://testserver", ""))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+ndjson")
    return [orjson.loads(line) for line in r.content.splitlines()]


def test_system_export_writes_every_type_with_matching_counts(client: TestClient) -> None:
    counts = load_sample(client)
    r = client.get(f"{FHIR}/$export", headers={"Prefer": "respond-async"})
    assert r.status_code == 202
    done = wait_for(client, r.headers["content-location"])
    assert done.status_code == 200
    manifest = done.json()
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].endswith("/$export")
    by_type = {o["type"]: o for o in manifest["output"]}
    assert {t: o["count"] for t, o in by_type.items()} == counts
    patients = ndjson(client, by_type["Patient"]["url"])
    assert len(patients) == counts["Patient"] and all(p["resourceType"] == "Patient" for p in patients)


def test_type_since_and_type_filter(client: TestClient) -> None:
    load_sample(client, ("Patient", "Encounter"))
    r = client.get(f"{FHIR}/$export?_type=Patient&_typeFilter=Patient%3Fgender%3Dfemale")
    manifest = wait_for(client, r.headers["content-location"]).json()
    assert [o["type"] for o in manifest["output"]] == ["Patient"]
    exported = ndjson(client, manifest["output"][0]["url"])
    everyone = client.get(f"{FHIR}/Patient?_summary=count").json()["total"]
    assert exported and all(p["gender"] == "female" for p in exported) and len(exported) < everyone
    future = "2999-01-01T00:00:00Z"
    r = client.get(f"{FHIR}/$export?_since={future}")
    assert wait_for(client, r.headers["content-location"]).json()["output"] == []


def test_patient_and_group_exports_cover_the_compartment(client: TestClient) -> None:
    load_sample(client, ("Patient", "Encounter"))
    patients = client.get(f"{FHIR}/Patient?_count=100").json()["entry"]
    first = patients[0]["resource"]["id"]
    group = {
        "resourceType": "Group",
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": f"Patient/{first}"}}],
    }
    gid = client.post(f"{FHIR}/Group", json=group).json()["id"]
    r = client.get(f"{FHIR}/Group/{gid}/$export?_type=Patient,Encounter")
    manifest = wait_for(client, r.headers["content-location"]).json()
    by_type = {o["type"]: o for o in manifest["output"]}
    assert [p["id"] for p in ndjson(client, by_type["Patient"]["url"])] == [first]
    encounters = ndjson(client, by_type["Encounter"]["url"])
    assert encounters and {o["subject"]["reference"] for o in encounters} == {f"Patient/{first}"}
    r = client.get(f"{FHIR}/Patient/$export")
    manifest = wait_for(client, r.headers["content-location"]).json()
    types = {o["type"] for o in manifest["output"]}
    assert "Patient" in types and "Encounter" in types
    # the Patient compartment holds what refers to a patient (Group through member, as in R4's
    # CompartmentDefinition), not what patients refer to
    assert "Group" in types and "Practitioner" not in types and "Organization" not in types


def test_bad_parameters_unknown_group_and_cancel(client: TestClient) -> None:
    r = client.get(f"{FHIR}/$export?_type=NotAType&_since=yesterday&_bogus=1")
    assert r.status_code == 400
    located = {e for i in r.json()["issue"] for e in i.get("expression", [])}
    assert {"_type", "_since", "_bogus"} <= located
    r = client.get(f"{FHIR}/$export?_typeFilter=Encounter%3Fnot-a-param%3D1")
    assert r.status_code == 400
    r = client.get(f"{FHIR}/Group/nope/$export")
    done = wait_for(client, r.headers["content-location"])
    assert done.status_code >= 400 and done.json()["resourceType"] == "OperationOutcome"
    load_sample(client, ())
    r = client.get(f"{FHIR}/$export")
    status = r.headers["content-location"].replace("http://testserver", "")
    wait_for(client, status)
    assert client.delete(status).status_code == 202
    assert client.get(status).status_code == 404
    assert client.get(f"{FHIR}/$export-poll/not-a-job").status_code == 404


def test_cli_export_writes_ndjson(
    tmp_path: Path, settings: Any, client: TestClient, monkeypatch: Any
) -> None:
    from typer.testing import CliRunner

    from healthbrain.cli.main import app

    counts = load_sample(client, ())
    monkeypatch.setenv("HEALTHBRAIN_DATABASE_URL", settings.database_url)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["export", "--out", str(out), "--type", "Practitioner"])
    assert result.exit_code == 0, result.output
    lines = (out / "Practitioner.ndjson").read_bytes().splitlines()
    assert len(lines) == counts["Practitioner"]
