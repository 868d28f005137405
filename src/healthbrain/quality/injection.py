"""Known clinical-data anomalies injected into a set of resources, with ground truth, to measure the checks.

The simulator injects identity errors into Patient records (check digits, swapped birth dates,
missing ID numbers, duplicates); this adds the clinical ones registration and laboratory systems
produce: unit mix-ups, decimal slips, future dates, swapped blood-pressure fields, reversed
periods, results dated before birth, sex-specific diagnoses on the other sex, missing and
mistyped codes. Every draw comes from a seeded generator, so the same seed gives the same set.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from healthbrain.quality.elements import LOCAL_ZONE, parse_moment

LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
UCUM = "http://unitsofmeasure.org"

# Unit mix-ups: a substance concentration (moles/volume LOINC code) reported in the mass unit of the
# conventional system: (factor from the SI unit, the mass unit). The code and the unit contradict.
UNIT_MIXUPS: dict[str, tuple[float, str]] = {
    "14749-6": (18.016, "mg/dL"),  # glucose mmol/L -> mg/dL
    "14682-9": (1 / 88.42, "mg/dL"),  # creatinine umol/L -> mg/dL
    "14647-2": (38.67, "mg/dL"),  # total cholesterol mmol/L -> mg/dL
}
# Mislabels: the value in the conventional unit, the SI unit label kept (factor from the SI unit).
MISLABELS: dict[str, float] = {**{k: f for k, (f, _) in UNIT_MIXUPS.items()}, "718-7": 0.1}  # Hb g/dL
# Decimal slips (a missed decimal point): LOINC code -> factor.
DECIMAL_SLIPS: dict[str, float] = {
    "8310-5": 10, "8867-4": 10, "2823-3": 10, "2951-2": 10, "777-3": 100, "718-7": 10, "6690-2": 1000,
}  # fmt: skip
FEMALE_ONLY = (("O80", "单胎顺产"), ("Z34.9", "正常妊娠监督"), ("N83.2", "卵巢囊肿"))
MALE_ONLY = (("N40", "前列腺增生"), ("C61", "前列腺恶性肿瘤"))
NONEXISTENT_ICD10 = ("K53.8", "E91.2", "L96.1", "M97.3")
KINDS = (
    "unit_mixup", "unit_mislabel", "impossible_value", "future_date", "bp_swap", "sex_diagnosis",
    "period_reversed", "before_birth", "missing_code", "invalid_code",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class InjectedAnomaly:
    """One deliberate defect in a record (`record` is `Type/id`)."""

    record: str
    kind: str
    field: str

    def to_json(self) -> dict[str, str]:
        return {"record": self.record, "kind": self.kind, "field": self.field}


def _copy(resource: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(orjson.dumps(resource))
    return value


def _loinc(resource: dict[str, Any]) -> str | None:
    for c in (resource.get("code") or {}).get("coding") or ():
        if c.get("system") == LOINC:
            return str(c.get("code"))
    return None


def _unit_mixup(rng: random.Random, res: dict[str, Any], ctx: _Ctx) -> str | None:
    code, q = _loinc(res), res.get("valueQuantity")
    if code not in UNIT_MIXUPS or not isinstance(q, dict):
        return None
    factor, unit = UNIT_MIXUPS[code]
    value = round(q["value"] * factor, 2)
    res["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    return "valueQuantity"


def _unit_mislabel(rng: random.Random, res: dict[str, Any], ctx: _Ctx) -> str | None:
    """The value converted to the conventional unit while the SI unit label stays."""
    code, q = _loinc(res), res.get("valueQuantity")
    if code not in MISLABELS or not isinstance(q, dict):
        return None
    res["valueQuantity"] = {**q, "value": round(q["value"] * MISLABELS[code], 2)}
    return "valueQuantity.value"


def _impossible(rng: random.Random, res: dict[str, Any], ctx: _Ctx) -> str | None:
    code, q = _loinc(res), res.get("valueQuantity")
    if code not in DECIMAL_SLIPS or not isinstance(q, dict):
        return None
    res["valueQuantity"] = {**q, "value": round(q["value"] * DECIMAL_SLIPS[code], 2)}
    return "valueQuantity.value"


def _later(text: str, delta: timedelta) -> str:
    moment = parse_moment(text)
    assert moment is not None
    return (moment.start + delta).isoformat()


def _delta_to_future(rng: random.Random, text: str, ctx: _Ctx) -> timedelta:
    """How far to move `text` so that it lands 30-400 days after the arrival time."""
    moment = parse_moment(text)
    assert moment is not None
    return ctx.arrival - moment.start + timedelta(days=rng.randint(30, 400))


def _future(rng: random.Random, res: dict[str, Any], ctx: _Ctx) -> str | None:
    if res["resourceType"] == "Observation" and "effectiveDateTime" in res:
        delta = _delta_to_future(rng, res["effectiveDateTime"], ctx)
        res["effectiveDateTime"] = _later(res["effectiveDateTime"], delta)
        if "issued" in res:
            res["issued"] = _later(res["issued"], delta)
        return "effectiveDateTime"
    if res["resourceType"] == "Encounter" and "start" in (res.get("period") or {}):
        delta = _delta_to_future(rng, res["period"]["start"], ctx)
        res["period"] = {k: _later(v, delta) for k, v in res["period"].items()}
        return "period"
    return None


def _bp_swap(rng: random.Random, res: dict[str, Any], ctx: _Ctx) -> str | None:
    comps = res.get("component") or []
    if _loinc(res) != "85354-9" or len(comps) != 2:
        return None
    a, b = comps[0]["valueQuantity"], comps[1]["valueQuantity"]
    if a["value"] <= b["value"]:
        return None
    comps[0]["valueQuantity"], comps[1]["valueQuantity"] = b, a
    return "component"


def _sex_diagnosis(rng: random.Random, res: dict[str, Any], ctx: _Ctx) -> str | None:
    if res["resourceType"] != "Condition":
        return None
    gender = ctx.gender_of(str((res.get("subject") or {}).get("reference")))
    table = FEMALE_ONLY if gender == "male" else MALE_ONLY if gender == "female" else None
    if table is None:
        return None
    code, display = rng.choice(table)
    res["code"] = {"coding": [{"system": ICD10, "code": code, "display": display}], "text": display}
    return "code"


def _reversed(rng: random.Random, res: dict[str, Any], ctx: _Ctx) -> str | None:
    period = res.get("period") if res["resourceType"] == "Encounter" else None
    if not isinstance(period, dict) or "start" not in period or "end" not in period:
        return None
    res["period"] = {"start": period["end"], "end": period["start"]}
    return "period"


def _before_birth(rng: random.Random, res: dict[str, Any], ctx: _Ctx) -> str | None:
    born = ctx.birth_of(str((res.get("subject") or {}).get("reference")))
    if res["resourceType"] != "Observation" or "effectiveDateTime" not in res or born is None:
        return None
    when = datetime.combine(born - timedelta(days=rng.randint(30, 3000)), datetime.min.time(), LOCAL_ZONE)
    res["effectiveDateTime"] = (when + timedelta(hours=9)).isoformat()
    res.pop("issued", None)
    return "effectiveDateTime"


def _missing_code(rng: random.Random, res: dict[str, Any], ctx: _Ctx) -> str | None:
    if res["resourceType"] not in ("Observation", "Condition") or "code" not in res:
        return None
    del res["code"]
    return "code"


def _invalid_code(rng: random.Random, res: dict[str, Any], ctx: _Ctx) -> str | None:
    if res["resourceType"] == "Condition":
        code = rng.choice(NONEXISTENT_ICD10)
        text = res.get("code", {}).get("text", "")
        res["code"] = {"coding": [{"system": ICD10, "code": code}], "text": text}
        return "code"
    loinc = _loinc(res)
    if res["resourceType"] != "Observation" or loinc is None:
        return None
    body, digit = loinc.split("-")
    wrong = f"{body}-{(int(digit) + rng.randint(1, 9)) % 10}"
    res["code"] = {**res["code"], "coding": [{"system": LOINC, "code": wrong}]}
    return "code"


@dataclass(frozen=True, slots=True)
class _Ctx:
    year: int
    arrival: datetime
    gender_of: Callable[[str], str | None]
    birth_of: Callable[[str], date | None]


INJECTORS: dict[str, Callable[[random.Random, dict[str, Any], _Ctx], str | None]] = {
    "unit_mixup": _unit_mixup, "unit_mislabel": _unit_mislabel, "impossible_value": _impossible,
    "future_date": _future, "bp_swap": _bp_swap, "sex_diagnosis": _sex_diagnosis,
    "period_reversed": _reversed, "before_birth": _before_birth, "missing_code": _missing_code,
    "invalid_code": _invalid_code,
}  # fmt: skip


def inject_anomalies(
    institutions: Mapping[str, list[dict[str, Any]]],
    *,
    seed: int,
    rate: float,
    year: int,
    arrival: datetime,
    skip: frozenset[str] = frozenset(),
) -> list[InjectedAnomaly]:
    """Corrupt about `rate` of the clinical records of each kind, in place (each a fresh copy).

    Args:
        institutions: institution id -> its resources (elements are replaced, never mutated).
        seed: the seed of every draw.
        rate: share of the records a kind applies to that get it.
        year: the simulated year (future dates are drawn after `arrival`).
        arrival: when the records are taken to arrive.
        skip: records not to touch (those already carrying an injected error).
    """
    rng = random.Random(seed)
    patients = {
        f"Patient/{r['id']}": r for rs in institutions.values() for r in rs if r["resourceType"] == "Patient"
    }

    def gender_of(ref: str) -> str | None:
        return patients.get(ref, {}).get("gender")

    def birth_of(ref: str) -> date | None:
        text = patients.get(ref, {}).get("birthDate")
        moment = parse_moment(text) if isinstance(text, str) and len(text) == 10 else None
        return moment.start.date() if moment is not None else None

    ctx = _Ctx(year, arrival, gender_of, birth_of)
    out: list[InjectedAnomaly] = []
    for inst in sorted(institutions):
        resources = institutions[inst]
        for i, res in enumerate(resources):
            key = f"{res['resourceType']}/{res['id']}"
            if res["resourceType"] == "Patient" or key in skip or rng.random() >= rate * len(KINDS):
                continue
            for kind in rng.sample(KINDS, len(KINDS)):
                copy = _copy(res)
                where = INJECTORS[kind](rng, copy, ctx)
                if where is not None:
                    resources[i] = copy
                    out.append(InjectedAnomaly(key, kind, where))
                    break
    return out
