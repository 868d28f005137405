"""MedicationRequest → Prescription: the drug, dose, frequency, route and supply an audit needs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healthbrain.cds.drugs import DrugDictionary, DrugRef
from healthbrain.cds.units import normalise_unit

__all__ = [
    "Dose",
    "Prescription",
    "RouteVocabulary",
    "compile_route_vocabulary",
    "dose_in",
    "parse_medication_request",
]

_PERIOD_DAYS = {"s": 1 / 86400, "min": 1 / 1440, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0}
_MASS_MG = {"kg": 1e6, "g": 1000.0, "mg": 1.0, "ug": 1e-3, "ng": 1e-6}
_ZH_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
_ZH_PER_DAY = re.compile(r"(?:每日|一日|每天|日)\s*([0-9一二两三四五六七八九十]+)\s*次")
_ZH_PER_WEEK = re.compile(r"(?:每周|一周|每星期)\s*([0-9一二两三四五六七八九十]+)\s*次")
_ZH_EVERY_HOURS = re.compile(r"每\s*([0-9一二两三四五六七八九十]+)\s*(?:小时|h)")
_SUPPLY_UNITS = {
    "d": 1.0,
    "day": 1.0,
    "days": 1.0,
    "天": 1.0,
    "日": 1.0,
    "wk": 7.0,
    "周": 7.0,
    "mo": 30.0,
    "月": 30.0,
}


@dataclass(frozen=True, slots=True)
class Dose:
    """One administered amount in a normalised unit (mg, g, ug, [iu], ml, or a packaging unit)."""

    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class RouteVocabulary:
    """Route codes/texts and timing abbreviations from the `routes` knowledge file."""

    version: str
    by_code: Mapping[str, str]  # SNOMED or v3 code -> route
    by_text: Mapping[str, str]  # lower-case text -> route
    timing_codes: Mapping[str, float]  # abbreviation -> administrations per day
    supply: Mapping[str, Any]
    max_per_day_any: float
    sources: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Prescription:
    """The parts of a MedicationRequest the audit checks; None where the order does not say."""

    id: str | None
    drug: DrugRef
    dose: Dose | None
    per_day: float | None
    route: str | None
    route_text: str | None
    supply_days: float | None
    status: str
    prescriber: str | None = None
    patient: str | None = None
    encounter: str | None = None
    organization: str | None = None


def compile_route_vocabulary(doc: Mapping[str, Any]) -> RouteVocabulary:
    """Build the vocabulary from the `routes` knowledge file."""
    by_code: dict[str, str] = {}
    by_text: dict[str, str] = {}
    for route, row in doc["routes"].items():
        for code in (*row.get("snomed", ()), *row.get("v3", ())):
            by_code[str(code)] = route
        for text in row.get("text", ()):
            by_text[str(text).lower()] = route
        by_text[route] = route
    timing = {str(k).upper(): float(v) for k, v in doc["timing_codes"].items()}
    return RouteVocabulary(
        str(doc["version"]),
        by_code,
        by_text,
        timing,
        dict(doc["supply"]),
        float(doc["max_per_day_any"]),
        dict(doc["sources"]),
    )


def dose_in(dose: Dose, unit: str) -> float | None:
    """The dose expressed in `unit` (mass units interconvert), or None when not comparable."""
    target = normalise_unit(unit)
    if dose.unit == target:
        return dose.value
    if dose.unit in _MASS_MG and target in _MASS_MG:
        return dose.value * _MASS_MG[dose.unit] / _MASS_MG[target]
    return None


def _zh_number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if text in _ZH_DIGITS:
        return _ZH_DIGITS[text]
    if len(text) == 2 and text[0] == "十" and text[1] in _ZH_DIGITS:
        return 10 + _ZH_DIGITS[text[1]]
    return None


def _per_day_from_text(text: str, vocab: RouteVocabulary) -> float | None:
    for pattern, scale in ((_ZH_PER_DAY, 1.0), (_ZH_PER_WEEK, 1 / 7)):
        m = pattern.search(text)
        if m and (n := _zh_number(m.group(1))) is not None:
            return n * scale
    m = _ZH_EVERY_HOURS.search(text)
    if m and (n := _zh_number(m.group(1))):
        return 24.0 / n
    for token in re.findall(r"[A-Za-z0-9]+", text):
        if token.upper() in vocab.timing_codes:
            return vocab.timing_codes[token.upper()]
    return None


def _per_day(dosage: Mapping[str, Any], vocab: RouteVocabulary) -> float | None:
    timing = dosage.get("timing") or {}
    repeat = timing.get("repeat") or {}
    if repeat.get("frequency") is not None or repeat.get("period") is not None:
        freq = float(repeat.get("frequencyMax") or repeat.get("frequency") or 1)
        period = float(repeat.get("period") or 1)
        days = _PERIOD_DAYS.get(str(repeat.get("periodUnit") or "d"))
        if days is not None and period > 0:
            return freq / (period * days)
    if repeat.get("when"):
        return float(len(repeat["when"]))
    code = timing.get("code") or {}
    for coding in code.get("coding") or []:
        abbreviation = str(coding.get("code") or "").upper()
        if abbreviation in vocab.timing_codes:
            return vocab.timing_codes[abbreviation]
    for text in (code.get("text"), dosage.get("text")):
        if text and (found := _per_day_from_text(str(text), vocab)) is not None:
            return found
    return None


def _dose(dosage: Mapping[str, Any]) -> Dose | None:
    for dr in dosage.get("doseAndRate") or []:
        qty = dr.get("doseQuantity") or (dr.get("doseRange") or {}).get("high")
        if qty and qty.get("value") is not None:
            unit = normalise_unit(str(qty.get("code") or qty.get("unit") or ""))
            return Dose(float(qty["value"]), unit)
    return None


def _route(dosage: Mapping[str, Any], vocab: RouteVocabulary) -> tuple[str | None, str | None]:
    route = dosage.get("route") or {}
    texts: list[str] = []
    for coding in route.get("coding") or []:
        code = str(coding.get("code") or "")
        if code in vocab.by_code:
            return vocab.by_code[code], None
        texts.extend(str(coding.get(k) or "") for k in ("code", "display"))
    texts.append(str(route.get("text") or ""))
    for text in texts:
        hit = vocab.by_text.get(text.strip().lower())
        if hit:
            return hit, None
    given = next((t for t in texts if t.strip()), None)
    return None, given


def _supply_days(resource: Mapping[str, Any]) -> float | None:
    dispense = resource.get("dispenseRequest") or {}
    duration = dispense.get("expectedSupplyDuration") or {}
    if duration.get("value") is None:
        return None
    factor = _SUPPLY_UNITS.get(str(duration.get("code") or duration.get("unit") or "d"), 1.0)
    return float(duration["value"]) * factor


def _ref(node: Any) -> str | None:
    return str(node["reference"]) if isinstance(node, dict) and node.get("reference") else None


def parse_medication_request(
    resource: Mapping[str, Any], drugs: DrugDictionary, vocab: RouteVocabulary
) -> Prescription:
    """Read a MedicationRequest (R4) into a Prescription; unknown parts stay None, never guessed."""
    concept = resource.get("medicationCodeableConcept") or {}
    drug = drugs.resolve(concept.get("coding") or [], concept.get("text"))
    if not drug.known and resource.get("medicationReference"):
        display = str(resource["medicationReference"].get("display") or "")
        drug = DrugRef(drugs.resolve_text(display), None, display)
    dosages = resource.get("dosageInstruction") or []
    dosage: Mapping[str, Any] = dosages[0] if dosages else {}
    route, route_text = _route(dosage, vocab)
    return Prescription(
        id=resource.get("id"),
        drug=drug,
        dose=_dose(dosage),
        per_day=_per_day(dosage, vocab),
        route=route,
        route_text=route_text,
        supply_days=_supply_days(resource),
        status=str(resource.get("status") or "unknown"),
        prescriber=_ref(resource.get("requester")),
        patient=_ref(resource.get("subject")),
        encounter=_ref(resource.get("encounter")),
    )
