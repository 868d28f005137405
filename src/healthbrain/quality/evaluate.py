"""Evaluating one record: completeness, validity, consistency and timeliness, as one pure function."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from healthbrain.quality.catalog import RuleSet, default_rules
from healthbrain.quality.codesystems import CodeChecker
from healthbrain.quality.consistency import (
    check_before_birth,
    check_blood_pressure,
    check_diagnosis,
    check_patient,
    check_periods,
    trusted_facts,
)
from healthbrain.quality.elements import first_moment, values_at
from healthbrain.quality.model import Evaluation, Finding, PatientFacts, RecordContext
from healthbrain.quality.validity import (
    check_codes,
    check_dates,
    check_identifiers,
    check_quantities,
)


def check_completeness(resource: dict[str, Any], rules: RuleSet) -> tuple[list[Finding], int, int]:
    """Findings for missing required and expected elements; (findings, expected, present)."""
    rt = str(resource.get("resourceType"))
    spec = rules.completeness.get(rt)
    if spec is None:
        return [], 0, 0
    findings, present = [], 0
    for rule, paths in (
        ("completeness.missing_required", spec.required),
        ("completeness.missing_expected", spec.expected),
        (None, spec.recommended),
    ):
        for path in paths:
            if values_at(resource, path):
                present += 1
            elif rule is not None:
                findings.append(Finding(rule, rules.severity(rule), f"{rt}.{path}"))
    return findings, spec.size, present


def measure_lag(
    resource: dict[str, Any], rules: RuleSet, arrival: datetime
) -> tuple[float | None, bool | None]:
    """Event-to-arrival lag in seconds and whether it is within the type's target."""
    rt = str(resource.get("resourceType"))
    paths = rules.event_time.get(rt)
    if not paths:
        return None, None
    moment = first_moment(resource, paths)
    if moment is None:
        return None, None
    lag = (arrival - moment.start).total_seconds()
    if lag < 0:
        return None, None  # a future date is a validity finding, not a measure of speed
    return lag, lag <= rules.target_hours(rt) * 3600


def evaluate_record(
    resource: dict[str, Any], ctx: RecordContext, rules: RuleSet, checker: CodeChecker | None = None
) -> Evaluation:
    """Every rule but uniqueness (which needs the institution's other records) on one resource.

    Args:
        resource: a FHIR resource as JSON.
        ctx: its arrival time and its patient's trusted facts.
        rules: the compiled rule set.
        checker: optional content check for code systems the offline checks do not know.

    Returns:
        The findings with the completeness and timeliness measures.
    """
    findings, expected, present = check_completeness(resource, rules)
    id_findings, cards = check_identifiers(resource, rules)
    findings += id_findings
    findings += check_codes(resource, rules, checker)
    findings += check_quantities(resource, rules)
    findings += check_dates(resource, rules, ctx.arrival)
    if resource.get("resourceType") == "Patient":
        findings += check_patient(resource, rules, cards)
    else:
        findings += check_diagnosis(resource, rules, ctx.patient)
        findings += check_before_birth(resource, rules, ctx.patient)
    findings += check_periods(resource, rules)
    findings += check_blood_pressure(resource, rules)
    lag, timely = measure_lag(resource, rules, ctx.arrival)
    return Evaluation(tuple(dict.fromkeys(findings)), expected, present, lag, timely)


def patient_facts(
    resource: dict[str, Any], evaluation: Evaluation, rules: RuleSet | None = None
) -> PatientFacts:
    """The facts about a Patient that other records may be judged against."""
    _, cards = check_identifiers(resource, default_rules() if rules is None else rules)
    return trusted_facts(resource, list(evaluation.findings), cards)


def rule_count(rules: RuleSet) -> int:
    """How many distinct rules a record can be checked against (for throughput figures)."""
    return len(rules.severities)
