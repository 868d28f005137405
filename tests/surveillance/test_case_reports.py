"""Cases from diagnoses and laboratory results on both backends: one case per resident, disease and
episode whatever reports it; syndromes; townships from addresses; ISO-week counts; corrections."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from healthbrain.core.context import system_context
from healthbrain.core.settings import EventSettings
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.surveillance import SurveillanceService
from healthbrain.surveillance.fhir_out import AREA_SYSTEM

CTX = system_context()
COUNTY = "330802"
START = date(2025, 5, 1)
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
TOWNS = ("白云街道", "航埠镇")


def _seed(repo: FhirRepository) -> None:
    repo.update(CTX, "Organization", "county", {"resourceType": "Organization", "id": "county",
                "identifier": [{"system": AREA_SYSTEM, "value": COUNTY}]})  # fmt: skip
    repo.update(CTX, "Organization", "clinic", {"resourceType": "Organization", "id": "clinic",
                "partOf": {"reference": "Organization/county"}})  # fmt: skip
    repo.update(CTX, "Organization", "hosp", {"resourceType": "Organization", "id": "hosp",
                "partOf": {"reference": "Organization/county"}})  # fmt: skip
    for i in range(10):
        address = [{"line": [TOWNS[i % 2], "某社区", "人民路1号"], "district": "柯城区"}]
        repo.update(CTX, "Patient", f"p{i}", {"resourceType": "Patient", "id": f"p{i}", "address": address,
                    "managingOrganization": {"reference": "Organization/clinic"}})  # fmt: skip
        # the same residents at the county hospital, which did not record the address
        repo.update(CTX, "Patient", f"h{i}", {"resourceType": "Patient", "id": f"h{i}",
                    "managingOrganization": {"reference": "Organization/hosp"}})  # fmt: skip


def _condition(cid: str, patient: str, code: str, onset: date, status: str = "confirmed") -> dict[str, Any]:
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": f"Patient/{patient}"},
            "verificationStatus": {"coding": [{"code": status}]},
            "code": {"coding": [{"system": ICD10, "code": code}]}, "onsetDateTime": onset.isoformat(),
            "recordedDate": onset.isoformat()}  # fmt: skip


def _lab(
    oid: str, patient: str, loinc: str, day: date, answer: str = "10828004", status: str = "final"
) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": status, "subject": {"reference": f"Patient/{patient}"},
            "category": [{"coding": [{"code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "effectiveDateTime": f"{day.isoformat()}T10:00:00+08:00",
            "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": answer}]}}  # fmt: skip


def _temp(oid: str, patient: str, value: float, day: date) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final", "subject": {"reference": f"Patient/{patient}"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
            "effectiveDateTime": f"{day.isoformat()}T10:00:00+08:00",
            "valueQuantity": {"value": value, "unit": "℃", "system": "http://unitsofmeasure.org", "code": "Cel"}}  # fmt: skip


@pytest.fixture
def env(repo: FhirRepository) -> tuple[SurveillanceService, EventDispatcher]:
    _seed(repo)
    dispatcher = EventDispatcher(repo.engine, EventSettings())
    # the patient index links a resident's clinic and hospital records (p<i> and h<i>)
    svc = SurveillanceService(repo, resident_of=lambda ref: "R" + ref.split("/")[1][1:])
    svc.register(dispatcher)
    return svc, dispatcher


def _put(repo: FhirRepository, *resources: dict[str, Any]) -> None:
    for r in resources:
        repo.update(CTX, r["resourceType"], r["id"], r)


def _cases(svc: SurveillanceService, key: str) -> list[dict[str, Any]]:
    return [c for i in range(10) for c in svc.store.cases_of(f"R{i}") if c["disease"] == key]


def _count(svc: SurveillanceService, key: str, **kw: Any) -> dict[str, int]:
    return svc.store.counts(
        key, kw.pop("area", COUNTY), START - timedelta(days=10), START + timedelta(days=90), **kw
    )


def test_a_positive_test_without_a_diagnosis_is_a_laboratory_confirmed_case(
    repo: FhirRepository, env: Any
) -> None:
    svc, dispatcher = env
    _put(repo, _lab("o1", "h3", "92142-9", START + timedelta(days=2)))
    dispatcher.drain()
    (case,) = _cases(svc, "influenza")
    assert case["status"] == "active" and case["lab_confirmed"] == 1
    assert _count(svc, "influenza") == {"2025-05-03": 1}


def test_a_diagnosis_and_a_test_of_one_resident_are_one_case(repo: FhirRepository, env: Any) -> None:
    svc, dispatcher = env
    # the clinic diagnoses influenza on day 0, the hospital's PCR of the same resident comes on day 2
    _put(repo, _condition("c1", "p3", "J11.1", START), _lab("o1", "h3", "92142-9", START + timedelta(days=2)))
    dispatcher.drain()
    (case,) = _cases(svc, "influenza")
    assert case["lab_confirmed"] == 1 and case["onset"] == START.isoformat()
    assert {r["source"] for r in svc.store.reports_of(case["id"])} == {"Condition/c1", "Observation/o1"}
    assert _count(svc, "influenza") == {START.isoformat(): 1}


def test_an_enterovirus_result_waits_for_the_hfmd_diagnosis_it_confirms(
    repo: FhirRepository, env: Any
) -> None:
    svc, dispatcher = env
    _put(repo, _lab("o1", "h4", "29591-5", START))  # the result arrives first
    dispatcher.drain()
    assert _cases(svc, "hfmd") == [] and _count(svc, "hfmd") == {}
    _put(repo, _condition("c1", "p4", "B08.4", START - timedelta(days=1)))
    dispatcher.drain()
    (case,) = _cases(svc, "hfmd")
    assert case["lab_confirmed"] == 1 and _count(svc, "hfmd") == {"2025-04-30": 1}
    # the diagnosis withdrawn: the case goes, the result alone is no case
    _put(repo, _condition("c1", "p4", "B08.4", START - timedelta(days=1), status="entered-in-error"))
    dispatcher.drain()
    assert _count(svc, "hfmd") == {} and _cases(svc, "hfmd")[0]["status"] == "withdrawn"
    # a new diagnosis within the episode picks the held result up again
    _put(repo, _condition("c2", "p4", "B08.4", START + timedelta(days=1)))
    dispatcher.drain()
    active = [c for c in _cases(svc, "hfmd") if c["status"] == "active"]
    assert len(active) == 1 and active[0]["lab_confirmed"] == 1


def test_a_result_corrected_to_negative_withdraws_its_case(repo: FhirRepository, env: Any) -> None:
    svc, dispatcher = env
    _put(repo, _lab("o1", "h5", "54906-3", START))
    dispatcher.drain()
    assert _count(svc, "infectious_diarrhoea") == {START.isoformat(): 1}
    _put(repo, {**_lab("o1", "h5", "54906-3", START, answer="260385009"), "status": "corrected"})
    dispatcher.drain()
    assert _count(svc, "infectious_diarrhoea") == {}
    _put(repo, _lab("o2", "h6", "54906-3", START))
    dispatcher.drain()
    repo.delete(CTX, "Observation", "o2")
    dispatcher.drain()
    assert _count(svc, "infectious_diarrhoea") == {}
    dispatcher.drain()  # redelivery changes nothing
    assert _count(svc, "infectious_diarrhoea") == {}


def test_syndromes_are_counted_once_per_resident_and_episode(repo: FhirRepository, env: Any) -> None:
    svc, dispatcher = env
    _put(repo, _condition("c1", "p1", "J06.9", START), _condition("c2", "p2", "J20.9", START))
    # resident 1 febrile at the clinic and again at the hospital two days later: one fever case
    _put(repo, _temp("t1", "p1", 38.6, START), _temp("t2", "h1", 39.1, START + timedelta(days=2)))
    _put(repo, _temp("t3", "p2", 36.7, START))  # not febrile
    dispatcher.drain()
    assert _count(svc, "respiratory") == {START.isoformat(): 2}
    assert _count(svc, "fever") == {START.isoformat(): 1}
    _put(
        repo, _temp("t1", "p1", 37.0, START), _temp("t2", "h1", 37.1, START + timedelta(days=2))
    )  # re-measured
    dispatcher.drain()
    assert _count(svc, "fever") == {}


def test_counts_by_township_and_by_iso_week(repo: FhirRepository, env: Any) -> None:
    svc, dispatcher = env
    days = [date(2024, 12, 30), date(2025, 1, 5), date(2025, 1, 6)]  # ISO weeks 2025-W01, W01, W02
    for i, day in enumerate(days):
        _put(repo, _condition(f"c{i}", f"p{i}", "B08.4", day))
    _put(repo, _condition("c9", "h9", "B08.4", date(2025, 1, 6)))  # a hospital record without address
    dispatcher.drain()
    first, last = date(2024, 12, 1), date(2025, 1, 31)
    assert svc.store.counts("hfmd", COUNTY, first, last, freq="week") == {"2025-W01": 2, "2025-W02": 2}
    by_town = svc.store.totals("hfmd", first, last, level="township")
    assert by_town == {f"{COUNTY}/白云街道": 2, f"{COUNTY}/航埠镇": 1}  # one case's township is unknown
    weekly = svc.store.counts("hfmd", f"{COUNTY}/白云街道", first, last, level="township", freq="week")
    assert weekly == {"2025-W01": 1, "2025-W02": 1}
    assert svc.store.totals("hfmd", first, last) == {COUNTY: 4}


def test_a_record_linked_after_its_report_joins_the_residents_case(repo: FhirRepository) -> None:
    _seed(repo)
    linked: dict[str, str] = {"Patient/p1": "R1"}
    dispatcher = EventDispatcher(repo.engine, EventSettings())
    svc = SurveillanceService(repo, resident_of=linked.get)
    svc.register(dispatcher)
    _put(
        repo,
        _condition("c1", "p1", "J11.1", START),
        _condition("c2", "h1", "J11.1", START + timedelta(days=1)),
    )
    dispatcher.drain()  # the hospital record h1 is not linked yet: its report stands alone
    assert sum(_count(svc, "influenza").values()) == 2
    linked["Patient/h1"] = "R1"
    assert (
        svc.reconcile(START - timedelta(days=30)) == 3
    )  # influenza, and the fever and respiratory syndromes
    assert _count(svc, "influenza") == {START.isoformat(): 1}
    (case,) = [c for c in svc.store.cases_of("R1") if c["disease"] == "influenza" and c["status"] == "active"]
    assert {r["source"] for r in svc.store.reports_of(case["id"])} == {"Condition/c1", "Condition/c2"}
    assert svc.reconcile(START - timedelta(days=30)) == 0  # nothing left to do
