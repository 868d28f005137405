"""The CDS HTTP API: alerts, CDS Hooks, the review queue, the knowledge-base admin and webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from cdsdata import lab, medication_request
from fastapi.testclient import TestClient
from seed import DOCTOR, DUTY, PATIENT, hospital


def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def seed(client: TestClient) -> None:
    for resource in hospital():
        assert client.put(
            f"/fhir/R4/{resource['resourceType']}/{resource['id']}", json=resource
        ).status_code in (200, 201)


def test_critical_value_over_http_then_ack_and_complete(client: TestClient) -> None:
    seed(client)
    assert client.post("/fhir/R4/Observation", json=lab("k1", "2823-3", 7.1, "mmol/L")).status_code == 201
    alerts = wait_for(lambda: client.get("/api/v1/cds/alerts", params={"kind": "critical"}).json()["alerts"])
    alert = alerts[0]
    assert (
        alert["recipient"] == DOCTOR
        and alert["patient"] == PATIENT
        and alert["data"]["analyte"] == "potassium"
    )
    assert client.post(f"/api/v1/cds/alerts/{alert['id']}/ack", json={"by": DOCTOR}).status_code == 200
    conflict = client.post(f"/api/v1/cds/alerts/{alert['id']}/ack", json={"by": DOCTOR})
    assert conflict.status_code == 409 and conflict.json()["resourceType"] == "OperationOutcome"
    done = client.post(
        f"/api/v1/cds/alerts/{alert['id']}/complete", json={"by": DOCTOR, "action": "repeat-test"}
    )
    assert done.status_code == 200 and done.json()["status"] == "completed"
    detail = client.get(f"/api/v1/cds/alerts/{alert['id']}").json()
    assert [e["step"] for e in detail["events"]] == ["created", "acknowledged", "completed"]
    flag = client.get(f"/fhir/R4/Flag/cds-{alert['id']}").json()
    assert flag["status"] == "inactive"


def test_bad_requests_are_precise_4xx(client: TestClient) -> None:
    assert client.post("/api/v1/cds/alerts/nope/ack", json={"by": DOCTOR}).status_code == 404
    bad = client.post("/api/v1/cds/alerts/x/ack", json={"by": "not a reference"})
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"
    assert client.get("/api/v1/cds/alerts", params={"status": "bogus"}).status_code == 400
    assert client.put("/api/v1/cds/knowledge/critical_values", content=b"{oops").status_code == 400
    assert client.post("/cds-services/healthbrain-order-sign", json={"hook": "order-sign"}).status_code == 400
    assert (
        client.post(
            "/cds-services/no-such-service", json={"hook": "order-sign", "hookInstance": "h", "context": {}}
        ).status_code
        == 404
    )
    assert client.get("/api/v1/cds/alerts", headers={"Authorization": ""}).status_code == 401


def test_cds_hooks_discovery_and_order_sign_cards(client: TestClient) -> None:
    seed(client)
    services = client.get("/cds-services").json()["services"]
    assert {s["hook"] for s in services} == {"patient-view", "order-select", "order-sign"}
    assert all(s["id"] and s["description"] for s in services)
    client.put(
        "/fhir/R4/AllergyIntolerance/a1",
        json={
            "resourceType": "AllergyIntolerance",
            "id": "a1",
            "patient": {"reference": PATIENT},
            "category": ["medication"],
            "criticality": "high",
            "code": {"text": "penicillin"},
        },
    )
    client.put(
        "/fhir/R4/MedicationRequest/active1",
        json=medication_request("active1", text="clarithromycin", dose=500, per_day=2, patient=PATIENT),
    )
    drafts = [
        medication_request("d1", code="HB0402", dose=250, per_day=3, patient=PATIENT, status="draft"),
        medication_request("d2", text="simvastatin 40 mg", dose=40, patient=PATIENT, status="draft"),
    ]
    request = {
        "hook": "order-sign",
        "hookInstance": "0f6c8f7a-1",
        "context": {
            "userId": f"{DOCTOR}",
            "patientId": "p1",
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": d} for d in drafts],
            },
        },
    }
    cards = client.post(
        "/cds-services/healthbrain-order-sign", json=request, headers={"Accept-Language": "en"}
    ).json()["cards"]
    summaries = [c["summary"] for c in cards]
    assert any("allergy" in s.lower() for s in summaries), summaries  # cefaclor after a penicillin allergy
    assert any("clarithromycin" in s.lower() for s in summaries), summaries  # simvastatin + clarithromycin
    critical = [c for c in cards if c["indicator"] == "critical"]
    assert critical and all(c["selectionBehavior"] == "at-most-one" for c in critical)
    action = critical[0]["suggestions"][0]["actions"][0]
    assert action["type"] == "delete" and action["resourceId"][0].startswith("MedicationRequest/d")
    assert all(len(c["summary"]) <= 140 and c["source"]["label"] for c in cards)
    zh = client.post("/cds-services/healthbrain-order-sign", json=request).json()["cards"]
    assert any("过敏" in c["summary"] for c in zh)
    select = {
        **request,
        "hook": "order-select",
        "context": {**request["context"], "selections": ["MedicationRequest/d2"]},
    }
    picked = client.post("/cds-services/healthbrain-order-select", json=select).json()["cards"]
    assert picked and all("d2" in str(c.get("suggestions", "d2")) for c in picked)
    feedback = {
        "feedback": [
            {
                "card": cards[0]["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": {"code": "benefit-outweighs-risk"}},
            }
        ]
    }
    assert client.post("/cds-services/healthbrain-order-sign/feedback", json=feedback).json() == {
        "received": 1
    }


def test_patient_view_shows_open_alerts(client: TestClient) -> None:
    seed(client)
    client.post("/fhir/R4/Observation", json=lab("g1", "14749-6", 1.9, "mmol/L"))
    wait_for(lambda: client.get("/api/v1/cds/alerts").json()["alerts"])
    request = {
        "hook": "patient-view",
        "hookInstance": "pv-1",
        "context": {"userId": DOCTOR, "patientId": "p1"},
    }
    cards = client.post("/cds-services/healthbrain-patient-view", json=request).json()["cards"]
    assert len(cards) == 1 and cards[0]["indicator"] == "critical" and "血糖" in cards[0]["summary"]


def test_review_queue_over_http(client: TestClient) -> None:
    seed(client)
    client.put(
        "/fhir/R4/MedicationRequest/m1",
        json=medication_request("m1", code="HB0101", dose=20, patient=PATIENT, requester=DOCTOR),
    )
    pending = wait_for(
        lambda: client.get("/api/v1/cds/reviews", params={"status": "pending"}).json()["reviews"]
    )
    review = client.get(f"/api/v1/cds/reviews/{pending[0]['id']}").json()
    assert review["detected_issues"][0]["resourceType"] == "DetectedIssue"
    assert any("20" in i["detail"] for i in review["detected_issues"])
    missing_reason = client.post(f"/api/v1/cds/reviews/{review['id']}/decision", json={"decision": "return"})
    assert missing_reason.status_code == 400
    ok = client.post(
        f"/api/v1/cds/reviews/{review['id']}/decision",
        json={"decision": "return", "by": "Practitioner/ph1", "reason_code": "dose-too-high"},
    )
    assert ok.status_code == 200 and ok.json()["status"] == "returned"
    told = wait_for(
        lambda: [
            a
            for a in client.get("/api/v1/cds/alerts", params={"recipient": DOCTOR}).json()["alerts"]
            if a["kind"] == "audit" and a["data"].get("decision") == "return"
        ]
    )
    assert told


def test_knowledge_admin_upload_versions_and_rollback(client: TestClient) -> None:
    seed(client)
    files = client.get("/api/v1/cds/knowledge").json()["files"]
    assert {f["name"] for f in files} >= {"critical_values", "interactions", "early_warning"}
    doc = client.get("/api/v1/cds/knowledge/critical_values").json()
    doc["version"] = "2026.1-county"
    next(a for a in doc["analytes"] if a["id"] == "potassium")["limits"][0]["high"] = 5.8
    uploaded = client.put("/api/v1/cds/knowledge/critical_values", content=json.dumps(doc))
    assert uploaded.status_code == 200 and uploaded.json()["version"] == "2026.1-county"
    client.post(
        "/fhir/R4/Observation", json=lab("k5", "2823-3", 5.9, "mmol/L")
    )  # critical only under the new table
    alert = wait_for(lambda: client.get("/api/v1/cds/alerts").json()["alerts"])[0]
    assert alert["data"]["knowledge_version"] == "2026.1-county"
    versions = client.get("/api/v1/cds/knowledge/critical_values/versions").json()["versions"]
    assert [v["origin"] for v in versions] == ["upload", "package"] and versions[0]["in_use"]
    doc["analytes"][0]["limits"][0]["source"] = "hearsay"
    rejected = client.put("/api/v1/cds/knowledge/critical_values", content=json.dumps(doc))
    assert rejected.status_code == 422
    assert any("source" in (i.get("expression") or [""])[0] for i in rejected.json()["issue"])
    back = client.post("/api/v1/cds/knowledge/critical_values/activate", json={"version_id": None})
    assert back.json()["version"] == "2026.1"


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204 if len(type(self).received) > 1 else 503)  # the first attempt fails
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_webhook_delivery_is_signed_and_retried(client: TestClient, receiver: str) -> None:
    seed(client)
    secret = "s3cret-for-the-ward-system"
    made = client.post(
        "/api/v1/cds/webhooks", json={"url": receiver, "secret": secret, "recipients": [DOCTOR, DUTY]}
    )
    assert made.status_code == 201
    client.post("/fhir/R4/Observation", json=lab("k9", "2823-3", 2.2, "mmol/L"))
    wait_for(lambda: len(_Receiver.received) >= 2)
    headers, body = _Receiver.received[1]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-healthbrain-signature"] == expected
    assert json.loads(body)["event"] == "alert" and _Receiver.received[0][1] == body  # same delivery, retried
    alert = client.get("/api/v1/cds/alerts").json()["alerts"][0]
    steps = wait_for(
        lambda: [
            e
            for e in client.get(f"/api/v1/cds/alerts/{alert['id']}").json()["events"]
            if e["channel"] == "webhook"
        ]
    )
    assert steps[0]["step"] == "delivered"
