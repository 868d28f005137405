"""The surveillance service end to end on both backends: reports -> cases -> counts -> signals ->
FHIR DetectedIssue/Observation/Task -> the CIDARS workflow with response times."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from healthbrain.core.context import system_context
from healthbrain.core.errors import Conflict, InvalidInput
from healthbrain.core.settings import EventSettings
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.surveillance import SurveillanceService
from healthbrain.surveillance.fhir_out import AREA_SYSTEM

CTX = system_context()
COUNTY = "330102"
START = date(2025, 1, 1)


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def _seed(repo: FhirRepository, patients: int = 40) -> None:
    repo.update(CTX, "Organization", "county", {"resourceType": "Organization", "id": "county",
                "identifier": [{"system": AREA_SYSTEM, "value": COUNTY}], "name": "上城区"})  # fmt: skip
    repo.update(CTX, "Organization", "clinic", {"resourceType": "Organization", "id": "clinic",
                "name": "某街道社区卫生服务中心", "partOf": {"reference": "Organization/county"}})  # fmt: skip
    for i in range(patients):
        repo.update(CTX, "Patient", f"p{i}", {"resourceType": "Patient", "id": f"p{i}",
                    "managingOrganization": {"reference": "Organization/clinic"}})  # fmt: skip


def _condition(cid: str, patient: str, code: str, onset: date, recorded: date | None = None,
               status: str = "confirmed") -> dict[str, Any]:  # fmt: skip
    return {
        "resourceType": "Condition",
        "id": cid,
        "verificationStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": status}
            ]
        },
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "onsetDateTime": onset.isoformat(),
        "recordedDate": (recorded or onset).isoformat(),
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(repo: FhirRepository, clock: Clock) -> tuple[SurveillanceService, EventDispatcher]:
    _seed(repo)
    dispatcher = EventDispatcher(repo.engine, EventSettings(), clock=clock)
    svc = SurveillanceService(repo, clock=clock)
    svc.register(dispatcher)
    return svc, dispatcher


def _counts(svc: SurveillanceService, disease: str) -> dict[str, int]:
    return svc.store.counts(disease, COUNTY, START, START + timedelta(days=400))


def test_reports_become_cases_counted_by_county_and_day(repo: FhirRepository, service: Any) -> None:
    svc, dispatcher = service
    repo.update(CTX, "Condition", "c1", _condition("c1", "p1", "J11.1", START + timedelta(days=3)))
    repo.update(CTX, "Condition", "c2", _condition("c2", "p2", "J10.0", START + timedelta(days=3)))
    repo.update(
        CTX, "Condition", "c3", _condition("c3", "p3", "I10", START + timedelta(days=3))
    )  # not notifiable
    dispatcher.drain()
    assert _counts(svc, "influenza") == {"2025-01-04": 2}


def test_one_resident_reported_twice_in_an_episode_is_one_case(repo: FhirRepository, service: Any) -> None:
    svc, dispatcher = service
    repo.update(CTX, "Condition", "a", _condition("a", "p1", "B08.4", START + timedelta(days=10)))
    repo.update(CTX, "Condition", "b", _condition("b", "p1", "B08.4", START + timedelta(days=8)))
    repo.update(
        CTX, "Condition", "c", _condition("c", "p1", "B08.4", START + timedelta(days=60))
    )  # new episode
    dispatcher.drain()
    # the episode's onset is its earliest report; a report 50 days later is a second case
    assert _counts(svc, "hfmd") == {"2025-01-09": 1, "2025-03-02": 1}
    cases = svc.store.cases_of("Patient/p1")
    assert [c["disease"] for c in cases if c["disease"] == "hfmd"] == ["hfmd", "hfmd"]
    assert {c["disease"] for c in cases} == {"hfmd", "rash"}  # HFMD counts towards the rash syndrome too


def test_the_patient_index_links_records_of_one_resident(repo: FhirRepository, clock: Clock) -> None:
    _seed(repo)
    dispatcher = EventDispatcher(repo.engine, EventSettings(), clock=clock)
    svc = SurveillanceService(
        repo,
        clock=clock,
        resident_of=lambda ref: "resident-1" if ref in ("Patient/p1", "Patient/p2") else None,
    )
    svc.register(dispatcher)
    repo.update(CTX, "Condition", "a", _condition("a", "p1", "A09", START))
    repo.update(CTX, "Condition", "b", _condition("b", "p2", "A09", START + timedelta(days=1)))
    dispatcher.drain()
    assert sum(_counts(svc, "infectious_diarrhoea").values()) == 1


def test_withdrawn_and_deleted_reports_leave_the_counts(repo: FhirRepository, service: Any) -> None:
    svc, dispatcher = service
    day = START + timedelta(days=5)
    for i in range(3):
        repo.update(CTX, "Condition", f"c{i}", _condition(f"c{i}", f"p{i}", "A09", day))
    dispatcher.drain()
    assert _counts(svc, "infectious_diarrhoea") == {day.isoformat(): 3}
    repo.update(CTX, "Condition", "c0", _condition("c0", "p0", "A09", day, status="entered-in-error"))
    repo.delete(CTX, "Condition", "c1")
    repo.update(CTX, "Condition", "c2", _condition("c2", "p2", "K29.7", day))  # recoded: gastritis
    dispatcher.drain()
    assert _counts(svc, "infectious_diarrhoea") == {}
    dispatcher.drain()  # redelivery changes nothing
    assert _counts(svc, "infectious_diarrhoea") == {}


def test_a_backdated_report_counts_on_its_day_of_onset(repo: FhirRepository, service: Any) -> None:
    svc, dispatcher = service
    repo.update(CTX, "Condition", "late", _condition("late", "p5", "B05.9", START + timedelta(days=2),
                                                     recorded=START + timedelta(days=20)))  # fmt: skip
    repo.update(CTX, "Condition", "odd", _condition("odd", "p6", "B05.9", START + timedelta(days=30),
                                                    recorded=START + timedelta(days=21)))  # fmt: skip
    dispatcher.drain()
    # onset after the report date is impossible: the report date is used
    assert _counts(svc, "measles") == {"2025-01-03": 1, "2025-01-22": 1}


def _burst(repo: FhirRepository, day: date, n: int, code: str = "J11.1", prefix: str = "x") -> None:
    for i in range(n):
        repo.update(CTX, "Condition", f"{prefix}{i}", _condition(f"{prefix}{i}", f"p{i}", code, day))


def test_an_outbreak_becomes_a_signal_written_as_fhir_with_its_evidence(
    repo: FhirRepository, service: Any
) -> None:
    svc, dispatcher = service
    repo.update(CTX, "Condition", "bg", _condition("bg", "p39", "J11.1", START))  # history starts here
    day = START + timedelta(days=40)
    _burst(repo, day, 6)
    dispatcher.drain()
    summary, ids = svc.detect(day)
    assert summary.alarms == 1 and len(ids) == 1
    signal = svc.signals.get(ids[0])
    assert signal["observed"] == 6 and signal["threshold"] < 6 and signal["method"] == "ears_c2"
    issue = repo.read(CTX, "DetectedIssue", signal["issue_ref"].split("/")[1]).resource
    assert issue is not None and issue["status"] == "preliminary"
    obs_ref = issue["evidence"][0]["detail"][0]["reference"]
    obs = repo.read(CTX, "Observation", obs_ref.split("/")[1]).resource
    assert obs is not None and obs["valueQuantity"]["value"] == 6
    assert {c["code"]["coding"][0]["code"] for c in obs["component"]} >= {"expected", "threshold", "area"}
    assert signal["evidence"]["chart"]["cases"][-1] == 6
    _, again = svc.detect(day)
    assert again == ids  # the same signal, not a second one


def test_quiet_days_raise_no_signal(repo: FhirRepository, service: Any) -> None:
    svc, dispatcher = service
    for d in range(0, 40, 4):
        repo.update(
            CTX, "Condition", f"q{d}", _condition(f"q{d}", f"p{d}", "J11.1", START + timedelta(days=d))
        )
    dispatcher.drain()
    summary, ids = svc.detect(START + timedelta(days=36))
    assert summary.series == 1 and ids == []


def test_a_single_cholera_case_is_a_signal(repo: FhirRepository, service: Any) -> None:
    svc, dispatcher = service
    day = START + timedelta(days=3)
    repo.update(CTX, "Condition", "ch", _condition("ch", "p1", "A00.1", day))
    dispatcher.drain()
    _, ids = svc.detect(day)
    signal = svc.signals.get(ids[0])
    assert signal["method"] == "threshold" and signal["disease"] == "cholera"
    issue = repo.read(CTX, "DetectedIssue", signal["issue_ref"].split("/")[1]).resource
    assert issue is not None and issue["severity"] == "high"


def test_the_cidars_workflow_measures_response_times(
    repo: FhirRepository, service: Any, clock: Clock
) -> None:
    svc, dispatcher = service
    svc.signals.set_officer(COUNTY, "officer-1")
    day = START + timedelta(days=3)
    repo.update(CTX, "Condition", "ch", _condition("ch", "p1", "A00.1", day))
    dispatcher.drain()
    _, (sid,) = svc.detect(day)
    signal = svc.signals.get(sid)
    assert signal["status"] == "assigned" and signal["assignee"] == "officer-1"  # pushed at once
    tasks = [r for r in _all(repo, "Task") if r["owner"]["reference"] == "Practitioner/officer-1"]
    assert tasks and tasks[0]["focus"]["reference"] == signal["issue_ref"]
    with pytest.raises(Conflict):
        svc.respond(sid, "officer-1")  # not verified yet
    clock.now += 1800
    svc.start_verification(sid, "officer-1")
    clock.now += 1800
    svc.conclude(sid, "outbreak", "officer-1")
    clock.now += 3600
    done = svc.respond(sid, "officer-1")
    assert done["status"] == "responded"
    assert [e["step"] for e in done["events"]] == ["created", "assign", "verify", "conclude", "respond"]
    times = svc.signals.response_times()
    assert times["median_hours_to_verified"] == pytest.approx(1.0)
    assert times["median_hours_to_responded"] == pytest.approx(2.0)
    issue = repo.read(CTX, "DetectedIssue", signal["issue_ref"].split("/")[1]).resource
    assert issue is not None and issue["status"] == "final" and len(issue["mitigation"]) == 2
    with pytest.raises(InvalidInput):
        svc.conclude(sid, "maybe", "officer-1")


def _all(repo: FhirRepository, rt: str) -> list[dict[str, Any]]:
    return run_search(repo, CTX, rt, []).matches
