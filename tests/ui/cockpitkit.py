"""The demo region the cockpit's browser tests run over: a simulated region ingested like the CLI does,
one account per role (with its TOTP secret), a real uvicorn server on a free port, and what the pages
need to show: an influenza cluster turned into a signal, a possible duplicate for the patient index,
a break-glass access, and a data-use request."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from healthbrain.api.app import create_app
from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.core.settings import ApiSettings, SecuritySettings, Settings
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest import ingest_path
from healthbrain.security import SecurityServices, totp
from healthbrain.simulation import GROUND_TRUTH_FILE, RegionConfig, write_region
from healthbrain.storage.migrate import upgrade_database

PASSWORD = "Cockpit#2026pw"
DEV = {"Authorization": "Bearer dev-token"}
CLUSTER_DAY = "2025-11-20"
CLUSTER_COUNTY = "330802"  # 柯城区
# role -> organisation it acts for ("hospital" is filled in with the busiest county hospital)
ROLE_ORGS = {
    "clinician": "hospital",
    "cdc-officer": "adm-330000",
    "regional-officer": "adm-330000",
    "index-steward": "adm-330000",
    "security-auditor": "adm-330000",
    "platform-admin": "adm-330000",
}


@dataclass(slots=True)
class Account:
    username: str
    secret: str | None
    role: str
    organization: str
    practitioner: str | None
    _last_step: int = -1

    def code(self) -> str:
        """A TOTP code not used before (the server refuses a replayed step)."""
        assert self.secret is not None
        step = max(int(time.time() // 30), self._last_step + 1)
        while step > int(time.time() // 30) + 1:  # at most one step ahead (the server's window)
            time.sleep(1)
        self._last_step = step
        return totp(self.secret, step=step)


@dataclass(slots=True)
class Cockpit:
    base: str
    app: Any
    hospital: str
    practitioner: str  # the clinician's Practitioner: participant of their patients' encounters
    patient: str  # a patient of the hospital with an encounter
    encounter: str
    other_patient: str  # a patient of another county's institution (not the clinician's)
    accounts: dict[str, Account] = field(default_factory=dict)

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=DEV, timeout=60)

    def token(self, role: str) -> str:
        acc = self.accounts[role]
        with httpx.Client(base_url=self.base, timeout=30) as c:
            r = c.post(
                "/oauth/token",
                data={
                    "grant_type": "password",
                    "username": acc.username,
                    "password": PASSWORD,
                    "totp": acc.code(),
                },
            )
        r.raise_for_status()
        return str(r.json()["access_token"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _resources(out: Path) -> list[dict[str, Any]]:
    found = []
    for file in sorted(out.glob("10-*.json")):
        found += [e["resource"] for e in json.loads(file.read_bytes())["entry"]]
    return found


def _pick(resources: list[dict[str, Any]], truth: dict[str, str]) -> dict[str, Any]:
    """The busiest county hospital; one of its patients with an encounter and records at other
    institutions too (the 360° view has something to merge); its doctor; a patient of elsewhere."""
    patients = {r["id"]: r for r in resources if r["resourceType"] == "Patient"}
    orgs = Counter(p["managingOrganization"]["reference"].split("/")[1] for p in patients.values())
    hospital = next(o for o, _ in orgs.most_common() if o.endswith("-rmyy"))
    records: dict[str, list[str]] = {}
    for ref, person in truth.items():
        records.setdefault(person, []).append(ref.split("/", 1)[1])
    encounters = [
        r
        for r in resources
        if r["resourceType"] == "Encounter"
        and r["serviceProvider"]["reference"] == f"Organization/{hospital}"
    ]
    labs = Counter(r["subject"]["reference"] for r in resources if r["resourceType"] == "Observation")
    enc = max(
        encounters,
        key=lambda e: (len(records[truth[e["subject"]["reference"]]]), labs[e["subject"]["reference"]]),
    )
    patient = enc["subject"]["reference"].split("/")[1]
    county = hospital.split("-")[0]
    other = next(p for p in patients.values() if not p["id"].startswith(county))
    return {
        "hospital": hospital,
        "patient": patient,
        "elsewhere": [p for p in records[truth[f"Patient/{patient}"]] if p != patient],
        "encounter": enc["id"],
        "practitioner": enc["participant"][0]["individual"]["reference"].split("/")[1],
        "other": other["id"],
    }


def _cluster(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Influenza reports on one day from patients of one county: more than the detector expects."""
    patients = [
        r
        for r in resources
        if r["resourceType"] == "Patient"
        and r["managingOrganization"]["reference"].startswith("Organization/kecheng-")
    ]
    out = []
    for i, p in enumerate(patients[:8]):
        out.append(
            {
                "resourceType": "Condition",
                "id": f"ui-flu-{i}",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "verificationStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                            "code": "confirmed",
                        }
                    ]
                },
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                "code": "encounter-diagnosis",
                            }
                        ]
                    }
                ],
                "code": {
                    "coding": [
                        {"system": "http://hl7.org/fhir/sid/icd-10", "code": "J11.1", "display": "流行性感冒"}
                    ],
                    "text": "流行性感冒",
                },
                "subject": {"reference": f"Patient/{p['id']}"},
                "onsetDateTime": f"{CLUSTER_DAY}T09:00:00+08:00",
                "recordedDate": f"{CLUSTER_DAY}T09:30:00+08:00",
            }
        )
    return out


def possible_duplicate(resources: list[dict[str, Any]], hospital: str) -> dict[str, Any]:
    """A second, sparse registration of one of the hospital's patients elsewhere: a case for review."""
    src = next(
        r
        for r in resources
        if r["resourceType"] == "Patient"
        and r["managingOrganization"]["reference"] == f"Organization/{hospital}"
    )
    org = next(
        r["managingOrganization"]["reference"]
        for r in resources
        if r["resourceType"] == "Patient"
        and r["managingOrganization"]["reference"] != f"Organization/{hospital}"
    )
    return {
        "resourceType": "Patient",
        "id": "ui-dup-1",
        "name": src["name"],
        "gender": src["gender"],
        "birthDate": src["birthDate"],
        "managingOrganization": {"reference": org},
        "identifier": [{"system": "https://healthbrain.dev/fhir/sid/ui-test/mrn", "value": "900001"}],
    }


def build(tmp: Path, patients: int = 100) -> tuple[Settings, list[dict[str, Any]], dict[str, str]]:
    """Simulate and ingest the region (as `healthbrain ingest` does) into a fresh SQLite database."""
    out = tmp / "sim"
    write_region(RegionConfig(patients=patients, seed=42), out)
    url = f"sqlite:///{tmp / 'cockpit.db'}"
    engine = create_db_engine(url)
    upgrade_database(engine)
    security = SecurityServices.build(engine, SecuritySettings())
    loader = FhirRepository(engine, validate=False, labeler=security.labeler, protector=security.protector)
    summary = ingest_path(loader, system_context(), out)
    assert not summary.errors, summary.errors[:3]
    security.audit.stop()
    engine.dispose()
    port = _free_port()
    settings = Settings(
        database_url=url,
        export_dir=str(tmp / "export"),
        api=ApiSettings(base_url=f"http://127.0.0.1:{port}/fhir/R4"),
    )
    truth = json.loads((out / GROUND_TRUTH_FILE).read_bytes())["records"]
    return settings, _resources(out), truth


def serve(settings: Settings) -> tuple[Any, uvicorn.Server, threading.Thread, str]:
    app = create_app(settings)
    port = int(settings.api.base_url.split(":")[2].split("/")[0])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    return app, server, thread, f"http://127.0.0.1:{port}"


def prepare(app: Any, base: str, resources: list[dict[str, Any]], truth: dict[str, str]) -> Cockpit:
    picked = _pick(resources, truth)
    cockpit = Cockpit(
        base,
        app,
        picked["hospital"],
        picked["practitioner"],
        picked["patient"],
        picked["encounter"],
        picked["other"],
    )
    identity = app.state.hb.security.identity
    for role, where in ROLE_ORGS.items():
        org = picked["hospital"] if where == "hospital" else where
        prac = (
            picked["practitioner"]
            if role == "clinician"
            else ("cdc-officer-1" if role == "cdc-officer" else None)
        )
        enrol = identity.create_user(f"ui-{role}", PASSWORD, [role], org, prac)
        cockpit.accounts[role] = Account(f"ui-{role}", enrol.totp_secret, role, org, prac)
    with cockpit.api() as api:

        def flu_cases() -> int:
            params = {"disease": "influenza", "from": CLUSTER_DAY, "to": CLUSTER_DAY, "area": CLUSTER_COUNTY}
            return sum(api.get("/api/v1/surveillance/counts", params=params).json()["days"].values())

        before = flu_cases()
        cluster = _cluster(resources)
        bundle = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [
                {"resource": c, "request": {"method": "PUT", "url": f"Condition/{c['id']}"}} for c in cluster
            ],
        }
        assert api.post("/fhir/R4", json=bundle).status_code == 200
        dup = possible_duplicate(resources, picked["hospital"])
        assert api.put(f"/fhir/R4/Patient/{dup['id']}", json=dup).status_code in (200, 201)
        # every report of the cluster counted (the subscriber works through them one by one)
        _wait(lambda: flu_cases() >= before + len(cluster), timeout=90)
        detected = api.post("/api/v1/surveillance/detect", json={"day": CLUSTER_DAY}).json()
        assert detected["signals"], detected
        for pid in picked["elsewhere"]:  # the resident lets the hospital see their records elsewhere
            consent = {
                "patient": pid,
                "purpose": "TREAT",
                "permit": True,
                "organizations": [picked["hospital"]],
            }
            assert api.post("/api/v1/security/consents", json=consent).status_code == 201
    settle(app, base)
    clinician = cockpit.token("clinician")
    with httpx.Client(base_url=base, timeout=30) as c:
        r = c.post(
            "/api/v1/security/break-glass",
            json={"patient": picked["other"], "reason": "急诊抢救，患者昏迷无法同意"},
            headers={"Authorization": f"Bearer {clinician}", "X-Purpose-Of-Use": "ETREAT"},
        )
        assert r.status_code == 201, r.text
    return cockpit


def settle(app: Any, base: str, timeout: float = 180) -> None:
    """Wait until every service has been delivered every change (the ingested region's outbox)."""
    dispatcher = app.state.dispatcher
    with httpx.Client(base_url=base, timeout=30) as c:
        head = int(c.get("/healthz").json()["outbox_head"])
    _wait(lambda: all(dispatcher.position(name) >= head for name in dispatcher.subscribers), timeout)


def _wait(probe: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the platform")


def critical_potassium(cockpit: Cockpit, oid: str) -> dict[str, Any]:
    """A lab result as a LIS posts it: potassium 6.9 mmol/L (a critical value) on the hospital's patient."""
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2823-3"}], "text": "钾"},
        "subject": {"reference": f"Patient/{cockpit.patient}"},
        "encounter": {"reference": f"Encounter/{cockpit.encounter}"},
        "effectiveDateTime": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "valueQuantity": {
            "value": 6.9,
            "unit": "mmol/L",
            "system": "http://unitsofmeasure.org",
            "code": "mmol/L",
        },
    }
