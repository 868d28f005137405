"""Signals as FHIR R4 resources: a DetectedIssue with its evidence Observation, and the Task that
pushes it to the county CDC officer. Pure builders; the service writes them through the repository."""

from __future__ import annotations

from typing import Any

from healthbrain.surveillance.casedef import BY_KEY
from healthbrain.surveillance.signal_store import SignalDraft

HB = "https://healthbrain.dev/fhir"
SIGNAL_SYSTEM = f"{HB}/CodeSystem/surveillance-signal"
DISEASE_SYSTEM = f"{HB}/CodeSystem/notifiable-disease"
METHOD_SYSTEM = f"{HB}/CodeSystem/aberration-method"
AREA_SYSTEM = f"{HB}/sid/area-code"
SIGNAL_ID_SYSTEM = f"{HB}/sid/surveillance-signal"
UCUM = "http://unitsofmeasure.org"


def _disease(key: str) -> dict[str, Any]:
    d = BY_KEY.get(key)
    return {"coding": [{"system": DISEASE_SYSTEM, "code": key, "display": d.name_zh if d else key}]}


def _component(code: str, value: float | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {
        "code": {"coding": [{"system": SIGNAL_SYSTEM, "code": code}]},
        "valueQuantity": {"value": round(float(value), 6), "unit": "1", "system": UCUM, "code": "1"},
    }


def _area_component(code: str, area: str) -> dict[str, Any]:
    return {
        "code": {"coding": [{"system": SIGNAL_SYSTEM, "code": code}]},
        "valueCodeableConcept": {"coding": [{"system": AREA_SYSTEM, "code": area}]},
    }


def evidence_observation(draft: SignalDraft, signal_id: str) -> dict[str, Any]:
    """The numbers behind a signal: observed count, expected, threshold, p-value, county, and for a
    space-time cluster its counties (`cluster-area`, the centre first) and its window."""
    comps = [
        c
        for c in (
            _component("expected", draft.expected),
            _component("threshold", draft.threshold),
            _component("p-value", draft.pvalue),
        )
        if c is not None
    ]
    comps.append(_area_component("area", draft.area))
    cluster = [str(a) for a in draft.evidence.get("areas", [])]
    comps.extend(_area_component("cluster-area", a) for a in cluster)
    window = draft.evidence.get("window")
    effective: dict[str, Any] = (
        {"effectivePeriod": {"start": window["start"], "end": window["end"]}}
        if isinstance(window, dict)
        else {"effectiveDateTime": draft.day}
    )
    return {
        "resourceType": "Observation",
        "identifier": [{"system": SIGNAL_ID_SYSTEM, "value": signal_id}],
        "status": "final",
        "category": [{"coding": [{"system": SIGNAL_SYSTEM, "code": "aberration-evidence"}]}],
        "code": _disease(draft.disease),
        **effective,
        "method": {"coding": [{"system": METHOD_SYSTEM, "code": draft.method}]},
        "valueQuantity": {"value": float(draft.observed), "unit": "cases", "system": UCUM, "code": "1"},
        "component": comps,
    }


def detected_issue(draft: SignalDraft, signal_id: str, evidence_ref: str, issued: str) -> dict[str, Any]:
    """The signal: an early-warning DetectedIssue about a disease in a county, with its evidence."""
    d = BY_KEY.get(draft.disease)
    severity = "high" if d is not None and d.klass == "A" else "moderate"
    areas = "+".join(str(a) for a in draft.evidence.get("areas", [])) or draft.area
    return {
        "resourceType": "DetectedIssue",
        "identifier": [{"system": SIGNAL_ID_SYSTEM, "value": signal_id}],
        "status": "preliminary",
        "code": {"coding": [{"system": SIGNAL_SYSTEM, "code": "aberration", "display": "传染病预警信号"}]},
        "severity": severity,
        "identifiedDateTime": issued,
        "detail": f"{d.name_zh if d else draft.disease} {areas} {draft.day}: {draft.method}",
        "evidence": [
            {"code": [_disease(draft.disease)], "detail": [{"reference": evidence_ref}]},
        ],
    }


def officer_task(issue_ref: str, practitioner: str, authored: str) -> dict[str, Any]:
    """The Task pushing a signal to the responsible county CDC officer for verification."""
    return {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "priority": "urgent",
        "code": {"coding": [{"system": SIGNAL_SYSTEM, "code": "verify-signal", "display": "核实预警信号"}]},
        "focus": {"reference": issue_ref},
        "owner": {"reference": f"Practitioner/{practitioner}"},
        "authoredOn": authored,
    }
