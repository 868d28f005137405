"""Prescription-audit timing for bench/cds_latency.py: rule engine, full subscriber, CDS Hooks order-sign."""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from healthbrain.cds.audit import audit_prescription
from healthbrain.cds.findings import PatientFacts
from healthbrain.cds.kb import default_knowledge_base
from healthbrain.cds.prescription import parse_medication_request
from healthbrain.cds.service import CdsService
from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.fhir.events import ChangeEvent
from healthbrain.fhir.repository import FhirRepository
from healthbrain.simulation.codes import DRUGS
from healthbrain.storage.migrate import upgrade_database

from common import fresh_pg_database, median, percentile

FORMULARY = "https://healthbrain.dev/fhir/CodeSystem/drug"
EXTRA = [
    "warfarin",
    "clarithromycin",
    "simvastatin",
    "fluconazole",
    "tramadol",
    "sertraline",
    "spironolactone",
    "lisinopril",
    "digoxin",
    "amiodarone",
    "methotrexate",
    "allopurinol",
]


def _order(oid: str, patient: str, rng: random.Random, status: str = "active") -> dict[str, Any]:
    if rng.random() < 0.6:
        drug = rng.choice(list(DRUGS.values()))
        concept = {"coding": [{"system": FORMULARY, "code": drug.code}], "text": drug.name}
        dose, unit, per_day = drug.dose, drug.unit, drug.per_day
    else:
        concept = {"text": rng.choice(EXTRA)}
        dose, unit, per_day = rng.choice([5, 10, 20, 50, 100]), "mg", rng.choice([1, 2, 3])
    return {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": {"reference": patient},
        "requester": {"reference": "Practitioner/bench-dr1"},
        "authoredOn": "2026-05-01T09:00:00+08:00",
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "route": {"coding": [{"system": "http://snomed.info/sct", "code": "26643006"}]},
                "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit}}],
            }
        ],
        "dispenseRequest": {"expectedSupplyDuration": {"value": 7, "unit": "d", "code": "d"}},
    }


def engine_timing(n: int) -> dict[str, float]:
    kb = default_knowledge_base().prescribing
    rng = random.Random(3)
    times = []
    for i in range(n):
        others = tuple(
            parse_medication_request(_order(f"o{i}-{j}", "Patient/x", rng), kb.drugs, kb.routes)
            for j in range(5)
        )
        rx = parse_medication_request(_order(f"n{i}", "Patient/x", rng), kb.drugs, kb.routes)
        facts = PatientFacts(
            age_days=rng.randint(1, 90) * 365,
            sex="female",
            weight_kg=60,
            egfr=rng.choice([25, 45, 90]),
            other_orders=others,
        )
        start = time.perf_counter()
        audit_prescription(kb, rx, facts)
        times.append((time.perf_counter() - start) * 1000)
    return {"p50": round(percentile(times, 50), 3), "p95": round(percentile(times, 95), 3)}


def _seed(repo: FhirRepository, patients: int, rng: random.Random) -> None:
    ctx = system_context()
    for i in range(patients):
        pid = f"ap{i}"
        repo.update(
            ctx,
            "Patient",
            pid,
            {
                "resourceType": "Patient",
                "id": pid,
                "gender": rng.choice(["male", "female"]),
                "birthDate": f"{rng.randint(1935, 2015)}-06-01",
            },
        )
        if i % 3 == 0:
            repo.update(
                ctx,
                "AllergyIntolerance",
                f"aa{i}",
                {
                    "resourceType": "AllergyIntolerance",
                    "id": f"aa{i}",
                    "patient": {"reference": f"Patient/{pid}"},
                    "category": ["medication"],
                    "code": {"text": rng.choice(["青霉素", "磺胺", "aspirin"])},
                },
            )
        for j in range(4):
            repo.update(ctx, "MedicationRequest", f"am{i}-{j}", _order(f"am{i}-{j}", f"Patient/{pid}", rng))


def subscriber_timing(url: str, patients: int, orders: int) -> dict[str, float]:
    engine = create_db_engine(url)
    upgrade_database(engine)
    repo = FhirRepository(engine)
    service = CdsService(repo)
    rng = random.Random(5)
    _seed(repo, patients, rng)
    ctx = system_context()
    times = []
    for n in range(orders):
        pid = f"Patient/ap{rng.randrange(patients)}"
        order = _order(f"new{n}", pid, rng)
        written = repo.update(ctx, "MedicationRequest", order["id"], order)
        event = ChangeEvent(
            0, "MedicationRequest", order["id"], written.version.version_id, "create", time.time()
        )
        start = time.perf_counter()
        service.auditor.handle(event, written.version.resource)
        times.append((time.perf_counter() - start) * 1000)
    service.webhooks.close()
    engine.dispose()
    return {
        "p50": round(percentile(times, 50), 2),
        "p95": round(percentile(times, 95), 2),
        "p99": round(percentile(times, 99), 2),
    }


def hooks_timing(url: str, calls: int) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from healthbrain.api.app import create_app
    from healthbrain.core.settings import Settings

    rng = random.Random(9)
    with (
        tempfile.TemporaryDirectory() as tmp,
        TestClient(create_app(Settings(database_url=url, export_dir=tmp))) as c,
    ):
        c.headers.update({"Authorization": "Bearer dev-token"})
        c.put(
            "/fhir/R4/Patient/hp1",
            json={"resourceType": "Patient", "id": "hp1", "gender": "female", "birthDate": "1950-01-01"},
        )
        for j in range(4):
            c.put(f"/fhir/R4/MedicationRequest/hm{j}", json=_order(f"hm{j}", "Patient/hp1", rng))
        times = []
        for n in range(calls):
            drafts = [_order(f"d{n}-{k}", "Patient/hp1", rng, "draft") for k in range(2)]
            body = {
                "hook": "order-sign",
                "hookInstance": f"h{n}",
                "context": {
                    "userId": "Practitioner/bench-dr1",
                    "patientId": "hp1",
                    "draftOrders": {
                        "resourceType": "Bundle",
                        "type": "collection",
                        "entry": [{"resource": d} for d in drafts],
                    },
                },
            }
            start = time.perf_counter()
            c.post("/cds-services/healthbrain-order-sign", json=body).raise_for_status()
            times.append((time.perf_counter() - start) * 1000)
    return {"p50": round(percentile(times, 50), 2), "p95": round(percentile(times, 95), 2)}


def audit_runs(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            url = (
                f"sqlite:///{Path(tmp) / 'audit.db'}"
                if backend == "sqlite"
                else fresh_pg_database("hb_bench_cds_audit")
            )
            result = {
                "engine_ms": engine_timing(2000),
                "subscriber_ms": subscriber_timing(url, 100, args.orders),
                "hooks_order_sign_ms": hooks_timing(url, 100),
            }
        runs.append(result)
        print(
            f"{backend} audit run {run + 1}: engine p95 {result['engine_ms']['p95']} ms, subscriber p95 "
            f"{result['subscriber_ms']['p95']} ms, CDS Hooks order-sign p95 {result['hooks_order_sign_ms']['p95']} ms"
        )
    return {
        "runs": runs,
        "median_engine_p95_ms": median([r["engine_ms"]["p95"] for r in runs]),
        "median_subscriber_p95_ms": median([r["subscriber_ms"]["p95"] for r in runs]),
        "median_hooks_p95_ms": median([r["hooks_order_sign_ms"]["p95"] for r in runs]),
    }
