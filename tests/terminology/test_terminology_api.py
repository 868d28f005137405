"""The terminology operations and the review queue over HTTP, as an integrator or operator calls them."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from healthbrain.api.app import create_app
from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.core.settings import ApiSettings, Settings
from healthbrain.fhir.repository import FhirRepository
from healthbrain.terminology import ICD10, LOINC, load_content, local_system

FHIR = "/fhir/R4"
VS = "https://healthbrain.dev/fhir/ValueSet"


@pytest.fixture
def client(db_url: str, tmp_path: Path, shipped: list[dict[str, Any]]) -> Iterator[TestClient]:
    engine = create_db_engine(db_url)
    load_content(FhirRepository(engine, validate=False), system_context(), copy.deepcopy(shipped))
    engine.dispose()
    settings = Settings(database_url=db_url, export_dir=str(tmp_path / "export"),
                        api=ApiSettings(base_url="http://testserver/fhir/R4"))  # fmt: skip
    with TestClient(create_app(settings)) as c:
        c.headers.update({"Authorization": "Bearer dev-token"})
        yield c


def _value(params: dict[str, Any], name: str) -> Any:
    part = next(p for p in params["parameter"] if p["name"] == name)
    return next(v for k, v in part.items() if k.startswith("value"))


def test_operations_answer_get_and_post(client: TestClient) -> None:
    r = client.get(
        f"{FHIR}/CodeSystem/$lookup", params={"system": ICD10, "code": "J11.1", "displayLanguage": "zh-CN"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    assert _value(r.json(), "display") == "流行性感冒"
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": f"{VS}/icd-10"}, {"name": "filter", "valueString": "肺炎"},
        {"name": "count", "valueInteger": 10}, {"name": "displayLanguage", "valueCode": "zh-CN"}]}  # fmt: skip
    r = client.post(f"{FHIR}/ValueSet/$expand", json=body)
    assert r.status_code == 200, r.text
    expansion = r.json()["expansion"]
    assert expansion["contains"][0] == {
        "system": ICD10,
        "version": "2019",
        "code": "J18.9",
        "display": "肺炎",
    }
    r = client.get(f"{FHIR}/ValueSet/vital-signs/$expand")
    assert {c["code"] for c in r.json()["expansion"]["contains"]} >= {"8867-4", "8480-6"}
    r = client.get(
        f"{FHIR}/ValueSet/notifiable-diagnoses/$validate-code", params={"system": ICD10, "code": "B08.4"}
    )
    assert _value(r.json(), "result") is True
    r = client.get(
        f"{FHIR}/CodeSystem/icd-10/$validate-code", params={"code": "B08.4", "display": "手足口病"}
    )
    assert _value(r.json(), "result") is True
    r = client.get(f"{FHIR}/ConceptMap/$translate",
                   params={"system": local_system("kecheng-zyy", "lab"), "code": "0102", "targetsystem": LOINC})  # fmt: skip
    assert _value(r.json(), "result") is True
    r = client.get(
        f"{FHIR}/CodeSystem/$subsumes", params={"system": ICD10, "codeA": "J09-J18", "codeB": "J11.1"}
    )
    assert _value(r.json(), "outcome") == "subsumes"


def test_bad_requests_get_operation_outcomes(client: TestClient) -> None:
    r = client.get(f"{FHIR}/CodeSystem/$lookup", params={"system": ICD10, "code": "Q99.99"})
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
    r = client.get(f"{FHIR}/ValueSet/$expand", params={"url": f"{VS}/icd-10", "cnt": "5"})
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["cnt"]
    r = client.get(f"{FHIR}/ValueSet/$expand", params={"url": f"{VS}/icd-10"})
    assert r.status_code == 422 and r.json()["issue"][0]["code"] == "too-costly"
    r = client.post(f"{FHIR}/ConceptMap/$translate", content=b"{not json")
    assert r.status_code == 400
    r = client.post(f"{FHIR}/ConceptMap/$translate", json={"resourceType": "Patient"})
    assert r.status_code == 400
    r = client.get(f"{FHIR}/ValueSet/no-such-set/$expand")
    assert r.status_code == 404
    r = client.get(
        f"{FHIR}/CodeSystem/$lookup", params={"system": ICD10, "code": "I10"}, headers={"Authorization": ""}
    )
    assert r.status_code == 401


def test_a_stored_value_set_is_usable_at_once_and_plain_reads_still_work(client: TestClient) -> None:
    vs = {"resourceType": "ValueSet", "url": f"{VS}/respiratory", "status": "active",
          "compose": {"include": [{"system": ICD10, "filter": [{"property": "concept", "op": "is-a", "value": "X"}]}]}}  # fmt: skip
    r = client.post(f"{FHIR}/ValueSet", json=vs)
    assert r.status_code == 201
    client.app.state.dispatcher.drain()  # type: ignore[attr-defined]
    r = client.get(
        f"{FHIR}/ValueSet/$expand", params={"url": f"{VS}/respiratory", "filter": "influenza", "count": "50"}
    )
    assert r.status_code == 200 and all(c["code"].startswith("J") for c in r.json()["expansion"]["contains"])
    assert client.get(f"{FHIR}/CodeSystem/icd-10").json()["count"] > 12000


def test_operators_resolve_the_review_queue(client: TestClient) -> None:
    lab = local_system("kecheng-rmyy", "lab")
    obs = {"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/p1"},
           "code": {"coding": [{"system": lab, "code": "UA", "display": "尿酸"}]}}  # fmt: skip
    rid = client.post(f"{FHIR}/Observation", json=obs).json()["id"]
    client.app.state.dispatcher.drain()  # type: ignore[attr-defined]
    r = client.get("/api/v1/terminology/reviews", headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 200 and r.json()["total"] == 1
    item = r.json()["items"][0]
    assert item["code"] == "UA" and item["statusText"] == "待映射"
    detail = client.get(f"/api/v1/terminology/reviews/{item['id']}").json()
    assert detail["resources"] == [f"Observation/{rid}"]
    r = client.post(
        f"/api/v1/terminology/reviews/{item['id']}/resolve", json={"system": LOINC, "code": "14933-6"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["rewritten"] == 1 and r.json()["decision"]["targetCode"] == "14933-6"
    stored = client.get(f"{FHIR}/Observation/{rid}").json()
    assert {"system": LOINC, "code": "14933-6"} in stored["code"]["coding"] and stored["meta"][
        "versionId"
    ] == "2"
    r = client.get(
        f"{FHIR}/ConceptMap/local-kecheng-rmyy-lab/$translate", params={"system": lab, "code": "UA"}
    )
    assert _value(r.json(), "result") is True
    again = client.post(
        f"/api/v1/terminology/reviews/{item['id']}/resolve", json={"system": LOINC, "code": "1"}
    )
    assert again.status_code == 409
    assert client.get("/api/v1/terminology/reviews", params={"status": "maybe"}).status_code == 400
    assert client.post("/api/v1/terminology/reviews/424242/dismiss").status_code == 404
