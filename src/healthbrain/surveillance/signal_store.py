"""SQL of signals and their CIDARS workflow: creation (idempotent per disease|area|day|method),
steps with time stamps, county officers, and response-time figures."""

from __future__ import annotations

import json
import math
import statistics
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from healthbrain.core.db import begin_write
from healthbrain.core.errors import Conflict, InvalidInput, NotFound
from healthbrain.surveillance import tables as t

# The CIDARS workflow: which steps may follow which status.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "assign": ("new", "assigned"),
    "verify": ("assigned", "verifying"),
    "conclude": ("assigned", "verifying"),
    "respond": ("confirmed", "excluded"),
}
OUTCOMES = ("outbreak", "not_outbreak")


@dataclass(frozen=True, slots=True)
class SignalDraft:
    """A detector alarm about to become a signal."""

    disease: str
    area: str
    day: str
    method: str
    observed: float
    expected: float | None
    threshold: float | None
    pvalue: float | None
    evidence: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.disease}|{self.area}|{self.day}|{self.method}"


def _num(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


class SignalStore:
    """Signal persistence and workflow."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, conn: Connection, draft: SignalDraft, now: float) -> tuple[str, bool]:
        """Insert the signal unless one with its key exists; returns (id, created)."""
        s = t.signal.c
        found = conn.execute(select(s.id).where(s.key == draft.key)).scalar_one_or_none()
        if found is not None:
            return str(found), False
        sid = uuid.uuid4().hex
        conn.execute(
            insert(t.signal).values(
                id=sid, key=draft.key, disease=draft.disease, area=draft.area, day=draft.day,
                method=draft.method, observed=draft.observed, expected=_num(draft.expected),
                threshold=_num(draft.threshold), pvalue=_num(draft.pvalue), status="new",
                created_at=now, evidence=json.dumps(draft.evidence, ensure_ascii=False),
            )
        )  # fmt: skip
        self.log(conn, sid, "created", None, now, None)
        return sid, True

    def log(
        self, conn: Connection, sid: str, step: str, actor: str | None, at: float, note: str | None
    ) -> None:
        conn.execute(insert(t.signal_event).values(signal_id=sid, step=step, actor=actor, at=at, note=note))

    def set_issue(self, conn: Connection, sid: str, ref: str) -> None:
        conn.execute(update(t.signal).where(t.signal.c.id == sid).values(issue_ref=ref))

    def get(self, sid: str, conn: Connection | None = None) -> dict[str, Any]:
        if conn is None:
            with self.engine.connect() as own:
                return self.get(sid, own)
        row = conn.execute(select(t.signal).where(t.signal.c.id == sid)).mappings().first()
        if row is None:
            raise NotFound("no such signal", code="surveillance.signal_not_found")
        out = dict(row)
        out["evidence"] = json.loads(out["evidence"])
        out["events"] = [
            dict(e)
            for e in conn.execute(
                select(t.signal_event).where(t.signal_event.c.signal_id == sid).order_by(t.signal_event.c.seq)
            ).mappings()
        ]
        return out

    def list(
        self, status: str | None = None, area: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        s = t.signal.c
        query = select(t.signal).order_by(s.created_at.desc()).limit(limit)
        if status:
            query = query.where(s.status == status)
        if area:
            query = query.where(s.area == area)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{k: v for k, v in r.items() if k != "evidence"} for r in rows]

    def step(
        self, conn: Connection, sid: str, step: str, actor: str | None, now: float, **values: Any
    ) -> dict[str, Any]:
        """Move a signal along the workflow, checking that the step is allowed from its status."""
        current = self.get(sid, conn)
        if current["status"] not in TRANSITIONS[step]:
            raise Conflict(
                f"cannot {step} a signal that is {current['status']}", code="surveillance.workflow_conflict"
            )
        conn.execute(update(t.signal).where(t.signal.c.id == sid).values(**values))
        self.log(conn, sid, step, actor, now, values.get("note_text"))
        return self.get(sid, conn)

    # ---- officers ----------------------------------------------------------------------------------
    def set_officer(self, area: str, practitioner: str) -> None:
        if not area or not practitioner:
            raise InvalidInput("area and practitioner are required", code="surveillance.bad_officer")
        with begin_write(self.engine) as conn:
            o = t.officer.c
            if conn.execute(select(o.area).where(o.area == area)).first():
                conn.execute(update(t.officer).where(o.area == area).values(practitioner=practitioner))
            else:
                conn.execute(insert(t.officer).values(area=area, practitioner=practitioner))

    def officer_of(self, conn: Connection, area: str) -> str | None:
        o = t.officer.c
        return conn.execute(select(o.practitioner).where(o.area == area)).scalar_one_or_none()

    # ---- response times ------------------------------------------------------------------------------
    def response_times(self) -> dict[str, Any]:
        """Median hours from signal to assignment, to verification and to response (CIDARS: 1.1 h)."""
        s = t.signal.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.created_at, s.assigned_at, s.verified_at, s.responded_at)).all()
        out: dict[str, Any] = {"signals": len(rows)}
        for name, idx in (("assigned", 1), ("verified", 2), ("responded", 3)):
            hours = [(r[idx] - r[0]) / 3600.0 for r in rows if r[idx] is not None]
            out[f"median_hours_to_{name}"] = round(statistics.median(hours), 3) if hours else None
            out[f"{name}"] = len(hours)
        return out
