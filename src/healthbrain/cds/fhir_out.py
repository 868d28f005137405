"""The FHIR resources the CDS service writes: Flag, Communication, Task, RiskAssessment, DetectedIssue.

Ids are derived from the alert or the audited order, so a redelivered event rewrites the same
resources (an unchanged PUT creates no version) instead of creating duplicates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from healthbrain.cds.ews import ScoreResult
from healthbrain.cds.findings import Finding, fhir_severity
from healthbrain.fhir.resources import instant

__all__ = [
    "ALERT_SYSTEM",
    "EXT",
    "communication",
    "detected_issue",
    "flag",
    "risk_assessment",
    "task",
]

HB = "https://healthbrain.dev/fhir"
ALERT_SYSTEM = f"{HB}/CodeSystem/cds-alert"
TASK_SYSTEM = f"{HB}/CodeSystem/cds-task"
SCORE_SYSTEM = f"{HB}/CodeSystem/cds-score"
ISSUE_SYSTEM = f"{HB}/CodeSystem/cds-issue"
EXT = f"{HB}/StructureDefinition"
V3_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_V3_ISSUE = {
    "interaction": ("DRG", "Drug Interaction Alert"),
    "duplication": ("DUPTHPY", "Duplicate Therapy Alert"),
}
_KIND_CODE = {
    "critical": "critical-value",
    "delta": "delta-check",
    "ews": "early-warning",
    "audit": "prescription-audit",
}
_COMM_PRIORITY = {"critical": "stat", "urgent": "urgent", "routine": "routine"}
_TASK_STATUS = {
    "open": "requested",
    "acknowledged": "accepted",
    "completed": "completed",
    "cancelled": "cancelled",
}
_RISK = {"low": "low", "low-medium": "moderate", "medium": "moderate", "high": "high"}


def _ref(reference: str | None) -> dict[str, str] | None:
    return {"reference": reference} if reference else None


def _put(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


def _unversioned(reference: str) -> str:
    return reference.split("/_history/", maxsplit=1)[0]


def flag(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The patient Flag of an alert: active until the loop is closed."""
    payload = alert["payload"]
    active = alert["status"] in ("open", "acknowledged")
    return _put(
        {
            "resourceType": "Flag",
            "id": f"cds-{alert['id']}",
            "status": "active" if active else "inactive",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/flag-category",
                            "code": "clinical",
                            "display": "Clinical",
                        }
                    ]
                }
            ],
            "code": {
                "coding": [
                    {"system": ALERT_SYSTEM, "code": _KIND_CODE[alert["kind"]]},
                    *payload.get("codings", []),
                ],
                "text": payload["title"]["zh_CN"],
            },
            "subject": {"reference": alert["patient"]},
            "encounter": _ref(alert.get("encounter")),
            "period": _put(
                {
                    "start": instant(alert["created_at"]),
                    "end": instant(alert["completed_at"]) if alert.get("completed_at") else None,
                }
            ),
            "extension": [{"url": f"{EXT}/cds-basis", "valueReference": {"reference": alert["source"]}}],
        }
    )


def communication(
    alert: Mapping[str, Any], level: int, recipient: str | None, sent_at: float
) -> dict[str, Any]:
    """The message to the recipient of one escalation level (and the ward), with what it is about."""
    payload = alert["payload"]
    recipients = [r for r in (recipient,) if r]
    received = alert.get("acknowledged_at") if alert.get("level") == level else None
    done = alert["status"] in ("acknowledged", "completed") or alert.get("level", 0) > level
    body: dict[str, Any] = {
        "resourceType": "Communication",
        "id": f"cds-{alert['id']}-{level}",
        "status": "completed" if done else "in-progress",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/communication-category",
                        "code": "alert",
                    }
                ]
            }
        ],
        "priority": _COMM_PRIORITY.get(alert["priority"], "routine"),
        "subject": {"reference": alert["patient"]},
        "encounter": _ref(alert.get("encounter")),
        "about": [{"reference": _unversioned(alert["source"])}],
        "sent": instant(sent_at),
        "received": instant(received) if received else None,
        "recipient": [{"reference": r} for r in recipients] or None,
        "payload": [{"contentString": payload["title"]["zh_CN"]}],
    }
    if alert.get("ward"):
        body["extension"] = [{"url": f"{EXT}/cds-ward", "valueReference": {"reference": alert["ward"]}}]
    return _put(body)


def task(alert: Mapping[str, Any], now: float, note: str | None = None) -> dict[str, Any]:
    """The closed-loop Task: requested → accepted (acknowledged) → completed; each change a version."""
    payload = alert["payload"]
    status = _TASK_STATUS[alert["status"]]
    business = payload.get("business_status") or alert["status"]
    body: dict[str, Any] = {
        "resourceType": "Task",
        "id": f"cds-{alert['id']}-task",
        "status": status,
        "intent": "order",
        "priority": _COMM_PRIORITY.get(alert["priority"], "routine"),
        "code": {
            "coding": [{"system": TASK_SYSTEM, "code": f"{_KIND_CODE[alert['kind']]}-response"}],
            "text": payload["title"]["zh_CN"],
        },
        "businessStatus": {"coding": [{"system": TASK_SYSTEM, "code": business}]},
        "focus": {"reference": _unversioned(alert["source"])},
        "for": {"reference": alert["patient"]},
        "encounter": _ref(alert.get("encounter")),
        "authoredOn": instant(alert["created_at"]),
        "lastModified": instant(now),
        "owner": _ref(alert.get("recipient") or alert.get("ordering")),
        "executionPeriod": _put(
            {
                "start": instant(alert["created_at"]),
                "end": instant(alert["completed_at"]) if alert.get("completed_at") else None,
            }
        ),
        "restriction": {"period": {"end": instant(alert["due_at"])}} if alert.get("due_at") else None,
        "note": [{"text": note, "time": instant(now)}] if note else None,
    }
    return _put(body)


def risk_assessment(
    rid: str,
    score: ScoreResult,
    patient: str,
    encounter: str | None,
    at: float,
    basis: Sequence[str],
    rationale: str,
) -> dict[str, Any]:
    """An early warning score as a RiskAssessment, with its total and components as extensions."""
    components = [
        {
            "url": f"{EXT}/cds-score-component",
            "extension": [{"url": "parameter", "valueCode": name}, {"url": "points", "valueInteger": points}],
        }
        for name, points in score.components
    ]
    return _put(
        {
            "resourceType": "RiskAssessment",
            "id": rid,
            "status": "final",
            "method": {
                "coding": [{"system": SCORE_SYSTEM, "code": score.score}],
                "text": score.score.upper(),
            },
            "subject": {"reference": patient},
            "encounter": _ref(encounter),
            "occurrenceDateTime": instant(at),
            "basis": [{"reference": b} for b in basis],
            "prediction": [
                {
                    "outcome": {"text": "clinical deterioration"},
                    "qualitativeRisk": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/risk-probability",
                                "code": _RISK.get(score.level, "moderate"),
                            }
                        ]
                    },
                    "rationale": rationale,
                }
            ],
            "extension": [
                {"url": f"{EXT}/cds-score-total", "valueInteger": score.total},
                {"url": f"{EXT}/cds-score-level", "valueCode": score.level},
                *components,
            ],
            "note": [{"text": a} for a in score.assumptions] or None,
        }
    )


def detected_issue(
    iid: str, finding: Finding, request_ref: str, patient: str | None, at: float, text: str, kb_version: str
) -> dict[str, Any]:
    """One audit finding as a DetectedIssue implicating the order (and the other order or allergy)."""
    codings = [{"system": ISSUE_SYSTEM, "code": finding.code}]
    if finding.kind in _V3_ISSUE:
        code, display = _V3_ISSUE[finding.kind]
        codings.insert(0, {"system": V3_ACT, "code": code, "display": display})
    extension = [
        {"url": f"{EXT}/cds-rule", "valueString": finding.rule},
        {"url": f"{EXT}/cds-knowledge-version", "valueString": kb_version},
        {"url": f"{EXT}/cds-severity", "valueCode": finding.severity},
    ]
    if finding.source:
        extension.append({"url": f"{EXT}/cds-source", "valueString": finding.source})
    return _put(
        {
            "resourceType": "DetectedIssue",
            "id": iid,
            "status": "preliminary",
            "code": {"coding": codings, "text": finding.kind},
            "severity": fhir_severity(finding.severity),
            "patient": _ref(patient),
            "identifiedDateTime": instant(at),
            "implicated": [{"reference": r} for r in (request_ref, *finding.implicated)],
            "detail": text,
            "extension": extension,
        }
    )
