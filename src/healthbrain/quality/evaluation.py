"""Measuring the checks against ground truth: detection per anomaly kind, false alarms on clean records.

A record counts as *flagged* when any rule finds something; an anomaly as *recognised* when a rule
of the kind expected for it does (a duplicate caught only as "missing ID number" is flagged, not
recognised). Identity-linkage errors that no single-record check can see (a confusable character
in a name, a phone number the resident no longer uses) are the patient index's ground truth and
are reported apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from healthbrain.quality.catalog import RuleSet
from healthbrain.quality.model import Evaluation
from healthbrain.quality.screening import evaluate_entries
from healthbrain.quality.uniqueness import UniquenessIndex

ID_RULES = frozenset({"validity.id_card_check_digit", "validity.id_card_format",
                      "consistency.birth_date_id_card", "consistency.gender_id_card"})  # fmt: skip
UNIT_RULES = frozenset({"validity.unit_not_allowed", "validity.value_implausible",
                        "validity.value_impossible"})  # fmt: skip
EXPECTED_RULES: dict[str, frozenset[str]] = {
    "id_digit_typo": ID_RULES,
    "id_transposition": ID_RULES,
    "birthdate_swap": frozenset({"consistency.birth_date_id_card"}),
    "missing_id_number": frozenset({"completeness.missing_expected"}),
    "duplicate_record": frozenset({"uniqueness.duplicate_identifier", "uniqueness.possible_duplicate"}),
    "unit_mixup": UNIT_RULES,
    "unit_mislabel": UNIT_RULES,
    "impossible_value": frozenset({"validity.value_impossible"}),
    "future_date": frozenset({"validity.date_future"}),
    "bp_swap": frozenset({"consistency.bp_inverted"}),
    "sex_diagnosis": frozenset({"consistency.sex_diagnosis"}),
    "period_reversed": frozenset({"consistency.end_before_start"}),
    "before_birth": frozenset({"consistency.before_birth"}),
    "missing_code": frozenset({"completeness.missing_required"}),
    "invalid_code": frozenset({"validity.code_malformed", "validity.code_unknown"}),
}
LINKAGE_KINDS = frozenset({"name_confusable", "phone_outdated"})


@dataclass(frozen=True, slots=True)
class KindResult:
    injected: int
    flagged: int
    recognised: int


@dataclass(slots=True)
class DetectionReport:
    """Detection per kind, false alarms on clean records per type, and the linkage errors apart."""

    kinds: dict[str, KindResult] = field(default_factory=dict)
    linkage: dict[str, KindResult] = field(default_factory=dict)
    clean: Counter[str] = field(default_factory=Counter)
    false_alarms: Counter[str] = field(default_factory=Counter)
    false_alarm_rules: Counter[str] = field(default_factory=Counter)
    records: int = 0

    def _total(self, attr: str) -> int:
        return sum(getattr(k, attr) for k in self.kinds.values())

    @property
    def detection_rate(self) -> float:
        injected = self._total("injected")
        return self._total("flagged") / injected if injected else 1.0

    @property
    def recognition_rate(self) -> float:
        injected = self._total("injected")
        return self._total("recognised") / injected if injected else 1.0

    @property
    def false_alarm_rate(self) -> float:
        clean = sum(self.clean.values())
        return sum(self.false_alarms.values()) / clean if clean else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "injected": self._total("injected"),
            "detectionRate": round(self.detection_rate, 5),
            "recognitionRate": round(self.recognition_rate, 5),
            "falseAlarmRate": round(self.false_alarm_rate, 5),
            "cleanRecords": sum(self.clean.values()),
            "falseAlarms": sum(self.false_alarms.values()),
            "kinds": {k: vars_of(v) for k, v in sorted(self.kinds.items())},
            "linkageErrors": {k: vars_of(v) for k, v in sorted(self.linkage.items())},
            "falseAlarmsByType": dict(sorted(self.false_alarms.items())),
            "falseAlarmRules": dict(self.false_alarm_rules.most_common()),
        }


def vars_of(k: KindResult) -> dict[str, int]:
    return {"injected": k.injected, "flagged": k.flagged, "recognised": k.recognised}


def evaluate_institutions(
    institutions: Mapping[str, list[dict[str, Any]]], rules: RuleSet, arrival: datetime
) -> dict[str, Evaluation]:
    """Every record of every institution evaluated in arrival order, uniqueness included."""
    out: dict[str, Evaluation] = {}
    unique = UniquenessIndex(rules)
    for inst in sorted(institutions):
        resources = institutions[inst]
        entries = [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
        verdicts = evaluate_entries(entries, rules, arrival, default_institution=inst)
        for v in verdicts:
            res = resources[v.index]
            key = f"{res['resourceType']}/{res['id']}"
            dups = unique.observe(v.institution or inst, key, res)
            out[key] = v.evaluation.with_findings(dups) if dups else v.evaluation
    return out


def score_detection(
    evaluations: Mapping[str, Evaluation], truth: Iterable[tuple[str, str]]
) -> DetectionReport:
    """Compare evaluations with (record, kind) ground truth."""
    report = DetectionReport(records=len(evaluations))
    by_record: dict[str, set[str]] = {}
    for record, kind in truth:
        by_record.setdefault(record, set()).add(kind)
    tallies: dict[str, list[int]] = {}
    linkage: dict[str, list[int]] = {}
    for record, kinds in by_record.items():
        ev = evaluations.get(record)
        rules = {f.rule for f in ev.findings} if ev is not None else set()
        for kind in kinds:
            bucket = linkage if kind in LINKAGE_KINDS else tallies
            t = bucket.setdefault(kind, [0, 0, 0])
            t[0] += 1
            t[1] += bool(rules)
            t[2] += bool(rules & EXPECTED_RULES.get(kind, frozenset()))
    report.kinds = {k: KindResult(*v) for k, v in tallies.items()}
    report.linkage = {k: KindResult(*v) for k, v in linkage.items()}
    for record, ev in evaluations.items():
        if record in by_record:
            continue
        rt = record.split("/", 1)[0]
        report.clean[rt] += 1
        if ev.flagged:
            report.false_alarms[rt] += 1
            report.false_alarm_rules.update({f.rule for f in ev.findings})
    return report
