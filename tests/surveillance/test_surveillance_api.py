"""The surveillance HTTP API: strict detector options as 400 OperationOutcomes, signals end to end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from healthbrain.api.app import create_app
from healthbrain.core.settings import ApiSettings, Settings
from healthbrain.surveillance.fhir_out import AREA_SYSTEM

AUTH = {"Authorization": "Bearer dev-token"}
START = date(2025, 3, 1)


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=db_url, export_dir=str(tmp_path / "export"),
                        api=ApiSettings(base_url="http://testserver/fhir/R4"))  # fmt: skip
    with TestClient(create_app(settings)) as c:
        c.headers.update(AUTH)
        yield c


def test_a_misspelled_detector_option_is_a_400_with_an_operation_outcome(client: TestClient) -> None:
    r = client.post(
        "/api/v1/surveillance/detectors/noufaily", json={"counts": [1, 2, 3], "options": {"alpah": 0.01}}
    )
    assert r.status_code == 400
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert "alpha" in str(body)


def test_a_detector_runs_on_a_posted_series(client: TestClient) -> None:
    counts = [2, 3, 2, 4, 3, 2, 3, 2, 3, 15]
    r = client.post("/api/v1/surveillance/detectors/ears", json={"counts": counts, "freq": 365, "at": [9]})
    assert r.status_code == 200
    body = r.json()
    assert body["alarm"] == [True] and body["upperbound"][0] < 15


def test_diseases_are_listed_in_chinese_by_default(client: TestClient) -> None:
    r = client.get("/api/v1/surveillance/diseases")
    cholera = next(d for d in r.json() if d["key"] == "cholera")
    assert (
        cholera["name"] == "霍乱" and cholera["classLabel"] == "甲类" and cholera["detector"] == "threshold"
    )
    en = client.get("/api/v1/surveillance/diseases", headers={"Accept-Language": "en"}).json()
    assert next(d for d in en if d["key"] == "cholera")["classLabel"] == "Class A"


def _put(client: TestClient, resource: dict[str, object]) -> None:
    r = client.put(f"/fhir/R4/{resource['resourceType']}/{resource['id']}", json=resource)
    assert r.status_code in (200, 201), r.text


def test_reports_to_signal_to_response_over_http(client: TestClient) -> None:
    _put(
        client,
        {
            "resourceType": "Organization",
            "id": "cty",
            "identifier": [{"system": AREA_SYSTEM, "value": "330106"}],
        },
    )
    _put(client, {"resourceType": "Organization", "id": "thc", "partOf": {"reference": "Organization/cty"}})
    given = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊"]
    for i in range(8):
        _put(client, {"resourceType": "Patient", "id": f"p{i}", "name": [{"family": "王李张刘陈杨赵黄"[i], "given": [given[i]]}],
                      "gender": "male" if i % 2 else "female", "birthDate": f"{1950 + 7 * i}-0{1 + i}-1{i}",
                      "managingOrganization": {"reference": "Organization/thc"}})  # fmt: skip
    day = START + timedelta(days=30)
    onsets = [START] + [day] * 7
    for i, onset in enumerate(onsets):
        _put(client, {"resourceType": "Condition", "id": f"c{i}", "subject": {"reference": f"Patient/p{i}"},
                      "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "B08.4"}]},
                      "onsetDateTime": onset.isoformat(), "recordedDate": onset.isoformat()})  # fmt: skip
    client.app.state.dispatcher.drain()  # type: ignore[attr-defined]
    counts = client.get("/api/v1/surveillance/counts", params={"disease": "hfmd", "from": START.isoformat(),
                                                               "to": day.isoformat()}).json()  # fmt: skip
    assert counts["days"] == {START.isoformat(): 1, day.isoformat(): 7}
    assert (
        client.put("/api/v1/surveillance/officers/330106", json={"practitioner": "cdc-1"}).status_code == 200
    )
    run = client.post("/api/v1/surveillance/detect", json={"day": day.isoformat()}).json()
    assert run["alarms"] == 1
    sid = run["signals"][0]
    signal = client.get(f"/api/v1/surveillance/signals/{sid}").json()
    assert signal["status"] == "assigned" and signal["statusLabel"] == "已推送县级疾控人员"
    issue = client.get(f"/fhir/R4/{signal['issue_ref']}").json()
    assert issue["resourceType"] == "DetectedIssue"
    assert client.post(f"/api/v1/surveillance/signals/{sid}/respond").status_code == 409
    assert client.post(f"/api/v1/surveillance/signals/{sid}/verify").status_code == 200
    r = client.post(f"/api/v1/surveillance/signals/{sid}/conclude", json={"outcome": "maybe"})
    assert r.status_code in {400, 422}
    assert (
        client.post(f"/api/v1/surveillance/signals/{sid}/conclude", json={"outcome": "outbreak"}).status_code
        == 200
    )
    done = client.post(f"/api/v1/surveillance/signals/{sid}/respond").json()
    assert done["status"] == "responded"
    times = client.get("/api/v1/surveillance/response-times").json()
    assert times["responded"] == 1
    assert client.get("/api/v1/surveillance/signals/nope").status_code == 404
