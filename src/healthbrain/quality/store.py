"""SQL of the quality tables: quarantine rows and holds, record evaluations, identity keys, recognitions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from healthbrain.quality import tables as t
from healthbrain.quality.model import DayCounts, Finding
from healthbrain.quality.pending import KeyHolder, PendingRecord

_CHUNK = 400

# The statements the monitor runs for every record, built once: building one costs more than running it.
_r, _k = t.record.c, t.identity_key.c
_RECORD_VERSION = select(_r.version).where(_r.record_key == bindparam("key"))
_RECORD_INSTITUTION = select(_r.institution).where(_r.record_key == bindparam("key"))
_RECORDS_IN = _r.record_key.in_(bindparam("keys", expanding=True))
_RECORD_VERSIONS = select(_r.record_key, _r.version).where(_RECORDS_IN)
_INSERT_RECORDS = insert(t.record)
_DELETE_RECORDS = (
    delete(t.record)
    .where(_RECORDS_IN)
    .returning(
        _r.institution, _r.day, _r.feed, _r.res_type, _r.expected, _r.present, _r.valid, _r.consistent,
        _r.unique_ok, _r.timely, _r.quarantined, _r.flagged,
    )
)  # fmt: skip
_KEYS_OF_RECORDS_IN = _k.record_key.in_(bindparam("keys", expanding=True))
_DELETE_KEYS_OF = delete(t.identity_key).where(_KEYS_OF_RECORDS_IN)
_INSERT_KEYS = insert(t.identity_key)
_FIRST_SEEN = select(func.min(_k.first_seen)).where(_k.record_key == bindparam("key"))
_FIRST_SEEN_MANY = (
    select(_k.record_key, func.min(_k.first_seen)).where(_KEYS_OF_RECORDS_IN).group_by(_k.record_key)
)
_HOLDERS = select(_k.key_hash, _k.record_key, _k.first_seen).where(
    _k.institution == bindparam("institution"),
    _k.key_hash.in_(bindparam("hashes", expanding=True)),
    _k.record_key != bindparam("key"),
)


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


def identity_rows(
    institution: str, key: str, hashes: Sequence[str], first_seen: float
) -> list[dict[str, Any]]:
    """The quality_identity_key rows of a record's key hashes."""
    return [
        {"institution": institution, "key_hash": h, "record_key": key, "first_seen": first_seen}
        for h in dict.fromkeys(hashes)
    ]


def _measures(r: Mapping[Any, Any]) -> tuple[int, ...]:
    """One record's part of its day's tally, in the order of `tables.TALLY_COLUMNS`."""
    timely = r["timely"]
    return (
        1, int(r["expected"]), int(r["present"]), int(bool(r["valid"])), int(bool(r["consistent"])),
        int(bool(r["unique_ok"])), int(timely is not None), int(bool(timely)), int(bool(r["quarantined"])),
        int(bool(r["flagged"])),
    )  # fmt: skip


_TALLY_UPSERTS: dict[str, Any] = {}


def _tally_upsert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT adding to the stored sums (SQLite and PostgreSQL), built once per dialect."""
    stmt = _TALLY_UPSERTS.get(dialect)
    if stmt is None:
        ins = (sqlite if dialect == "sqlite" else postgresql).insert(t.day_tally)
        d = t.day_tally.c
        stmt = ins.on_conflict_do_update(
            index_elements=[d.institution, d.day, d.feed, d.res_type],
            set_={c: d[c] + ins.excluded[c] for c in t.TALLY_COLUMNS},
        )
        _TALLY_UPSERTS[dialect] = stmt
    return stmt


@dataclass(slots=True)
class _Tallies:
    """What a write changes in quality_day: records removed count negative, records added positive."""

    deltas: dict[tuple[str, str, str, str], list[int]] = field(default_factory=dict)

    def add(self, row: Mapping[Any, Any], sign: int) -> None:
        key = (str(row["institution"]), str(row["day"]), str(row["feed"]), str(row["res_type"]))
        acc = self.deltas.setdefault(key, [0] * len(t.TALLY_COLUMNS))
        for i, v in enumerate(_measures(row)):
            acc[i] += sign * v

    def write(self, conn: Connection) -> None:
        """Add the changes to the stored sums, in key order (concurrent writers lock rows alike)."""
        keys = ("institution", "day", "feed", "res_type")
        rows = [
            {**dict(zip(keys, k, strict=True)), **dict(zip(t.TALLY_COLUMNS, v, strict=True))}
            for k, v in sorted(self.deltas.items())
            if any(v)
        ]
        if rows:
            conn.execute(_tally_upsert(conn.dialect.name), rows)


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _delete_records(conn: Connection, keys: Sequence[str], tallies: _Tallies) -> None:
    """Delete the stored evaluations of `keys`, taking what they counted off the tallies."""
    for part in _chunks(keys):
        for old in conn.execute(_DELETE_RECORDS, {"keys": list(part)}).mappings():
            tallies.add(old, -1)


def _insert_records(conn: Connection, rows: list[dict[str, Any]], tallies: _Tallies) -> None:
    """Insert evaluations, counting them on the tallies."""
    conn.execute(_INSERT_RECORDS, rows)
    for row in rows:
        tallies.add(row, 1)


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
        by_type: dict[str, set[str]] = {}
        for ref in refs:
            if ref.count("/") == 1:
                rt, rid = ref.split("/", 1)
                by_type.setdefault(rt, set()).add(rid)
        q = t.quarantine.c
        out: dict[str, str] = {}
        for rt, ids in sorted(
            by_type.items()
        ):  # type = ? AND id IN (...): searches ix_quality_quarantine_key
            for part in _chunks(sorted(ids)):
                rows = conn.execute(
                    select(q.id, q.res_type, q.res_id).where(
                        q.status == "held", q.res_type == rt, q.res_id.in_(list(part))
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
        v = conn.execute(_RECORD_VERSION, {"key": key}).scalar()
        return None if v is None else int(v)

    def record_versions(self, conn: Connection, keys: Sequence[str]) -> dict[str, int]:
        """The stored version of each record among `keys` that has one."""
        out: dict[str, int] = {}
        for part in _chunks(list(dict.fromkeys(keys))):
            out.update((k, int(v)) for k, v in conn.execute(_RECORD_VERSIONS, {"keys": list(part)}))
        return out

    def record_institution(self, conn: Connection, key: str) -> str | None:
        v = conn.execute(_RECORD_INSTITUTION, {"key": key}).scalar()
        return None if v is None else str(v)

    def put_records(self, conn: Connection, rows: list[dict[str, Any]], *, replace: bool = True) -> None:
        """Insert or replace record evaluations (delete then insert: portable and atomic in the tx);
        `replace=False` when the caller knows none of them is stored yet."""
        if not rows:
            return
        tallies = _Tallies()
        if replace:
            _delete_records(conn, [r["record_key"] for r in rows], tallies)
        _insert_records(conn, rows, tallies)
        tallies.write(conn)

    def write_batch(self, conn: Connection, records: dict[str, PendingRecord]) -> None:
        """Give each record the row and identity keys a batch left it with (a few statements in all)."""
        tallies = _Tallies()
        _delete_records(conn, list(records), tallies)
        rows = [p.row for p in records.values() if p.row is not None]
        if rows:
            _insert_records(conn, rows, tallies)
        tallies.write(conn)
        replaced = [k for k, p in records.items() if p.keys is not None]
        for part in _chunks(replaced):
            conn.execute(_DELETE_KEYS_OF, {"keys": list(part)})
        key_rows = [row for p in records.values() for row in p.keys or ()]
        if key_rows:
            conn.execute(_INSERT_KEYS, key_rows)

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
        """(institution, day, feed or None, counts) of every day in [start, end], from the kept tallies."""
        d = t.day_tally.c
        groups = [d.institution, d.day, *([d.feed] if by_feed else [])]
        query = (
            select(*groups, *(func.sum(d[c]) for c in t.TALLY_COLUMNS))
            .where(d.day >= start, d.day <= end)
            .group_by(*groups)
            .having(func.sum(d.records) > 0)
            .order_by(*groups)
        )
        if institution is not None:
            query = query.where(d.institution == institution)
        if feed is not None:
            query = query.where(d.feed == feed)
        out = []
        head = 3 if by_feed else 2
        for row in conn.execute(query):
            values = list(row)
            counts = DayCounts(*(int(v or 0) for v in values[head:]))
            out.append((values[0], values[1], values[2] if by_feed else None, counts))
        return out

    def received(self, conn: Connection, day: str, *, institution: str | None = None) -> dict[str, int]:
        """Records of each resource type whose latest version arrived on `day` and was written (held
        entries left out), from the kept tallies."""
        d = t.day_tally.c
        query = (
            select(d.res_type, func.sum(d.records - d.quarantined)).where(d.day == day).group_by(d.res_type)
        )
        if institution is not None:
            query = query.where(d.institution == institution)
        return {str(rt): int(n or 0) for rt, n in conn.execute(query) if n}

    # ---- identity keys --------------------------------------------------------------------------
    def key_holders(
        self, conn: Connection, institution: str, hashes: Sequence[str], exclude: str
    ) -> list[KeyHolder]:
        """(key hash, record key, first seen) of the institution's other records holding any of `hashes`."""
        if not hashes:
            return []
        params = {"institution": institution, "hashes": list(dict.fromkeys(hashes)), "key": exclude}
        return [(r.key_hash, r.record_key, float(r.first_seen)) for r in conn.execute(_HOLDERS, params)]

    def first_seen(self, conn: Connection, key: str) -> float | None:
        v = conn.execute(_FIRST_SEEN, {"key": key}).scalar()
        return None if v is None else float(v)

    def first_seen_many(self, conn: Connection, keys: Sequence[str]) -> dict[str, float]:
        """`first_seen` of each record among `keys` that holds identity keys."""
        out: dict[str, float] = {}
        for part in _chunks(list(dict.fromkeys(keys))):
            out.update((k, float(v)) for k, v in conn.execute(_FIRST_SEEN_MANY, {"keys": list(part)}))
        return out

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
