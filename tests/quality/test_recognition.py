"""Results mutual recognition on SQLite and PostgreSQL: a new order finds the resident's recent equivalent
result at a recognised institution and is flagged with a DetectedIssue that references it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from recognitiondata import NOW, order, organisations, patient, report

from healthbrain.core.context import system_context
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.quality import RecognitionService, find_reusable, order_of, result_of
from healthbrain.quality.recognition import default_recognition
from healthbrain.simulation import Region

CTX = system_context()
CBC, HBA1C = "58410-2", "4548-4"


def _put(repo: FhirRepository, *resources: dict[str, Any]) -> None:
    for r in resources:
        repo.update(CTX, r["resourceType"], r["id"], r)


def _issues(repo: FhirRepository) -> list[dict[str, Any]]:
    return run_search(repo, CTX, "DetectedIssue", []).matches


def _service(
    repo: FhirRepository, region: Region, **kw: Any
) -> tuple[RecognitionService, EventDispatcher, str, str]:
    orgs, hospital, clinic = organisations(region)
    _put(repo, *orgs)
    dispatcher = EventDispatcher(repo.engine)
    service = RecognitionService(repo, **kw)
    service.register(dispatcher)
    return service, dispatcher, hospital, clinic


def test_a_repeat_order_at_the_clinic_reuses_the_hospital_result(
    repo: FhirRepository, region: Region
) -> None:
    _, dispatcher, hospital, clinic = _service(repo, region)
    _put(repo, patient("h-1", hospital), patient("c-1", clinic, link="h-1"),
         report("cbc-1", "h-1", hospital, CBC, days_ago=3))  # fmt: skip
    _put(repo, order("o-1", "c-1", clinic, CBC))
    dispatcher.drain()
    [issue] = _issues(repo)
    assert {"reference": "ServiceRequest/o-1"} in issue["implicated"]
    assert issue["evidence"][0]["detail"] == [{"reference": "DiagnosticReport/cbc-1"}]
    assert issue["patient"] == {"reference": "Patient/c-1"} and "血常规" in issue["detail"]
    dispatcher.replay("quality.recognition", 0)  # redelivered: the same issue, not a second one
    dispatcher.drain()
    assert len(_issues(repo)) == 1


def test_windows_levels_and_identity_decide_what_is_reusable(repo: FhirRepository, region: Region) -> None:
    links = {"Patient/c-2": ["Patient/c-2", "Patient/h-2"]}
    _, dispatcher, hospital, clinic = _service(repo, region, residents=lambda ref: links.get(ref, [ref]))
    _put(
        repo,
        patient("h-2", hospital),
        patient("c-2", clinic),
        patient("h-3", hospital),
        report("cbc-old", "h-2", hospital, CBC, days_ago=10),  # past the 7-day window of a blood count
        report("a1c", "h-2", hospital, HBA1C, days_ago=60),  # within the 90 days of an HbA1c
        report("cbc-clinic", "c-2", clinic, CBC, days_ago=2),
    )  # a township clinic's own result
    _put(repo, order("o-2", "c-2", clinic, CBC), order("o-3", "c-2", clinic, HBA1C),
         order("o-4", "h-2", hospital, CBC), order("o-5", "h-3", hospital, CBC))  # fmt: skip
    dispatcher.drain()
    flagged = {i["implicated"][0]["reference"]: i["implicated"][1]["reference"] for i in _issues(repo)}
    assert flagged == {
        "ServiceRequest/o-2": "DiagnosticReport/cbc-clinic",  # its own recent result (same institution)
        "ServiceRequest/o-3": "DiagnosticReport/a1c",  # the resident's hospital record, via the index
    }  # o-4: the clinic is not a recognised laboratory for the hospital; o-5: another resident


def test_the_pure_choice_takes_the_most_recent_acceptable_result() -> None:
    catalog = default_recognition()
    new = order_of(order("x", "p", "org-b", CBC), "org-b", NOW)
    assert new is not None
    results = [result_of(report(f"r{d}", "p", "org-a", CBC, d), catalog, "org-a") for d in (1, 2, 9)]
    found = find_reusable(new, [r for r in results if r is not None], catalog, lambda org: org == "org-a")
    assert [f.result.ref for f in found] == ["DiagnosticReport/r1"]
    assert find_reusable(new, [r for r in results if r], catalog, lambda org: False) == []
    later = order_of({**order("y", "p", "org-b", CBC), "authoredOn": (NOW - timedelta(days=5)).isoformat()},
                     "org-b", NOW)  # fmt: skip
    assert later is not None
    # a result not yet available when the order was placed cannot be reused
    assert [
        f.result.ref for f in find_reusable(later, [r for r in results if r], catalog, lambda o: True)
    ] == ["DiagnosticReport/r9"]
