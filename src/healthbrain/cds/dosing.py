"""Dose, frequency, route and supply checks against the limits in knowledge/dosing.json and routes.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from healthbrain.cds.drugs import DrugDictionary
from healthbrain.cds.findings import Finding, PatientFacts
from healthbrain.cds.prescription import Prescription, RouteVocabulary, dose_in
from healthbrain.cds.units import normalise_unit

__all__ = ["DoseRule", "check_dose", "check_supply", "compile_dose_rules", "select_dose_rule"]

ADULT_FROM_YEARS = 18.0


@dataclass(frozen=True, slots=True)
class DoseRule:
    """Limits for one ingredient or product; limit mappings use the keys of dosing.json."""

    drug: str | None
    products: frozenset[str]
    unit: str
    source: str
    adult: Mapping[str, float]
    max_per_day: float | None
    max_per_week: float | None
    routes: frozenset[str]
    routes_apply: frozenset[str]
    paediatric: Mapping[str, float] = field(default_factory=dict)
    paediatric_bands: tuple[Mapping[str, float], ...] = ()
    low_weight: Mapping[str, float] = field(default_factory=dict)
    elderly: Mapping[str, float] = field(default_factory=dict)
    renal: tuple[Mapping[str, Any], ...] = ()


def compile_dose_rules(doc: Mapping[str, Any]) -> tuple[DoseRule, ...]:
    """Build the rules from the `dosing` knowledge file, citations resolved."""
    sources = doc["sources"]
    return tuple(
        DoseRule(
            drug=r.get("drug"),
            products=frozenset(r.get("products", ())),
            unit=normalise_unit(str(r["unit"])),
            source=str(sources[r["source"]]),
            adult=dict(r.get("adult", {})),
            max_per_day=None if r.get("max_per_day") is None else float(r["max_per_day"]),
            max_per_week=None if r.get("max_per_week") is None else float(r["max_per_week"]),
            routes=frozenset(r.get("routes", ())),
            routes_apply=frozenset(r.get("routes_apply", ())),
            paediatric=dict(r.get("paediatric", {})),
            paediatric_bands=tuple(dict(b) for b in r.get("paediatric_bands", ())),
            low_weight=dict(r.get("low_weight", {})),
            elderly=dict(r.get("elderly", {})),
            renal=tuple(dict(x) for x in r.get("renal", ())),
        )
        for r in doc["rules"]
    )


def select_dose_rule(rules: Sequence[DoseRule], rx: Prescription) -> DoseRule | None:
    """The product's own rule first, else the (single) ingredient's rule for the order's route."""
    if rx.drug.product is not None:
        for rule in rules:
            if rx.drug.product in rule.products:
                return rule
    if len(rx.drug.ingredients) != 1:
        return None
    for rule in rules:
        if rule.products or rule.drug != rx.drug.ingredients[0]:
            continue
        if rule.routes_apply and rx.route is not None and rx.route not in rule.routes_apply:
            continue
        return rule
    return None


def _finding(rule: DoseRule, kind: str, code: str, severity: str, **params: str | float) -> Finding:
    return Finding(
        kind,
        severity,
        f"{kind}:{rule.drug or '+'.join(sorted(rule.products))}",
        code,
        rule.source,
        params=params,
    )


def _tighten(limits: dict[str, float], key: str, value: float) -> None:
    limits[key] = min(limits.get(key, value), value)


def _paediatric_limits(
    rule: DoseRule, patient: PatientFacts, age: float
) -> tuple[dict[str, float], list[Finding]]:
    limits: dict[str, float] = {}
    notes: list[Finding] = []
    ped = rule.paediatric
    below_years = "min_age_years" in ped and age < ped["min_age_years"]
    below_days = (
        "min_age_days" in ped and patient.age_days is not None and patient.age_days < ped["min_age_days"]
    )
    if below_years or below_days:
        notes.append(_finding(rule, "paediatric", "paediatric.not_established", "moderate"))
    band = next((b for b in rule.paediatric_bands if age < b["below_age_years"]), None)
    for key, value in (band or {}).items():
        if key != "below_age_years":
            _tighten(limits, key, value)
    for key, value in ped.items():
        if key in ("max_single", "max_daily"):
            _tighten(limits, key, value)
        elif key.endswith("_per_kg"):
            if patient.weight_kg is None:
                notes.append(_finding(rule, "dose", "dose.weight_missing", "info"))
            else:
                _tighten(limits, key.removesuffix("_per_kg"), value * patient.weight_kg)
    return limits, notes


def _limits(rule: DoseRule, patient: PatientFacts) -> tuple[dict[str, float], list[Finding]]:
    """The limits that apply to this patient, with findings about age or a missing weight."""
    age, weight = patient.age_years, patient.weight_kg
    if age is not None and age < ADULT_FROM_YEARS and (rule.paediatric or rule.paediatric_bands):
        limits, notes = _paediatric_limits(rule, patient, age)
        notes = list({n.code: n for n in notes}.values())
    else:
        limits, notes = dict(rule.adult), []
        if weight is not None and rule.low_weight and weight < rule.low_weight["below_kg"]:
            for key, value in rule.low_weight.items():
                if key.endswith("_per_kg"):
                    _tighten(limits, key.removesuffix("_per_kg"), value * weight)
                elif key != "below_kg":
                    _tighten(limits, key, value)
    if age is not None and rule.elderly and age >= rule.elderly["from_age_years"]:
        for key, value in rule.elderly.items():
            if key != "from_age_years":
                _tighten(limits, key, value)
    return limits, notes


def _route_and_frequency(rule: DoseRule, rx: Prescription, vocab: RouteVocabulary) -> list[Finding]:
    found: list[Finding] = []
    if rx.route is not None and rule.routes and rx.route not in rule.routes:
        found.append(
            _finding(
                rule,
                "route",
                "route.not_allowed",
                "major",
                route=rx.route,
                allowed=", ".join(sorted(rule.routes)),
            )
        )
    if rx.per_day is not None:
        if rx.per_day > vocab.max_per_day_any:
            found.append(_finding(rule, "frequency", "frequency.implausible", "major", per_day=rx.per_day))
        elif rule.max_per_week is not None and rx.per_day * 7 > rule.max_per_week + 1e-9:
            found.append(
                _finding(
                    rule,
                    "frequency",
                    "frequency.weekly_drug",
                    "contraindicated",
                    per_week=round(rx.per_day * 7, 2),
                    limit=rule.max_per_week,
                )
            )
        elif rule.max_per_day is not None and rx.per_day > rule.max_per_day + 1e-9:
            found.append(
                _finding(
                    rule,
                    "frequency",
                    "frequency.too_often",
                    "moderate",
                    per_day=round(rx.per_day, 2),
                    limit=rule.max_per_day,
                )
            )
    return found


def _renal(rule: DoseRule, daily: float | None, patient: PatientFacts) -> list[Finding]:
    if patient.egfr is None:
        return []
    for entry in rule.renal:
        if patient.egfr >= float(entry["egfr_below"]):
            continue
        severity = str(entry.get("severity", "moderate"))
        base = Finding(
            "renal",
            severity,
            f"renal:{rule.drug}",
            "",
            rule.source,
            dict(entry.get("advice", {})),
            {"egfr": round(patient.egfr), "threshold": float(entry["egfr_below"])},
        )
        if entry.get("contraindicated"):
            return [_with_code(base, "renal.contraindicated")]
        limit = entry.get("max_daily")
        if limit is None:
            return [_with_code(base, "renal.advice")]
        if daily is not None and daily > float(limit) + 1e-9:
            return [
                _with_code(base, "renal.dose_high", daily=round(daily, 3), limit=float(limit), unit=rule.unit)
            ]
        return []
    return []


def _with_code(finding: Finding, code: str, **extra: str | float) -> Finding:
    return Finding(
        finding.kind,
        finding.severity,
        finding.rule,
        code,
        finding.source,
        finding.advice,
        {**finding.params, **extra},
        finding.implicated,
        finding.effect,
    )


def check_dose(
    rules: Sequence[DoseRule], rx: Prescription, patient: PatientFacts, vocab: RouteVocabulary
) -> list[Finding]:
    """Route, frequency, single/daily dose (adult, child, low weight, elderly) and renal checks."""
    found: list[Finding] = []
    if rx.dose is None:
        found.append(Finding("order", "minor", "order:no-dose", "order.no_dose", ""))
    if rx.per_day is None:
        found.append(Finding("order", "minor", "order:no-frequency", "order.no_frequency", ""))
    rule = select_dose_rule(rules, rx)
    if rule is None:
        return found
    found.extend(_route_and_frequency(rule, rx, vocab))
    limits, notes = _limits(rule, patient)
    found.extend(notes)
    single = dose_in(rx.dose, rule.unit) if rx.dose is not None else None
    if rx.dose is not None and single is None:
        found.append(
            _finding(rule, "dose", "dose.unit_not_comparable", "info", unit=rx.dose.unit, expected=rule.unit)
        )
    daily = single * rx.per_day if single is not None and rx.per_day is not None else None
    if single is not None and "max_single" in limits and single > limits["max_single"] + 1e-9:
        found.append(
            _finding(
                rule,
                "dose",
                "dose.single_high",
                "major",
                dose=round(single, 3),
                limit=round(limits["max_single"], 3),
                unit=rule.unit,
            )
        )
    if daily is not None and "max_daily" in limits and daily > limits["max_daily"] + 1e-9:
        found.append(
            _finding(
                rule,
                "dose",
                "dose.daily_high",
                "major",
                dose=round(daily, 3),
                limit=round(limits["max_daily"], 3),
                unit=rule.unit,
            )
        )
    if daily is not None and "min_daily" in limits and daily < limits["min_daily"] - 1e-9:
        found.append(
            _finding(
                rule,
                "dose",
                "dose.daily_low",
                "minor",
                dose=round(daily, 3),
                limit=round(limits["min_daily"], 3),
                unit=rule.unit,
            )
        )
    found.extend(_renal(rule, daily, patient))
    return found


def check_supply(drugs: DrugDictionary, rx: Prescription, vocab: RouteVocabulary) -> list[Finding]:
    """Supply duration against 处方管理办法 (7 days) or the long-prescription rule (12 weeks)."""
    if rx.supply_days is None:
        return []
    supply = vocab.supply
    classes = drugs.ref_classes(rx.drug)
    chronic = bool(classes & set(supply["chronic_classes"])) or bool(
        set(rx.drug.ingredients) & set(supply["chronic_drugs"])
    )
    limit = float(supply["chronic_max_days" if chronic else "default_max_days"])
    if rx.supply_days <= limit:
        return []
    severity = str(supply["long_severity" if chronic else "severity"])
    key = str(supply["long_source" if chronic else "source"])
    source = vocab.sources.get(key, key)
    return [
        Finding(
            "supply",
            severity,
            "supply:duration",
            "supply.too_long",
            source,
            params={"days": rx.supply_days, "limit": limit},
        )
    ]
