"""The CDS service on the real repository and dispatcher (SQLite and PostgreSQL): the closed loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from cdsdata import lab, medication_request, vital

from healthbrain.cds.service import OBSERVATION_SUBSCRIBER, CdsService
from healthbrain.cds.settings import CdsSettings, EscalationStep
from healthbrain.core.context import system_context
from healthbrain.core.errors import Conflict
from healthbrain.core.settings import EventSettings
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository

CTX = system_context()
ORG, WARD, DOCTOR, DUTY, HEAD = (
    "Organization/h1",
    "Location/h1-ward",
    "Practitioner/dr1",
    "Practitioner/dr2",
    "Practitioner/dr3",
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(repo: FhirRepository, clock: Clock) -> tuple[CdsService, EventDispatcher, list[Mapping[str, Any]]]:
    for resource in (
        {"resourceType": "Organization", "id": "h1", "name": "县人民医院"},
        {"resourceType": "Location", "id": "h1-ward", "name": "住院部"},
        {"resourceType": "Patient", "id": "p1", "gender": "male", "birthDate": "1961-04-02"},
        {"resourceType": "Patient", "id": "kid", "gender": "female", "birthDate": "2022-01-01"},
        *({"resourceType": "Practitioner", "id": p.split("/")[1]} for p in (DOCTOR, DUTY, HEAD)),
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
            "serviceType": {
                "coding": [{"system": "https://healthbrain.dev/fhir/CodeSystem/department", "code": "03"}]
            },
            "subject": {"reference": "Patient/p1"},
            "serviceProvider": {"reference": ORG},
            "participant": [{"individual": {"reference": DOCTOR}}],
            "location": [{"location": {"reference": WARD}}],
        },
    ):
        repo.update(CTX, resource["resourceType"], resource["id"], resource)
    settings = CdsSettings(
        escalation=[
            EscalationStep(role="ordering", timeout_seconds=60),
            EscalationStep(role="duty", timeout_seconds=60),
            EscalationStep(role="head", timeout_seconds=60),
        ]
    )
    service = CdsService(repo, settings, clock=clock)
    dispatcher = EventDispatcher(repo.engine, EventSettings(backoff_base_seconds=5), clock=clock)
    service.register(dispatcher)
    heard: list[Mapping[str, Any]] = []
    service.hub.subscribe([DOCTOR, DUTY, HEAD, WARD, "role:pharmacist"], heard.append)
    return service, dispatcher, heard


def _search(repo: FhirRepository, rt: str, *params: tuple[str, str]) -> list[dict[str, Any]]:
    return run_search(repo, CTX, rt, list(params)).matches


def test_critical_potassium_closes_the_loop(repo: FhirRepository, clock: Clock, world: Any) -> None:
    service, dispatcher, heard = world
    service.admin.set_oncall("Organization/h1", "03", "duty", DUTY)
    service.admin.set_oncall("Organization/h1", "*", "head", HEAD)
    repo.update(CTX, "Observation", "k1", lab("k1", "2823-3", 6.9, "mmol/L"))
    dispatcher.drain()
    alerts = service.store.alerts()
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert["kind"], alert["priority"], alert["recipient"], alert["ward"]) == (
        "critical",
        "critical",
        DOCTOR,
        WARD,
    )
    assert "6.9" in alert["payload"]["title"]["zh_CN"] and "血钾" in alert["payload"]["title"]["zh_CN"]
    assert [n["event"] for n in heard] == ["alert"]
    flag = repo.read(CTX, "Flag", f"cds-{alert['id']}").resource
    assert flag is not None and flag["status"] == "active" and flag["subject"]["reference"] == "Patient/p1"
    comm = repo.read(CTX, "Communication", f"cds-{alert['id']}-0").resource
    assert comm is not None and comm["recipient"] == [{"reference": DOCTOR}] and comm["priority"] == "stat"

    # no acknowledgement within 60 s: the duty doctor, then the head of department
    clock.now += 61
    assert service.tick()[0] == 1
    clock.now += 61
    assert service.tick()[0] == 1
    alert = service.store.alert(alert["id"])
    assert alert is not None and (alert["level"], alert["recipient"]) == (2, HEAD)
    task = repo.read(CTX, "Task", f"cds-{alert['id']}-task")
    assert task.resource is not None and task.resource["owner"]["reference"] == HEAD and task.version_id == 3
    assert repo.read(CTX, "Communication", f"cds-{alert['id']}-1").resource["recipient"] == [
        {"reference": DUTY}
    ]

    service.alerts.acknowledge(alert["id"], HEAD)
    clock.now += 600
    assert service.tick()[0] == 0  # acknowledged: no further escalation
    with pytest.raises(Conflict):
        service.alerts.acknowledge(alert["id"], HEAD)
    service.alerts.complete(alert["id"], HEAD, "potassium-lowering-started", "葡萄糖胰岛素静滴，复查血钾")
    assert repo.read(CTX, "Flag", f"cds-{alert['id']}").resource["status"] == "inactive"
    task = repo.read(CTX, "Task", f"cds-{alert['id']}-task").resource
    assert task["status"] == "completed" and task["note"][0]["text"].startswith("葡萄糖")
    steps = [(e["step"], e["recipient"] or e["actor"]) for e in service.store.events(alert["id"])]
    assert steps == [
        ("created", DOCTOR),
        ("escalated", DUTY),
        ("escalated", HEAD),
        ("acknowledged", HEAD),
        ("completed", HEAD),
    ]
    times = [e["at"] for e in service.store.events(alert["id"])]
    assert times == sorted(times) and times[-1] - times[0] >= 122
    assert [n["event"] for n in heard] == ["alert", "escalation", "escalation", "acknowledged", "completed"]


def test_redelivery_gives_one_alert_and_a_crash_is_retried(
    repo: FhirRepository, clock: Clock, world: Any
) -> None:
    service, dispatcher, heard = world
    repo.update(CTX, "Observation", "k1", lab("k1", "2823-3", 2.1, "mmol/L"))
    dispatcher.drain()
    dispatcher.replay(OBSERVATION_SUBSCRIBER, 1)  # at-least-once: everything again
    dispatcher.drain()
    assert len(service.store.alerts()) == 1 and len(heard) == 1
    assert len(_search(repo, "Flag", ("subject", "Patient/p1"))) == 1

    crashes = {"left": 1}

    def crashing(event: Any, resource: Any) -> None:
        service.results.handle(event, resource)  # the work is done, then the subscriber dies
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("worker killed")

    dispatcher.register("cds:crashing-copy", crashing, resource_types={"Observation"}, from_now=True)
    repo.update(CTX, "Observation", "k2", lab("k2", "2823-3", 7.4, "mmol/L"))
    dispatcher.drain()
    clock.now += 30  # after the backoff the parked event is retried
    dispatcher.drain()
    assert crashes["left"] == 0
    assert sorted(a["source"] for a in service.store.alerts()) == [
        "Observation/k1/_history/1",
        "Observation/k2/_history/1",
    ]
    assert len(heard) == 2


def test_bad_results_are_data_quality_issues(repo: FhirRepository, world: Any) -> None:
    service, dispatcher, heard = world
    repo.update(CTX, "Observation", "x1", lab("x1", "2823-3", 68, "mmol/L"))
    repo.update(CTX, "Observation", "x2", lab("x2", "2823-3", 6.8, "mg/furlong"))
    repo.update(CTX, "Observation", "x3", lab("x3", "2823-3", None, "mmol/L", referenceRange=[]))
    dispatcher.drain()
    assert service.store.alerts() == [] and heard == []
    problems = {(d["source"], d["problem"]) for d in service.store.dq_issues()}
    assert problems == {
        ("Observation/x1/_history/1", "implausible-value"),
        ("Observation/x2/_history/1", "unknown-unit"),
        ("Observation/x3/_history/1", "missing-value"),
    }


def test_delta_check_and_retraction(repo: FhirRepository, clock: Clock, world: Any) -> None:
    service, dispatcher, _ = world
    repo.update(
        CTX, "Observation", "c1", lab("c1", "14682-9", 80, "umol/L", when="2026-03-01T08:00:00+08:00")
    )
    repo.update(
        CTX, "Observation", "c2", lab("c2", "14682-9", 131, "umol/L", when="2026-03-02T20:00:00+08:00")
    )
    dispatcher.drain()
    kinds = sorted((a["kind"], a["payload"]["data"].get("rule")) for a in service.store.alerts())
    assert kinds == [("delta", "creatinine_rise_26umol_48h"), ("delta", "creatinine_rise_50pct_48h")]
    retracted = lab(
        "c2", "14682-9", 131, "umol/L", status="entered-in-error", when="2026-03-02T20:00:00+08:00"
    )
    repo.update(CTX, "Observation", "c2", retracted)
    dispatcher.drain()
    assert {a["status"] for a in service.store.alerts()} == {"cancelled"}


def test_tracked_results_are_written_per_batch_and_survive_a_restart(
    repo: FhirRepository, clock: Clock, world: Any
) -> None:
    service, dispatcher, _ = world
    repo.update(
        CTX, "Observation", "c1", lab("c1", "14682-9", 80, "umol/L", when="2026-03-01T08:00:00+08:00")
    )
    dispatcher.drain()  # the batch is flushed before the cursor moves
    service.stop()
    settings = CdsSettings(escalation=[EscalationStep(role="ordering", timeout_seconds=60)])
    restarted = CdsService(repo, settings, clock=clock)  # a new process: nothing held in memory
    fresh = EventDispatcher(repo.engine, EventSettings(), clock=clock)
    restarted.register(fresh)
    repo.update(
        CTX, "Observation", "c2", lab("c2", "14682-9", 131, "umol/L", when="2026-03-02T20:00:00+08:00")
    )
    fresh.drain()
    rules = sorted(a["payload"]["data"].get("rule") for a in restarted.store.alerts() if a["kind"] == "delta")
    assert rules == ["creatinine_rise_26umol_48h", "creatinine_rise_50pct_48h"]


def test_a_corrected_result_supersedes_the_alert_of_the_wrong_one(repo: FhirRepository, world: Any) -> None:
    service, dispatcher, _ = world
    repo.update(CTX, "Observation", "k7", lab("k7", "2823-3", 7.2, "mmol/L"))  # haemolysed sample
    dispatcher.drain()
    repo.update(CTX, "Observation", "k7", lab("k7", "2823-3", 4.4, "mmol/L", status="corrected"))
    dispatcher.drain()
    assert [(a["source"], a["status"]) for a in service.store.alerts()] == [
        ("Observation/k7/_history/1", "cancelled")
    ]
    repo.update(CTX, "Observation", "k7", lab("k7", "2823-3", 7.0, "mmol/L", status="amended"))
    dispatcher.drain()
    assert {(a["source"], a["status"]) for a in service.store.alerts()} == {
        ("Observation/k7/_history/1", "cancelled"),
        ("Observation/k7/_history/3", "open"),
    }


def test_complete_vital_sign_set_gives_news2_and_an_alert(repo: FhirRepository, world: Any) -> None:
    service, dispatcher, _ = world
    when = "2026-03-03T10:00:00+08:00"
    readings = [
        ("v1", "9279-1", 25, "/min"),
        ("v2", "59408-5", 95, "%"),
        ("v3", "8867-4", 112, "/min"),
        ("v4", "8310-5", 38.4, "Cel"),
    ]
    for oid, code, value, unit in readings:
        repo.update(CTX, "Observation", oid, vital(oid, code, value, unit, when=when))
    dispatcher.drain()
    assert _search(repo, "RiskAssessment", ("subject", "Patient/p1")) == []  # incomplete: no BP, no ACVPU
    bp = vital("v5", "85354-9", 0, "mm[Hg]", when=when)
    del bp["valueQuantity"]
    bp["component"] = [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {
                "value": 104,
                "unit": "mmHg",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        }
    ]
    avpu = vital("v6", "67775-7", 0, "", when=when)
    del avpu["valueQuantity"]
    avpu["valueCodeableConcept"] = {"coding": [{"system": "http://snomed.info/sct", "code": "248234008"}]}
    repo.update(CTX, "Observation", "v5", bp)
    repo.update(CTX, "Observation", "v6", avpu)
    dispatcher.drain()
    assessments = {
        r["method"]["coding"][0]["code"]: r
        for r in _search(repo, "RiskAssessment", ("subject", "Patient/p1"))
    }
    # RR 25 -> 3, SpO2 95 -> 1, air 0, SBP 104 -> 1, HR 112 -> 2, alert 0, 38.4 -> 1: NEWS2 8
    total = next(
        e["valueInteger"] for e in assessments["news2"]["extension"] if e["url"].endswith("cds-score-total")
    )
    assert total == 8
    assert {"news2", "mews", "qsofa"} <= set(assessments)
    news2_alerts = [a for a in service.store.alerts() if a["payload"]["data"].get("score") == "news2"]
    assert len(news2_alerts) == 1 and news2_alerts[0]["priority"] == "critical"
    dispatcher.replay("cds:observations", 1)
    dispatcher.drain()
    assert len([a for a in service.store.alerts() if a["payload"]["data"].get("score") == "news2"]) == 1


def test_prescription_audit_review_and_return(repo: FhirRepository, world: Any) -> None:
    service, dispatcher, heard = world
    repo.update(
        CTX,
        "AllergyIntolerance",
        "a1",
        {
            "resourceType": "AllergyIntolerance",
            "id": "a1",
            "patient": {"reference": "Patient/p1"},
            "category": ["medication"],
            "criticality": "high",
            "code": {"text": "青霉素"},
        },
    )
    repo.update(
        CTX,
        "MedicationRequest",
        "m1",
        medication_request("m1", code="HB0401", dose=0.5, unit="g", per_day=3, requester=DOCTOR),
    )
    repo.update(
        CTX, "MedicationRequest", "m2", medication_request("m2", code="HB0301", dose=20, requester=DOCTOR)
    )
    dispatcher.drain()
    reviews = {r["request_id"]: r for r in service.admin.reviews()}
    assert reviews["m1"]["status"] == "pending" and reviews["m1"]["severity"] == "major"
    assert reviews["m2"]["status"] == "auto_approved"
    issues = [repo.read(CTX, "DetectedIssue", ref.split("/")[1]).resource for ref in reviews["m1"]["issues"]]
    allergy = [i for i in issues if i["code"]["text"] == "allergy"]
    assert (
        allergy
        and allergy[0]["severity"] == "high"
        and "AllergyIntolerance/a1" in str(allergy[0]["implicated"])
    )
    assert any(n["event"] == "alert" and n["alert"]["kind"] == "audit" for n in heard)
    service.reviews.decide(
        reviews["m1"]["id"], "return", "Practitioner/ph1", "allergy", "青霉素过敏，请改用大环内酯类"
    )
    review_task = repo.read(CTX, "Task", f"cds-review-{reviews['m1']['id']}").resource
    assert (
        review_task["status"] == "completed"
        and review_task["businessStatus"]["coding"][0]["code"] == "returned"
    )
    returned = [a for a in service.store.alerts() if a["payload"]["data"].get("decision") == "return"]
    assert len(returned) == 1 and returned[0]["recipient"] == DOCTOR
    with pytest.raises(Conflict):
        service.reviews.decide(reviews["m1"]["id"], "approve", "Practitioner/ph1")
    repo.update(
        CTX,
        "MedicationRequest",
        "m1",
        medication_request("m1", text="阿奇霉素片", dose=0.5, unit="g", requester=DOCTOR),
    )
    dispatcher.drain()
    assert {
        (r["request_version"], r["status"]) for r in service.admin.reviews() if r["request_id"] == "m1"
    } == {(1, "returned"), (2, "auto_approved")}
