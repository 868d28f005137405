"""Search: every parameter type, modifiers, prefixes, chains, includes, paging and CJK text."""

from __future__ import annotations

from typing import Any

import pytest

from healthbrain.core.context import system_context
from healthbrain.core.errors import InvalidInput
from healthbrain.fhir.reading import SearchResult, run_search
from healthbrain.fhir.repository import FhirRepository

CTX = system_context()
RESIDENT = "http://healthbrain.cn/fhir/sid/resident-id"


def person(pid: str, family: str, given: str, gender: str, birth: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "gender": gender,
        "birthDate": birth,
        "name": [{"family": family, "given": [given], "text": family + given}],
        "identifier": [{"system": RESIDENT, "value": f"ID-{pid}"}],
        **extra,
    }


def obs(oid: str, pid: str, code: str, value: float, when: str, unit: str = "mm[Hg]") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}], "text": "收缩压"},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


@pytest.fixture
def region(repo: FhirRepository) -> FhirRepository:
    org = {"resourceType": "Organization", "id": "h1", "name": "示例县人民医院", "active": True}
    repo.update(CTX, "Organization", "h1", org)
    people = [
        person("p1", "张", "伟", "male", "1960-05-01", managingOrganization={"reference": "Organization/h1"}),
        person("p2", "王", "芳", "female", "1985-11-20", active=False),
        person("p3", "李", "伟明", "male", "2001-01-15"),
        person("p4", "Smith", "John", "male", "1975-07-04", address=[{"city": "Ｂｅｉｊｉｎｇ"}]),
    ]
    for p in people:
        repo.update(CTX, "Patient", p["id"], p)
    for o in [
        obs("o1", "p1", "8480-6", 150, "2025-03-01T08:00:00+08:00"),
        obs("o2", "p1", "8480-6", 128, "2025-06-01T08:00:00+08:00"),
        obs("o3", "p2", "8480-6", 110, "2025-06-02T09:30:00+08:00"),
        obs("o4", "p3", "8867-4", 72, "2024-12-31T23:00:00+08:00", unit="/min"),
    ]:
        repo.update(CTX, "Observation", o["id"], o)
    cond = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10"}], "text": "高血压"},
    }
    repo.update(CTX, "Condition", "c1", cond)
    return repo


def ids(result: SearchResult) -> list[str]:
    return sorted(r["id"] for r in result.matches)


def search(repo: FhirRepository, rt: str, *params: tuple[str, str]) -> list[str]:
    return ids(run_search(repo, CTX, rt, list(params)))


def test_cjk_contains_and_names_without_spaces(region: FhirRepository) -> None:
    assert search(region, "Patient", ("name:contains", "伟")) == ["p1", "p3"]
    assert search(region, "Patient", ("name", "张伟")) == ["p1"]
    assert search(region, "Patient", ("family", "王")) == ["p2"]
    assert search(region, "Patient", ("given", "伟")) == ["p1", "p3"]


def test_string_defaults_exact_and_fullwidth(region: FhirRepository) -> None:
    assert search(region, "Patient", ("family", "smi")) == ["p4"]
    assert search(region, "Patient", ("family:exact", "smith")) == []
    assert search(region, "Patient", ("family:exact", "Smith")) == ["p4"]
    assert search(region, "Patient", ("address-city", "beijing")) == ["p4"]
    assert search(region, "Patient", ("name", "ＪＯＨＮ")) == ["p4"]


def test_token_forms_and_not(region: FhirRepository) -> None:
    assert search(region, "Patient", ("gender", "male")) == ["p1", "p3", "p4"]
    assert search(region, "Patient", ("gender:not", "male")) == ["p2"]
    assert search(region, "Patient", ("identifier", f"{RESIDENT}|ID-p2")) == ["p2"]
    assert search(region, "Patient", ("identifier", "|ID-p2")) == []
    assert search(region, "Observation", ("code", "http://loinc.org|")) == ["o1", "o2", "o3", "o4"]
    assert search(region, "Observation", ("code:text", "收缩")) == ["o1", "o2", "o3", "o4"]
    assert search(region, "Patient", ("active", "false")) == ["p2"]


def test_or_within_a_parameter_and_and_across_repeats(region: FhirRepository) -> None:
    assert search(region, "Patient", ("family", "张,王")) == ["p1", "p2"]
    assert search(region, "Patient", ("gender", "male"), ("birthdate", "lt1980")) == ["p1", "p4"]
    assert search(region, "Patient", ("birthdate", "ge1970"), ("birthdate", "le1990")) == ["p2", "p4"]


def test_date_prefixes_and_precision(region: FhirRepository) -> None:
    assert search(region, "Patient", ("birthdate", "1985")) == ["p2"]
    assert search(region, "Patient", ("birthdate", "1985-11")) == ["p2"]
    assert search(region, "Patient", ("birthdate", "gt2000-01-01")) == ["p3"]
    assert search(region, "Patient", ("birthdate", "ne1985-11-20")) == ["p1", "p3", "p4"]
    assert search(region, "Observation", ("date", "2025-06")) == ["o2", "o3"]
    # 2024-12-31T23:00+08:00 is 15:00Z on the 31st
    assert search(region, "Observation", ("date", "lt2025-01-01T00:00:00Z")) == ["o4"]
    assert search(region, "Observation", ("date", "sa2025-05-31")) == ["o2", "o3"]
    assert search(region, "Observation", ("date", "eb2025-01-01")) == ["o4"]


def test_quantity_prefixes_and_units(region: FhirRepository) -> None:
    assert search(region, "Observation", ("value-quantity", "gt140")) == ["o1"]
    assert search(region, "Observation", ("value-quantity", "le128")) == ["o2", "o3", "o4"]
    assert search(region, "Observation", ("value-quantity", "128")) == ["o2"]
    assert search(region, "Observation", ("value-quantity", "72||/min")) == ["o4"]
    assert search(region, "Observation", ("value-quantity", "72|http://unitsofmeasure.org|mm[Hg]")) == []
    assert search(region, "Observation", ("value-quantity", "ap115")) == ["o3"]


def test_composite_code_value_quantity(region: FhirRepository) -> None:
    got = search(region, "Observation", ("code-value-quantity", "http://loinc.org|8480-6$gt140"))
    assert got == ["o1"]
    assert search(region, "Observation", ("code-value-quantity", "8867-4$lt100")) == ["o4"]


def test_references_and_missing(region: FhirRepository) -> None:
    assert search(region, "Observation", ("subject", "Patient/p1")) == ["o1", "o2"]
    assert search(region, "Observation", ("patient", "p1")) == ["o1", "o2"]
    assert search(region, "Observation", ("subject:Patient", "p2")) == ["o3"]
    assert search(region, "Observation", ("subject", "http://test/fhir/R4/Patient/p3")) == ["o4"]
    assert search(region, "Patient", ("organization:missing", "false")) == ["p1"]
    assert search(region, "Patient", ("organization:missing", "true")) == ["p2", "p3", "p4"]


def test_chained_and_reverse_chained(region: FhirRepository) -> None:
    assert search(region, "Observation", ("subject:Patient.name", "张")) == ["o1", "o2"]
    assert search(region, "Observation", ("patient.gender", "female")) == ["o3"]
    assert search(region, "Observation", ("patient.organization.name", "示例")) == ["o1", "o2"]
    assert search(region, "Patient", ("_has:Observation:patient:code", "8867-4")) == ["p3"]
    assert search(region, "Patient", ("_has:Condition:subject:code", "I10")) == ["p1"]


def test_include_revinclude_and_iterate(region: FhirRepository) -> None:
    r = run_search(region, CTX, "Observation", [("code", "8480-6"), ("_include", "Observation:subject")])
    assert sorted(x["id"] for x in r.included) == ["p1", "p2"]
    r = run_search(region, CTX, "Patient", [("_id", "p1"), ("_revinclude", "Observation:subject")])
    assert sorted(x["id"] for x in r.included) == ["o1", "o2"]
    r = run_search(
        region,
        CTX,
        "Observation",
        [("_id", "o1"), ("_include", "Observation:subject"), ("_include:iterate", "Patient:organization")],
    )
    assert sorted(x["id"] for x in r.included) == ["h1", "p1"]


def test_sort_and_stable_paging(region: FhirRepository) -> None:
    r = run_search(region, CTX, "Patient", [("_sort", "-birthdate")])
    assert [x["id"] for x in r.matches] == ["p3", "p2", "p4", "p1"]
    pages: list[str] = []
    offset = 0
    while True:
        page = run_search(
            region, CTX, "Patient", [("_sort", "birthdate"), ("_count", "1"), ("_offset", str(offset))]
        )
        pages += [x["id"] for x in page.matches]
        if not page.has_next:
            break
        offset += 1
    assert pages == ["p1", "p4", "p2", "p3"]


def test_summary_count_and_total(region: FhirRepository) -> None:
    r = run_search(region, CTX, "Observation", [("_summary", "count")])
    assert r.total == 4 and r.matches == []
    r = run_search(region, CTX, "Observation", [("_count", "2"), ("_total", "accurate")])
    assert r.total == 4 and len(r.matches) == 2 and r.has_next
    r = run_search(region, CTX, "Observation", [("_total", "none")])
    assert r.total is None


def test_last_updated_and_id(region: FhirRepository) -> None:
    assert search(region, "Patient", ("_id", "p1,p2")) == ["p1", "p2"]
    assert search(region, "Patient", ("_lastUpdated", "gt2000-01-01")) == ["p1", "p2", "p3", "p4"]
    assert search(region, "Patient", ("_lastUpdated", "lt2000-01-01")) == []


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ([("nonsense", "1")], "nonsense"),
        ([("birthdate", "2020-13-45")], "birthdate"),
        ([("_count", "-1")], "_count"),
        ([("gender:contains", "m")], "gender"),
        ([("value-quantity", "abc")], "value-quantity"),
        ([("_sort", "nope")], "nope"),
    ],
)
def test_bad_parameters_are_400_with_location(
    region: FhirRepository, params: list[tuple[str, str]], where: str
) -> None:
    rt = "Observation" if params[0][0] == "value-quantity" else "Patient"
    with pytest.raises(InvalidInput) as err:
        run_search(region, CTX, rt, params)
    assert err.value.issues[0].expression == where


def test_lenient_handling_ignores_unknown_parameters_with_a_warning(region: FhirRepository) -> None:
    r = run_search(region, CTX, "Patient", [("nonsense", "1"), ("gender", "female")], lenient=True)
    assert ids(r) == ["p2"]
    assert r.request.warnings and r.request.warnings[0].severity == "warning"
