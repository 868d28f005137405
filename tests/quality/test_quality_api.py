"""The /api/v1/quality routes through real HTTP semantics on each backend: rules, checks, scores, the
quarantine and results recognition; bad input is a 4xx OperationOutcome."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from qualitydata import write_region_files
from recognitiondata import order, organisations, patient, report

from healthbrain.api.app import create_app
from healthbrain.core.context import Principal, RequestContext, system_context
from healthbrain.core.errors import Forbidden, NotFound
from healthbrain.core.settings import ApiSettings, Settings
from healthbrain.ingest import ingest_path
from healthbrain.ingest.quarantine import open_quarantine
from healthbrain.quality import QuarantineDesk
from healthbrain.quality.elements import LOCAL_ZONE
from healthbrain.simulation import Region, RegionConfig, simulate_region


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(database_url=db_url, export_dir=str(tmp_path / "export"),
                        api=ApiSettings(base_url="http://testserver/fhir/R4"))  # fmt: skip
    with TestClient(create_app(settings)) as c:
        c.headers.update({"Authorization": "Bearer dev-token"})
        yield c


def _put(client: TestClient, *resources: dict[str, Any]) -> None:
    for r in resources:
        assert client.put(f"/fhir/R4/{r['resourceType']}/{r['id']}", json=r).status_code in (200, 201)


def _held_region(client: TestClient, tmp_path: Path) -> None:
    region = simulate_region(RegionConfig(patients=30, seed=51, noise_rate=0.4, duplicate_rate=0.1))
    write_region_files(tmp_path / "feed", region.shared, {k: list(v) for k, v in region.institutions.items()})
    repo = client.app.state.hb.repo  # type: ignore[attr-defined]
    assert ingest_path(
        repo, system_context(), tmp_path / "feed", quarantine=open_quarantine(repo)
    ).quarantined
    client.app.state.dispatcher.drain()  # type: ignore[attr-defined]


def test_rules_are_titled_in_chinese_by_default(client: TestClient) -> None:
    zh = {r["rule"]: r for r in client.get("/api/v1/quality/rules").json()}
    assert zh["validity.id_card_check_digit"]["title"] == "身份证号码校验位错误"
    assert zh["validity.id_card_check_digit"]["severity"] == "hard"
    en = client.get("/api/v1/quality/rules", headers={"Accept-Language": "en"}).json()
    assert any(r["title"] == "The ID card number's check digit is wrong" for r in en)


def test_an_integrator_checks_a_record_before_sending_it(client: TestClient) -> None:
    obs = {"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/x"},
           "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
           "effectiveDateTime": "2025-05-01T09:00:00+08:00",
           "valueQuantity": {"value": 366, "unit": "℃"}}  # fmt: skip
    [entry] = client.post("/api/v1/quality/check", json=obs).json()["entries"]
    assert entry["quarantine"] is True and entry["findings"][0]["title"] == "数值超出生理可能范围"
    r = client.post("/api/v1/quality/check", json={"hello": "world"})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"


def test_scores_and_the_quarantine_over_http(client: TestClient, tmp_path: Path) -> None:
    _held_region(client, tmp_path)
    today = datetime.now(LOCAL_ZONE).date()
    scores = client.get("/api/v1/quality/scores", params={"from": str(today - timedelta(days=1)),
                                                          "to": str(today + timedelta(days=1))}).json()  # fmt: skip
    assert scores["scores"] and all(0 <= s["score"] <= 100 for s in scores["scores"])
    bad = client.get("/api/v1/quality/scores", params={"from": "2026-01-02", "to": "2025-01-01"})
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
    listing = client.get("/api/v1/quality/quarantine").json()
    assert listing["total"] > 0 and "resource" not in listing["entries"][0]
    first = next(e for e in listing["entries"] if e["reason"] == "failed")
    detail = client.get(f"/api/v1/quality/quarantine/{first['id']}").json()
    assert detail["resource"]["resourceType"] == first["resourceType"]
    wrong = client.post(f"/api/v1/quality/quarantine/{first['id']}/release",
                        json={"resource": {"resourceType": "Basic"}})  # fmt: skip
    assert wrong.status_code == 400 and wrong.json()["resourceType"] == "OperationOutcome"
    assert client.get("/api/v1/quality/quarantine/nope").status_code == 404
    done = client.post(f"/api/v1/quality/quarantine/{first['id']}/discard", json={"note": "resent"})
    assert done.json() == {"id": first["id"], "status": "discarded"}
    again = client.post(f"/api/v1/quality/quarantine/{first['id']}/discard", json={})
    assert again.status_code == 409


def test_records_received_today_are_the_records_written_today(client: TestClient, tmp_path: Path) -> None:
    _held_region(client, tmp_path)
    today = datetime.now(LOCAL_ZONE).date()
    received = client.get("/api/v1/quality/received", params={"day": str(today)}).json()["received"]
    midnight = datetime.combine(today, time(), LOCAL_ZONE).isoformat(timespec="seconds")
    for rt in ("Patient", "Encounter", "Observation", "Condition", "MedicationRequest", "DiagnosticReport"):
        counted = client.get(f"/fhir/R4/{rt}", params={"_lastUpdated": f"ge{midnight}", "_summary": "count"})
        assert received.get(rt, 0) == counted.json()["total"] > 0, rt
    before = client.get("/api/v1/quality/received", params={"day": str(today - timedelta(days=1))})
    assert before.json()["received"] == {}
    bad = client.get("/api/v1/quality/received", params={"day": "yesterday"})
    assert 400 <= bad.status_code < 500 and bad.json()["resourceType"] == "OperationOutcome"

    # a clinician gets their own institution's figures, whichever institution they ask for
    by_org = client.get("/api/v1/quality/scores", params={"from": str(today), "to": str(today)}).json()
    org = max(by_org["scores"], key=lambda r: r["records"])["institution"]
    tokens = client.app.state.hb.security.tokens  # type: ignore[attr-defined]

    def as_role(role: str) -> dict[str, str]:
        issued = tokens.issue(
            Principal("u1", "user", frozenset({role}), org, mfa=True), ["user/*.*"], refresh=False
        )
        return {"Authorization": f"Bearer {issued.access_token}"}

    own = client.get("/api/v1/quality/received", params={"day": str(today)}, headers=as_role("clinician"))
    other = client.get("/api/v1/quality/received", params={"day": str(today), "institution": "elsewhere"},
                       headers=as_role("clinician"))  # fmt: skip
    assert own.json()["institution"] == org and other.json() == own.json()
    assert 0 < sum(own.json()["received"].values()) < sum(received.values())
    refused = client.get(
        "/api/v1/quality/received", params={"day": str(today)}, headers=as_role("cdc-officer")
    )
    assert refused.status_code == 403


def test_a_clinician_is_offered_the_prior_result_and_a_card(client: TestClient, region: Region) -> None:
    orgs, hospital, clinic = organisations(region)
    _put(client, *orgs, patient("h-1", hospital), patient("c-1", clinic, link="h-1"),
         report("cbc-1", "h-1", hospital, "58410-2", days_ago=2))  # fmt: skip
    found = client.get("/api/v1/quality/recognition", params={"patient": "Patient/c-1", "code": "58410-2",
                                                              "organization": clinic}).json()  # fmt: skip
    [prior] = found["results"]
    assert prior["result"] == "DiagnosticReport/cbc-1" and prior["institution"] == hospital
    assert prior["institutionName"].endswith("人民医院") and prior["windowDays"] == 7
    hook = {"hook": "order-select", "hookInstance": "1", "context": {
        "patientId": "c-1", "draftOrders": {"resourceType": "Bundle", "entry": [
            {"resource": {**order("draft-1", "c-1", clinic, "58410-2"), "status": "draft"}}]}}}  # fmt: skip
    [card] = client.post("/api/v1/quality/recognition/order-select", json=hook).json()["cards"]
    assert card["indicator"] == "info" and "互认" in card["summary"]
    assert card["suggestions"][0]["actions"][0]["resourceId"] == ["ServiceRequest/draft-1"]
    _put(client, order("o-9", "c-1", clinic, "58410-2"))
    client.app.state.dispatcher.drain()  # type: ignore[attr-defined]
    flags = client.get("/api/v1/quality/recognition/flags", params={"patient": "Patient/c-1"}).json()
    assert [f["result_ref"] for f in flags["flags"]] == ["DiagnosticReport/cbc-1"]
    bad = client.get("/api/v1/quality/recognition", params={"patient": "c-1", "code": "x"})
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"


def test_who_may_see_the_quarantine(client: TestClient, tmp_path: Path) -> None:
    _held_region(client, tmp_path)
    desk: QuarantineDesk = client.app.state.quality.desk  # type: ignore[attr-defined]
    rows, _ = desk.entries(system_context())
    row = rows[0]

    def ctx(roles: set[str], org: str | None) -> RequestContext:
        return RequestContext(Principal("u", "user", frozenset(roles), org, mfa=True))

    with pytest.raises(Forbidden):
        desk.entries(ctx({"clinician"}, row.institution))
    mine, _ = desk.entries(ctx({"institution-admin"}, row.institution))
    assert mine and {r.institution for r in mine} == {row.institution}
    with pytest.raises(NotFound):  # another institution's held record does not exist for them
        desk.read(ctx({"institution-admin"}, "some-other-org"), row.id)
    with pytest.raises(Forbidden):  # regional officers see summaries, never the records
        desk.read(ctx({"regional-officer"}, None), row.id)
