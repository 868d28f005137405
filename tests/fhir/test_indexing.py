"""The indexer turns official examples into the rows that search relies on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from healthbrain.fhir.fhirpath import compile_path
from healthbrain.fhir.indexing import ResourceIndexer, date_range
from healthbrain.fhir.searchparams import default_registry
from healthbrain.fhir.text import name_variants, normalise

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "data" / "fhir" / "r4-examples"


def _example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def indexer() -> ResourceIndexer:
    return ResourceIndexer(default_registry())


def test_every_official_expression_compiles(indexer: ResourceIndexer) -> None:
    for rt in default_registry().resource_types():
        indexer.params_for(rt)
    assert indexer.unsupported == []


def test_date_precision_sets_the_range() -> None:
    year = date_range("2024")
    assert year[1] - year[0] == 366 * 86400
    feb = date_range("2023-02")
    assert feb[1] - feb[0] == 28 * 86400
    minute = date_range("2024-03-05T10:00+08:00")
    assert minute[1] - minute[0] == 60
    assert minute[0] == date_range("2024-03-05T02:00Z")[0]
    for bad in ("2024-13", "2024-02-30", "yesterday", "2024-1-1", "2024-03-05T25:00"):
        with pytest.raises(ValueError):
            date_range(bad)


def test_patient_example_rows(indexer: ResourceIndexer) -> None:
    rows = indexer.index(_example("Patient-example.json"))
    assert ("gender", None, "male") in rows.tokens
    assert ("identifier", "urn:oid:1.2.36.146.595.217.0.1", "12345") in rows.tokens
    assert ("family", "chalmers", "Chalmers") in rows.strings
    assert ("organization", "Organization", "1", None) in rows.references
    (birth,) = [d for d in rows.dates if d[0] == "birthdate"]
    assert birth[1:] == date_range("1974-12-25")


def test_observation_composite_and_choice_types(indexer: ResourceIndexer) -> None:
    rows = indexer.index(_example("Observation-blood-pressure.json"))
    systolic = [c for c in rows.composites if c[0] == "component-code-value-quantity" and c[2] == "8480-6"]
    assert systolic and systolic[0][5] == 107.0
    assert ("subject", "Patient", "example", None) in rows.references
    assert any(s[0] == "code:text" for s in rows.strings)


def test_chinese_names_are_searchable_joined_and_full_width_folds(indexer: ResourceIndexer) -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "欧阳", "given": ["娜娜"]}],
        "telecom": [{"system": "phone", "value": "13800138000"}],
    }
    rows = indexer.index(patient)
    norms = {s[1] for s in rows.strings if s[0] == "name"}
    assert "欧阳娜娜" in norms
    assert normalise("ＡＢＣ　１２３") == "abc 123"
    assert name_variants("张", ["伟"]) == ["张伟"]
    assert ("phone", "phone", "13800138000") in rows.tokens


def test_resolve_is_keeps_only_references_of_that_type() -> None:
    path = compile_path("Observation.subject.where(resolve() is Patient)")
    obs = {"resourceType": "Observation", "subject": {"reference": "Group/g1"}}
    assert path.evaluate(obs) == []
    obs["subject"] = {"reference": "Patient/p1"}
    assert [n.value for n in path.evaluate(obs)] == [{"reference": "Patient/p1"}]


def test_period_without_end_is_open(indexer: ResourceIndexer) -> None:
    enc = {"resourceType": "Encounter", "status": "in-progress", "period": {"start": "2025-01-02"}}
    (row,) = [d for d in indexer.index(enc).dates if d[0] == "date"]
    assert row[1] == date_range("2025-01-02")[0]
    assert row[2] > date_range("9999")[0]
