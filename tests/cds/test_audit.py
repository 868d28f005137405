"""Prescription pre-audit: interactions, allergy, dose, renal, population, duplication, route and supply."""

from __future__ import annotations

import csv
import random

import pytest
from cdsdata import CDS_DATA, medication_request

from healthbrain.cds.allergy import read_allergy
from healthbrain.cds.audit import audit_prescription
from healthbrain.cds.drugs import DrugRef
from healthbrain.cds.findings import SEVERITY_RANK, AllergyRecord, PatientFacts
from healthbrain.cds.interactions import RefProfile, interacting_rules
from healthbrain.cds.kb import KnowledgeBase
from healthbrain.cds.prescription import Prescription, parse_medication_request
from healthbrain.simulation.chart import Chart, Clock, IdAllocator
from healthbrain.simulation.codes import DRUGS
from healthbrain.simulation.region import build_layout

ADULT = PatientFacts(age_days=45 * 365, sex="male", weight_kg=70, egfr=95)


def rx(kb: KnowledgeBase, mid: str = "m1", **kw: object) -> Prescription:
    return parse_medication_request(
        medication_request(mid, **kw), kb.prescribing.drugs, kb.prescribing.routes
    )  # type: ignore[arg-type]


def codes(kb: KnowledgeBase, order: Prescription, patient: PatientFacts = ADULT) -> dict[str, str]:
    return {f.code: f.severity for f in audit_prescription(kb.prescribing, order, patient).findings}


def test_every_onc_high_priority_pair_is_flagged_at_least_major(kb: KnowledgeBase) -> None:
    drugs = kb.prescribing.drugs
    path = CDS_DATA / "onc_high_priority" / "onc_high_priority_pairs_drugbank4.csv"
    with path.open(encoding="utf-8") as fh:
        pairs = {(r["object_drug"], r["precipitant_drug"]) for r in csv.DictReader(fh)}
    assert len(pairs) > 1900
    missed = []
    for a, b in pairs:
        pa = RefProfile.of(drugs, DrugRef(drugs.resolve_text(a), None, a))
        pb = RefProfile.of(drugs, DrugRef(drugs.resolve_text(b), None, b))
        rules = interacting_rules(kb.prescribing.interactions, pa, pb)
        if not rules or max(SEVERITY_RANK[r.severity] for r in rules) < SEVERITY_RANK["major"]:
            missed.append((a, b))
    assert missed == []


def test_every_interaction_rule_cites_a_source(kb: KnowledgeBase) -> None:
    for rule in kb.prescribing.interactions:
        assert len(rule.source) > 30 and rule.advice["zh_CN"] and rule.advice["en"], rule.id


def test_interaction_found_against_active_orders_by_name_and_code(kb: KnowledgeBase) -> None:
    simvastatin = rx(kb, "m1", text="辛伐他汀片 20mg", dose=20)
    clarithromycin = rx(kb, "m2", text="Clarithromycin 500 mg tablets", dose=500, per_day=2)
    result = audit_prescription(
        kb.prescribing, simvastatin, PatientFacts(age_days=50 * 365, other_orders=(clarithromycin,))
    )
    interaction = [f for f in result.findings if f.kind == "interaction"]
    assert [f.rule for f in interaction] == ["onc25_statin_cyp3a4"]
    assert interaction[0].implicated == ("MedicationRequest/m2",)
    assert result.severity == "major"


def test_formulary_codes_resolve_and_default_doses_pass(kb: KnowledgeBase) -> None:
    layout = build_layout(random.Random(7))
    inst = next(iter(layout.institutions.values()))
    out: list[dict[str, object]] = []
    chart = Chart(IdAllocator(), Clock(2026), inst, "p1", out)
    enc = chart.encounter("AMB", 10, 600, "03", "dr1", None)
    for drug in DRUGS.values():
        chart.prescription(enc, drug, "dr1", "2026-01-11T10:00:00+08:00", None, True)
    orders = [o for o in out if o["resourceType"] == "MedicationRequest"]
    assert len(orders) == len(DRUGS)
    for order in orders:
        parsed = parse_medication_request(order, kb.prescribing.drugs, kb.prescribing.routes)  # type: ignore[arg-type]
        assert parsed.drug.known, order["medicationCodeableConcept"]
        assert parsed.route is not None and parsed.per_day is not None and parsed.dose is not None
        serious = [
            f
            for f in audit_prescription(kb.prescribing, parsed, ADULT).findings
            if SEVERITY_RANK[f.severity] >= SEVERITY_RANK["moderate"]
        ]
        assert serious == [], (parsed.drug.display, serious)


def test_dose_limits(kb: KnowledgeBase) -> None:
    assert codes(kb, rx(kb, code="HB0101", dose=20))["dose.single_high"] == "major"  # amlodipine 20 mg
    assert "dose.daily_high" in codes(kb, rx(kb, code="HB0502", dose=1000, per_day=6))  # paracetamol 6 g/day
    assert "dose.daily_high" not in codes(kb, rx(kb, code="HB0502", dose=1000, per_day=4))
    assert "dose.single_high" in codes(
        kb, rx(kb, code="HB0401", dose=2, unit="g", per_day=2)
    )  # 2 g amoxicillin


def test_weight_based_paediatric_dose(kb: KnowledgeBase) -> None:
    child = PatientFacts(age_days=4 * 365, weight_kg=16)
    # amoxicillin max 90 mg/kg/day = 1440 mg/day for 16 kg
    assert "dose.daily_high" in codes(kb, rx(kb, code="HB0401", dose=500, per_day=3), child)
    assert "dose.daily_high" not in codes(kb, rx(kb, code="HB0401", dose=250, per_day=3), child)
    assert codes(kb, rx(kb, code="HB0401", dose=250, per_day=3), PatientFacts(age_days=4 * 365)) == {
        "dose.weight_missing": "info"
    }


def test_renal_function(kb: KnowledgeBase) -> None:
    metformin = rx(kb, code="HB0201", dose=0.5, unit="g", per_day=3)
    assert (
        codes(kb, metformin, PatientFacts(age_days=70 * 365, egfr=25))["renal.contraindicated"]
        == "contraindicated"
    )
    assert codes(kb, metformin, PatientFacts(age_days=70 * 365, egfr=40))["renal.dose_high"] == "moderate"
    assert "renal.dose_high" not in codes(kb, metformin, PatientFacts(age_days=70 * 365, egfr=80))


def test_allergy_and_cross_sensitivity(kb: KnowledgeBase) -> None:
    drugs, allergy = kb.prescribing.drugs, kb.prescribing.allergy
    record = read_allergy(
        {
            "resourceType": "AllergyIntolerance",
            "id": "a1",
            "category": ["medication"],
            "criticality": "high",
            "code": {"text": "青霉素"},
        },
        drugs,
        allergy,
    )
    assert record is not None
    patient = PatientFacts(age_days=30 * 365, allergies=(record,))
    assert codes(kb, rx(kb, code="HB0401", dose=500, per_day=3), patient)["allergy.same_class"] == "major"
    assert (
        codes(kb, rx(kb, code="HB0402", dose=250, per_day=3), patient)["allergy.cross"] == "major"
    )  # cefaclor
    ceftriaxone = rx(kb, code="HB0403", dose=2, unit="g", route="47625008")
    assert codes(kb, ceftriaxone, patient)["allergy.cross"] == "moderate"
    assert "allergy.cross" not in codes(kb, rx(kb, code="HB0404", dose=500), patient)
    same = AllergyRecord("a2", DrugRef(("amoxicillin",), None, "amoxicillin"), frozenset(), "high")
    assert (
        codes(
            kb, rx(kb, code="HB0401", dose=500, per_day=3), PatientFacts(age_days=30 * 365, allergies=(same,))
        )["allergy.same_drug"]
        == "contraindicated"
    )


def test_refuted_or_inactive_allergies_are_ignored(kb: KnowledgeBase) -> None:
    drugs, allergy = kb.prescribing.drugs, kb.prescribing.allergy
    refuted = {
        "resourceType": "AllergyIntolerance",
        "code": {"text": "penicillin"},
        "verificationStatus": {"coding": [{"code": "refuted"}]},
    }
    resolved = {
        "resourceType": "AllergyIntolerance",
        "code": {"text": "penicillin"},
        "clinicalStatus": {"coding": [{"code": "resolved"}]},
    }
    food = {"resourceType": "AllergyIntolerance", "category": ["food"], "code": {"text": "peanut"}}
    assert [read_allergy(r, drugs, allergy) for r in (refuted, resolved, food)] == [None, None, None]


def test_pregnancy_lactation_and_children(kb: KnowledgeBase) -> None:
    valsartan = rx(kb, code="HB0103", dose=80)
    assert (
        codes(kb, valsartan, PatientFacts(age_days=30 * 365, pregnant=True))["population.pregnancy"]
        == "contraindicated"
    )
    levofloxacin = rx(kb, code="HB0404", dose=0.5, unit="g")
    assert "population.paediatric" in codes(kb, levofloxacin, PatientFacts(age_days=12 * 365, weight_kg=40))
    assert "population.lactation" in codes(kb, levofloxacin, PatientFacts(age_days=28 * 365, lactating=True))
    assert "population.paediatric" in codes(
        kb, rx(kb, code="HB0302", dose=100), PatientFacts(age_days=6 * 365)
    )


def test_duplication(kb: KnowledgeBase) -> None:
    atorvastatin = rx(kb, "m1", code="HB0301", dose=20)
    simvastatin = rx(kb, "m2", text="simvastatin", dose=20)
    found = codes(kb, atorvastatin, PatientFacts(age_days=60 * 365, other_orders=(simvastatin,)))
    assert found["duplication.same_class"] == "major"
    again = rx(kb, "m3", code="HB0301", dose=10)
    assert "duplication.same_ingredient" in codes(
        kb, atorvastatin, PatientFacts(age_days=60 * 365, other_orders=(again,))
    )
    aspirin, clopidogrel = rx(kb, "m4", code="HB0302", dose=100), rx(kb, "m5", code="HB0303", dose=75)
    assert "duplication.same_class" not in codes(
        kb, aspirin, PatientFacts(age_days=60 * 365, other_orders=(clopidogrel,))
    )


def test_route_frequency_and_supply(kb: KnowledgeBase) -> None:
    assert (
        codes(kb, rx(kb, code="HB0403", dose=1, unit="g"))["route.not_allowed"] == "major"
    )  # ceftriaxone by mouth
    assert codes(kb, rx(kb, code="HB0101", dose=5, per_day=3))["frequency.too_often"] == "moderate"
    methotrexate = rx(kb, text="methotrexate 2.5 mg", dose=7.5, per_day=1)
    assert codes(kb, methotrexate)["frequency.weekly_drug"] == "contraindicated"
    weekly = parse_medication_request(
        {
            **medication_request("m9", text="甲氨蝶呤片", dose=7.5, per_day=None),
            "dosageInstruction": [
                {
                    "text": "口服 每周1次",
                    "doseAndRate": [{"doseQuantity": {"value": 7.5, "code": "mg"}}],
                    "route": {"text": "口服"},
                }
            ],
        },
        kb.prescribing.drugs,
        kb.prescribing.routes,
    )
    assert "frequency.weekly_drug" not in codes(kb, weekly)
    assert codes(kb, rx(kb, code="HB0401", dose=500, per_day=3, supply_days=14))["supply.too_long"] == "minor"
    assert "supply.too_long" not in codes(kb, rx(kb, code="HB0101", dose=5, supply_days=30))


@pytest.mark.parametrize("text", ["an unheard-of herbal tonic", ""])
def test_unknown_drug_says_nothing_was_checked(kb: KnowledgeBase, text: str) -> None:
    result = audit_prescription(kb.prescribing, rx(kb, text=text or None, dose=1), ADULT)
    assert [f.code for f in result.findings] == ["drug.unknown"]
    assert not result.drug_known


def test_incomplete_orders_are_reported(kb: KnowledgeBase) -> None:
    found = codes(kb, rx(kb, code="HB0101", dose=None, per_day=None))
    assert {"order.no_dose", "order.no_frequency"} <= set(found)
