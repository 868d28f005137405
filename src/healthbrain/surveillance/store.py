"""SQL of the surveillance service: cases with their reports, the daily counts they keep current,
signals and their workflow events. SQLAlchemy Core; one code path for SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update

from healthbrain.surveillance import tables as t


@dataclass(frozen=True, slots=True)
class Report:
    """A notifiable-disease report as the case recorder sees it (no patient data beyond keys)."""

    source: str  # Condition/<id>
    version: int
    resident: str
    disease: str
    onset: date
    area: str
    unit: str
    active: bool


def _bump(conn: Connection, disease: str, area: str, day: str, delta: int) -> None:
    c = t.daily_count.c
    where = and_(c.disease == disease, c.area == area, c.day == day)
    current = conn.execute(select(c.cases).where(where)).scalar_one_or_none()
    if current is None:
        if delta > 0:
            conn.execute(insert(t.daily_count).values(disease=disease, area=area, day=day, cases=delta))
        return
    left = current + delta
    if left <= 0:
        conn.execute(delete(t.daily_count).where(where))
    else:
        conn.execute(update(t.daily_count).where(where).values(cases=left))


class SurveillanceStore:
    """Case, count and signal persistence."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ---- cases ---------------------------------------------------------------------------------
    def record(self, conn: Connection, report: Report, episode_days: int, now: float) -> str | None:
        """Apply one report version; returns the case id it belongs to (None if ignored as stale).

        Idempotent per (source, version). A report moves between cases when its resident,
        disease or onset changes; a withdrawn report leaves its case, which is withdrawn (and
        leaves the counts) when no active report is left. Daily counts follow every change.
        """
        s = t.case_source.c
        known = conn.execute(select(s.version, s.case_id).where(s.source == report.source)).first()
        if known is not None and known.version >= report.version:
            return None
        touched: set[str] = set()
        if known is not None:
            touched.add(known.case_id)
            conn.execute(delete(t.case_source).where(s.source == report.source))
        case_id = None
        if report.active:
            case_id = self._episode(conn, report, episode_days) or self._new_case(conn, report, now)
            conn.execute(
                insert(t.case_source).values(
                    source=report.source, version=report.version, case_id=case_id,
                    onset=report.onset.isoformat(), status="active",
                )
            )  # fmt: skip
            touched.add(case_id)
        else:
            case_id = known.case_id if known is not None else None
            if case_id is not None:
                conn.execute(
                    insert(t.case_source).values(
                        source=report.source, version=report.version, case_id=case_id,
                        onset=report.onset.isoformat(), status="withdrawn",
                    )
                )  # fmt: skip
        for cid in touched:
            self._refresh_case(conn, cid, now)
        return case_id

    def _episode(self, conn: Connection, report: Report, episode_days: int) -> str | None:
        c = t.case.c
        rows = conn.execute(
            select(c.id, c.onset).where(
                c.resident == report.resident, c.disease == report.disease, c.status == "active"
            )
        ).all()
        near = [(abs((date.fromisoformat(r.onset) - report.onset).days), r.id) for r in rows]
        near = [n for n in near if n[0] <= episode_days]
        return min(near)[1] if near else None

    def _new_case(self, conn: Connection, report: Report, now: float) -> str:
        cid = uuid.uuid4().hex
        conn.execute(
            insert(t.case).values(
                id=cid, resident=report.resident, disease=report.disease, onset=report.onset.isoformat(),
                area=report.area, unit=report.unit, status="withdrawn", created_at=now, updated_at=now,
            )
        )  # fmt: skip
        return cid

    def _refresh_case(self, conn: Connection, case_id: str, now: float) -> None:
        """Recompute a case's onset and status from its active reports and move its count."""
        c, s = t.case.c, t.case_source.c
        row = conn.execute(select(c.disease, c.area, c.onset, c.status).where(c.id == case_id)).one()
        onsets = (
            conn.execute(select(s.onset).where(s.case_id == case_id, s.status == "active")).scalars().all()
        )
        status = "active" if onsets else "withdrawn"
        onset = min(onsets) if onsets else row.onset
        if row.status == "active":
            _bump(conn, row.disease, row.area, row.onset, -1)
        if status == "active":
            _bump(conn, row.disease, row.area, onset, +1)
        conn.execute(update(t.case).where(c.id == case_id).values(status=status, onset=onset, updated_at=now))

    def counts(self, disease: str, area: str | None, first: date, last: date) -> dict[str, int]:
        """Cases per day of onset (ISO date -> count) for a disease (and county), days with cases only."""
        c = t.daily_count.c
        where = [c.disease == disease, c.day >= first.isoformat(), c.day <= last.isoformat()]
        if area is not None:
            where.append(c.area == area)
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.day, c.cases).where(*where)).all()
        out: dict[str, int] = {}
        for day, cases in rows:
            out[day] = out.get(day, 0) + int(cases)
        return out

    def active_series(self, first: date, last: date) -> list[tuple[str, str]]:
        """(disease, area) pairs with at least one case between `first` and `last`."""
        c = t.daily_count.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.disease, c.area)
                .where(c.day >= first.isoformat(), c.day <= last.isoformat())
                .distinct()
            ).all()
        return sorted((r.disease, r.area) for r in rows)

    def cases_of(self, resident: str) -> list[dict[str, Any]]:
        c = t.case.c
        with self.engine.connect() as conn:
            rows = (
                conn.execute(select(t.case).where(c.resident == resident).order_by(c.onset)).mappings().all()
            )
        return [dict(r) for r in rows]

    def first_day(self) -> date | None:
        """The earliest day of onset with a case (the start of the known history)."""
        c = t.daily_count.c
        with self.engine.connect() as conn:
            day = conn.execute(select(c.day).order_by(c.day).limit(1)).scalar_one_or_none()
        return date.fromisoformat(day) if day else None
