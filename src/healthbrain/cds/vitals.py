"""Reading vital signs out of Observations (single values, panels with components, coded consciousness)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from healthbrain.cds.ews import EwsTables, VitalSet
from healthbrain.cds.units import convert, normalise_unit

__all__ = ["Reading", "assemble_vital_set", "read_vitals"]

LOINC = "http://loinc.org"


@dataclass(frozen=True, slots=True)
class Reading:
    """One vital-sign parameter from an Observation; `problem` is set for unusable values."""

    param: str
    value: float | None = None
    code: str | None = None
    problem: str | None = None
    unit: str | None = None


def _loinc_codes(concept: Mapping[str, Any] | None) -> list[str]:
    return [str(c.get("code")) for c in (concept or {}).get("coding") or [] if c.get("system") == LOINC]


def _by_loinc(tables: EwsTables) -> dict[str, str]:
    return {code: param for param, spec in tables.observations.items() for code in spec.get("loinc", ())}


def _consciousness(tables: EwsTables, node: Mapping[str, Any]) -> str | None:
    concept = node.get("valueCodeableConcept") or {}
    candidates = [str(c.get("code") or "") for c in concept.get("coding") or []]
    candidates += [str(c.get("display") or "") for c in concept.get("coding") or []]
    candidates += [str(concept.get("text") or ""), str(node.get("valueString") or "")]
    for text in candidates:
        letter = tables.consciousness_codes.get(text.strip().lower())
        if letter:
            return letter
    return None


def _numeric(tables: EwsTables, param: str, node: Mapping[str, Any]) -> Reading:
    spec = tables.observations[param]
    qty = node.get("valueQuantity")
    if param == "gcs":
        value = node.get("valueInteger", (qty or {}).get("value"))
        return (
            Reading(param, float(value))
            if isinstance(value, int | float)
            else Reading(param, problem="missing-value")
        )
    if not qty or not isinstance(qty.get("value"), int | float):
        return Reading(param, problem="missing-value")
    unit = str(qty.get("code") or qty.get("unit") or "")
    factors = {normalise_unit(u): float(f) for u, f in spec.get("units", {}).items()}
    if param == "temperature" and normalise_unit(unit) in ("[degf]", "degf", "°f"):
        value = (float(qty["value"]) - 32) * 5 / 9
    else:
        converted = convert(float(qty["value"]), unit, factors)
        if converted is None:
            return Reading(param, problem="unknown-unit", unit=unit)
        value = converted
    low, high = spec.get("plausible", (float("-inf"), float("inf")))
    if not low <= value <= high:
        return Reading(param, value, problem="implausible-value", unit=unit)
    return Reading(param, value)


def read_vitals(tables: EwsTables, observation: Mapping[str, Any]) -> list[Reading]:
    """Every vital-sign parameter an Observation carries (its value and its components)."""
    by_loinc = _by_loinc(tables)
    found: list[Reading] = []
    for node in (observation, *(observation.get("component") or [])):
        params = {by_loinc[c] for c in _loinc_codes(node.get("code")) if c in by_loinc}
        for param in params:
            if param == "consciousness":
                letter = _consciousness(tables, node)
                found.append(
                    Reading(param, code=letter) if letter else Reading(param, problem="unknown-code")
                )
            else:
                found.append(_numeric(tables, param, node))
    return found


def assemble_vital_set(
    rows: Sequence[Mapping[str, Any]], at: float, spo2_scale: int
) -> tuple[VitalSet, dict[str, str]]:
    """The set around `at`: per parameter the reading closest in time; also which Observation gave it."""
    best: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        held = best.get(row["param"])
        if held is None or abs(row["effective_at"] - at) < abs(held["effective_at"] - at):
            best[row["param"]] = row

    def num(param: str) -> float | None:
        row = best.get(param)
        return None if row is None or row["value"] is None else float(row["value"])

    flow, fio2 = num("oxygen_flow"), num("fio2")
    on_oxygen = None if flow is None and fio2 is None else (flow or 0) > 0 or (fio2 or 21) > 21
    gcs = num("gcs")
    vs = VitalSet(
        respiratory_rate=num("respiratory_rate"),
        spo2=num("spo2"),
        on_oxygen=on_oxygen,
        oxygen_flow_lpm=flow,
        fio2_percent=fio2,
        systolic_bp=num("systolic_bp"),
        pulse=num("pulse"),
        consciousness=(best["consciousness"]["code"] if "consciousness" in best else None),
        temperature=num("temperature"),
        capillary_refill_s=num("capillary_refill"),
        gcs=None if gcs is None else int(gcs),
        spo2_scale=spo2_scale,
    )
    return vs, {
        param: f"Observation/{row['obs_id']}/_history/{row['version']}" for param, row in best.items()
    }
