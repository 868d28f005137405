"""The patient index over HTTP: Patient/$match, a resident's records, the review queue."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from healthbrain.mpi import tables as mt
from healthbrain.mpi.match_op import MATCH_GRADE
from healthbrain.simulation import make_id_card

FHIR = "/fhir/R4"
BORN = date(1975, 4, 12)
ID = make_id_card("330802", BORN, 33)


def _patient(name: str, org: str, id_number: str | None = ID) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Patient", "name": [{"text": name}], "gender": "male", "birthDate": BORN.isoformat(),
        "telecom": [{"system": "phone", "value": "13512345678"}],
        "managingOrganization": {"reference": f"Organization/{org}"},
    }  # fmt: skip
    if id_number:
        body["identifier"] = [{"system": "urn:oid:2.16.156.10011.1.1", "value": id_number}]
    return body


def _indexed(client: TestClient, ref: str) -> dict[str, Any]:
    for _ in range(100):
        r = client.get(f"/api/v1/mpi/patients/{ref.split('/')[1]}")
        if r.status_code == 200:
            return dict(r.json())
        client.app.state.dispatcher.drain()  # type: ignore[attr-defined]
        time.sleep(0.02)
    raise AssertionError("the Patient was never indexed")


def test_match_grades_candidates_and_a_resident_gathers_every_institutions_record(client: TestClient) -> None:
    first = client.post(f"{FHIR}/Patient", json=_patient("黄建国", "hospital-a")).json()["id"]
    second = client.post(
        f"{FHIR}/Patient", json=_patient("黃建國", "clinic-b", ID[:5] + "9" + ID[6:])
    ).json()["id"]
    one, two = _indexed(client, f"Patient/{first}"), _indexed(client, f"Patient/{second}")
    assert one["resident"] == two["resident"]
    r = client.post(f"{FHIR}/Patient/$match", json={
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": _patient("黄建国", "clinic-c", None)}, {"name": "count", "valueInteger": 5}],
    })  # fmt: skip
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    bundle = r.json()
    assert bundle["type"] == "searchset" and bundle["total"] == 2
    for entry in bundle["entry"]:
        assert 0 < entry["search"]["score"] <= 1 and entry["search"]["mode"] == "match"
        assert entry["search"]["extension"][0]["url"] == MATCH_GRADE
        assert entry["search"]["extension"][0]["valueCode"] in ("certain", "probable", "possible")
    r = client.get(f"/api/v1/mpi/residents/{one['resident']}/patients")
    assert {e["resource"]["id"] for e in r.json()["entry"]} == {first, second}
    resident = client.get(f"/api/v1/mpi/residents/{one['resident']}").json()
    assert resident["golden"]["idNumber"] == ID and len(resident["links"]) == 2
    # the deployed index sealed what it keeps: none of it is readable in its own tables
    with client.app.state.mpi.engine.connect() as conn:  # type: ignore[attr-defined]
        dump = "\n".join(
            "\x1f".join(str(v) for v in row)
            for table in mt.metadata.sorted_tables
            for row in conn.execute(select(table))
        )
    assert dump and not [
        v for v in ("黄建国", "黃建國", ID, ID[:5] + "9" + ID[6:], "13512345678") if v in dump
    ]


def test_bad_match_input_is_a_400_with_every_problem_located(client: TestClient) -> None:
    r = client.post(f"{FHIR}/Patient/$match", json={
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": {"resourceType": "Observation"}},
                      {"name": "count", "valueInteger": 0}],
    })  # fmt: skip
    assert r.status_code == 400
    issues = r.json()["issue"]
    assert {i["expression"][0] for i in issues} == {
        "Parameters.parameter[0].resource",
        "Parameters.parameter[1]",
    }
    assert client.post(f"{FHIR}/Patient/$match", json={"resourceType": "Basic"}).status_code == 400


def test_a_reviewer_sees_both_records_and_each_fields_weight(client: TestClient) -> None:
    born = date(2001, 5, 17)
    refs = []
    for name, serial in (("李子涵", 101), ("李子轩", 103)):
        body = _patient(name, "clinic-a", make_id_card("330802", born, serial)) | {
            "birthDate": born.isoformat()
        }
        refs.append(client.post(f"{FHIR}/Patient", json=body).json()["id"])
    for ref in refs:
        _indexed(client, f"Patient/{ref}")
    queue = client.get("/api/v1/mpi/reviews", params={"lang": "zh_CN"}).json()["items"]
    assert len(queue) == 1
    item = queue[0]
    assert {item["left"]["patient"], item["right"]["patient"]} == {f"Patient/{r}" for r in refs}
    assert item["left"]["record"]["name"] in ("李子涵", "李子轩")
    assert any(f["field"] == "id_number" and f["weight"] < 0 for f in item["fields"])
    assert "possible_twin" in {x["code"] for x in item["reasons"]}
    assert any("双胞胎" in x["text"] for x in item["reasons"])  # shown in Chinese
    r = client.post(f"/api/v1/mpi/reviews/{item['id']}", json={"decision": "no_match"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    again = client.post(f"/api/v1/mpi/reviews/{item['id']}", json={"decision": "no_match"})
    assert again.status_code == 409
    assert client.post(f"/api/v1/mpi/reviews/{item['id']}", json={"decision": "maybe"}).status_code == 400
