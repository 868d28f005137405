"""Escalation along the configured chain (ordering doctor → duty doctor → department head), and retraction."""

from __future__ import annotations

import logging
from typing import Any

from healthbrain.cds import fhir_out
from healthbrain.cds.alerts import AlertService, texts
from healthbrain.cds.messages import N_

__all__ = ["cancel_for_source", "escalate_due"]

log = logging.getLogger("healthbrain.cds.escalation")
ROLE_TEXT = {
    "ordering": N_("the ordering clinician"),
    "duty": N_("the doctor on duty"),
    "head": N_("the head of department"),
}
ESCALATED = N_("Not acknowledged in time: escalated to %(role)s")
EXHAUSTED = N_("Not acknowledged by anyone in the escalation chain")


def escalate_due(service: AlertService, now: float | None = None) -> int:
    """Escalate every open alert past its deadline to the next person in the chain; returns how many."""
    now = service.clock() if now is None else now
    return sum(1 for alert in service.store.due_alerts(now) if _escalate(service, alert, now) is not None)


def _exhausted(service: AlertService, alert: dict[str, Any], now: float) -> dict[str, Any] | None:
    changes = {"due_at": None, "payload": {**alert["payload"], "business_status": "unacknowledged"}}
    event = {"step": "exhausted", "channel": "system", "at": now, "detail": "chain exhausted"}
    updated = {**alert, **changes}
    notify = ("exhausted", service.recipients(alert), texts(EXHAUSTED))
    expect = {"status": "open", "level": alert["level"]}
    return service.change(alert, expect, changes, event, [fhir_out.task(updated, now)], notify)


def _escalate(service: AlertService, alert: dict[str, Any], now: float) -> dict[str, Any] | None:
    step = service.next_step(alert, alert["level"] + 1)
    if step is None:
        return _exhausted(service, alert, now)
    level, who = step
    role = service.settings.escalation[level].role
    fhir = alert["payload"]["fhir"]
    payload = {
        **alert["payload"],
        "business_status": f"escalated-{role}",
        "fhir": {
            **fhir,
            "communication": [*fhir["communication"], f"Communication/cds-{alert['id']}-{level}"],
        },
    }
    changes: dict[str, Any] = {
        "level": level,
        "recipient": who,
        "due_at": service.due(alert["priority"], level, now),
        "payload": payload,
    }
    updated = {**alert, **changes}
    previous = fhir_out.communication(
        {**alert, "level": level}, alert["level"], alert["recipient"], alert["created_at"]
    )
    resources = [previous, fhir_out.communication(updated, level, who, now), fhir_out.task(updated, now)]
    event = {
        "step": "escalated",
        "channel": "system",
        "recipient": who,
        "at": now,
        "detail": f"{role} after {now - alert['created_at']:.1f}s",
    }
    notify = (
        "escalation",
        service.recipients(updated, alert.get("recipient")),
        texts(ESCALATED, role=ROLE_TEXT[role]),
    )
    expect = {"status": "open", "level": alert["level"]}
    result = service.change(alert, expect, changes, event, resources, notify)
    if result is not None:
        log.info("cds.alert_escalated", extra={"fields": {"alert": alert["id"], "level": level}})
    return result


def cancel_for_source(service: AlertService, source: str, reason: str, *, keep: str | None = None) -> int:
    """Cancel the open alerts raised by a resource that was retracted (entered-in-error, deleted) or
    corrected (`keep` = the versioned reference whose alerts stay)."""
    cancelled = 0
    for status in ("open", "acknowledged"):
        for alert in service.store.alerts(status=status, source_prefix=f"{source}/_history/", limit=1000):
            if alert["source"] == keep:
                continue
            now = service.clock()
            changes = {
                "status": "cancelled",
                "due_at": None,
                "completed_at": now,
                "payload": {**alert["payload"], "business_status": "cancelled"},
            }
            updated = {**alert, **changes}
            resources = [fhir_out.task(updated, now)]
            if alert["kind"] != "audit":
                resources.append(fhir_out.flag(updated))
            event = {"step": "cancelled", "channel": "system", "at": now, "detail": reason}
            notify = ("cancelled", service.recipients(alert), None)
            if service.change(alert, {"status": status}, changes, event, resources, notify):
                cancelled += 1
    return cancelled
