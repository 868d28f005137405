"""The rules on single records: clean simulated records pass, each kind of defect is found with the
severity the catalogue gives it, and the catalogue is data an operator can change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
import yaml
from qualitydata import ARRIVAL, loinc

from healthbrain.core.errors import InvalidInput
from healthbrain.quality import (
    PatientFacts,
    RecordContext,
    check_id_card,
    compile_rules,
    default_rules,
    evaluate_record,
)
from healthbrain.quality.codesystems import check_icd10, check_loinc
from healthbrain.simulation import Region, codes, make_id_card

Pick = Callable[..., dict[str, Any]]


def _rules_of(resource: dict[str, Any], patient: PatientFacts | None = None) -> dict[str, str]:
    ev = evaluate_record(resource, RecordContext(ARRIVAL, patient), default_rules())
    return {f.rule: f.severity for f in ev.findings}


def _negative_crp(r: dict[str, Any]) -> bool:
    return loinc(r) == "1988-5" and r["valueQuantity"]["value"] < 0


def test_every_clean_simulated_record_passes(region: Region) -> None:
    records = [r for rs in region.institutions.values() for r in rs]
    flagged = [
        (r["resourceType"], r["id"], _rules_of(r)) for r in records if _rules_of(r) and not _negative_crp(r)
    ]
    assert flagged == []
    # the simulator can draw a negative C-reactive protein (a Gaussian around 48 mg/L): rightly impossible
    assert all(_rules_of(r) == {"validity.value_impossible": "hard"} for r in records if _negative_crp(r))


def test_id_card_numbers_are_checked_as_gb11643_says() -> None:
    good = make_id_card("330802", date(1980, 5, 17), 123)
    assert check_id_card(good).problem is None
    assert check_id_card(good).birth_date == date(1980, 5, 17) and check_id_card(good).gender == "male"
    typo = good[:5] + str((int(good[5]) + 1) % 10) + good[6:]
    assert check_id_card(typo).problem == "check_digit"
    assert check_id_card("33080219801317123X").problem == "format"  # month 13
    assert check_id_card("330802800517123").problem == "legacy"  # the 15-digit 1984 format


def test_every_code_the_simulator_uses_is_valid_and_typos_are_not() -> None:
    loincs = [q.loinc for q in vars(codes).values() if isinstance(q, codes.Quantity)]
    assert all(check_loinc(c) is None for c in loincs)
    assert check_loinc("14749-5") == "malformed"  # wrong check digit
    icd = [d.code for d in vars(codes).values() if isinstance(d, codes.Diagnosis)]
    assert all(check_icd10(c) is None for c in icd)
    assert check_icd10("J18.900") is None  # the national clinical edition extends WHO codes
    assert check_icd10("K53.8") == "unknown" and check_icd10("J1") == "malformed"


def test_a_glucose_in_mg_per_dl_under_the_mmol_code_is_held(pick: Pick) -> None:
    obs = pick("Observation", lambda r: loinc(r) == "14749-6")
    obs["valueQuantity"] = {
        "value": 98,
        "unit": "mg/dL",
        "system": "http://unitsofmeasure.org",
        "code": "mg/dL",
    }
    assert _rules_of(obs) == {"validity.unit_not_allowed": "hard"}
    obs["valueQuantity"] = {
        "value": 98,
        "unit": "mmol/L",
        "system": "http://unitsofmeasure.org",
        "code": "mmol/L",
    }
    assert _rules_of(obs) == {"validity.value_implausible": "soft"}


def test_a_temperature_without_its_decimal_point_is_impossible(pick: Pick) -> None:
    obs = pick("Observation", lambda r: loinc(r) == "8310-5")
    obs["valueQuantity"]["value"] = 366
    assert _rules_of(obs) == {"validity.value_impossible": "hard"}


def test_swapped_blood_pressure_components_are_inconsistent(pick: Pick) -> None:
    obs = pick("Observation", lambda r: loinc(r) == "85354-9")
    a, b = obs["component"]
    a["valueQuantity"], b["valueQuantity"] = b["valueQuantity"], a["valueQuantity"]
    assert _rules_of(obs) == {"consistency.bp_inverted": "hard"}


def test_an_encounter_ending_before_it_starts(pick: Pick) -> None:
    enc = pick("Encounter")
    enc["period"] = {"start": enc["period"]["end"], "end": enc["period"]["start"]}
    assert _rules_of(enc) == {"consistency.end_before_start": "hard"}


def test_future_dates_are_held_past_a_small_tolerance(pick: Pick) -> None:
    obs = pick("Observation", lambda r: "effectiveDateTime" in r and "issued" not in r)
    obs["effectiveDateTime"] = (ARRIVAL + timedelta(minutes=5)).isoformat()
    assert _rules_of(obs) == {}  # a clock a few minutes ahead is not an error
    obs["effectiveDateTime"] = (ARRIVAL + timedelta(days=40)).isoformat()
    assert _rules_of(obs) == {"validity.date_future": "hard"}


def test_records_are_judged_against_their_patient(pick: Pick) -> None:
    obs = pick("Observation", lambda r: loinc(r) == "8867-4")
    assert _rules_of(obs, PatientFacts(date(2025, 12, 1), "female", date(2025, 12, 1))) == {
        "consistency.before_birth": "hard"
    }
    cond = pick("Condition")
    cond["code"] = {
        "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "Z34.9"}],
        "text": "正常妊娠监督",
    }
    assert _rules_of(cond, PatientFacts(date(1990, 1, 1), "female", date(1990, 1, 1))) == {}
    assert _rules_of(cond, PatientFacts(date(1990, 1, 1), "male", date(1990, 1, 1))) == {
        "consistency.sex_diagnosis": "hard"
    }


def test_a_patient_whose_birth_date_contradicts_the_id_card(pick: Pick) -> None:
    patient = pick(
        "Patient", lambda r: int(r["birthDate"][8:]) <= 12 and r["birthDate"][5:7] != r["birthDate"][8:]
    )
    y, m, d = patient["birthDate"].split("-")
    patient["birthDate"] = f"{y}-{d}-{m}"
    assert _rules_of(patient) == {"consistency.birth_date_id_card": "hard"}
    patient = pick("Patient")
    patient["gender"] = "female" if patient["gender"] == "male" else "male"
    assert _rules_of(patient) == {"consistency.gender_id_card": "hard"}


def test_missing_elements_by_their_weight(pick: Pick) -> None:
    obs = pick("Observation")
    del obs["code"]
    assert _rules_of(obs) == {"completeness.missing_required": "hard"}
    patient = pick("Patient")
    patient["identifier"] = patient["identifier"][:1]  # the ID card number not captured
    assert _rules_of(patient) == {"completeness.missing_expected": "soft"}


def test_severities_and_ranges_are_data(pick: Pick) -> None:
    from importlib import resources

    doc = yaml.safe_load(
        resources.files("healthbrain.quality").joinpath("data/rules.yaml").read_text("utf-8")
    )
    doc["rules"]["validity.value_impossible"]["severity"] = "soft"
    doc["quantities"]["8310-5"]["hard"] = [10, 500]
    rules = compile_rules(doc)
    obs = pick("Observation", lambda r: loinc(r) == "8310-5")
    obs["valueQuantity"]["value"] = 366
    ev = evaluate_record(obs, RecordContext(ARRIVAL), rules)
    assert [(f.rule, f.severity) for f in ev.findings] == [("validity.value_implausible", "soft")]


@pytest.mark.parametrize(
    "doc",
    [{"version": 2}, {"version": 1, "rules": {"validity.x": {"severity": "fatal"}}},
     {"version": 1, "rules": {"nonsense.x": {"severity": "hard"}}}],
)  # fmt: skip
def test_a_broken_catalogue_is_refused_with_a_stable_code(doc: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as err:
        compile_rules(doc)
    assert err.value.code == "quality.bad_rules"


def test_synthea_records_from_another_country_are_not_held() -> None:
    """Equivalent units (10*3/uL for 10*9/L, g/dL for g/L) are accepted; only true contradictions are held."""
    from datetime import UTC, datetime
    from pathlib import Path

    import orjson

    from healthbrain.quality import evaluate_entries

    folder = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir" / "synthea-r4-bundles"
    verdicts = [
        v
        for f in sorted(folder.glob("*.json"))
        for v in evaluate_entries(orjson.loads(f.read_bytes())["entry"], default_rules(), datetime.now(UTC))
    ]
    assert len(verdicts) > 1000
    assert [v for v in verdicts if v.evaluation.hard] == []
