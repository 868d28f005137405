"""Validity checks: identifiers (身份证), codes, units, physiological ranges and dates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from healthbrain.quality.catalog import QuantityRule, RuleSet
from healthbrain.quality.codesystems import CHECKS, CodeChecker
from healthbrain.quality.elements import LOCAL_ZONE, code_of, codings, parse_moment, time_values
from healthbrain.quality.idcard import IdCardCheck, check_id_card
from healthbrain.quality.model import Finding

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
_ID_CARD_RULES = {
    "format": "validity.id_card_format",
    "check_digit": "validity.id_card_check_digit",
    "legacy": "validity.id_card_legacy",
}


def _finding(rules: RuleSet, rule: str, path: str) -> Finding:
    return Finding(rule, rules.severity(rule), path)


def is_id_card(identifier: dict[str, Any], rules: RuleSet) -> bool:
    if identifier.get("system") in rules.id_card_systems:
        return True
    types = (identifier.get("type") or {}).get("coding") or ()
    return any(isinstance(c, dict) and c.get("code") in rules.id_card_types for c in types)


def id_cards(resource: dict[str, Any], rules: RuleSet) -> Iterator[tuple[int, str]]:
    """(position, value) of every 居民身份证 identifier of the resource."""
    for i, ident in enumerate(resource.get("identifier") or ()):
        if isinstance(ident, dict) and isinstance(ident.get("value"), str) and is_id_card(ident, rules):
            yield i, str(ident["value"])


def check_identifiers(
    resource: dict[str, Any], rules: RuleSet
) -> tuple[list[Finding], list[tuple[int, IdCardCheck]]]:
    """Findings on the ID card numbers, and what each number says (for the consistency checks)."""
    rt = resource.get("resourceType")
    findings: list[Finding] = []
    checked: list[tuple[int, IdCardCheck]] = []
    for i, value in id_cards(resource, rules):
        result = check_id_card(value)
        checked.append((i, result))
        if result.problem is not None:
            findings.append(_finding(rules, _ID_CARD_RULES[result.problem], f"{rt}.identifier[{i}].value"))
    return findings, checked


def check_codes(resource: dict[str, Any], rules: RuleSet, checker: CodeChecker | None) -> list[Finding]:
    """Codes of the known systems: syntax and, where the content ships offline, existence."""
    rt = str(resource.get("resourceType"))
    findings = []
    for where, coding in codings(resource, rt):
        system = coding.get("system")
        if not isinstance(system, str):
            continue
        kind = rules.code_systems.get(system)
        problem = CHECKS[kind](str(coding["code"])) if kind in CHECKS else None
        if problem is None and checker is not None and kind is None:
            known = checker(system, str(coding["code"]))
            problem = "unknown" if known is False else None
        if problem is not None:
            rule = "validity.code_malformed" if problem == "malformed" else "validity.code_unknown"
            findings.append(_finding(rules, rule, f"{where}.code"))
    return findings


def quantity_unit(quantity: dict[str, Any], rules: RuleSet) -> str | None:
    """The UCUM code of a Quantity (its code when UCUM, else its unit text through the aliases)."""
    code = quantity.get("code")
    if isinstance(code, str) and quantity.get("system") in (UCUM, None):
        return rules.unit_aliases.get(code, code)
    unit = quantity.get("unit")
    if isinstance(unit, str) and unit:
        return rules.unit_aliases.get(unit, rules.unit_aliases.get(unit.lower(), unit))
    return None


def _check_quantity(quantity: Any, rule: QuantityRule, rules: RuleSet, where: str) -> list[Finding]:
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return []
    unit = quantity_unit(quantity, rules)
    if unit is None:
        return [_finding(rules, "validity.unit_missing", where)]
    if unit not in rule.units:
        return [_finding(rules, "validity.unit_not_allowed", where)]
    value = float(quantity["value"]) * rule.units[unit]  # in the first (reference) unit
    if not rule.hard[0] <= value <= rule.hard[1]:
        return [_finding(rules, "validity.value_impossible", f"{where}.value")]
    if not rule.soft[0] <= value <= rule.soft[1]:
        return [_finding(rules, "validity.value_implausible", f"{where}.value")]
    return []


def check_quantities(resource: dict[str, Any], rules: RuleSet) -> list[Finding]:
    """Units and ranges of an Observation's value and components, by their LOINC code."""
    if resource.get("resourceType") != "Observation":
        return []
    findings: list[Finding] = []
    code = code_of(resource.get("code"), LOINC)
    if code is not None and code in rules.quantities and "valueQuantity" in resource:
        findings += _check_quantity(
            resource["valueQuantity"], rules.quantities[code], rules, "Observation.valueQuantity"
        )
    for i, comp in enumerate(resource.get("component") or ()):
        if not isinstance(comp, dict):
            continue
        ccode = code_of(comp.get("code"), LOINC)
        if ccode is not None and ccode in rules.quantities and "valueQuantity" in comp:
            where = f"Observation.component[{i}].valueQuantity"
            findings += _check_quantity(comp["valueQuantity"], rules.quantities[ccode], rules, where)
    return findings


def check_dates(resource: dict[str, Any], rules: RuleSet, arrival: datetime) -> list[Finding]:
    """Dates that cannot be parsed, lie in the future (beyond the tolerance) or are implausibly early."""
    rt = str(resource.get("resourceType"))
    latest = arrival + timedelta(minutes=rules.date_tolerance_minutes)
    today_end = datetime.combine(
        arrival.astimezone(LOCAL_ZONE).date() + timedelta(days=1), datetime.min.time(), LOCAL_ZONE
    )
    earliest = datetime.combine(rules.earliest_date, datetime.min.time(), LOCAL_ZONE)
    findings = []
    for path in rules.date_elements.get(rt, ()):
        for where, text in time_values(resource, path):
            moment = parse_moment(text)
            loc = f"{rt}.{where}"
            if moment is None:
                if not text[:1].isdigit():
                    continue  # a string choice (onsetString "childhood") is not a date
                findings.append(_finding(rules, "validity.date_malformed", loc))
            elif moment.start >= (latest if len(text) > 10 else today_end):
                findings.append(_finding(rules, "validity.date_future", loc))
            elif moment.end <= earliest:
                findings.append(_finding(rules, "validity.date_implausible", loc))
    return findings
