"""The closed loop of an alert (报告-接收-处置-记录): raise, acknowledge, complete, escalate, timed.

Each change is one database transaction with the FHIR resources it implies (Flag, Communication,
Task) and the cds_ rows (alert, event, notification), so a crash never leaves half an alert, and a
redelivered event finds the alert's key already taken and changes nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from healthbrain.cds import fhir_out
from healthbrain.cds.context import Routing
from healthbrain.cds.notify import AlertHub
from healthbrain.cds.settings import CdsSettings
from healthbrain.cds.store import CdsStore, json_dumps
from healthbrain.cds.store_admin import AdminStore
from healthbrain.core.context import PurposeOfUse, system_context
from healthbrain.core.errors import Conflict, NotFound
from healthbrain.core.i18n import LANGUAGES, translations
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.transaction import process_transaction

__all__ = ["ALERT_NAMESPACE", "AlertDraft", "AlertService", "texts"]

log = logging.getLogger("healthbrain.cds.alerts")
ALERT_NAMESPACE = uuid.UUID("6f1c3b52-4a43-5b8e-9d0e-8c1f6a2b7d10")


class _AlreadyDone(Exception):
    """Rolls a transaction back because another delivery or worker got there first."""


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """What a rule found and whom it concerns, before it becomes an alert."""

    key: str
    kind: str  # critical | delta | ews | audit
    priority: str  # critical | urgent | routine
    patient: str
    source: str  # versioned reference of the resource that raised it
    routing: Routing
    title: Mapping[str, str]  # language -> one-line text
    data: Mapping[str, Any] = field(default_factory=dict)
    codings: tuple[Mapping[str, str], ...] = ()
    extra_resources: tuple[dict[str, Any], ...] = ()
    extra_recipients: tuple[str, ...] = ()


def texts(message: str, **params: str) -> dict[str, str]:
    out = {}
    for lang in LANGUAGES:
        tr = translations(lang)
        out[lang] = (
            tr.gettext(message) % {k: tr.gettext(v) for k, v in params.items()}
            if params
            else tr.gettext(message)
        )
    return out


def _entry(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "resource": resource,
        "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"},
    }


class AlertService:
    """Alerts and their lifecycle; FHIR writes go through the repository (policy, audit, events)."""

    def __init__(
        self,
        repo: FhirRepository,
        store: CdsStore,
        admin: AdminStore,
        hub: AlertHub,
        settings: CdsSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.store = store
        self.admin = admin
        self.hub = hub
        self.settings = settings
        self.clock = clock
        self.ctx = system_context(PurposeOfUse.TREATMENT)

    # ---- helpers --------------------------------------------------------------------------------
    def _resolve(
        self, role: str, organization: str | None, department: str | None, ordering: str | None
    ) -> str | None:
        if role == "ordering":
            return ordering
        return self.admin.oncall(organization, department, role)

    def next_step(self, alert: Mapping[str, Any], start: int) -> tuple[int, str] | None:
        """The first chain step from `start` with a known person other than the current recipient."""
        chain = self.settings.escalation
        for level in range(start, len(chain)):
            who = self._resolve(
                chain[level].role, alert.get("organization"), alert.get("department"), alert.get("ordering")
            )
            if who and who != alert.get("recipient"):
                return level, who
        return None

    def due(self, priority: str, level: int, now: float) -> float | None:
        if priority not in self.settings.escalate_priorities:
            return None
        return now + self.settings.escalation[level].timeout_seconds

    @staticmethod
    def recipients(alert: Mapping[str, Any], *more: str | None) -> list[str]:
        refs = [
            alert.get("recipient"),
            alert.get("ordering"),
            alert.get("ward"),
            alert.get("organization"),
            *more,
            *alert["payload"].get("extra_recipients", []),
        ]
        return list(dict.fromkeys(r for r in refs if r))

    @staticmethod
    def public(alert: Mapping[str, Any]) -> dict[str, Any]:
        """The alert as API clients and SSE listeners see it."""
        keys = (
            "id",
            "kind",
            "priority",
            "status",
            "patient",
            "source",
            "encounter",
            "organization",
            "department",
            "ward",
            "ordering",
            "recipient",
            "level",
            "created_at",
            "due_at",
            "acknowledged_at",
            "acknowledged_by",
            "completed_at",
            "completed_by",
        )
        out = {k: alert.get(k) for k in keys}
        payload = alert.get("payload") or {}
        out.update(
            title=payload.get("title"),
            data=payload.get("data"),
            fhir=payload.get("fhir"),
            action=payload.get("action"),
        )
        return out

    def _commit(self, resources: Sequence[Mapping[str, Any]], work: Callable[[Connection], None]) -> bool:
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [_entry(r) for r in resources]}
        try:
            process_transaction(self.repo, self.ctx, bundle, also=work)
        except _AlreadyDone:
            return False
        return True

    def _publish(
        self,
        seq: int,
        alert: Mapping[str, Any],
        event: str,
        recipients: list[str],
        message: Mapping[str, str] | None = None,
    ) -> None:
        self.hub.publish(
            {
                "seq": seq,
                "event": event,
                "recipients": recipients,
                "alert": self.public(alert),
                "message": message,
            }
        )

    # ---- raising --------------------------------------------------------------------------------
    def raise_alert(self, draft: AlertDraft) -> dict[str, Any] | None:
        """Create the alert (once per key) with its Flag, Communication and Task; None if it existed."""
        if self.store.alert_by_key(draft.key) is not None:
            return None
        now = self.clock()
        r = draft.routing
        alert_id = str(uuid.uuid5(ALERT_NAMESPACE, draft.key))
        base: dict[str, Any] = {
            "id": alert_id,
            "organization": r.organization,
            "department": r.department,
            "ordering": r.ordering,
            "recipient": None,
            "payload": {},
        }
        step = self.next_step(base, 0)
        level, recipient = step if step else (0, None)
        fhir = {
            "task": f"Task/cds-{alert_id}-task",
            "communication": [f"Communication/cds-{alert_id}-{level}"],
        }
        if draft.kind != "audit":
            fhir["flag"] = f"Flag/cds-{alert_id}"
        alert: dict[str, Any] = {
            "id": alert_id,
            "key": draft.key,
            "kind": draft.kind,
            "priority": draft.priority,
            "status": "open",
            "patient": draft.patient,
            "source": draft.source,
            "encounter": r.encounter,
            "organization": r.organization,
            "department": r.department,
            "ward": r.ward,
            "ordering": r.ordering,
            "recipient": recipient,
            "level": level,
            "created_at": now,
            "due_at": self.due(draft.priority, level, now) if recipient else None,
            "acknowledged_at": None,
            "acknowledged_by": None,
            "completed_at": None,
            "completed_by": None,
            "payload": {
                "title": dict(draft.title),
                "data": dict(draft.data),
                "codings": list(draft.codings),
                "business_status": "reported",
                "fhir": fhir,
                "extra_recipients": list(draft.extra_recipients),
            },
        }
        resources = [fhir_out.communication(alert, level, recipient, now), fhir_out.task(alert, now)]
        if draft.kind != "audit":
            resources.insert(0, fhir_out.flag(alert))
        resources.extend(draft.extra_resources)
        recipients = self.recipients(alert)
        seq: list[int] = []

        def work(conn: Connection) -> None:
            row = {**alert, "payload": self.store_payload(alert["payload"])}
            event = {"step": "created", "channel": "system", "recipient": recipient, "detail": draft.kind}
            got = self.store.insert_alert(conn, row, event, recipients, {"alert": self.public(alert)})
            if got is None:
                raise _AlreadyDone
            seq.append(got)

        if not self._commit(resources, work):
            return None
        self._publish(seq[0], alert, "alert", recipients)
        log.info(
            "cds.alert_raised",
            extra={"fields": {"alert": alert_id, "kind": draft.kind, "alert_level": level}},
        )
        return alert

    @staticmethod
    def store_payload(payload: Mapping[str, Any]) -> str:
        return json_dumps(payload)

    # ---- transitions ----------------------------------------------------------------------------
    def _get(self, alert_id: str) -> dict[str, Any]:
        alert = self.store.alert(alert_id)
        if alert is None:
            raise NotFound("no such alert", code="cds.alert_not_found")
        return alert

    def change(
        self,
        alert: dict[str, Any],
        expect: Mapping[str, Any],
        changes: Mapping[str, Any],
        event: Mapping[str, Any],
        resources: Sequence[Mapping[str, Any]],
        notify: tuple[str, list[str], Mapping[str, str] | None],
    ) -> dict[str, Any] | None:
        updated = {**alert, **changes}
        seq: list[int] = []
        now = float(event["at"])

        def work(conn: Connection) -> None:
            values = {**changes, "payload": self.store_payload(updated["payload"])}
            if not self.store.transition(conn, alert["id"], expect, values, event):
                raise _AlreadyDone
            name, recipients, message = notify
            seq.append(
                self.store.notify(
                    conn,
                    alert["id"],
                    name,
                    recipients,
                    {"alert": self.public(updated), "message": message},
                    now,
                )
            )

        if not self._commit(resources, work):
            return None
        self._publish(seq[0], updated, notify[0], notify[1], notify[2])
        return updated

    def acknowledge(self, alert_id: str, actor: str) -> dict[str, Any]:
        """The recipient confirms receipt (接收): escalation stops; the Task is accepted."""
        alert = self._get(alert_id)
        if alert["status"] != "open":
            raise Conflict(f"the alert is already {alert['status']}", code="cds.alert_not_open")
        now = self.clock()
        changes = {
            "status": "acknowledged",
            "acknowledged_at": now,
            "acknowledged_by": actor,
            "due_at": None,
            "recipient": actor,
            "payload": {**alert["payload"], "business_status": "acknowledged"},
        }
        updated = {**alert, **changes}
        resources = [
            fhir_out.task(updated, now),
            fhir_out.communication(
                {**updated, "level": alert["level"]}, alert["level"], alert["recipient"], alert["created_at"]
            ),
        ]
        event = {
            "step": "acknowledged",
            "channel": "api",
            "actor": actor,
            "at": now,
            "detail": f"{now - alert['created_at']:.1f}s",
        }
        done = self.change(
            alert,
            {"status": "open", "level": alert["level"]},
            changes,
            event,
            resources,
            ("acknowledged", self.recipients(alert), None),
        )
        if done is None:
            raise Conflict("the alert changed meanwhile; reload it", code="cds.alert_changed")
        return done

    def complete(self, alert_id: str, actor: str, action: str, note: str | None = None) -> dict[str, Any]:
        """The clinician records what was done (处置/记录): the loop is closed and the Flag inactive."""
        alert = self._get(alert_id)
        if alert["status"] not in ("open", "acknowledged"):
            raise Conflict(f"the alert is already {alert['status']}", code="cds.alert_closed")
        now = self.clock()
        changes: dict[str, Any] = {
            "status": "completed",
            "completed_at": now,
            "completed_by": actor,
            "due_at": None,
            "payload": {**alert["payload"], "business_status": "completed", "action": action},
        }
        if alert["status"] == "open":
            changes.update(acknowledged_at=now, acknowledged_by=actor, recipient=actor)
        updated = {**alert, **changes}
        resources = [fhir_out.task(updated, now, note)]
        if alert["kind"] != "audit":
            resources.append(fhir_out.flag(updated))
        event = {"step": "completed", "channel": "api", "actor": actor, "at": now, "detail": action[:200]}
        done = self.change(
            alert,
            {"status": ("open", "acknowledged")},
            changes,
            event,
            resources,
            ("completed", self.recipients(alert), None),
        )
        if done is None:
            raise Conflict("the alert changed meanwhile; reload it", code="cds.alert_changed")
        return done

    def delivered(self, alert_id: str, channel: str, recipient: str | None) -> None:
        """Record that a notification reached a listener (the 'receive' side of the loop, by channel)."""
        self.store.add_event(alert_id, "delivered", channel, recipient=recipient)
