"""Case definitions: ICD-10 codes to notifiable diseases (甲乙丙类) and syndromes."""

from __future__ import annotations

import pytest

from healthbrain.surveillance.casedef import BY_KEY, DISEASES, disease_of, icd10_codes, syndromes_of


@pytest.mark.parametrize(
    ("code", "disease", "klass"),
    [("A00.1", "cholera", "A"), ("A20.9", "plague", "A"), ("B08.4", "hfmd", "C"), ("J11.1", "influenza", "C"),
     ("J09.X1", "h7n9", "B"), ("J09", "avian_flu", "B"), ("A16.2", "tuberculosis", "B"), ("U07.1", "covid19", "B"),
     ("a09", "infectious_diarrhoea", "C"), ("B05.9", "measles", "B")],
)  # fmt: skip
def test_icd10_codes_map_to_the_notifiable_disease_and_class(code: str, disease: str, klass: str) -> None:
    found = disease_of(code)
    assert found is not None and found.key == disease and found.klass == klass


def test_non_notifiable_codes_map_to_nothing() -> None:
    assert disease_of("I10") is None and disease_of("J06.9") is None


def test_syndromes_group_codes_across_diseases() -> None:
    assert "respiratory" in syndromes_of("J06.9") and "fever" in syndromes_of("J11.1")
    assert "rash" in syndromes_of("B08.4") and "diarrhoea" in syndromes_of("A09")


def test_class_a_and_the_rarest_diseases_alarm_on_every_case() -> None:
    assert BY_KEY["cholera"].detector == BY_KEY["plague"].detector == "threshold"
    assert all(d.detector in ("threshold", "ears") for d in DISEASES)


def test_only_icd10_codings_of_a_condition_are_read() -> None:
    condition = {"code": {"coding": [{"system": "http://snomed.info/sct", "code": "A00"},
                                     {"system": "http://hl7.org/fhir/sid/icd-10", "code": "B08.4"}]}}  # fmt: skip
    assert icd10_codes(condition) == ["B08.4"]
