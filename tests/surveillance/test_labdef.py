"""Case definitions from laboratory results, vital signs and diagnoses: what counts towards what."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from healthbrain.surveillance import BY_KEY, SYNDROME_BY_KEY
from healthbrain.surveillance.cases import township_of
from healthbrain.surveillance.labdef import is_febrile, is_positive, lab_test_of, lab_tests, parse_lab_tests
from healthbrain.surveillance.reports import condition_parts, observation_parts

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


def _result(
    code: str, value: dict[str, Any], status: str = "final", day: str = "2025-05-03"
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": f"{day}T09:30:00+08:00",
        **value,
    }


POSITIVE = {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "10828004"}]}}
NEGATIVE = {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "260385009"}]}}


def test_the_packaged_lab_tests_point_at_notifiable_diseases() -> None:
    tests = lab_tests()
    diseases = {t.disease for t in tests.values()}
    assert {"influenza", "covid19", "hfmd", "infectious_diarrhoea", "measles"} <= diseases
    assert all(t.disease in BY_KEY for t in tests.values())
    # an enterovirus result alone is not HFMD: it only confirms a clinical diagnosis
    assert not tests[(LOINC, "29591-5")].alone and tests[(LOINC, "92142-9")].alone


def test_a_lab_table_naming_an_unknown_disease_is_rejected() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_lab_tests("system,code,disease,alone,display\nhttp://loinc.org,1-1,ebola,yes,x\n")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(POSITIVE, True), (NEGATIVE, False), ({"valueString": "阳性"}, True), ({"valueString": "未检出"}, False),
     ({"valueString": " Detected "}, True), ({"valueBoolean": False}, False),
     ({"interpretation": [{"coding": [{"code": "POS"}]}]}, True),
     ({"valueString": "见报告"}, None), ({"valueQuantity": {"value": 31.2}}, None), ({}, None)],
)  # fmt: skip
def test_qualitative_results_are_read_from_value_then_flag(
    value: dict[str, Any], expected: bool | None
) -> None:
    assert is_positive(_result("92142-9", value)) is expected


def test_a_value_wins_over_a_contradicting_flag() -> None:
    obs = _result("92142-9", {**NEGATIVE, "interpretation": [{"coding": [{"code": "POS"}]}]})
    assert is_positive(obs) is False


def test_a_positive_influenza_test_is_a_case_by_itself_from_its_collection_day() -> None:
    extract = observation_parts(_result("92142-9", POSITIVE), lab_tests())
    assert extract.patient == "Patient/p1"
    ((part,),) = [extract.parts]
    assert (part.key, part.kind, part.onset, part.founds_case) == ("influenza", "lab", date(2025, 5, 3), True)


def test_an_enterovirus_result_only_confirms() -> None:
    (part,) = observation_parts(_result("29591-5", POSITIVE), lab_tests()).parts
    assert part.key == "hfmd" and not part.founds_case


@pytest.mark.parametrize("status", ["preliminary", "cancelled", "entered-in-error", "registered"])
def test_results_that_are_not_final_count_towards_nothing(status: str) -> None:
    extract = observation_parts(_result("92142-9", POSITIVE, status=status), lab_tests())
    assert extract.parts == () and extract.relevant  # an earlier final version is withdrawn


def test_negative_and_unrelated_results_count_towards_nothing() -> None:
    assert observation_parts(_result("92142-9", NEGATIVE), lab_tests()).parts == ()
    glucose = observation_parts(_result("14749-6", {"valueQuantity": {"value": 9.1}}), lab_tests())
    assert glucose.parts == () and not glucose.relevant  # not even looked up


def _temperature(value: float, unit: str = "Cel") -> dict[str, Any]:
    return _result("8310-5", {"valueQuantity": {"value": value, "unit": unit, "code": unit}})


def test_a_measured_fever_counts_towards_the_fever_syndrome() -> None:
    assert is_febrile(_temperature(38.0)) and not is_febrile(_temperature(37.9))
    assert is_febrile(_temperature(101.2, "[degF]")) and not is_febrile(_temperature(99.5, "[degF]"))
    (part,) = observation_parts(_temperature(38.6), lab_tests()).parts
    assert (part.key, part.kind) == ("fever", "vital")
    assert observation_parts(_temperature(36.8), lab_tests()).parts == ()


def _condition(*codes: str, status: str = "confirmed") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "verificationStatus": {"coding": [{"code": status}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": c} for c in codes]},
        "subject": {"reference": "Patient/p2"},
        "onsetDateTime": "2025-06-01",
    }


def test_a_diagnosis_counts_towards_its_disease_and_syndromes() -> None:
    keys = {p.key for p in condition_parts(_condition("B08.4")).parts}
    assert keys == {"hfmd", "rash"}
    assert {p.key for p in condition_parts(_condition("J06.9")).parts} == {"respiratory"}
    assert {p.key for p in condition_parts(_condition("K52.9")).parts} == {"diarrhoea"}
    assert condition_parts(_condition("B08.4", status="refuted")).parts == ()
    assert condition_parts(_condition("I10")).parts == ()


def test_diseases_and_syndromes_never_share_a_key() -> None:
    assert not set(BY_KEY) & set(SYNDROME_BY_KEY)


@pytest.mark.parametrize(
    ("address", "township"),
    [({"line": ["白云街道", "荷花社区", "人民路1号"], "district": "柯城区"}, "白云街道"),
     ({"text": "浙江省衢州市常山县球川镇东村5号", "district": "常山县"}, "球川镇"),
     ({"text": "浙江省丽水市松阳县大东坝镇", "district": "松阳县"}, "大东坝镇"),
     ({"text": "人民路1号"}, None)],
)  # fmt: skip
def test_the_township_comes_from_the_address(address: dict[str, Any], township: str | None) -> None:
    assert township_of({"address": [address]}) == township
    assert township_of({}) is None


def test_lab_test_of_matches_system_and_code() -> None:
    obs = _result("92142-9", POSITIVE)
    obs["code"]["coding"][0]["system"] = "urn:local"
    assert lab_test_of(obs, lab_tests()) is None
