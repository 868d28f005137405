"""What a Condition or an Observation reports to surveillance: the diseases and syndromes it counts
towards, as what kind of evidence, from which day. Pure: the case recorder does the I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from healthbrain.surveillance.casedef import disease_of, icd10_codes, syndromes_of
from healthbrain.surveillance.labdef import (
    LabTest,
    is_counted,
    is_febrile,
    is_positive,
    is_temperature,
    lab_test_of,
)

WITHDRAWN_STATUSES = frozenset({"entered-in-error", "refuted"})
DIAGNOSIS, LAB, CONFIRM, VITAL = "diagnosis", "lab", "confirm", "vital"


@dataclass(frozen=True, slots=True)
class ReportPart:
    """One key (disease or syndrome) a report counts towards.

    Attributes:
        key: disease or syndrome key.
        kind: diagnosis | lab (a positive result that is a case by itself) | confirm (a positive
            result that only confirms a clinically diagnosed case) | vital (a measured fever).
        onset: day of onset (diagnoses) or of specimen collection / measurement.
    """

    key: str
    kind: str
    onset: date

    @property
    def founds_case(self) -> bool:
        """Whether this part may be a case without another report."""
        return self.kind != CONFIRM


@dataclass(frozen=True, slots=True)
class Extract:
    """A report's patient and parts; no parts means it counts towards nothing (any more)."""

    patient: str | None
    parts: tuple[ReportPart, ...]
    relevant: bool  # whether this kind of resource could ever count (else earlier versions are not looked up)


def _day(value: object) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _subject(resource: Mapping[str, Any]) -> str | None:
    subject = resource.get("subject")
    ref = subject.get("reference") if isinstance(subject, dict) else None
    return ref if isinstance(ref, str) and ref.startswith("Patient/") else None


def report_onset(condition: Mapping[str, Any]) -> date | None:
    """Onset day: onsetDateTime (backdated reports count on that day), else the recorded day.
    An onset after the recorded day is a data error; the recorded day is used instead."""
    onset, recorded = _day(condition.get("onsetDateTime")), _day(condition.get("recordedDate"))
    if onset is not None and recorded is not None and onset > recorded:
        return recorded
    return onset or recorded


def is_withdrawn(condition: Mapping[str, Any]) -> bool:
    """Whether a Condition's verification status withdraws it (entered in error, refuted)."""
    status = condition.get("verificationStatus", {})
    codings = status.get("coding", []) if isinstance(status, dict) else []
    return any(isinstance(c, dict) and c.get("code") in WITHDRAWN_STATUSES for c in codings)


def condition_parts(condition: Mapping[str, Any] | None) -> Extract:
    """The notifiable disease (the first ICD-10 code that is one) and the syndromes of a Condition."""
    if condition is None:
        return Extract(None, (), True)
    onset = report_onset(condition)
    if onset is None or is_withdrawn(condition):
        return Extract(_subject(condition), (), True)
    codes = icd10_codes(condition)
    parts: list[ReportPart] = []
    disease = next((d for d in map(disease_of, codes) if d is not None), None)
    if disease is not None:
        parts.append(ReportPart(disease.key, DIAGNOSIS, onset))
    syndromes = dict.fromkeys(s for code in codes for s in syndromes_of(code))
    parts.extend(ReportPart(s, DIAGNOSIS, onset) for s in syndromes)
    return Extract(_subject(condition), tuple(parts), True)


def _observed_day(observation: Mapping[str, Any]) -> date | None:
    period = observation.get("effectivePeriod")
    start = period.get("start") if isinstance(period, dict) else None
    return _day(observation.get("effectiveDateTime")) or _day(start) or _day(observation.get("issued"))


def observation_parts(
    observation: Mapping[str, Any] | None, tests: Mapping[tuple[str, str], LabTest]
) -> Extract:
    """A positive pathogen test's disease, or a measured fever's syndrome.

    Only counted statuses count: a result corrected to negative, cancelled or entered in error
    counts towards nothing, which withdraws what an earlier version counted.
    """
    if observation is None:
        return Extract(None, (), True)
    test = lab_test_of(observation, tests)
    temperature = test is None and is_temperature(observation)
    if test is None and not temperature:
        return Extract(_subject(observation), (), False)
    day = _observed_day(observation)
    if day is None or not is_counted(observation):
        return Extract(_subject(observation), (), True)
    if test is not None:
        positive = is_positive(observation) is True
        part = ReportPart(test.disease, LAB if test.alone else CONFIRM, day)
        return Extract(_subject(observation), (part,) if positive else (), True)
    fever = (ReportPart("fever", VITAL, day),) if is_febrile(observation) else ()
    return Extract(_subject(observation), fever, True)
