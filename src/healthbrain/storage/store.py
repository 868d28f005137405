"""SqlResourceStore: the SQL reads and writes of FHIR resources, versions, index rows and the outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, delete, false, func, or_, select, tuple_, update
from sqlalchemy.sql.elements import ColumnElement

from healthbrain.storage import tables as t
from healthbrain.storage.care import care_link_rows, source_of
from healthbrain.storage.query import Criterion, Query
from healthbrain.storage.rows import IndexRows
from healthbrain.storage.search_sql import constraint_clause, count_sql, search_sql, where_sql


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One stored version of a resource (content is None for a deletion)."""

    res_type: str
    res_id: str
    version_id: int
    last_updated: float
    deleted: bool
    content: str | None
    method: str = ""


@dataclass(slots=True)
class VersionWrite:
    """A new version to write: `previous_version` is 0 for a resource that did not exist."""

    res_type: str
    res_id: str
    version_id: int
    last_updated: float
    method: str  # POST | PUT | PATCH | DELETE
    content: str | None
    index: IndexRows | None
    previous_version: int


def _key_clause(res_type: str, res_id: str) -> Any:
    return and_(t.resource.c.res_type == res_type, t.resource.c.res_id == res_id)


Reveal = Callable[[str, str], str]


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A statement compiled once for one dialect, run as the driver's SQL with its parameters.

    Executing a Core statement makes SQLAlchemy walk it for its cache key on every call; for the
    secured reads, whose statements carry the policy's constraints, that walk cost more than the
    query. Bound values other than the named ones stay as compiled.
    """

    sql: str
    order: tuple[str, ...] | None  # positional parameter names in order; None: named style
    fixed: dict[str, Any]

    @classmethod
    def compile(cls, statement: Select[Any], dialect: Any) -> DriverStatement:
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        return cls(str(compiled), order, dict(compiled.params))

    def run(self, conn: Connection, **given: Any) -> Any:
        values = {**self.fixed, **given}
        if self.order is not None:
            return conn.exec_driver_sql(self.sql, tuple(values[n] for n in self.order))
        return conn.exec_driver_sql(self.sql, values)


_v = t.resource_version.c
_r = t.resource.c
_VERSIONS_OF_IDS = select(
    _v.res_type, _v.res_id, _v.version_id, _v.last_updated, _v.deleted, _v.content, _v.method
).where(_v.res_type == bindparam("rt"), _v.res_id.in_(bindparam("ids", expanding=True)))


_CURRENT_OF_IDS = select(
    _r.res_type, _r.res_id, _r.version_id, _r.last_updated, _r.deleted, _r.content
).where(_r.res_type == bindparam("rt"), _r.res_id.in_(bindparam("ids", expanding=True)))


def _ids_by_type(keys: Iterable[tuple[str, str]], chunk: int = 500) -> Iterator[tuple[str, list[str]]]:
    """(type, up to `chunk` ids) groups of (type, id) keys, for `res_type = ? AND res_id IN (...)`:
    the prefix of every (res_type, res_id, ...) index. SQLite does not use an index for a row-value
    `(res_type, res_id) IN (VALUES ...)`: it scans the whole table for each statement."""
    by_type: dict[str, set[str]] = {}
    for rt, rid in keys:
        by_type.setdefault(rt, set()).add(rid)
    for rt, ids in by_type.items():
        ordered = sorted(ids)
        for start in range(0, len(ordered), chunk):
            yield rt, ordered[start : start + chunk]


def _padded(values: list[Any]) -> list[Any]:
    """`values` (not empty) padded with its last one to a power-of-two length. An IN list of that
    many placeholders is one cached statement per size, so a few statements serve every call."""
    size = 1 << (len(values) - 1).bit_length()
    return values + [values[-1]] * (size - len(values))


def _matches_statement(
    res_type: str,
    kind: str,
    param: str,
    columns: tuple[str, ...],
    size: int,
    constraints: tuple[Criterion, ...],
    conn: Connection,
) -> Select[Any]:
    """`index_matches`'s query for `size` value tuples, bound as v{row}_{column}."""
    tbl = t.INDEX_TABLES[kind]
    r = t.resource.c
    cols = [tbl.c[c] for c in columns]
    wanted: ColumnElement[bool]
    if len(cols) == 1:
        wanted = cols[0].in_([bindparam(f"v{i}_0") for i in range(size)])
    else:
        rows = [tuple_(*(bindparam(f"v{i}_{j}") for j in range(len(cols)))) for i in range(size)]
        # each column's own IN as well: SQLite searches an index by those, but by a row-value IN
        # it would only scan the (type, param) prefix, every identifier of every Patient
        wanted = and_(
            *(col.in_([bindparam(f"v{i}_{j}") for i in range(size)]) for j, col in enumerate(cols)),
            tuple_(*cols).in_(rows),
        )
    return (
        select(tbl.c.res_id, *cols)
        .select_from(tbl.join(t.resource, and_(r.res_type == tbl.c.res_type, r.res_id == tbl.c.res_id)))
        .where(
            tbl.c.res_type == res_type,
            tbl.c.param == param,
            wanted,
            r.deleted == false(),
            *(constraint_clause(res_type, c, conn.dialect) for c in constraints),
        )
    )


class SqlResourceStore:
    """Stateless SQL operations; every method runs inside the caller's connection/transaction.

    `reveal(res_type, content)` is applied to every content read, so that values sealed at rest
    (encrypted identifiers, see the security package) come back in the clear to every reader.
    """

    def __init__(self, reveal: Reveal | None = None) -> None:
        self.reveal = reveal
        self._reads: dict[tuple[object, ...], tuple[tuple[Criterion, ...], DriverStatement]] = {}

    def _c(self, res_type: str, content: str | None) -> str | None:
        if content is None or self.reveal is None:
            return content
        return self.reveal(res_type, content)

    def _stored(self, row: Any, method: str = "") -> StoredVersion:
        """A row with the key, version, time, deleted flag and content columns, revealed."""
        content = self._c(row.res_type, row.content)
        return StoredVersion(
            row.res_type, row.res_id, row.version_id, row.last_updated, bool(row.deleted), content, method
        )

    # ---- reads -------------------------------------------------------------------------------
    def read_current(self, conn: Connection, res_type: str, res_id: str) -> StoredVersion | None:
        r = t.resource.c
        row = conn.execute(
            select(r.version_id, r.last_updated, r.deleted, r.content).where(_key_clause(res_type, res_id))
        ).first()
        if row is None:
            return None
        content = self._c(res_type, row.content)
        return StoredVersion(res_type, res_id, row.version_id, row.last_updated, bool(row.deleted), content)

    def read_constrained(
        self, conn: Connection, res_type: str, res_id: str, constraints: tuple[Criterion, ...]
    ) -> StoredVersion | None:
        """The live current version when it satisfies `constraints` (an access policy's), else None.

        One statement per (type, constraints, dialect), built once: a read by id is the most
        frequent call of a secured repository, and building its SQL cost more than running it.
        """
        key = ("read", res_type, tuple(id(c) for c in constraints), id(conn.dialect))
        cached = self._reads.get(key)
        if cached is None or cached[0] != constraints:
            r = t.resource.c
            statement: Select[Any] = select(r.version_id, r.last_updated, r.content).where(
                r.res_type == res_type,
                r.res_id == bindparam("rid"),
                r.deleted == false(),
                *(constraint_clause(res_type, c, conn.dialect) for c in constraints),
            )
            cached = self._cache_read(key, constraints, statement, conn)
        row = cached[1].run(conn, rid=res_id).first()
        if row is None:
            return None
        content = self._c(res_type, row.content)
        return StoredVersion(res_type, res_id, row.version_id, row.last_updated, False, content)

    def ids_satisfying(
        self, conn: Connection, res_type: str, ids: Sequence[str], constraints: tuple[Criterion, ...]
    ) -> set[str]:
        """Which of `ids` are live resources of `res_type` that satisfy `constraints`."""
        if not ids:
            return set()
        out: set[str] = set()
        for start in range(0, len(ids), 512):
            chunk = _padded(list(ids[start : start + 512]))
            size = len(chunk)
            key = ("ids", res_type, size, tuple(id(c) for c in constraints), id(conn.dialect))
            cached = self._reads.get(key)
            if cached is None or cached[0] != constraints:
                r = t.resource.c
                statement: Select[Any] = select(r.res_id).where(
                    r.res_type == res_type,
                    r.res_id.in_([bindparam(f"id{i}") for i in range(size)]),
                    r.deleted == false(),
                    *(constraint_clause(res_type, c, conn.dialect) for c in constraints),
                )
                cached = self._cache_read(key, constraints, statement, conn)
            out |= {row[0] for row in cached[1].run(conn, **{f"id{i}": v for i, v in enumerate(chunk)})}
        return out

    def index_matches(
        self,
        conn: Connection,
        res_type: str,
        kind: str,
        param: str,
        columns: tuple[str, ...],
        values: Sequence[tuple[Any, ...]],
        constraints: tuple[Criterion, ...],
    ) -> dict[tuple[Any, ...], list[str]]:
        """For many exact values of one search parameter at once (`columns` equal to each tuple of
        `values`): the ids of the live resources of `res_type` that hold each value and satisfy
        `constraints`, in id order. A transaction's conditional references look up this way."""
        out: dict[tuple[Any, ...], set[str]] = {}
        unique = list(dict.fromkeys(values))
        for start in range(0, len(unique), 256):
            chunk = _padded(unique[start : start + 256])
            size = len(chunk)
            key = ("matches", res_type, kind, param, columns, size, tuple(id(c) for c in constraints),
                   id(conn.dialect))  # fmt: skip
            cached = self._reads.get(key)
            if cached is None or cached[0] != constraints:
                statement = _matches_statement(res_type, kind, param, columns, size, constraints, conn)
                cached = self._cache_read(key, constraints, statement, conn)
            given = {f"v{i}_{j}": v for i, row in enumerate(chunk) for j, v in enumerate(row)}
            for row in cached[1].run(conn, **given):
                out.setdefault(tuple(row[1:]), set()).add(row[0])
        return {v: sorted(ids) for v, ids in out.items()}

    def _cache_read(
        self,
        key: tuple[object, ...],
        constraints: tuple[Criterion, ...],
        statement: Select[Any],
        conn: Connection,
    ) -> tuple[tuple[Criterion, ...], DriverStatement]:
        if len(self._reads) >= 1024:
            self._reads.clear()
        entry = (constraints, DriverStatement.compile(statement, conn.dialect))
        self._reads[key] = entry
        return entry

    def read_current_many(
        self, conn: Connection, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], StoredVersion]:
        """Current versions of many (type, id) keys; missing keys are absent from the result."""
        out: dict[tuple[str, str], StoredVersion] = {}
        for rt, ids in _ids_by_type(keys):
            for row in conn.execute(_CURRENT_OF_IDS, {"rt": rt, "ids": ids}):
                out[(row.res_type, row.res_id)] = self._stored(row)
        return out

    def read_version(
        self, conn: Connection, res_type: str, res_id: str, version_id: int
    ) -> StoredVersion | None:
        v = t.resource_version.c
        row = conn.execute(
            select(v.last_updated, v.deleted, v.content, v.method).where(
                v.res_type == res_type, v.res_id == res_id, v.version_id == version_id
            )
        ).first()
        if row is None:
            return None
        return StoredVersion(
            res_type,
            res_id,
            version_id,
            row.last_updated,
            bool(row.deleted),
            self._c(res_type, row.content),
            row.method,
        )

    def read_versions_many(
        self, conn: Connection, keys: Sequence[tuple[str, str, int]]
    ) -> dict[tuple[str, str, int], StoredVersion]:
        """Many (type, id, version) keys in a few queries; missing keys are absent from the result.

        One `res_type = ? AND res_id IN (...)` per type (the primary key's prefix), keeping the wanted
        versions: SQLite scans the whole table for a row-value `(a, b, c) IN (VALUES ...)`.
        """
        out: dict[tuple[str, str, int], StoredVersion] = {}
        wanted = set(keys)
        for rt, ids in _ids_by_type((rt, rid) for rt, rid, _ in wanted):
            for row in conn.execute(_VERSIONS_OF_IDS, {"rt": rt, "ids": ids}):
                key = (row.res_type, row.res_id, row.version_id)
                if key in wanted:
                    out[key] = self._stored(row, row.method)
        return out

    def history(
        self,
        conn: Connection,
        *,
        res_type: str | None,
        res_id: str | None,
        since: float | None,
        limit: int,
        offset: int,
    ) -> list[StoredVersion]:
        """Versions newest first, for one resource, one type or the whole system."""
        v = t.resource_version.c
        conds: list[Any] = []
        if res_type is not None:
            conds.append(v.res_type == res_type)
        if res_id is not None:
            conds.append(v.res_id == res_id)
        if since is not None:
            conds.append(v.last_updated >= since)
        stmt = (
            select(v.res_type, v.res_id, v.version_id, v.last_updated, v.deleted, v.content, v.method)
            .where(*conds)
            .order_by(v.last_updated.desc(), v.res_type, v.res_id, v.version_id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [
            StoredVersion(
                r.res_type,
                r.res_id,
                r.version_id,
                r.last_updated,
                bool(r.deleted),
                self._c(r.res_type, r.content),
                r.method,
            )
            for r in conn.execute(stmt)
        ]

    def count_history(
        self, conn: Connection, *, res_type: str | None, res_id: str | None, since: float | None
    ) -> int:
        v = t.resource_version.c
        conds: list[Any] = []
        if res_type is not None:
            conds.append(v.res_type == res_type)
        if res_id is not None:
            conds.append(v.res_id == res_id)
        if since is not None:
            conds.append(v.last_updated >= since)
        return int(
            conn.execute(select(func.count()).select_from(t.resource_version).where(*conds)).scalar_one()
        )

    def search(self, conn: Connection, query: Query, *, limit: int, offset: int) -> list[StoredVersion]:
        rows = conn.execute(search_sql(query, limit=limit, offset=offset, dialect=conn.dialect))
        return [
            StoredVersion(
                query.resource_type,
                r.res_id,
                r.version_id,
                r.last_updated,
                False,
                self._c(query.resource_type, r.content),
            )
            for r in rows
        ]

    def stream_search(
        self, conn: Connection, query: Query, *, since: float | None = None, batch: int = 1000
    ) -> Iterable[StoredVersion]:
        """Every match of `query` in id order, fetched in keyset pages (bulk export: no OFFSET scans)."""
        r = t.resource.c
        last = ""
        while True:
            where = where_sql(query.resource_type, query.criteria, query.constraints, conn.dialect)
            conds: list[Any] = [where, r.res_id > last]
            if since is not None:
                conds.append(r.last_updated >= since)
            rows = conn.execute(
                select(r.res_id, r.version_id, r.last_updated, r.content)
                .where(*conds)
                .order_by(r.res_id)
                .limit(batch)
            ).all()
            for row in rows:
                yield StoredVersion(
                    query.resource_type,
                    row.res_id,
                    row.version_id,
                    row.last_updated,
                    False,
                    self._c(query.resource_type, row.content),
                )
            if len(rows) < batch:
                return
            last = rows[-1].res_id

    def count(self, conn: Connection, query: Query) -> int:
        return int(conn.execute(count_sql(query, conn.dialect)).scalar_one())

    def outgoing_references(
        self,
        conn: Connection,
        res_type: str,
        res_ids: Sequence[str],
        param: str | None,
        target_type: str | None,
    ) -> list[tuple[str, str]]:
        """(target_type, target_id) referenced by the given resources through `param` (any if None)."""
        ref = t.idx_reference.c
        out: list[tuple[str, str]] = []
        for start in range(0, len(res_ids), 500):
            conds = [ref.res_type == res_type, ref.res_id.in_(list(res_ids[start : start + 500]))]
            conds.append(ref.target_id.is_not(None))
            if param is not None:
                conds.append(ref.param == param)
            if target_type is not None:
                conds.append(ref.target_type == target_type)
            out += [
                (r.target_type, r.target_id)
                for r in conn.execute(select(ref.target_type, ref.target_id).where(*conds).distinct())
            ]
        return out

    def incoming_references(
        self,
        conn: Connection,
        source_type: str,
        param: str | None,
        target_type: str,
        target_ids: Sequence[str],
    ) -> list[str]:
        """Ids of `source_type` resources that refer to any of the targets through `param` (any if None)."""
        ref = t.idx_reference.c
        out: list[str] = []
        for start in range(0, len(target_ids), 500):
            conds = [
                ref.res_type == source_type,
                ref.target_type == target_type,
                ref.target_id.in_(list(target_ids[start : start + 500])),
            ]
            if param is not None:
                conds.append(ref.param == param)
            out += [r.res_id for r in conn.execute(select(ref.res_id).where(*conds).distinct())]
        return out

    def referring_types(self, conn: Connection, target_type: str, target_id: str) -> list[tuple[str, str]]:
        """Every (type, id) of a live resource that refers to the target (used by `$everything`)."""
        ref = t.idx_reference.c
        stmt = (
            select(ref.res_type, ref.res_id)
            .where(ref.target_type == target_type, ref.target_id == target_id)
            .distinct()
        )
        return [(r.res_type, r.res_id) for r in conn.execute(stmt)]

    def type_ids(self, conn: Connection, res_type: str, since: float | None) -> Iterable[tuple[str, str]]:
        """(id, content) of every live resource of a type, streamed (bulk export)."""
        r = t.resource.c
        conds: list[Any] = [r.res_type == res_type, r.deleted == false()]
        if since is not None:
            conds.append(r.last_updated >= since)
        result = conn.execution_options(yield_per=2000).execute(
            select(r.res_id, r.content).where(*conds).order_by(r.res_id)
        )
        for row in result:
            yield row.res_id, self._c(res_type, row.content) or ""

    # ---- writes ------------------------------------------------------------------------------
    def write_versions(self, conn: Connection, writes: Sequence[VersionWrite]) -> None:
        """Write new versions: current row, version row, index rows and an outbox event for each.

        The caller runs this inside its transaction; a version conflict raises IntegrityError.
        """
        if not writes:
            return
        new = [w for w in writes if w.previous_version == 0]
        existing = [w for w in writes if w.previous_version != 0]
        if new:
            _bulk_insert(
                conn,
                t.resource,
                ("res_type", "res_id", "version_id", "last_updated", "deleted", "content"),
                [
                    (w.res_type, w.res_id, w.version_id, w.last_updated, w.content is None, w.content)
                    for w in new
                ],
            )
        for w in existing:
            result = conn.execute(
                update(t.resource)
                .where(_key_clause(w.res_type, w.res_id), t.resource.c.version_id == w.previous_version)
                .values(
                    version_id=w.version_id,
                    last_updated=w.last_updated,
                    deleted=w.content is None,
                    content=w.content,
                )
            )
            if result.rowcount != 1:
                raise VersionConflict(w.res_type, w.res_id)
        _bulk_insert(
            conn,
            t.resource_version,
            ("res_type", "res_id", "version_id", "last_updated", "method", "deleted", "content"),
            [
                (w.res_type, w.res_id, w.version_id, w.last_updated, w.method, w.content is None, w.content)
                for w in writes
            ],
        )
        self._replace_index(conn, existing, writes)
        _bulk_insert(
            conn,
            t.outbox,
            ("res_type", "res_id", "version_id", "action", "occurred_at"),
            [
                (
                    w.res_type,
                    w.res_id,
                    w.version_id,
                    "delete" if w.content is None else ("create" if w.version_id == 1 else "update"),
                    w.last_updated,
                )
                for w in writes
            ],
        )

    def _replace_index(
        self, conn: Connection, existing: Sequence[VersionWrite], writes: Sequence[VersionWrite]
    ) -> None:
        if existing:
            groups = list(_ids_by_type((w.res_type, w.res_id) for w in existing))
            for tbl in t.INDEX_TABLES.values():
                for rt, ids in groups:
                    conn.execute(delete(tbl).where(tbl.c.res_type == rt, tbl.c.res_id.in_(ids)))
        # Plain tuples through the driver's executemany: ingest writes millions of rows and the
        # SQL expression layer's per-row work would dominate.
        buckets: dict[str, list[tuple[Any, ...]]] = {k: [] for k in t.INDEX_TABLES}
        for w in writes:
            rows = w.index
            if rows is None:
                continue
            base = (w.res_type, w.res_id)
            buckets["token"].extend(base + r for r in rows.tokens)
            buckets["string"].extend(base + r for r in rows.strings)
            buckets["date"].extend(base + r for r in rows.dates)
            buckets["reference"].extend(base + r for r in rows.references)
            buckets["quantity"].extend(base + r for r in rows.quantities)
            buckets["uri"].extend(base + r for r in rows.uris)
            buckets["composite"].extend(base + r for r in rows.composites)
        for kind, batch in buckets.items():
            if batch:
                table = t.INDEX_TABLES[kind]
                _bulk_insert(conn, table, tuple(c.name for c in table.columns), batch)
        _replace_care_links(conn, existing, writes)

    def refresh_statistics(self, conn: Connection) -> None:
        """Let PostgreSQL's planner see a bulk load (ANALYZE); autovacuum would lag far behind.

        Without it a freshly loaded index table is planned as if empty, and a patient-scoped search
        that takes milliseconds takes seconds. SQLite's planner is tuned without statistics instead.
        """
        if conn.dialect.name != "postgresql":
            return
        for table in (t.resource, t.resource_version, *t.INDEX_TABLES.values(), t.care_link):
            conn.exec_driver_sql(f"ANALYZE {table.name}")

    # ---- outbox ------------------------------------------------------------------------------
    def outbox_after(
        self, conn: Connection, position: int, limit: int
    ) -> list[tuple[int, str, str, int, str, float]]:
        o = t.outbox.c
        rows = conn.execute(
            select(o.seq, o.res_type, o.res_id, o.version_id, o.action, o.occurred_at)
            .where(o.seq > position)
            .order_by(o.seq)
            .limit(limit)
        )
        return [(r.seq, r.res_type, r.res_id, r.version_id, r.action, r.occurred_at) for r in rows]

    def outbox_head(self, conn: Connection) -> int:
        return int(conn.execute(select(func.coalesce(func.max(t.outbox.c.seq), 0))).scalar_one())

    def type_counts(self, conn: Connection) -> dict[str, int]:
        r = t.resource.c
        rows = conn.execute(select(r.res_type, func.count()).where(r.deleted == false()).group_by(r.res_type))
        return {row[0]: int(row[1]) for row in rows}

    def any_resource(self, conn: Connection, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of the keys exist as live resources."""
        found = self.read_current_many(conn, keys)
        return {k for k, v in found.items() if not v.deleted}


def _replace_care_links(
    conn: Connection, existing: Sequence[VersionWrite], writes: Sequence[VersionWrite]
) -> None:
    """The care links of the written versions replace those of their previous versions.

    Derived from the index rows just written (`storage.care`), in the same transaction: a link
    exists exactly while the current version of its source says so, and a rolled-back write
    leaves none behind.
    """
    stale: dict[str, list[str]] = {}
    for w in existing:
        if source_of(w.res_type) is not None:
            stale.setdefault(w.res_type, []).append(w.res_id)
    link = t.care_link.c
    for res_type, ids in stale.items():
        for start in range(0, len(ids), 500):
            conn.execute(
                delete(t.care_link).where(
                    link.source_type == res_type, link.source_id.in_(ids[start : start + 500])
                )
            )
    rows: list[tuple[Any, ...]] = []
    for w in writes:
        source = source_of(w.res_type)
        if source is not None and w.index is not None:
            rows += care_link_rows(source, w.res_id, w.index)
    if rows:
        _bulk_insert(conn, t.care_link, tuple(c.name for c in t.care_link.columns), rows)


class VersionConflict(Exception):
    """Another writer changed the resource between read and write."""

    def __init__(self, res_type: str, res_id: str) -> None:
        super().__init__(f"{res_type}/{res_id} changed concurrently")
        self.res_type = res_type
        self.res_id = res_id


_INSERT_SQL: dict[tuple[str, str, tuple[str, ...]], str] = {}


def _bulk_insert(conn: Connection, table: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Insert plain tuples fast, inside the caller's transaction.

    PostgreSQL gets `COPY ... FROM STDIN` (several times faster than INSERT for index rows); SQLite
    gets the driver's executemany. Both skip SQLAlchemy's per-row expression work, which would
    dominate an ingest that writes millions of rows.
    """
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    key = (conn.dialect.paramstyle, table.name, columns)
    sql = _INSERT_SQL.get(key)
    if sql is None:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
        _INSERT_SQL[key] = sql
    conn.exec_driver_sql(sql, rows)


__all__ = ["SqlResourceStore", "StoredVersion", "VersionConflict", "VersionWrite", "or_"]
