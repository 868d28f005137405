"""Consistency checks: ID card vs birth date and sex, sex and age vs diagnosis, periods, events vs birth,
blood pressure components, and results issued before they were taken."""

from __future__ import annotations

from datetime import date
from typing import Any

from healthbrain.quality.catalog import CodeRange, RuleSet
from healthbrain.quality.elements import (
    Moment,
    as_date,
    code_of,
    first_moment,
    parse_moment,
    time_values,
)
from healthbrain.quality.idcard import IdCardCheck
from healthbrain.quality.model import Finding, PatientFacts
from healthbrain.quality.validity import LOINC

ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cn")
# Period-like pairs checked for ending before they start, per resource type.
_PAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "Encounter": (("period.start", "period.end"),),
    "Condition": (("onsetDateTime", "abatementDateTime"), ("onsetPeriod.start", "abatementDateTime")),
    "Procedure": (("performedPeriod.start", "performedPeriod.end"),),
    "MedicationRequest": (("dispenseRequest.validityPeriod.start", "dispenseRequest.validityPeriod.end"),),
    "Patient": (("birthDate", "deceasedDateTime"),),
    "Observation": (("effectivePeriod.start", "effectivePeriod.end"), ("effectiveDateTime", "issued")),
}


def _finding(rules: RuleSet, rule: str, path: str) -> Finding:
    return Finding(rule, rules.severity(rule), path)


def check_patient(
    resource: dict[str, Any], rules: RuleSet, cards: list[tuple[int, IdCardCheck]]
) -> list[Finding]:
    """A Patient's birth date and sex against what its (well-formed) ID card numbers encode."""
    findings = []
    text = str(resource.get("birthDate", ""))
    birth = parse_moment(text) if len(text) == 10 else None  # only a full date can be compared
    gender = resource.get("gender")
    for _, card in cards:
        if card.problem not in (None, "legacy"):
            continue  # a mistyped number says nothing reliable
        if birth is not None and card.birth_date not in (None, as_date(birth)):
            findings.append(_finding(rules, "consistency.birth_date_id_card", "Patient.birthDate"))
        if gender in ("male", "female") and card.gender is not None and gender != card.gender:
            findings.append(_finding(rules, "consistency.gender_id_card", "Patient.gender"))
    return findings


def trusted_facts(
    resource: dict[str, Any], findings: list[Finding], cards: list[tuple[int, IdCardCheck]]
) -> PatientFacts:
    """The birth date and sex of a Patient, each kept only when no finding casts doubt on it."""
    doubted = {f.path for f in findings if f.severity == "hard"}
    birth = parse_moment(str(resource.get("birthDate", "")))
    own = as_date(birth) if birth is not None else None
    birth_date = own if "Patient.birthDate" not in doubted else None
    gender = resource.get("gender") if "Patient.gender" not in doubted else None
    candidates = [d for d in (own, *(c.birth_date for _, c in cards if c.problem in (None, "legacy"))) if d]
    earliest = birth_date if birth_date is not None else (min(candidates) if candidates else None)
    return PatientFacts(birth_date, gender if isinstance(gender, str) else None, earliest)


def _in(ranges: tuple[CodeRange, ...], code: str) -> bool:
    return any(r.contains(code) for r in ranges)


def _diagnosis_codes(resource: dict[str, Any]) -> list[str]:
    concept = resource.get("code")
    return [c for c in (code_of(concept, s) for s in ICD10_SYSTEMS) if c]


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def check_diagnosis(resource: dict[str, Any], rules: RuleSet, patient: PatientFacts | None) -> list[Finding]:
    """Sex- and age-specific ICD-10 diagnoses against the patient's trusted sex and age."""
    if resource.get("resourceType") != "Condition" or patient is None:
        return []
    findings = []
    for code in _diagnosis_codes(resource):
        wrong_sex = (patient.gender == "male" and _in(rules.female_only, code)) or (
            patient.gender == "female" and _in(rules.male_only, code)
        )
        if wrong_sex:
            findings.append(_finding(rules, "consistency.sex_diagnosis", "Condition.code"))
        when = first_moment(resource, ("recordedDate", "onset[x]"))
        if patient.birth_date is None or when is None:
            continue
        age = _age_on(patient.birth_date, as_date(when))
        for rule in rules.age_rules:
            if _in(rule.ranges, code) and not rule.min_years <= age <= rule.max_years:
                findings.append(_finding(rules, "consistency.age_diagnosis", "Condition.code"))
                break
    return findings


def _moment_at(resource: dict[str, Any], path: str) -> Moment | None:
    for _, text in time_values(resource, path):
        return parse_moment(text)
    return None


def check_periods(resource: dict[str, Any], rules: RuleSet) -> list[Finding]:
    """Ends before starts; an Observation issued before it was taken is soft."""
    rt = str(resource.get("resourceType"))
    findings = []
    for start_path, end_path in _PAIRS.get(rt, ()):
        start, end = _moment_at(resource, start_path), _moment_at(resource, end_path)
        if start is None or end is None or not end.before(start):
            continue
        late = end_path == "issued"
        rule = "consistency.issued_before_effective" if late else "consistency.end_before_start"
        findings.append(_finding(rules, rule, f"{rt}.{end_path}"))
    if rt == "DiagnosticReport":
        taken, issued = first_moment(resource, ("effective[x]",)), _moment_at(resource, "issued")
        if taken is not None and issued is not None and issued.before(taken):
            findings.append(_finding(rules, "consistency.issued_before_effective", "DiagnosticReport.issued"))
    return findings


def check_before_birth(
    resource: dict[str, Any], rules: RuleSet, patient: PatientFacts | None
) -> list[Finding]:
    """Clinical times earlier than the patient's trusted birth date."""
    if patient is None or patient.earliest_birth is None:
        return []
    rt = str(resource.get("resourceType"))
    born = parse_moment(patient.earliest_birth.isoformat())
    assert born is not None
    for path in rules.date_elements.get(rt, ()):
        for where, text in time_values(resource, path):
            moment = parse_moment(text)
            if moment is not None and moment.before(born):
                return [_finding(rules, "consistency.before_birth", f"{rt}.{where}")]
    return []


def check_blood_pressure(resource: dict[str, Any], rules: RuleSet) -> list[Finding]:
    """A blood pressure whose systolic component is not above its diastolic one (swapped fields)."""
    if resource.get("resourceType") != "Observation" or not resource.get("component"):
        return []
    values: dict[str, float] = {}
    for comp in resource["component"]:
        if not isinstance(comp, dict):
            continue
        code = code_of(comp.get("code"), LOINC)
        value = (comp.get("valueQuantity") or {}).get("value")
        if code in (rules.bp_systolic, rules.bp_diastolic) and isinstance(value, int | float):
            values[str(code)] = float(value)
    sys_, dia = values.get(rules.bp_systolic), values.get(rules.bp_diastolic)
    if sys_ is not None and dia is not None and sys_ <= dia:
        return [_finding(rules, "consistency.bp_inverted", "Observation.component")]
    return []
