"""The FHIR REST API over HTTP: status codes, headers and OperationOutcomes a client relies on."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.testclient import TestClient

FHIR = "/fhir/R4"
PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "name": [{"family": "陈", "given": ["静"]}],
    "gender": "female",
    "birthDate": "1970-01-01",
}


def outcome_issues(resp: Any) -> list[dict[str, Any]]:
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    assert resp.headers["content-type"].startswith("application/fhir+json")
    return list(body["issue"])


def test_create_read_update_with_etags(client: TestClient) -> None:
    r = client.post(f"{FHIR}/Patient", json=PATIENT)
    assert r.status_code == 201
    assert r.headers["etag"] == 'W/"1"'
    location = r.headers["location"]
    assert location.startswith("http://testserver/fhir/R4/Patient/") and location.endswith("/_history/1")
    pid = r.json()["id"]
    r = client.get(f"{FHIR}/Patient/{pid}")
    assert r.status_code == 200 and r.json()["name"][0]["family"] == "陈"
    assert r.headers["last-modified"].endswith("GMT")
    assert client.get(f"{FHIR}/Patient/{pid}", headers={"If-None-Match": 'W/"1"'}).status_code == 304
    body = {**r.json(), "gender": "other"}
    r = client.put(f"{FHIR}/Patient/{pid}", json=body, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200 and r.headers["etag"] == 'W/"2"'
    r = client.put(f"{FHIR}/Patient/{pid}", json=body | {"gender": "male"}, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 412
    assert outcome_issues(r)[0]["code"] == "conflict"
    r = client.get(f"{FHIR}/Patient/{pid}/_history/1")
    assert r.json()["gender"] == "female"
    r = client.get(f"{FHIR}/Patient/{pid}/_history")
    assert r.json()["type"] == "history" and r.json()["total"] == 2


def test_prefer_return_minimal(client: TestClient) -> None:
    r = client.post(f"{FHIR}/Patient", json=PATIENT, headers={"Prefer": "return=minimal"})
    assert r.status_code == 201 and r.content == b"" and "location" in r.headers


def test_patch_and_delete(client: TestClient) -> None:
    pid = client.post(f"{FHIR}/Patient", json=PATIENT).json()["id"]
    r = client.patch(
        f"{FHIR}/Patient/{pid}",
        content=b'[{"op":"replace","path":"/gender","value":"male"}]',
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200 and r.json()["gender"] == "male"
    r = client.patch(f"{FHIR}/Patient/{pid}", json=[], headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert client.delete(f"{FHIR}/Patient/{pid}").status_code == 200
    r = client.get(f"{FHIR}/Patient/{pid}")
    assert r.status_code == 410 and outcome_issues(r)[0]["code"] == "deleted"


def test_malformed_json_is_400_and_nothing_is_written(client: TestClient) -> None:
    r = client.post(
        f"{FHIR}/Patient",
        content=b'{"resourceType": "Patient", "name": [}',
        headers={"Content-Type": "application/fhir+json"},
    )
    assert r.status_code == 400
    assert "line 1" in outcome_issues(r)[0]["diagnostics"]
    assert client.get(f"{FHIR}/Patient", params={"_summary": "count"}).json()["total"] == 0


def test_invalid_resource_lists_every_problem(client: TestClient) -> None:
    r = client.post(f"{FHIR}/Patient", json=PATIENT | {"birthDate": "1970-02-31", "gender": 3, "foo": 1})
    assert r.status_code == 422
    located = " ".join(str(i.get("expression")) for i in outcome_issues(r))
    assert "birthDate" in located and "gender" in located and "foo" in located


def test_wrong_type_unknown_type_and_oversized_body(client: TestClient) -> None:
    assert client.post(f"{FHIR}/Observation", json=PATIENT).status_code == 400
    r = client.get(f"{FHIR}/Nonsense/1")
    assert r.status_code == 404 and outcome_issues(r)
    big = PATIENT | {"text": {"status": "generated", "div": "<div>" + "x" * 300_000 + "</div>"}}
    r = client.post(
        f"{FHIR}/Patient", content=orjson.dumps(big), headers={"Content-Type": "application/fhir+json"}
    )
    assert r.status_code == 413 and outcome_issues(r)[0]["code"] == "too-costly"


def test_search_errors_are_400_unless_lenient(client: TestClient) -> None:
    r = client.get(f"{FHIR}/Patient", params={"nonsense": "1"})
    assert r.status_code == 400 and outcome_issues(r)[0]["expression"] == ["nonsense"]
    r = client.get(f"{FHIR}/Patient", params={"nonsense": "1"}, headers={"Prefer": "handling=lenient"})
    assert r.status_code == 200
    assert r.json()["entry"][-1]["search"]["mode"] == "outcome"


def test_search_bundle_links_page_through_everything(client: TestClient) -> None:
    for i in range(5):
        client.put(f"{FHIR}/Patient/p{i}", json=PATIENT | {"id": f"p{i}"})
    seen: list[str] = []
    url: str | None = f"{FHIR}/Patient?_count=2&_sort=_id"
    while url:
        body = client.get(url).json()
        assert body["total"] == 5
        seen += [e["resource"]["id"] for e in body.get("entry", [])]
        nxt = [link["url"] for link in body["link"] if link["relation"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
    assert seen == ["p0", "p1", "p2", "p3", "p4"]


def test_transaction_over_http(client: TestClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": "urn:uuid:a", "resource": PATIENT, "request": {"method": "POST", "url": "Patient"}},
            {
                "fullUrl": "urn:uuid:b",
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "subject": {"reference": "urn:uuid:a"},
                },
                "request": {"method": "POST", "url": "Encounter"},
            },
        ],
    }
    r = client.post(FHIR, json=bundle)
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "transaction-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created", "201 Created"]
    pid = body["entry"][0]["response"]["location"].split("/")[1]
    everything = client.get(f"{FHIR}/Patient/{pid}/$everything").json()
    assert sorted(e["resource"]["resourceType"] for e in everything["entry"]) == ["Encounter", "Patient"]


def test_authentication_is_required(client: TestClient) -> None:
    r = client.get(f"{FHIR}/Patient", headers={"Authorization": ""})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert outcome_issues(r)[0]["code"] == "login"
    assert client.get(f"{FHIR}/Patient", headers={"Authorization": "Bearer wrong"}).status_code == 401
    # the CapabilityStatement is public
    assert client.get(f"{FHIR}/metadata", headers={"Authorization": ""}).status_code == 200


def test_capability_statement_tells_the_truth(client: TestClient) -> None:
    cs = client.get(f"{FHIR}/metadata").json()
    assert cs["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in cs["rest"][0]["resource"]}
    patient_params = {p["name"] for p in resources["Patient"]["searchParam"]}
    assert {"name", "birthdate", "identifier", "_id", "_lastUpdated"} <= patient_params
    # every advertised search parameter is accepted by the server
    for name in sorted(patient_params):
        value = "2020" if name in ("birthdate", "death-date", "_lastUpdated") else "x"
        r = client.get(f"{FHIR}/Patient", params={name: value, "_summary": "count"})
        assert r.status_code == 200, name
    # every advertised type-level operation has a route (a 404 would be "no such endpoint")
    instance_or_get = {"export", "everything"}  # tested in test_bulk_export / test_everything
    for rt, res in resources.items():
        for op in res.get("operation", []):
            if op["name"] in instance_or_get:
                continue
            r = client.post(f"{FHIR}/{rt}/${op['name']}", json={"resourceType": "Parameters"})
            assert r.status_code != 405, (rt, op["name"])
            assert r.status_code != 404 or r.json()["issue"][0]["diagnostics"] != "no such endpoint", (rt, op)
    security = cs["rest"][0]["security"]
    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert uris["token"].endswith("/oauth/token")


def test_validate_operation(client: TestClient) -> None:
    r = client.post(f"{FHIR}/Patient/$validate", json=PATIENT)
    assert r.status_code == 200 and r.json()["issue"][0]["severity"] == "information"
    r = client.post(f"{FHIR}/Patient/$validate", json=PATIENT | {"birthDate": "nope"})
    assert any(i["severity"] == "error" for i in r.json()["issue"])


def test_landing_page_in_chinese_by_default_and_english_on_request(client: TestClient) -> None:
    client.post(f"{FHIR}/Patient", json=PATIENT)
    zh = client.get("/")
    assert (
        zh.status_code == 200
        and "健康大脑" in zh.text
        and "/fhir/R4/metadata" in zh.text
        and "/docs" in zh.text
    )
    en = client.get("/?lang=en")
    assert "HealthBrain" in en.text and "Resources in this region" in en.text
    assert client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).text.count("API documentation") == 1


def test_unknown_route_is_an_operation_outcome(client: TestClient) -> None:
    r = client.get("/fhir/R4/Patient/a/b/c/d")
    assert r.status_code == 404 and outcome_issues(r)


def test_errors_are_explained_in_chinese_by_default_and_in_english_on_request(client: TestClient) -> None:
    r = client.get(f"{FHIR}/Patient/not-there")
    details = outcome_issues(r)[0]["details"]
    assert details["coding"][0]["code"] == "fhir.not_found" and details["text"] == "资源不存在或无权查看"
    r = client.get(f"{FHIR}/Patient/not-there", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert outcome_issues(r)[0]["details"]["text"].startswith("The resource does not exist")
    r = client.post(f"{FHIR}/Patient", content=b"{broken", headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 400 and outcome_issues(r)[0]["details"]["text"] == "JSON 格式错误"
