"""SQL of the surveillance cases: one case per resident, key (disease or syndrome) and episode, built
from diagnosis and laboratory reports, and the counts they keep current. SQLAlchemy Core; one code
path for SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from healthbrain.surveillance import tables as t
from healthbrain.surveillance.casedef import episode_days
from healthbrain.surveillance.counts import CountStore, bump, contributions
from healthbrain.surveillance.reports import CONFIRM, ReportPart

ACTIVE, HELD, WITHDRAWN = "active", "held", "withdrawn"


@dataclass(frozen=True, slots=True)
class Report:
    """One version of a report as the case recorder sees it (no patient data beyond keys).

    Attributes:
        source: Condition/<id> or Observation/<id>.
        version: the resource version; older versions than the one applied are ignored.
        resident: resident key of the patient index (or the Patient reference).
        area: county code of the reporting institution.
        township: the resident's 街道/乡镇 when the record has an address.
        unit: reporting institution (Organization id).
        parts: what it counts towards; empty withdraws whatever an earlier version counted.
    """

    source: str
    version: int
    resident: str
    area: str
    township: str | None
    unit: str
    parts: tuple[ReportPart, ...]


class SurveillanceStore(CountStore):
    """Case persistence; the counts it maintains are read through `CountStore`."""

    # ---- cases ---------------------------------------------------------------------------------
    def record(self, conn: Connection, report: Report, now: float) -> list[str]:
        """Apply one report version; returns the ids of the cases it belongs to now.

        Idempotent per (source, version). Each part joins the resident's case of its key whose
        onset is within the key's episode, or founds one; a confirming lab result without a case
        is held until a diagnosis founds one. A part that is gone (recoded, withdrawn, deleted,
        corrected to negative) leaves its case, which is withdrawn when nothing founding it is left.
        """
        r = t.case_report.c
        known = conn.execute(select(r.key, r.version, r.case_id).where(r.source == report.source)).all()
        if any(k.version >= report.version for k in known):
            return []
        touched = {k.case_id for k in known if k.case_id}
        conn.execute(delete(t.case_report).where(r.source == report.source))
        found: list[str] = []
        for part in report.parts:
            case_id = self._episode(conn, report.resident, part)
            if case_id is None and part.founds_case:
                case_id = self._new_case(conn, report, part, now)
            self._insert_part(conn, report, part, case_id)
            if case_id is not None:
                touched.add(case_id)
                found.append(case_id)
                if part.founds_case:
                    touched |= self._attach_held(conn, report.resident, part, case_id)
        for gone in {k.key for k in known} - {p.key for p in report.parts}:
            conn.execute(
                insert(t.case_report).values(
                    source=report.source, key=gone, version=report.version, case_id="",
                    resident=report.resident, kind="", onset="", township=None, status=WITHDRAWN,
                )
            )  # fmt: skip
        for cid in sorted(touched):
            self._refresh_case(conn, cid, now)
        return found

    def _insert_part(self, conn: Connection, report: Report, part: ReportPart, case_id: str | None) -> None:
        conn.execute(
            insert(t.case_report).values(
                source=report.source, key=part.key, version=report.version, case_id=case_id or "",
                resident=report.resident, kind=part.kind, onset=part.onset.isoformat(),
                township=report.township, status=ACTIVE if case_id else HELD,
            )
        )  # fmt: skip

    def _episode(self, conn: Connection, resident: str, part: ReportPart) -> str | None:
        """The resident's active case of the part's key with the nearest onset within the episode."""
        c = t.case.c
        rows = conn.execute(
            select(c.id, c.onset).where(c.resident == resident, c.disease == part.key, c.status == ACTIVE)
        ).all()
        window = episode_days(part.key)
        near = [(abs((date.fromisoformat(r.onset) - part.onset).days), r.id) for r in rows]
        near = [n for n in near if n[0] <= window]
        return min(near)[1] if near else None

    def _attach_held(self, conn: Connection, resident: str, part: ReportPart, case_id: str) -> set[str]:
        """Held confirming results of the resident and key within the episode join the case."""
        r = t.case_report.c
        held = conn.execute(
            select(r.source, r.onset).where(r.resident == resident, r.key == part.key, r.status == HELD)
        ).all()
        window = episode_days(part.key)
        near = [h.source for h in held if abs((date.fromisoformat(h.onset) - part.onset).days) <= window]
        for source in near:
            conn.execute(
                update(t.case_report)
                .where(r.source == source, r.key == part.key)
                .values(case_id=case_id, status=ACTIVE)
            )
        return {case_id} if near else set()

    def _new_case(self, conn: Connection, report: Report, part: ReportPart, now: float) -> str:
        cid = uuid.uuid4().hex
        conn.execute(
            insert(t.case).values(
                id=cid, resident=report.resident, disease=part.key, onset=part.onset.isoformat(),
                area=report.area, unit=report.unit, status=WITHDRAWN, created_at=now, updated_at=now,
                township=report.township, lab_confirmed=0,
            )
        )  # fmt: skip
        return cid

    def _refresh_case(self, conn: Connection, case_id: str, now: float) -> None:
        """Recompute a case's onset, township, status and lab confirmation from its active reports
        and move its counts. Without a founding report left, its confirming results are held again."""
        c, r = t.case.c, t.case_report.c
        row = conn.execute(
            select(c.disease, c.area, c.onset, c.status, c.township).where(c.id == case_id)
        ).one()
        parts = conn.execute(
            select(r.onset, r.kind, r.township)
            .where(r.case_id == case_id, r.status == ACTIVE)
            .order_by(r.onset)
        ).all()
        founding = [p for p in parts if p.kind != CONFIRM]
        status = ACTIVE if founding else WITHDRAWN
        onset = min(p.onset for p in parts) if founding else row.onset
        township = next((p.township for p in parts if p.township), None) if founding else row.township
        lab = int(any(p.kind in ("lab", CONFIRM) for p in parts)) if founding else 0
        if not founding and parts:
            conn.execute(
                update(t.case_report)
                .where(r.case_id == case_id, r.status == ACTIVE)
                .values(case_id="", status=HELD)
            )
        unchanged = (row.status, row.onset, row.township) == (status, onset, township)
        if row.status == ACTIVE and not unchanged:
            bump(conn, row.disease, contributions(row.area, row.township, date.fromisoformat(row.onset)), -1)
        if status == ACTIVE and not unchanged:
            bump(conn, row.disease, contributions(row.area, township, date.fromisoformat(onset)), +1)
        conn.execute(
            update(t.case)
            .where(c.id == case_id)
            .values(status=status, onset=onset, township=township, lab_confirmed=lab, updated_at=now)
        )

    # ---- residents linked late -------------------------------------------------------------------
    def unresolved(self, since: date) -> list[str]:
        """Patient references standing in for residents (the patient index had not linked the record
        when its report arrived) among cases with onset from `since`."""
        c = t.case.c
        query = (
            select(c.resident).where(c.resident.like("Patient/%"), c.onset >= since.isoformat()).distinct()
        )
        with self.engine.connect() as conn:
            return sorted(str(r) for r in conn.execute(query).scalars())

    def has_cases(self, conn: Connection, resident: str) -> bool:
        """Whether any case (or held report) stands under this resident key."""
        c, r = t.case.c, t.case_report.c
        found = conn.execute(select(c.id).where(c.resident == resident).limit(1)).first()
        return (
            found is not None
            or conn.execute(select(r.source).where(r.resident == resident).limit(1)).first() is not None
        )

    def rekey(self, conn: Connection, old: str, new: str, now: float) -> int:
        """Give `old`'s cases and reports to resident `new`, then merge the resident's cases of one key
        whose onsets fall within an episode (one resident, one case); returns the cases merged away."""
        c, r = t.case.c, t.case_report.c
        conn.execute(update(t.case).where(c.resident == old).values(resident=new, updated_at=now))
        conn.execute(update(t.case_report).where(r.resident == old).values(resident=new))
        rows = conn.execute(
            select(c.id, c.disease, c.onset)
            .where(c.resident == new, c.status == ACTIVE)
            .order_by(c.disease, c.onset)
        ).all()
        merged = 0
        keep: tuple[str, str, date] | None = None  # (case id, key, onset) of the episode's first case
        for cid, key, onset_text in rows:
            onset = date.fromisoformat(onset_text)
            if keep is not None and keep[1] == key and (onset - keep[2]).days <= episode_days(key):
                conn.execute(update(t.case_report).where(r.case_id == cid).values(case_id=keep[0]))
                self._refresh_case(conn, cid, now)
                self._refresh_case(conn, keep[0], now)
                merged += 1
            else:
                keep = (cid, key, onset)
        for cid, key, onset_text in rows:
            part = ReportPart(key, "diagnosis", date.fromisoformat(onset_text))
            for touched in self._attach_held(conn, new, part, cid):
                self._refresh_case(conn, touched, now)
        return merged

    def cases_of(self, resident: str) -> list[dict[str, Any]]:
        """A resident's cases, oldest onset first."""
        c = t.case.c
        with self.engine.connect() as conn:
            rows = (
                conn.execute(select(t.case).where(c.resident == resident).order_by(c.onset)).mappings().all()
            )
        return [dict(r) for r in rows]

    def reports_of(self, case_id: str) -> list[dict[str, Any]]:
        """The reports of a case (source, key, kind, onset, status)."""
        r = t.case_report.c
        query = (
            select(r.source, r.key, r.kind, r.onset, r.status).where(r.case_id == case_id).order_by(r.onset)
        )
        with self.engine.connect() as conn:
            return [dict(x) for x in conn.execute(query).mappings()]
