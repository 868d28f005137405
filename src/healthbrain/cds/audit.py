"""Prescription pre-audit (处方前置审核): every check over one order, the patient and their other orders."""

from __future__ import annotations

from dataclasses import dataclass

from healthbrain.cds.allergy import AllergyKnowledge, check_allergies
from healthbrain.cds.dosing import DoseRule, check_dose, check_supply
from healthbrain.cds.drugs import DrugDictionary
from healthbrain.cds.duplication import DuplicationRules, check_duplication
from healthbrain.cds.findings import SEVERITY_RANK, Finding, PatientFacts, max_severity
from healthbrain.cds.interactions import InteractionRule, RefProfile, check_interactions
from healthbrain.cds.population import PopulationRule, check_population
from healthbrain.cds.prescription import Prescription, RouteVocabulary

__all__ = ["AuditResult", "PrescriptionKnowledge", "audit_prescription"]


@dataclass(frozen=True, slots=True)
class PrescriptionKnowledge:
    """Everything the audit consults, compiled from the knowledge files."""

    drugs: DrugDictionary
    interactions: tuple[InteractionRule, ...]
    doses: tuple[DoseRule, ...]
    population: tuple[PopulationRule, ...]
    allergy: AllergyKnowledge
    duplication: DuplicationRules
    routes: RouteVocabulary
    version: str


@dataclass(frozen=True, slots=True)
class AuditResult:
    """The findings of one audit, most severe first."""

    findings: tuple[Finding, ...]
    drug_known: bool

    @property
    def severity(self) -> str | None:
        return max_severity(self.findings)


def _profiles(
    kb: PrescriptionKnowledge, orders: tuple[Prescription, ...]
) -> list[tuple[str | None, RefProfile]]:
    return [
        (f"MedicationRequest/{o.id}" if o.id else None, RefProfile.of(kb.drugs, o.drug))
        for o in orders
        if o.drug.known or o.drug.atc
    ]


def _without_shadowed_duplicates(findings: list[Finding]) -> list[Finding]:
    """Drop a class duplication when an interaction finding already covers the same other order."""
    covered = {
        (f.implicated, SEVERITY_RANK[f.severity])
        for f in findings
        if f.kind == "interaction" and f.implicated
    }
    return [
        f
        for f in findings
        if not (
            f.code == "duplication.same_class"
            and any(imp == f.implicated and rank >= SEVERITY_RANK[f.severity] for imp, rank in covered)
        )
    ]


def audit_prescription(kb: PrescriptionKnowledge, rx: Prescription, patient: PatientFacts) -> AuditResult:
    """Interactions, duplication, allergy, population, dose/route/frequency, renal and supply checks.

    An order the dictionary does not know gets one informational finding saying that no automated
    check could be made, so the reviewing pharmacist is never misled by an empty list.
    """
    if not rx.drug.known and not rx.drug.atc:
        unknown = Finding(
            "drug", "info", "drug:unknown", "drug.unknown", "", params={"drug": rx.drug.display}
        )
        return AuditResult((unknown,), False)
    profile = RefProfile.of(kb.drugs, rx.drug)
    others = _profiles(kb, tuple(o for o in patient.other_orders if o.id is None or o.id != rx.id))
    findings: list[Finding] = []
    findings += check_interactions(kb.interactions, profile, others)
    findings += check_duplication(kb.duplication, profile, others)
    findings += check_allergies(kb.drugs, kb.allergy, profile, patient.allergies)
    findings += check_population(kb.population, profile, patient)
    findings += check_dose(kb.doses, rx, patient, kb.routes)
    findings += check_supply(kb.drugs, rx, kb.routes)
    findings = _without_shadowed_duplicates(findings)
    findings.sort(key=lambda f: -SEVERITY_RANK[f.severity])
    return AuditResult(tuple(findings), True)
