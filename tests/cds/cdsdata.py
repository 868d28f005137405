"""Paths and builders shared by the CDS tests (real data from ../shared/data, resources like a HIS sends)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CDS_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cds"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
FORMULARY = "https://healthbrain.dev/fhir/CodeSystem/drug"


def lab(
    oid: str,
    loinc: str,
    value: float | None,
    unit: str,
    *,
    patient: str = "Patient/p1",
    encounter: str | None = "Encounter/e1",
    when: str = "2026-03-01T08:00:00+08:00",
    status: str = "final",
    **extra: Any,
) -> dict[str, Any]:
    """A laboratory Observation as a LIS posts it."""
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": {"reference": patient},
        "effectiveDateTime": when,
    }
    if value is not None:
        obs["valueQuantity"] = {"value": value, "unit": unit, "system": UCUM, "code": unit}
    if encounter:
        obs["encounter"] = {"reference": encounter}
    obs.update(extra)
    return obs


def vital(oid: str, loinc: str, value: float, unit: str, **kw: Any) -> dict[str, Any]:
    """A vital-sign Observation."""
    obs = lab(oid, loinc, value, unit, **kw)
    obs["category"] = [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                }
            ]
        }
    ]
    return obs


def medication_request(
    mid: str,
    *,
    code: str | None = None,
    text: str | None = None,
    dose: float | None = None,
    unit: str = "mg",
    per_day: float | None = 1,
    route: str | None = "26643006",
    patient: str = "Patient/p1",
    requester: str = "Practitioner/dr1",
    supply_days: float | None = None,
    status: str = "active",
) -> dict[str, Any]:
    """A MedicationRequest with a structured dosage."""
    concept: dict[str, Any] = {}
    if code:
        concept["coding"] = [{"system": FORMULARY, "code": code}]
    if text:
        concept["text"] = text
    dosage: dict[str, Any] = {}
    if per_day is not None:
        dosage["timing"] = {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}
    if route:
        dosage["route"] = {"coding": [{"system": SNOMED, "code": route}]}
    if dose is not None:
        dosage["doseAndRate"] = [
            {"doseQuantity": {"value": dose, "unit": unit, "system": UCUM, "code": unit}}
        ]
    mr: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": {"reference": patient},
        "requester": {"reference": requester},
        "dosageInstruction": [dosage],
    }
    if supply_days is not None:
        mr["dispenseRequest"] = {
            "expectedSupplyDuration": {"value": supply_days, "unit": "d", "system": UCUM, "code": "d"}
        }
    return mr
