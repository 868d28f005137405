"""The audit trail for auditors: search it and read each record as a FHIR AuditEvent.

See: https://hl7.org/fhir/R4/auditevent.html — type `rest`, subtype the interaction, action C/R/U/D/E,
outcome 0 (success) / 4 (refused) / 8 (failed), the agent with its purpose and network address,
the entity acted on and the patients touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, select

from healthbrain.core.context import RequestContext
from healthbrain.core.errors import Forbidden
from healthbrain.security import tables as t

__all__ = ["AuditQuery", "require_auditor", "search_audit", "to_audit_event"]

AUDITOR_ROLES = frozenset({"security-auditor"})
_ACTIONS = {
    "create": "C", "read": "R", "vread": "R", "search": "E", "count": "E", "history": "R", "everything": "R",
    "update": "U", "patch": "U", "delete": "D", "transaction": "E", "export": "E",
}  # fmt: skip
_REST = {"count": "search", "everything": "operation", "export": "operation", "transaction": "transaction"}
V3_PURPOSE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


def require_auditor(ctx: RequestContext) -> None:
    """Only security auditors (and HealthBrain itself) read the audit trail."""
    if not ctx.is_system and not (ctx.principal.roles & AUDITOR_ROLES):
        raise Forbidden("the audit trail is for security auditors", code="security.forbidden")


@dataclass(frozen=True, slots=True)
class AuditQuery:
    principal: str | None = None
    patient: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: float | None = None
    until: float | None = None
    count: int = 100
    offset: int = 0


def search_audit(engine: Engine, q: AuditQuery) -> list[dict[str, Any]]:
    """Matching records, newest first."""
    a = t.audit.c
    conds: list[Any] = []
    if q.principal:
        conds.append(a.principal == q.principal)
    if q.action:
        conds.append(a.action == q.action)
    if q.outcome:
        conds.append(a.outcome == q.outcome)
    if q.since is not None:
        conds.append(a.recorded_at >= q.since)
    if q.until is not None:
        conds.append(a.recorded_at < q.until)
    if q.patient:
        conds.append(a.seq.in_(select(t.audit_patient.c.seq).where(t.audit_patient.c.patient == q.patient)))
    stmt = select(t.audit).where(*conds).order_by(a.seq.desc()).limit(q.count).offset(q.offset)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def _outcome(row: dict[str, Any]) -> str:
    if row["outcome"] == "success":
        return "0"
    detail = str(row["detail"])
    return "4" if detail.startswith(("security.", "fhir.not_found", "request.", "fhir.invalid")) else "8"


def to_audit_event(row: dict[str, Any]) -> dict[str, Any]:
    """One audit record as a FHIR R4 AuditEvent (ids only, as recorded)."""
    action = str(row["action"])
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                    "code": "humanuser" if row["principal_kind"] == "user" else "dataprocessor",
                }
            ]
        },
        "who": {
            "identifier": {"system": "https://healthbrain.dev/fhir/sid/principal", "value": row["principal"]}
        },
        "requestor": True,
        "role": [{"text": role} for role in orjson.loads(row["roles"])],
        "purposeOfUse": [{"coding": [{"system": V3_PURPOSE, "code": row["purpose"]}]}],
    }
    if row["source"]:
        agent["network"] = {"address": row["source"], "type": "2"}
    entities: list[dict[str, Any]] = []
    if row["resource_type"] and row["resource_id"]:
        entities.append({"what": {"reference": f"{row['resource_type']}/{row['resource_id']}"}})
    elif row["resource_type"]:
        entities.append({"what": {"display": row["resource_type"]}})
    entities.extend(
        {
            "what": {"reference": f"Patient/{pid}"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"},
        }
        for pid in orjson.loads(row["patients"])[:50]
    )
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(row["seq"]),
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": _REST.get(action, action)}],
        "action": _ACTIONS.get(action, "E"),
        "recorded": datetime.fromtimestamp(float(row["recorded_at"]), UTC).isoformat(timespec="milliseconds"),
        "outcome": _outcome(row),
        "agent": [agent],
        "source": {"observer": {"display": "HealthBrain"}},
    }
    if row["detail"]:
        event["outcomeDesc"] = row["detail"]
    if entities:
        event["entity"] = entities
    if row["break_glass"]:
        event["purposeOfEvent"] = [
            {"coding": [{"system": V3_PURPOSE, "code": "ETREAT"}], "text": "break-glass"}
        ]
    return event
