"""SQL access to the CDS tables: tracked results and vital signs, alerts, their events and notifications."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from healthbrain.cds import tables as t
from healthbrain.cds.delta import PriorResult
from healthbrain.core.db import begin_write

__all__ = ["CdsStore", "insert_ignore", "json_dumps", "json_loads", "upsert"]


def json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def json_loads(text: str | None) -> Any:
    return orjson.loads(text) if text else None


def insert_ignore(conn: Connection, table: Any, values: Mapping[str, Any], keys: Sequence[str]) -> bool:
    """INSERT unless a row with the same unique key exists; True when this call inserted it."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    stmt = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=list(keys))
    return bool(conn.execute(stmt).rowcount)


def upsert(conn: Connection, table: Any, values: Mapping[str, Any], keys: Sequence[str]) -> None:
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    stmt = dialect.insert(table).values(**values)
    changed = {k: v for k, v in values.items() if k not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=changed))


def _relaxed_commit(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


class CdsStore:
    """Results, alerts, events and notifications; writes are short transactions (tracked results batched)."""

    def __init__(self, engine: Engine, clock: Callable[[], float]) -> None:
        self.engine = engine
        self.clock = clock
        self._pending: dict[str, dict[str, Any]] = {}  # obs_id -> tracked result not yet written
        self._pending_lock = threading.Lock()

    # ---- laboratory results ---------------------------------------------------------------------
    # Tracked results are written behind: `record_lab` keeps them in memory and `flush_labs` writes a
    # whole dispatcher batch in one transaction (the dispatcher calls it before it moves its cursor,
    # so a crash redelivers the batch). One write transaction per Observation would queue on SQLite's
    # single writer lock behind every other writer and hold critical values back for seconds.
    def record_lab(
        self, obs_id: str, version: int, patient: str, analyte: str, value: float, at: float
    ) -> None:
        """Keep the newest version of a result (an older redelivery never overwrites a newer one)."""
        row = {
            "obs_id": obs_id,
            "version": version,
            "patient": patient,
            "analyte": analyte,
            "value": value,
            "effective_at": at,
        }
        with self._pending_lock:
            known = self._pending.get(obs_id)
            if known is None or known["version"] < version:
                self._pending[obs_id] = row

    def flush_labs(self) -> int:
        """Write the results recorded since the last flush; returns how many.

        On PostgreSQL with an asynchronous commit: these rows are derived from the FHIR store
        (rebuildable by replaying events), so they need not wait for the disk.
        """
        with self._pending_lock:
            rows = list(self._pending.values())
        if not rows:
            return 0
        with begin_write(self.engine) as conn:
            _relaxed_commit(conn)
            dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
            stmt = dialect.insert(t.lab_result)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["obs_id"],
                    set_={k: stmt.excluded[k] for k in rows[0] if k != "obs_id"},
                    where=t.lab_result.c.version < stmt.excluded.version,
                ),
                rows,
            )
        with self._pending_lock:  # drop what was written, unless a newer version arrived meanwhile
            for row in rows:
                if self._pending.get(row["obs_id"]) is row:
                    del self._pending[row["obs_id"]]
        return len(rows)

    def _pending_rows(self, patient: str, analytes: Iterable[str]) -> list[dict[str, Any]]:
        wanted = set(analytes)
        with self._pending_lock:
            return [r for r in self._pending.values() if r["patient"] == patient and r["analyte"] in wanted]

    def lab_history(self, patient: str, analyte: str, since: float, exclude: str) -> list[PriorResult]:
        c = t.lab_result.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.obs_id, c.value, c.effective_at).where(
                    c.patient == patient, c.analyte == analyte, c.effective_at >= since, c.obs_id != exclude
                )
            )
            found = {str(r.obs_id): (float(r.value), float(r.effective_at)) for r in rows}
        for r in self._pending_rows(patient, [analyte]):
            found.pop(r["obs_id"], None)
            if r["effective_at"] >= since and r["obs_id"] != exclude:
                found[r["obs_id"]] = (float(r["value"]), float(r["effective_at"]))
        return [PriorResult(value, at) for value, at in found.values()]

    def latest_lab(self, patient: str, analytes: Iterable[str]) -> tuple[str, float, float] | None:
        """(analyte, value, time) of the most recent result among `analytes`."""
        wanted = list(analytes)
        c = t.lab_result.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(c.analyte, c.value, c.effective_at)
                .where(c.patient == patient, c.analyte.in_(wanted))
                .order_by(c.effective_at.desc())
                .limit(1)
            ).first()
        best = None if row is None else (str(row.analyte), float(row.value), float(row.effective_at))
        for r in self._pending_rows(patient, wanted):
            if best is None or r["effective_at"] >= best[2]:
                best = (str(r["analyte"]), float(r["value"]), float(r["effective_at"]))
        return best

    def record_dq(
        self, source: str, problem: str, patient: str | None, analyte: str | None, unit: str | None
    ) -> None:
        row = {
            "source": source,
            "problem": problem,
            "patient": patient,
            "analyte": analyte,
            "unit": (unit or "")[:40],
            "created_at": self.clock(),
        }
        with begin_write(self.engine) as conn:
            insert_ignore(conn, t.dq_issue, row, ["source", "problem"])

    def dq_issues(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.dq_issue).order_by(t.dq_issue.c.created_at.desc()).limit(limit))
            return [dict(r._mapping) for r in rows]

    # ---- vital signs ----------------------------------------------------------------------------
    def record_vitals(
        self,
        obs_id: str,
        version: int,
        patient: str,
        encounter: str | None,
        readings: Sequence[tuple[str, float | None, str | None]],
        at: float,
    ) -> None:
        c = t.vital.c
        with begin_write(self.engine) as conn:
            _relaxed_commit(conn)
            known = conn.execute(select(c.version).where(c.obs_id == obs_id)).scalar()
            if known is not None and known > version:
                return
            conn.execute(delete(t.vital).where(c.obs_id == obs_id))
            for param, value, code in readings:
                conn.execute(
                    insert(t.vital).values(
                        obs_id=obs_id,
                        param=param,
                        version=version,
                        patient=patient,
                        encounter=encounter,
                        value=value,
                        code=code,
                        effective_at=at,
                    )
                )

    def vitals_near(self, patient: str, at: float, window: float) -> list[dict[str, Any]]:
        c = t.vital.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.vital).where(c.patient == patient, c.effective_at.between(at - window, at + window))
            )
            return [dict(r._mapping) for r in rows]

    # ---- alerts ---------------------------------------------------------------------------------
    def insert_alert(
        self,
        conn: Connection,
        row: Mapping[str, Any],
        event: Mapping[str, Any],
        recipients: Sequence[str],
        payload: Mapping[str, Any],
    ) -> int | None:
        """Insert an alert with its first event and notification on `conn`; None if its key exists."""
        if not insert_ignore(conn, t.alert, row, ["key"]):
            return None
        conn.execute(insert(t.alert_event).values(alert_id=row["id"], at=row["created_at"], **event))
        return self.notify(conn, str(row["id"]), "alert", recipients, payload, float(row["created_at"]))

    def notify(
        self,
        conn: Connection,
        alert_id: str,
        event: str,
        recipients: Sequence[str],
        payload: Mapping[str, Any],
        at: float,
    ) -> int:
        """Queue a notification (SSE replay and webhooks) on `conn`; returns its sequence number."""
        seq = conn.execute(
            insert(t.notification)
            .values(
                alert_id=alert_id,
                event=event,
                recipients=json_dumps(list(recipients)),
                payload=json_dumps(payload),
                created_at=at,
            )
            .returning(t.notification.c.seq)
        ).scalar_one()
        self._enqueue_deliveries(conn, int(seq), recipients, at)
        return int(seq)

    def _enqueue_deliveries(self, conn: Connection, seq: int, recipients: Sequence[str], at: float) -> None:
        hooks = conn.execute(
            select(t.webhook.c.id, t.webhook.c.recipients).where(t.webhook.c.active.is_(True))
        )
        for hook_id, wanted in hooks:
            targets = set(json_loads(wanted) or [])
            if not targets or targets & set(recipients):
                conn.execute(
                    insert(t.delivery).values(
                        notification_seq=seq, webhook_id=hook_id, status="pending", attempts=0, next_at=at
                    )
                )

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.alert).where(t.alert.c.id == alert_id)).first()
        return None if row is None else _alert_row(row._mapping)

    def alert_by_key(self, key: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.alert).where(t.alert.c.key == key)).first()
        return None if row is None else _alert_row(row._mapping)

    def alerts(
        self,
        *,
        status: str | None = None,
        patient: str | None = None,
        recipient: str | None = None,
        kind: str | None = None,
        source_prefix: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        c = t.alert.c
        query = select(t.alert).order_by(c.created_at.desc()).limit(limit)
        if status:
            query = query.where(c.status == status)
        if patient:
            query = query.where(c.patient == patient)
        if kind:
            query = query.where(c.kind == kind)
        if source_prefix:
            query = query.where(c.source.startswith(source_prefix, autoescape=True))
        if recipient:
            query = query.where(or_(c.recipient == recipient, c.ordering == recipient, c.ward == recipient))
        with self.engine.connect() as conn:
            return [_alert_row(r._mapping) for r in conn.execute(query)]

    def transition(
        self,
        conn: Connection,
        alert_id: str,
        expect: Mapping[str, Any],
        values: Mapping[str, Any],
        event: Mapping[str, Any],
    ) -> bool:
        """Change an alert on `conn` only if it is still as expected (a tuple means any of), with its
        event; False when another worker changed it first (two workers never both escalate)."""
        c = t.alert.c
        cond = and_(
            c.id == alert_id, *(c[k].in_(v) if isinstance(v, tuple) else c[k] == v for k, v in expect.items())
        )
        if not conn.execute(update(t.alert).where(cond).values(**values)).rowcount:
            return False
        conn.execute(insert(t.alert_event).values(alert_id=alert_id, **event))
        return True

    def add_event(
        self,
        alert_id: str,
        step: str,
        channel: str,
        *,
        actor: str | None = None,
        recipient: str | None = None,
        detail: str | None = None,
    ) -> None:
        with begin_write(self.engine) as conn:
            conn.execute(
                insert(t.alert_event).values(
                    alert_id=alert_id,
                    step=step,
                    channel=channel,
                    actor=actor,
                    recipient=recipient,
                    at=self.clock(),
                    detail=detail,
                )
            )

    def events(self, alert_id: str) -> list[dict[str, Any]]:
        c = t.alert_event.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.alert_event).where(c.alert_id == alert_id).order_by(c.seq))
            return [dict(r._mapping) for r in rows]

    def due_alerts(self, now: float, limit: int = 100) -> list[dict[str, Any]]:
        c = t.alert.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.alert)
                .where(c.status == "open", c.due_at.is_not(None), c.due_at <= now)
                .order_by(c.due_at)
                .limit(limit)
            )
            return [_alert_row(r._mapping) for r in rows]

    # ---- notifications --------------------------------------------------------------------------
    def notifications_after(self, seq: int, limit: int = 500) -> list[dict[str, Any]]:
        c = t.notification.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.notification).where(c.seq > seq).order_by(c.seq).limit(limit))
            return [_notification_row(r._mapping) for r in rows]


def _alert_row(row: Mapping[Any, Any]) -> dict[str, Any]:
    out = dict(row)
    out["payload"] = json_loads(out["payload"]) or {}
    return out


def _notification_row(row: Mapping[Any, Any]) -> dict[str, Any]:
    out = dict(row)
    out["recipients"] = json_loads(out["recipients"]) or []
    out["payload"] = json_loads(out["payload"]) or {}
    return out
