"""What the prescription audit works on and produces: patient facts, allergy records, findings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from healthbrain.cds.drugs import DrugRef
from healthbrain.cds.prescription import Prescription

__all__ = [
    "SEVERITY_RANK",
    "AllergyRecord",
    "Finding",
    "PatientFacts",
    "fhir_severity",
    "max_severity",
]

# contraindicated and major map to DetectedIssue.severity "high", moderate to "moderate", the rest "low".
SEVERITY_RANK = {"contraindicated": 4, "major": 3, "moderate": 2, "minor": 1, "info": 0}
_FHIR = {"contraindicated": "high", "major": "high", "moderate": "moderate", "minor": "low", "info": "low"}


def fhir_severity(severity: str) -> str:
    """The DetectedIssue.severity code (high | moderate | low) of an audit severity."""
    return _FHIR.get(severity, "low")


def max_severity(findings: list[Finding] | tuple[Finding, ...]) -> str | None:
    """The most severe finding's severity, or None when there are no findings."""
    if not findings:
        return None
    return max(findings, key=lambda f: SEVERITY_RANK[f.severity]).severity


@dataclass(frozen=True, slots=True)
class AllergyRecord:
    """An active, not refuted AllergyIntolerance as the audit sees it."""

    id: str | None
    ref: DrugRef
    groups: frozenset[str]  # allergen groups named directly (e.g. "penicillin" from the text 青霉素)
    criticality: str | None = None  # high | low | unable-to-assess
    kind: str = "allergy"  # allergy | intolerance


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """The patient's state at the time of the order (None = unknown)."""

    age_days: int | None = None
    sex: str | None = None
    weight_kg: float | None = None
    egfr: float | None = None
    pregnant: bool = False
    lactating: bool = False
    allergies: tuple[AllergyRecord, ...] = ()
    other_orders: tuple[Prescription, ...] = ()

    @property
    def age_years(self) -> float | None:
        return None if self.age_days is None else self.age_days / 365.25


@dataclass(frozen=True, slots=True)
class Finding:
    """One audit problem.

    `code` names the message template (rendered per language by `cds.messages`); `advice` is the
    knowledge base's own text; `implicated` lists references of the other orders or allergy records.
    """

    kind: str
    severity: str
    rule: str
    code: str
    source: str
    advice: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str | float] = field(default_factory=dict)
    implicated: tuple[str, ...] = ()
    effect: str | None = None
