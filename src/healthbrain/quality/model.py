"""Value objects of data quality: findings, the facts a record is judged against, and evaluations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

HARD = "hard"
SOFT = "soft"
SEVERITIES = (HARD, SOFT)
DIMENSIONS = ("completeness", "validity", "consistency", "timeliness", "uniqueness")
UNKNOWN_INSTITUTION = "unknown"


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed rule on one record: the rule's stable code, its severity and where it failed.

    `path` is a FHIRPath-like location (`Observation.valueQuantity`); it never holds a value.
    """

    rule: str
    severity: str
    path: str

    @property
    def dimension(self) -> str:
        return self.rule.split(".", 1)[0]

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "severity": self.severity, "dimension": self.dimension, "path": self.path}

    @staticmethod
    def from_json(doc: dict[str, Any]) -> Finding:
        return Finding(str(doc["rule"]), str(doc["severity"]), str(doc.get("path", "")))


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """What a clinical record is checked against about its patient; only facts that passed their
    own checks are given (a birth date contradicting the ID card is not used to judge others)."""

    birth_date: date | None = None
    gender: str | None = None
    # the earliest birth date the record allows (its own and its ID card's when they disagree):
    # an event before it is certainly before birth, whichever of the two is right
    earliest_birth: date | None = None


@dataclass(frozen=True, slots=True)
class RecordContext:
    """Everything a record's evaluation depends on besides the record itself.

    Attributes:
        arrival: when the record reached the platform (UTC, timezone-aware).
        patient: the patient's trusted facts, when the record has a patient and they are known.
    """

    arrival: datetime
    patient: PatientFacts | None = None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The rule results of one record: its findings plus the measures the score is built from.

    Attributes:
        findings: failed rules, hard and soft.
        expected: completeness elements the record should have (required, expected, recommended).
        present: how many of them it has.
        lag_seconds: event-to-arrival lag, when the record has an event time.
        timely: whether the lag is within the type's target (None when not measured).
    """

    findings: tuple[Finding, ...] = ()
    expected: int = 0
    present: int = 0
    lag_seconds: float | None = None
    timely: bool | None = None

    @property
    def hard(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == HARD)

    @property
    def flagged(self) -> bool:
        return bool(self.findings)

    def passes(self, dimension: str) -> bool:
        """Whether no finding of `dimension` was raised."""
        return not any(f.dimension == dimension for f in self.findings)

    def with_findings(self, extra: tuple[Finding, ...]) -> Evaluation:
        return Evaluation(self.findings + extra, self.expected, self.present, self.lag_seconds, self.timely)


@dataclass(frozen=True, slots=True)
class DayCounts:
    """Aggregated measures of one institution's day (and feed): what a score is computed from."""

    records: int = 0
    expected: int = 0
    present: int = 0
    valid: int = 0
    consistent: int = 0
    unique: int = 0
    timed: int = 0
    timely: int = 0
    quarantined: int = 0
    flagged: int = 0


@dataclass(frozen=True, slots=True)
class QualityScore:
    """A 0-100 score and its components (each 0-100, None when nothing was measured)."""

    score: float | None
    components: dict[str, float | None] = field(default_factory=dict)
    counts: DayCounts = field(default_factory=DayCounts)

    def to_json(self) -> dict[str, Any]:
        c = self.counts
        return {
            "score": self.score,
            "components": self.components,
            "records": c.records,
            "flagged": c.flagged,
            "quarantined": c.quarantined,
        }
