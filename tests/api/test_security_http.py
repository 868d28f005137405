"""Security over HTTP: sign-in with TOTP, tokens on FHIR requests, consent, break-glass, the audit API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from healthbrain.api.app import create_app
from healthbrain.core.settings import InsecureConfiguration, SecuritySettings, Settings
from healthbrain.security import totp

FHIR = "/fhir/R4"
PASSWORD = "Correct-Horse-7"
ORG = {
    "resourceType": "Organization",
    "id": "hosp-a",
    "name": "甲医院",
    "active": True,
    "type": [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov"}]}
    ],
}
ORG_B = {**ORG, "id": "hosp-b", "name": "乙医院"}


def setup_region(client: TestClient) -> tuple[str, str]:
    for org in (ORG, ORG_B):
        assert client.put(f"{FHIR}/Organization/{org['id']}", json=org).status_code in (200, 201)
    mine = client.post(
        f"{FHIR}/Patient",
        json={
            "resourceType": "Patient",
            "name": [{"family": "张", "given": ["伟"]}],
            "managingOrganization": {"reference": "Organization/hosp-a"},
        },
    ).json()
    theirs = client.post(
        f"{FHIR}/Patient",
        json={
            "resourceType": "Patient",
            "name": [{"family": "张", "given": ["玮"]}],
            "managingOrganization": {"reference": "Organization/hosp-b"},
        },
    ).json()
    return mine["id"], theirs["id"]


def sign_in(client: TestClient, username: str, roles: list[str], org: str = "hosp-a") -> dict[str, str]:
    security = client.app.state.hb.security  # type: ignore[attr-defined]
    secret = security.identity.create_user(username, PASSWORD, roles, org).totp_secret
    r = client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": username, "password": PASSWORD, "totp": totp(secret)},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and r.headers["cache-control"] == "no-store"
    return {"Authorization": f"Bearer {body['access_token']}"}


def auditor(client: TestClient) -> dict[str, str]:
    return sign_in(client, "auditor", ["security-auditor"])


def test_a_clinician_token_sees_own_patients_only(client: TestClient) -> None:
    mine, theirs = setup_region(client)
    headers = sign_in(client, "dr.li", ["clinician"])
    assert client.get(f"{FHIR}/Patient/{mine}", headers=headers).status_code == 200
    r = client.get(f"{FHIR}/Patient/{theirs}", headers=headers)
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
    found = client.get(f"{FHIR}/Patient", params={"name:contains": "张"}, headers=headers).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [mine] and found["total"] == 1
    # a clinician may not act for public health
    r = client.get(f"{FHIR}/Patient", headers={**headers, "X-Purpose-Of-Use": "PUBHLTH"})
    assert r.status_code == 403


def test_bad_tokens_are_401_with_no_detail_and_audited(client: TestClient) -> None:
    setup_region(client)
    for token in ("garbage", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", ""):
        r = client.get(f"{FHIR}/Patient", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        issue = r.json()["issue"][0]
        assert issue["code"] == "login" and "Traceback" not in r.text
    r = client.get("/api/v1/security/audit", params={"action": "authenticate"}, headers=auditor(client))
    assert r.status_code == 200
    events = [e["resource"] for e in r.json()["entry"]]
    assert len(events) >= 3 and all(e["outcome"] == "4" for e in events)


def test_password_grant_errors_follow_rfc6749(client: TestClient) -> None:
    r = client.post("/oauth/token", data={"grant_type": "password", "username": "nobody", "password": "x"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = client.post("/oauth/token", data={"grant_type": "implicit"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = client.post("/oauth/token", json={"grant_type": "password"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_client_credentials_token_for_a_lab_system(client: TestClient) -> None:
    mine, _ = setup_region(client)
    security = client.app.state.hb.security  # type: ignore[attr-defined]
    cid, secret = security.identity.create_client(
        "LIS", "hosp-a", ["institution-system"], ["system/Observation.write", "system/Patient.read"]
    )
    r = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(cid, secret))
    assert r.status_code == 200 and "refresh_token" not in r.json()
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": f"Patient/{mine}"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}]},
        "valueQuantity": {
            "value": 6.8,
            "unit": "mmol/L",
            "system": "http://unitsofmeasure.org",
            "code": "mmol/L",
        },
    }
    assert client.post(f"{FHIR}/Observation", json=obs, headers=headers).status_code == 201
    assert client.get(f"{FHIR}/Observation", headers=headers).status_code == 403  # no read scope for it
    assert client.post("/oauth/revoke", data={"token": r.json()["access_token"]}).status_code == 200
    assert client.get(f"{FHIR}/Patient/{mine}", headers=headers).status_code == 401


def test_consent_opens_another_institution_and_revocation_closes(client: TestClient) -> None:
    _, theirs = setup_region(client)
    headers = sign_in(client, "dr.wu", ["clinician"])
    assert client.get(f"{FHIR}/Patient/{theirs}", headers=headers).status_code == 404
    r = client.post(
        "/api/v1/security/consents", json={"patient": theirs, "purpose": "TREAT", "organizations": ["hosp-a"]}
    )
    assert r.status_code == 201 and r.json()["provision"]["type"] == "permit"
    assert client.get(f"{FHIR}/Patient/{theirs}", headers=headers).status_code == 200
    r = client.post(f"/api/v1/security/consents/{r.json()['id']}/$revoke")
    assert r.status_code == 200 and r.json()["status"] == "inactive"
    assert client.get(f"{FHIR}/Patient/{theirs}", headers=headers).status_code == 404
    r = client.post("/api/v1/security/consents", json={"patient": theirs, "purpose": "NOT-A-PURPOSE"})
    assert r.status_code == 400


def test_break_glass_over_http_is_alerted_and_audited(client: TestClient) -> None:
    _, theirs = setup_region(client)
    headers = sign_in(client, "dr.er", ["clinician"])
    emergency = {**headers, "X-Purpose-Of-Use": "ETREAT", "X-Break-Glass": "ER"}
    r = client.post(
        "/api/v1/security/break-glass", json={"patient": theirs, "reason": "x"}, headers=emergency
    )
    assert r.status_code == 400
    r = client.post(
        "/api/v1/security/break-glass",
        json={"patient": theirs, "reason": "unconscious, brought in by ambulance"},
        headers=emergency,
    )
    assert r.status_code == 201
    assert client.get(f"{FHIR}/Patient/{theirs}", headers=emergency).status_code == 200
    assert client.get(f"{FHIR}/Patient/{theirs}", headers=headers).status_code == 404
    audit = auditor(client)
    alerts = client.get("/api/v1/security/anomalies", headers=audit).json()["anomalies"]
    assert [a["rule"] for a in alerts] == ["break-glass"]
    events = client.get(
        "/api/v1/security/audit", params={"patient": theirs, "outcome": "success"}, headers=audit
    ).json()["entry"]
    assert any(e["resource"].get("purposeOfEvent") for e in events)


def test_the_audit_api_is_for_auditors_and_verifies(client: TestClient) -> None:
    setup_region(client)
    clinician = sign_in(client, "dr.xu", ["clinician"])
    assert client.get("/api/v1/security/audit", headers=clinician).status_code == 403
    audit = auditor(client)
    r = client.get("/api/v1/security/audit/verify", headers=audit)
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["checked"] > 0
    r = client.get("/api/v1/security/audit", params={"since": "yesterday"}, headers=audit)
    assert r.status_code == 400
    events = client.get("/api/v1/security/audit", params={"_count": "5"}, headers=audit).json()["entry"]
    assert len(events) == 5 and all(e["resource"]["resourceType"] == "AuditEvent" for e in events)


def test_jwks_and_smart_configuration(client: TestClient) -> None:
    sign_in(client, "dr.key", ["clinician"])
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert keys and keys[0]["kty"] == "OKP" and keys[0]["alg"] == "EdDSA"
    smart = client.get(f"{FHIR}/.well-known/smart-configuration").json()
    assert smart["token_endpoint"].endswith("/oauth/token")


def test_production_mode_refuses_development_secrets(settings: Settings) -> None:
    production = settings.model_copy(update={"development": False})
    with pytest.raises(InsecureConfiguration):
        create_app(production)
    fixed = production.model_copy(
        update={
            "dev_token": "",
            "security": SecuritySettings(master_key="c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0zMmJ5dGU="),
        }
    )
    with TestClient(create_app(fixed)) as c:
        r: Any = c.get(f"{FHIR}/Patient", headers={"Authorization": "Bearer dev-token"})
        assert r.status_code == 401
