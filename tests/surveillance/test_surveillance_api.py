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


def _region(client: TestClient, patients: int = 6) -> None:
    _put(
        client,
        {
            "resourceType": "Organization",
            "id": "cty",
            "identifier": [{"system": AREA_SYSTEM, "value": "330802"}],
        },
    )
    _put(client, {"resourceType": "Organization", "id": "thc", "partOf": {"reference": "Organization/cty"}})
    for i in range(patients):
        _put(client, {"resourceType": "Patient", "id": f"p{i}", "gender": "female", "birthDate": f"{2010 + i}-03-{i + 1:02d}",
                      "name": [{"family": "王", "given": ["芳" * (1 + i % 2)]}],
                      "address": [{"line": ["白云街道" if i % 2 else "航埠镇", "某村"], "district": "柯城区"}],
                      "managingOrganization": {"reference": "Organization/thc"}})  # fmt: skip


def _report(client: TestClient, cid: str, patient: str, code: str, onset: date) -> None:
    _put(client, {"resourceType": "Condition", "id": cid, "subject": {"reference": f"Patient/{patient}"},
                  "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}]},
                  "onsetDateTime": onset.isoformat(), "recordedDate": onset.isoformat()})  # fmt: skip


def test_counts_by_syndrome_township_and_week_over_http(client: TestClient) -> None:
    _region(client)
    for i in range(6):
        _report(client, f"c{i}", f"p{i}", "B08.4", START + timedelta(days=7 * (i % 3)))
    client.app.state.dispatcher.drain()  # type: ignore[attr-defined]
    span = {"from": START.isoformat(), "to": (START + timedelta(days=30)).isoformat()}
    weekly = client.get(
        "/api/v1/surveillance/counts", params={**span, "syndrome": "rash", "freq": "week"}
    ).json()
    assert weekly["syndrome"] == "rash" and sum(weekly["weeks"].values()) == 6 and len(weekly["weeks"]) == 3
    town = client.get("/api/v1/surveillance/counts", params={**span, "disease": "hfmd", "level": "township",
                                                             "area": "330802/白云街道"}).json()  # fmt: skip
    assert sum(town["days"].values()) == 3
    areas = client.get(
        "/api/v1/surveillance/areas", params={**span, "disease": "hfmd", "level": "township"}
    ).json()
    assert areas["areas"] == {"330802/白云街道": 3, "330802/航埠镇": 3}
    names = {s["key"]: s["name"] for s in client.get("/api/v1/surveillance/syndromes").json()}
    assert names["rash"] == "发疹症候群"


@pytest.mark.parametrize(
    ("params", "code"),
    [({"disease": "hfmd", "syndrome": "rash"}, "surveillance.key_required"), ({}, "surveillance.key_required"),
     ({"disease": "ebola"}, "surveillance.unknown_key"), ({"syndrome": "cough"}, "surveillance.unknown_key")],
)  # fmt: skip
def test_a_count_must_name_one_known_disease_or_syndrome(
    client: TestClient, params: dict[str, str], code: str
) -> None:
    r = client.get("/api/v1/surveillance/counts", params={"from": "2025-01-01", "to": "2025-02-01", **params})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome" and code in r.text
    bad_level = client.get("/api/v1/surveillance/counts", params={"from": "2025-01-01", "to": "2025-02-01",
                                                                  "disease": "hfmd", "level": "village"})  # fmt: skip
    assert bad_level.status_code == 400


def test_weekly_forecasts_over_http(client: TestClient) -> None:
    _region(client, patients=12)
    for i in range(12):  # one to three cases a week for six weeks
        _report(client, f"f{i}", f"p{i}", "J11.1", START + timedelta(days=3 * i + 1))
    client.app.state.dispatcher.drain()  # type: ignore[attr-defined]
    as_of = (START + timedelta(days=40)).isoformat()
    r = client.get(
        "/api/v1/surveillance/forecasts", params={"disease": "influenza", "area": "330802", "asOf": as_of}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "baseline" and body["modelLabel"] == "平稳基线模型"
    assert [f["horizon"] for f in body["forecasts"]] == [1, 2, 3, 4]
    first = body["forecasts"][0]
    assert (
        len(first["quantiles"]) == 23 and first["interval95"][0] <= first["interval50"][0] <= first["median"]
    )
    assert first["median"] <= first["interval50"][1] <= first["interval95"][1]
    assert (
        sum(h["cases"] for h in body["history"]) == 12
        and body["notes"][0]["code"] == "forecast.short_history"
    )
    early = client.get(
        "/api/v1/surveillance/forecasts", params={"disease": "influenza", "asOf": START.isoformat()}
    )
    assert early.status_code == 422 and "surveillance.too_little_history" in early.text
    en = client.get("/api/v1/surveillance/forecasts", params={"syndrome": "fever", "asOf": as_of},
                    headers={"Accept-Language": "en"})  # fmt: skip
    assert en.status_code == 200 and en.json()["modelLabel"] == "Flat baseline"


def test_the_patient_index_makes_two_institutions_records_one_case(client: TestClient) -> None:
    from healthbrain.simulation import ID_CARD_SYSTEM, make_id_card

    _put(
        client,
        {
            "resourceType": "Organization",
            "id": "cty",
            "identifier": [{"system": AREA_SYSTEM, "value": "330802"}],
        },
    )
    for org in ("thc", "hosp"):
        _put(client, {"resourceType": "Organization", "id": org, "partOf": {"reference": "Organization/cty"}})
    number = make_id_card("330802", date(2019, 4, 2), 124)
    for pid, org in (("a1", "thc"), ("b1", "hosp")):
        _put(client, {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "2019-04-02",
                      "identifier": [{"system": ID_CARD_SYSTEM, "value": number}],
                      "name": [{"family": "陈", "given": ["思雨"], "text": "陈思雨"}],
                      "telecom": [{"system": "phone", "value": "13857012345"}],
                      "managingOrganization": {"reference": f"Organization/{org}"}})  # fmt: skip
    _report(client, "ca", "a1", "B08.4", START)
    _report(client, "cb", "b1", "B08.4", START + timedelta(days=2))
    client.app.state.dispatcher.drain()  # type: ignore[attr-defined]
    # a report that overtook its Patient's linking is given to the resident by the nightly run at the latest
    assert client.post("/api/v1/surveillance/detect", json={"day": START.isoformat()}).status_code == 200
    counts = client.get("/api/v1/surveillance/counts", params={"disease": "hfmd", "from": START.isoformat(),
                                                               "to": (START + timedelta(days=5)).isoformat()}).json()  # fmt: skip
    assert counts["days"] == {START.isoformat(): 1}


def test_detection_over_http_includes_the_scan(client: TestClient) -> None:
    r = client.post("/api/v1/surveillance/detect", json={"day": START.isoformat()})
    assert r.status_code == 200 and r.json()["clusters"] == 0 and r.json()["signals"] == []
    r = client.post("/api/v1/surveillance/detect", json={"day": START.isoformat(), "scan": False})
    assert "clusters" not in r.json()
