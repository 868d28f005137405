"""SQL access to the CDS admin tables: webhooks and deliveries, on-call roster, reviews, knowledge."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, and_, insert, select, update

from healthbrain.cds import tables as t
from healthbrain.cds.store import json_dumps, json_loads, upsert
from healthbrain.core.db import begin_write

__all__ = ["AdminStore"]


class AdminStore:
    """Webhooks, deliveries, the on-call roster, the review queue, uploaded knowledge and hook feedback."""

    def __init__(self, engine: Engine, clock: Callable[[], float]) -> None:
        self.engine = engine
        self.clock = clock

    # ---- webhooks -------------------------------------------------------------------------------
    def add_webhook(self, url: str, secret: str | None, recipients: Sequence[str]) -> str:
        hook_id = uuid.uuid4().hex
        with begin_write(self.engine) as conn:
            conn.execute(
                insert(t.webhook).values(
                    id=hook_id,
                    url=url,
                    secret=secret,
                    recipients=json_dumps(list(recipients)),
                    active=True,
                    created_at=self.clock(),
                )
            )
        return hook_id

    def webhooks(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    t.webhook.c.id,
                    t.webhook.c.url,
                    t.webhook.c.recipients,
                    t.webhook.c.active,
                    t.webhook.c.created_at,
                ).order_by(t.webhook.c.created_at)
            )
            return [{**dict(r._mapping), "recipients": json_loads(r.recipients) or []} for r in rows]

    def remove_webhook(self, hook_id: str) -> bool:
        with begin_write(self.engine) as conn:
            return bool(
                conn.execute(update(t.webhook).where(t.webhook.c.id == hook_id).values(active=False)).rowcount
            )

    def due_deliveries(self, now: float, limit: int = 50) -> list[dict[str, Any]]:
        d, n, w = t.delivery.c, t.notification.c, t.webhook.c
        query = (
            select(
                d.notification_seq, d.webhook_id, d.attempts, n.alert_id, n.event, n.payload, w.url, w.secret
            )
            .join(t.notification, n.seq == d.notification_seq)
            .join(t.webhook, w.id == d.webhook_id)
            .where(d.status == "pending", d.next_at <= now)
            .order_by(d.next_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [{**dict(r._mapping), "payload": json_loads(r.payload)} for r in conn.execute(query)]

    def mark_delivery(
        self, seq: int, hook_id: str, *, status: str, attempts: int, next_at: float, error: str | None = None
    ) -> None:
        d = t.delivery.c
        values: dict[str, Any] = {
            "status": status,
            "attempts": attempts,
            "next_at": next_at,
            "last_error": (error or None) and error[:200],
        }
        if status == "delivered":
            values["delivered_at"] = self.clock()
        with begin_write(self.engine) as conn:
            conn.execute(
                update(t.delivery).where(d.notification_seq == seq, d.webhook_id == hook_id).values(**values)
            )

    # ---- on-call roster -------------------------------------------------------------------------
    def set_oncall(self, organization: str, department: str, role: str, practitioner: str) -> None:
        row = {
            "organization": organization,
            "department": department,
            "role": role,
            "practitioner": practitioner,
            "updated_at": self.clock(),
        }
        with begin_write(self.engine) as conn:
            upsert(conn, t.oncall, row, ["organization", "department", "role"])

    def oncall(self, organization: str | None, department: str | None, role: str) -> str | None:
        """The practitioner for the department, else for the whole organisation (department `*`)."""
        if organization is None:
            return None
        c = t.oncall.c
        with self.engine.connect() as conn:
            rows = dict(
                conn.execute(
                    select(c.department, c.practitioner).where(
                        c.organization == organization,
                        c.role == role,
                        c.department.in_([department or "*", "*"]),
                    )
                ).all()
            )
        return rows.get(department or "*") or rows.get("*")

    def roster(self, organization: str | None = None) -> list[dict[str, Any]]:
        query = select(t.oncall).order_by(t.oncall.c.organization, t.oncall.c.department, t.oncall.c.role)
        if organization:
            query = query.where(t.oncall.c.organization == organization)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # ---- review queue ---------------------------------------------------------------------------
    def supersede(self, request_id: str, version: int, at: float) -> int:
        """Mark pending reviews of earlier versions of the order as superseded."""
        c = t.review.c
        with begin_write(self.engine) as conn:
            cond = and_(c.request_id == request_id, c.request_version < version, c.status == "pending")
            return int(
                conn.execute(update(t.review).where(cond).values(status="superseded", decided_at=at)).rowcount
            )

    def reviews(
        self,
        *,
        status: str | None = None,
        organization: str | None = None,
        prescriber: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        c = t.review.c
        query = select(t.review).order_by(c.created_at.desc()).limit(limit)
        for column, value in ((c.status, status), (c.organization, organization), (c.prescriber, prescriber)):
            if value:
                query = query.where(column == value)
        with self.engine.connect() as conn:
            return [{**dict(r._mapping), "issues": json_loads(r.issues) or []} for r in conn.execute(query)]

    def review(self, review_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.review).where(t.review.c.id == review_id)).first()
        return None if row is None else {**dict(row._mapping), "issues": json_loads(row.issues) or []}

    def decide(self, review_id: str, values: Mapping[str, Any]) -> bool:
        """Record a pharmacist decision on a pending review (False if it was no longer pending)."""
        c = t.review.c
        with begin_write(self.engine) as conn:
            cond = and_(c.id == review_id, c.status == "pending")
            return bool(conn.execute(update(t.review).where(cond).values(**values)).rowcount)

    # ---- knowledge files ------------------------------------------------------------------------
    def add_knowledge(self, name: str, version: str, sha256: str, content: str, by: str) -> int:
        c = t.kb_version.c
        with begin_write(self.engine) as conn:
            conn.execute(update(t.kb_version).where(c.name == name).values(active=False))
            return int(
                conn.execute(
                    insert(t.kb_version)
                    .values(
                        name=name,
                        version=version,
                        sha256=sha256,
                        content=content,
                        uploaded_by=by,
                        uploaded_at=self.clock(),
                        active=True,
                    )
                    .returning(c.id)
                ).scalar_one()
            )

    def knowledge_versions(self, name: str) -> list[dict[str, Any]]:
        c = t.kb_version.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.id, c.version, c.sha256, c.uploaded_by, c.uploaded_at, c.active)
                .where(c.name == name)
                .order_by(c.id.desc())
            )
            return [dict(r._mapping) for r in rows]

    def activate_knowledge(self, name: str, version_id: int | None) -> bool:
        """Make one uploaded version active (None: none, i.e. back to the packaged file)."""
        c = t.kb_version.c
        with begin_write(self.engine) as conn:
            if version_id is not None:
                exists = conn.execute(select(c.id).where(c.name == name, c.id == version_id)).first()
                if exists is None:
                    return False
            conn.execute(update(t.kb_version).where(c.name == name).values(active=False))
            if version_id is not None:
                conn.execute(update(t.kb_version).where(c.id == version_id).values(active=True))
            return True

    def active_knowledge(self) -> dict[str, tuple[int, str]]:
        """name -> (row id, content) of every active uploaded file."""
        c = t.kb_version.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.name, c.id, c.content).where(c.active.is_(True)))
            return {r.name: (int(r.id), str(r.content)) for r in rows}

    def knowledge_stamp(self) -> tuple[int, int]:
        """Changes whenever an upload or activation happens (polled to reload other processes)."""
        c = t.kb_version.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.id).where(c.active.is_(True))).scalars().all()
        return (len(rows), sum(int(r) for r in rows))

    # ---- CDS Hooks feedback ---------------------------------------------------------------------
    def add_feedback(self, service: str, card: str, outcome: str, reason: str | None) -> None:
        with begin_write(self.engine) as conn:
            conn.execute(
                insert(t.hook_feedback).values(
                    service=service,
                    card=card[:64],
                    outcome=outcome[:16],
                    override_reason=(reason or None) and reason[:64],
                    at=self.clock(),
                )
            )
