"""Pregnancy, lactation, paediatric and older-adult contraindications (knowledge/contraindications.json)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healthbrain.cds.findings import Finding, PatientFacts
from healthbrain.cds.interactions import RefProfile

__all__ = ["PopulationRule", "check_population", "compile_population_rules"]

GROUPS = ("pregnancy", "lactation", "paediatric", "elderly")


@dataclass(frozen=True, slots=True)
class PopulationRule:
    """Drugs to avoid in one population; age bounds apply to the paediatric and elderly groups."""

    group: str
    index: int
    drugs: frozenset[str]
    severity: str
    source: str
    advice: Mapping[str, str]
    below_age_years: float | None = None
    below_age_days: int | None = None
    from_age_years: float | None = None

    def applies_to(self, patient: PatientFacts) -> bool:
        if self.group == "pregnancy":
            return patient.pregnant
        if self.group == "lactation":
            return patient.lactating
        if patient.age_days is None:
            return False
        years = patient.age_days / 365.25
        if self.group == "paediatric":
            if self.below_age_days is not None:
                return patient.age_days < self.below_age_days
            return self.below_age_years is not None and years < self.below_age_years
        return self.from_age_years is not None and years >= self.from_age_years


def compile_population_rules(doc: Mapping[str, Any]) -> tuple[PopulationRule, ...]:
    """Build the rules from the `contraindications` knowledge file, citations resolved."""
    sources = doc["sources"]
    rules: list[PopulationRule] = []
    for group in GROUPS:
        for i, row in enumerate(doc.get(group, ())):
            rules.append(
                PopulationRule(
                    group,
                    i,
                    frozenset(row["drugs"]),
                    str(row["severity"]),
                    str(sources[row["source"]]),
                    dict(row["advice"]),
                    row.get("below_age_years"),
                    row.get("below_age_days"),
                    row.get("from_age_years"),
                )
            )
    return tuple(rules)


def check_population(
    rules: tuple[PopulationRule, ...], drug: RefProfile, patient: PatientFacts
) -> list[Finding]:
    """Findings for every population rule the patient belongs to and the drug falls under."""
    return [
        Finding(
            rule.group,
            rule.severity,
            f"{rule.group}:{rule.index}",
            f"population.{rule.group}",
            rule.source,
            rule.advice,
        )
        for rule in rules
        if rule.drugs & drug.keys and rule.applies_to(patient)
    ]
