"""Critical values: the shipped table, unit conversion, age/sex-specific limits, data-quality screening."""

from __future__ import annotations

import pytest

from healthbrain.cds.critical import LabResult, evaluate_lab
from healthbrain.cds.kb import KnowledgeBase


def test_table_covers_at_least_25_analytes_each_limit_citing_a_source(kb: KnowledgeBase) -> None:
    table = kb.critical
    assert len(table.analytes) >= 25
    for analyte in table.analytes.values():
        assert analyte.loinc, analyte.id
        assert analyte.limits, analyte.id
        for limit in analyte.limits:
            assert limit.source in table.sources, (analyte.id, limit.source)
            assert len(table.sources[limit.source]) > 20  # a real citation, not a placeholder


@pytest.mark.parametrize(
    ("loinc", "value", "unit", "status"),
    [
        ("2823-3", 6.3, "mmol/L", "critical-high"),  # potassium above 6.2 (Kost 1990)
        ("2823-3", 2.7, "mmol/L", "critical-low"),
        ("2823-3", 6.2, "mmol/L", "normal"),  # the limit itself is not beyond the limit
        ("2823-3", 4.1, "mEq/L", "normal"),
        ("2951-2", 118, "mmol/l", "critical-low"),  # sodium, lower-case unit as LIS send it
        ("2345-7", 40, "mg/dL", "critical-low"),  # glucose 40 mg/dL = 2.2 mmol/L < 2.6
        ("2345-7", 100, "mg/dL", "normal"),
        ("14749-6", 30.1, "mmol/L", "critical-high"),
        ("2160-0", 8.0, "mg/dL", "critical-high"),  # creatinine 8 mg/dL = 707 umol/L
        ("14682-9", 600, "umol/L", "normal"),
        ("718-7", 6.0, "g/dL", "critical-low"),  # haemoglobin 60 g/L
        ("777-3", 20, "10*3/uL", "critical-low"),  # platelets 20 x 10^9/L
        ("6690-2", 40, "10^9/L", "critical-high"),
        ("2019-8", 10, "kPa", "critical-high"),  # pCO2 10 kPa = 75 mmHg
        ("6301-6", 6.5, "{INR}", "critical-high"),
    ],
)
def test_limits_in_any_unit(kb: KnowledgeBase, loinc: str, value: float, unit: str, status: str) -> None:
    assert evaluate_lab(kb.critical, LabResult((loinc,), value, unit)).status == status


def test_age_specific_limits_neonate_versus_adult(kb: KnowledgeBase) -> None:
    bilirubin = LabResult(("1975-2",), 21.0, "mg/dL", age_days=3)  # 359 umol/L in a 3-day-old
    assert evaluate_lab(kb.critical, bilirubin).status == "critical-high"
    adult = LabResult(("1975-2",), 21.0, "mg/dL", age_days=40 * 365)
    assert evaluate_lab(kb.critical, adult).status == "normal"  # no adult panic limit for bilirubin
    glucose_newborn = LabResult(("14749-6",), 2.4, "mmol/L", age_days=2)
    glucose_adult = LabResult(("14749-6",), 2.4, "mmol/L", age_days=50 * 365)
    assert evaluate_lab(kb.critical, glucose_newborn).status == "normal"
    assert evaluate_lab(kb.critical, glucose_adult).status == "critical-low"


def test_sex_specific_troponin_limits(kb: KnowledgeBase) -> None:
    woman = LabResult(("89579-7",), 25, "ng/L", sex="female")
    man = LabResult(("89579-7",), 25, "ng/L", sex="male")
    assert evaluate_lab(kb.critical, woman).status == "critical-high"
    assert evaluate_lab(kb.critical, man).status == "normal"
    assert (
        evaluate_lab(kb.critical, LabResult(("89579-7",), 0.04, "ng/mL", sex="male")).status
        == "critical-high"
    )


@pytest.mark.parametrize(
    ("value", "unit", "problem"),
    [
        (6.8, "furlongs", "unknown-unit"),
        (6.8, "", "unknown-unit"),
        (68, "mmol/L", "implausible-value"),  # a decimal point lost at the keyboard
        (-1.0, "mmol/L", "implausible-value"),
        (None, "mmol/L", "missing-value"),
        (float("nan"), "mmol/L", "missing-value"),
    ],
)
def test_bad_values_are_data_quality_issues_not_critical(
    kb: KnowledgeBase, value: float | None, unit: str, problem: str
) -> None:
    result = evaluate_lab(kb.critical, LabResult(("2823-3",), value, unit))
    assert result.status == "data-quality"
    assert result.problem == problem
    assert not result.is_critical


def test_unknown_analyte_is_not_covered(kb: KnowledgeBase) -> None:
    assert evaluate_lab(kb.critical, LabResult(("4548-4",), 14.0, "%")).status == "not-covered"  # HbA1c
