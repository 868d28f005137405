"""SQL of the quality tables: quarantine rows and holds, record evaluations, identity keys, recognitions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, and_, case, delete, func, insert, select, tuple_, update

from healthbrain.quality import tables as t
from healthbrain.quality.model import DayCounts, Finding

_CHUNK = 400


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    """A quarantined entry as stored (content still sealed)."""

    id: str
    institution: str
    feed: str
    source: str
    res_type: str
    res_id: str | None
    full_url: str | None
    request: dict[str, Any]
    content: str
    findings: tuple[Finding, ...]
    own: bool
    status: str
    received_at: float
    day: str
    decided_at: float | None
    decided_by: str | None
    note: str | None
    released_ref: str | None

    def summary(self) -> dict[str, Any]:
        """What lists show: ids, rules and times, never content."""
        return {
            "id": self.id,
            "institution": self.institution,
            "feed": self.feed,
            "resourceType": self.res_type,
            "resourceId": self.res_id,
            "status": self.status,
            "reason": "failed" if self.own else "held_with",
            "findings": [f.to_json() for f in self.findings],
            "receivedAt": self.received_at,
            "day": self.day,
            "decidedAt": self.decided_at,
            "decidedBy": self.decided_by,
            "releasedRef": self.released_ref,
        }


def dump_findings(findings: Iterable[Finding]) -> str:
    return orjson.dumps([f.to_json() for f in findings]).decode()


def _row(r: Any) -> QuarantineRow:
    return QuarantineRow(
        r.id, r.institution, r.feed, r.source, r.res_type, r.res_id, r.full_url, orjson.loads(r.request),
        r.content, tuple(Finding.from_json(f) for f in orjson.loads(r.findings)), bool(r.own), r.status,
        float(r.received_at), r.day, r.decided_at, r.decided_by, r.note, r.released_ref,
    )  # fmt: skip


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class QualityStore:
    """Reads and writes of the quality tables; every method takes the caller's connection."""

    # ---- quarantine -----------------------------------------------------------------------------
    def add_held(self, conn: Connection, rows: list[dict[str, Any]], holds: list[tuple[str, str]]) -> None:
        if rows:
            conn.execute(insert(t.quarantine), rows)
        if holds:
            conn.execute(insert(t.hold), [{"entry_id": e, "holder_id": h} for e, h in holds])

    def any_held(self, conn: Connection) -> bool:
        q = t.quarantine.c
        return conn.execute(select(q.id).where(q.status == "held").limit(1)).first() is not None

    def held_keys(self, conn: Connection, refs: Iterable[str]) -> dict[str, str]:
        """`Type/id` of held entries among `refs` -> their quarantine id."""
        keys = sorted({tuple(r.split("/", 1)) for r in refs if r.count("/") == 1})
        q = t.quarantine.c
        out: dict[str, str] = {}
        for part in _chunks(keys):
            rows = conn.execute(
                select(q.id, q.res_type, q.res_id).where(
                    q.status == "held", tuple_(q.res_type, q.res_id).in_(list(part))
                )
            )
            out.update({f"{r.res_type}/{r.res_id}": r.id for r in rows})
        return out

    def get(self, conn: Connection, qid: str) -> QuarantineRow | None:
        r = conn.execute(select(t.quarantine).where(t.quarantine.c.id == qid)).first()
        return None if r is None else _row(r)

    def entries(
        self,
        conn: Connection,
        *,
        status: str | None,
        institution: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[QuarantineRow], int]:
        q = t.quarantine.c
        where = []
        if status:
            where.append(q.status == status)
        if institution:
            where.append(q.institution == institution)
        cond = and_(*where) if where else None
        query = select(t.quarantine).order_by(q.received_at.desc(), q.id).limit(limit).offset(offset)
        counting = select(func.count()).select_from(t.quarantine)
        if cond is not None:
            query, counting = query.where(cond), counting.where(cond)
        return [_row(r) for r in conn.execute(query)], int(conn.execute(counting).scalar_one())

    def holders(self, conn: Connection, qid: str) -> list[str]:
        return [r[0] for r in conn.execute(select(t.hold.c.holder_id).where(t.hold.c.entry_id == qid))]

    def dependents(self, conn: Connection, qid: str) -> list[str]:
        return [r[0] for r in conn.execute(select(t.hold.c.entry_id).where(t.hold.c.holder_id == qid))]

    def statuses(self, conn: Connection, ids: Iterable[str]) -> dict[str, str]:
        q = t.quarantine.c
        wanted = sorted(set(ids))
        out: dict[str, str] = {}
        for part in _chunks(wanted):
            out.update({r.id: r.status for r in conn.execute(select(q.id, q.status).where(q.id.in_(part)))})
        return out

    def decide(self, conn: Connection, qid: str, status: str, actor: str, note: str | None, now: float,
               **changes: Any) -> None:  # fmt: skip
        conn.execute(
            update(t.quarantine)
            .where(t.quarantine.c.id == qid)
            .values(status=status, decided_by=actor[:80], decided_at=now, **changes)
            .values(note=note[:500] if note else None)
        )

    def update_entry(self, conn: Connection, qid: str, **changes: Any) -> None:
        conn.execute(update(t.quarantine).where(t.quarantine.c.id == qid).values(**changes))

    # ---- record evaluations ---------------------------------------------------------------------
    def record_version(self, conn: Connection, key: str) -> int | None:
        v = conn.execute(select(t.record.c.version).where(t.record.c.record_key == key)).scalar()
        return None if v is None else int(v)

    def record_institution(self, conn: Connection, key: str) -> str | None:
        v = conn.execute(select(t.record.c.institution).where(t.record.c.record_key == key)).scalar()
        return None if v is None else str(v)

    def put_records(self, conn: Connection, rows: list[dict[str, Any]], *, replace: bool = True) -> None:
        """Insert or replace record evaluations (delete then insert: portable and atomic in the tx);
        `replace=False` when the caller knows none of them is stored yet."""
        if not rows:
            return
        keys = [r["record_key"] for r in rows]
        for part in _chunks(keys) if replace else ():
            conn.execute(delete(t.record).where(t.record.c.record_key.in_(part)))
        conn.execute(insert(t.record), rows)

    def delete_record(self, conn: Connection, key: str) -> None:
        conn.execute(delete(t.record).where(t.record.c.record_key == key))
        conn.execute(delete(t.identity_key).where(t.identity_key.c.record_key == key))

    def day_counts(
        self,
        conn: Connection,
        start: str,
        end: str,
        *,
        institution: str | None = None,
        feed: str | None = None,
        by_feed: bool = False,
    ) -> list[tuple[str, str, str | None, DayCounts]]:
        """(institution, day, feed or None, counts) of every day in [start, end]."""
        r = t.record.c

        def n(cond: Any) -> Any:
            return func.sum(case((cond, 1), else_=0))

        groups = [r.institution, r.day, *([r.feed] if by_feed else [])]
        query = (
            select(
                *groups, func.count(), func.sum(r.expected), func.sum(r.present), n(r.valid),
                n(r.consistent), n(r.unique_ok), n(r.timely.is_not(None)), n(r.timely.is_(True)),
                n(r.quarantined), n(r.flagged),
            )
            .where(r.day >= start, r.day <= end)
            .group_by(*groups)
            .order_by(*groups)
        )
        if institution is not None:
            query = query.where(r.institution == institution)
        if feed is not None:
            query = query.where(r.feed == feed)
        out = []
        for row in conn.execute(query):
            values = list(row)
            head = 3 if by_feed else 2
            counts = DayCounts(*(int(v or 0) for v in values[head:]))
            out.append((values[0], values[1], values[2] if by_feed else None, counts))
        return out

    # ---- identity keys --------------------------------------------------------------------------
    def earlier_holders(
        self, conn: Connection, institution: str, hashes: Sequence[str], key: str, first_seen: float
    ) -> set[str]:
        """Hashes among `hashes` that another record of the institution registered earlier."""
        if not hashes:
            return set()
        k = t.identity_key.c
        rows = conn.execute(
            select(k.key_hash, k.record_key, k.first_seen).where(
                k.institution == institution, k.key_hash.in_(list(hashes)), k.record_key != key
            )
        )
        return {r.key_hash for r in rows if (r.first_seen, r.record_key) < (first_seen, key)}

    def replace_keys(
        self, conn: Connection, institution: str, key: str, hashes: Sequence[str], first_seen: float
    ) -> None:
        conn.execute(delete(t.identity_key).where(t.identity_key.c.record_key == key))
        if hashes:
            conn.execute(
                insert(t.identity_key),
                [{"institution": institution, "key_hash": h, "record_key": key, "first_seen": first_seen}
                 for h in dict.fromkeys(hashes)],
            )  # fmt: skip

    def first_seen(self, conn: Connection, key: str) -> float | None:
        v = conn.execute(
            select(func.min(t.identity_key.c.first_seen)).where(t.identity_key.c.record_key == key)
        ).scalar()
        return None if v is None else float(v)

    # ---- recognitions ---------------------------------------------------------------------------
    def put_recognition(self, conn: Connection, row: dict[str, Any]) -> bool:
        """Record a recognised result for an order and test, once; False when already recorded."""
        c = t.recognition.c
        exists = conn.execute(
            select(c.order_ref).where(c.order_ref == row["order_ref"], c.test == row["test"])
        ).first()
        if exists is not None:
            return False
        conn.execute(insert(t.recognition).values(**row))
        return True

    def set_issue(self, conn: Connection, order_ref: str, test: str, issue_ref: str) -> None:
        c = t.recognition.c
        conn.execute(
            update(t.recognition).where(c.order_ref == order_ref, c.test == test).values(issue_ref=issue_ref)
        )

    def recognitions(
        self, conn: Connection, *, patient: str | None = None, order: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        c = t.recognition.c
        query = select(t.recognition).order_by(c.created_at.desc()).limit(limit)
        if patient is not None:
            query = query.where(c.patient_ref == patient)
        if order is not None:
            query = query.where(c.order_ref == order)
        return [dict(r._mapping) for r in conn.execute(query)]

    def recognition_counts(self, conn: Connection) -> dict[str, int]:
        c = t.recognition.c
        rows = conn.execute(select(c.same_institution, func.count()).group_by(c.same_institution))
        counts = {"same_institution": 0, "other_institution": 0}
        for same, n in rows:
            counts["same_institution" if same else "other_institution"] += int(n)
        return counts
