"""The tamper-evident audit trail: every interaction, chained by keyed hashes, with signed checkpoints.

Each record's hash is HMAC(audit key, previous hash ‖ canonical record), with SHA-256 or SM3. Without
the key (wrapped by the master key) nobody can rewrite a record and recompute the chain; signed
checkpoints of the chain head (Ed25519) additionally catch a truncated tail. Records are queued
by the request and written by a background writer in batches (`flush_seconds`), so auditing costs a
read request microseconds; `flush()` writes synchronously (shutdown, tests, strict mode). The batch
is hashed and written in this process or, for a server, in a writer process (`audit_writer`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import operator
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import Connection, Engine, func, insert, select, text

from healthbrain.core.access import AuditEntry
from healthbrain.core.context import RequestContext
from healthbrain.core.db import begin_write, is_postgres
from healthbrain.security import tables as t
from healthbrain.security.crypto import KeyRing, StoredKey

__all__ = [
    "AuditProblem", "AuditReport", "BatchWriter", "ChainAppender", "HashChainAuditSink", "verify_chain",
]  # fmt: skip

log = logging.getLogger("healthbrain.audit")
GENESIS = "0" * 64
_HASHED = (
    "seq", "recorded_at", "principal", "principal_kind", "organization", "roles", "purpose", "action",
    "resource_type", "resource_id", "patients", "params", "outcome", "detail", "count", "source",
    "request_id", "break_glass", "prev_hash",
)  # fmt: skip
_PG_LOCK = 0x4842_4155_4449_54  # advisory lock id of the chain writer ("HBAUDIT")
_COLUMNS = (*_HASHED, "hash")  # the order of the writer's insert


def _canonical(row: dict[str, Any]) -> bytes:
    return orjson.dumps({k: row[k] for k in _HASHED}, option=orjson.OPT_SORT_KEYS)


class _Sm3Hash:
    """hashlib-style SM3 (through the cryptography package) for hmac.new."""

    digest_size = 32
    block_size = 64
    name = "sm3"

    def __init__(self, data: bytes = b"") -> None:
        self._h = hashes.Hash(hashes.SM3())
        if data:
            self._h.update(data)

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        return self._h.copy().finalize()

    def hexdigest(self) -> str:
        return self.digest().hex()

    def copy(self) -> _Sm3Hash:
        clone = _Sm3Hash()
        clone._h = self._h.copy()
        return clone


def _keyed(key: bytes, algorithm: str) -> hmac.HMAC:
    digestmod: Any = _Sm3Hash if algorithm == "sm3" else hashlib.sha256
    return hmac.new(key, digestmod=digestmod)


def chain_hash(key: bytes, algorithm: str, prev_hash: str, row: dict[str, Any]) -> str:
    h = _keyed(key, algorithm)
    h.update(prev_hash.encode() + _canonical(row))
    return h.hexdigest()


def _row(ctx: RequestContext, entry: AuditEntry, now: float) -> dict[str, Any]:
    p = ctx.principal
    return {
        "recorded_at": now,
        "principal": p.id[:128],
        "principal_kind": p.kind,
        "organization": p.organization,
        "roles": orjson.dumps(sorted(p.roles)).decode(),
        "purpose": str(ctx.purpose.value),
        "action": entry.action[:32],
        "resource_type": entry.resource_type,
        "resource_id": (entry.resource_id or None) and entry.resource_id[:64],
        "patients": orjson.dumps(list(entry.patients[:1000])).decode(),
        "params": orjson.dumps(list(entry.params[:50])).decode(),
        "outcome": entry.outcome,
        "detail": entry.detail[:128],
        "count": int(entry.count),
        "source": (ctx.source or None) and ctx.source[:64],
        "request_id": ctx.request_id[:64],
        "break_glass": ctx.break_glass is not None,
    }


Listener = Callable[[RequestContext, AuditEntry, float], None]


def _insert_statements(engine: Engine) -> tuple[str, str]:
    """The chain's two inserts as driver SQL, in the dialect's quoting and placeholder style."""
    quote = engine.dialect.identifier_preparer.quote
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"

    def statement(table: str, columns: tuple[str, ...]) -> str:
        names = ", ".join(quote(c) for c in columns)
        return f"insert into {quote(table)} ({names}) values ({', '.join(mark for _ in columns)})"

    return statement(t.audit.name, _COLUMNS), statement(t.audit_patient.name, ("patient", "seq"))


class BatchWriter(Protocol):
    """Puts a batch of queued records on the chain, all or none; raises when it could not."""

    def append(self, rows: list[dict[str, Any]], key: StoredKey) -> None: ...

    def close(self) -> None: ...


class ChainAppender:
    """Hashes a batch onto the chain head and writes it, with any checkpoint due, in one transaction."""

    def __init__(
        self,
        engine: Engine,
        keys: KeyRing,
        *,
        algorithm: str = "sha256",
        checkpoint_every: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.keys = keys
        self.algorithm = algorithm
        self.checkpoint_every = checkpoint_every
        self.clock = clock
        self._inserts = _insert_statements(engine)
        self._mac: tuple[bytes, hmac.HMAC] | None = None  # the audit key and its keyed hash, reused

    def append(self, rows: list[dict[str, Any]], audit_key: StoredKey | None = None) -> None:
        """Chain `rows` with `audit_key` (by default the key ring's active audit key)."""
        key = (audit_key or self.keys.active("audit")).secret
        if self._mac is None or self._mac[0] != key:  # first use, or the audit key was rotated
            self._mac = (key, _keyed(key, self.algorithm))
        keyed = self._mac[1]
        # keys are fetched (and made on first use) before the chain's write transaction opens
        signer = self.keys.signing_key("audit-signing")
        insert_audit, insert_links = self._inserts
        hashed_values = operator.itemgetter(*_HASHED)
        with begin_write(self.engine) as conn:
            if is_postgres(self.engine):
                conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
            last = conn.execute(
                select(t.audit.c.seq, t.audit.c.hash).order_by(t.audit.c.seq.desc()).limit(1)
            ).first()
            seq, prev = (last.seq, last.hash) if last is not None else (0, GENESIS)
            chained: list[tuple[Any, ...]] = []
            links: list[tuple[str, int]] = []
            for row in rows:
                seq += 1
                row["seq"], row["prev_hash"] = seq, prev
                h = keyed.copy()
                h.update(prev.encode() + _canonical(row))
                prev = h.hexdigest()
                chained.append((*hashed_values(row), prev))
                if row["patients"] != "[]":
                    links.extend((p[:64], seq) for p in dict.fromkeys(orjson.loads(row["patients"])))
            # the driver's executemany with plain tuples: the per-row parameter handling of a Core
            # insert cost more than the rest of the chain put together
            conn.exec_driver_sql(insert_audit, chained)
            if links:
                conn.exec_driver_sql(insert_links, links)
            if seq // self.checkpoint_every != (seq - len(rows)) // self.checkpoint_every:
                self.checkpoint(conn, signer, seq, prev)

    def checkpoint(self, conn: Connection, signer: StoredKey, seq: int, head: str) -> None:
        signature = Ed25519PrivateKey.from_private_bytes(signer.secret).sign(f"{seq}:{head}".encode()).hex()
        conn.execute(
            insert(t.audit_checkpoint).values(
                seq=seq, hash=head, key_id=signer.id, signature=signature, signed_at=self.clock()
            )
        )

    def written(self, row: dict[str, Any]) -> bool:
        """Whether this queued record is in the chain already (its batch committed)."""
        a = t.audit.c
        with self.engine.connect() as conn:
            found = conn.execute(
                select(a.seq)
                .where(
                    a.recorded_at == row["recorded_at"],
                    a.request_id == row["request_id"],
                    a.principal == row["principal"],
                    a.action == row["action"],
                )
                .limit(1)
            ).first()
        return found is not None

    def close(self) -> None:
        return None


class HashChainAuditSink:
    """Implements the repository's AuditSink port: queue, chain, write, checkpoint.

    The chain is written by `writer`: by default a `ChainAppender` in this process (the background
    thread of `start`, or the caller of `flush`); a server hands in a `ProcessChainWriter`
    (`security.audit_writer`), which hashes and writes in a process of its own so that the
    chain's work does not take the interpreter from the requests.
    """

    def __init__(
        self,
        engine: Engine,
        keys: KeyRing,
        *,
        algorithm: str = "sha256",
        flush_seconds: float = 0.2,
        checkpoint_every: int = 1000,
        clock: Callable[[], float] = time.time,
        writer: Callable[[ChainAppender], BatchWriter] | None = None,
    ) -> None:
        self.engine = engine
        self.keys = keys
        self.flush_seconds = flush_seconds
        self.clock = clock
        self.listeners: list[Listener] = []
        # deque appends and pops are atomic: the request thread never waits for a lock to audit
        self._queue: deque[dict[str, Any]] = deque()
        self._write_lock = threading.Lock()
        self.appender = ChainAppender(
            engine, keys, algorithm=algorithm, checkpoint_every=checkpoint_every, clock=clock
        )
        self.writer: BatchWriter = writer(self.appender) if writer is not None else self.appender
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the port --------------------------------------------------------------------------------
    def record(self, ctx: RequestContext, entry: AuditEntry) -> None:
        now = self.clock()
        self._queue.append(_row(ctx, entry, now))
        for listener in self.listeners:
            listener(ctx, entry, now)  # anomaly rules run inline: they must answer within the request

    # ---- writing ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="healthbrain-audit", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        try:
            self.flush()
        finally:
            self.writer.close()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # the next round retries; the records stay queued
                log.exception("audit.flush_failed")

    def flush(self) -> int:
        """Write every queued record now; returns how many were written."""
        with self._write_lock:
            rows: list[dict[str, Any]] = []
            take = self._queue.popleft
            try:
                while True:
                    rows.append(take())
            except IndexError:
                pass
            if not rows:
                return 0
            try:
                # the key is chosen here, so that a rotation in this process holds for any writer
                self.writer.append(rows, self.keys.active("audit"))
            except Exception:
                self._queue.extendleft(reversed(rows))  # kept for the next attempt, first in front
                raise
            return len(rows)

    def checkpoint_now(self) -> None:
        """Sign the current head (e.g. at shutdown, or on an auditor's request)."""
        self.flush()
        signer = self.keys.signing_key("audit-signing")
        with begin_write(self.engine) as conn:
            last = conn.execute(
                select(t.audit.c.seq, t.audit.c.hash).order_by(t.audit.c.seq.desc()).limit(1)
            ).first()
            if last is not None:
                done = conn.execute(
                    select(func.count())
                    .select_from(t.audit_checkpoint)
                    .where(t.audit_checkpoint.c.seq == last.seq)
                ).scalar_one()
                if not done:
                    self.appender.checkpoint(conn, signer, last.seq, last.hash)


# ---- verification --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AuditProblem:
    seq: int
    kind: str  # edited | missing | inserted-or-reordered | checkpoint | truncated
    message: str


@dataclass(slots=True)
class AuditReport:
    checked: int = 0
    checkpoints: int = 0
    problems: list[AuditProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _rows(engine: Engine, batch: int = 5000) -> Iterator[dict[str, Any]]:
    last = -1
    while True:
        with engine.connect() as conn:
            found = [
                dict(r._mapping)
                for r in conn.execute(
                    select(t.audit).where(t.audit.c.seq > last).order_by(t.audit.c.seq).limit(batch)
                )
            ]
        yield from found
        if len(found) < batch:
            return
        last = found[-1]["seq"]


def verify_chain(engine: Engine, keys: KeyRing, algorithm: str = "sha256") -> AuditReport:
    """Recompute the chain and check the checkpoints; every problem is located by sequence number."""
    report = AuditReport()
    audit_keys = keys.keys("audit")
    if not audit_keys:
        return report
    prev_hash, expected_seq = GENESIS, 1
    heads: dict[int, str] = {}
    for row in _rows(engine):
        report.checked += 1
        seq = int(row["seq"])
        if seq != expected_seq:
            report.problems.append(
                AuditProblem(expected_seq, "missing", f"records {expected_seq}..{seq - 1} are missing")
            )
        if row["prev_hash"] != prev_hash:
            report.problems.append(
                AuditProblem(seq, "inserted-or-reordered", "the record does not follow the one before it")
            )
        if not any(
            hmac.compare_digest(chain_hash(k.secret, algorithm, row["prev_hash"], row), row["hash"])
            for k in audit_keys
        ):
            report.problems.append(
                AuditProblem(seq, "edited", "the record's content does not match its hash")
            )
        heads[seq] = row["hash"]
        prev_hash, expected_seq = row["hash"], seq + 1
    last_seq = expected_seq - 1
    with engine.connect() as conn:
        checkpoints = conn.execute(select(t.audit_checkpoint).order_by(t.audit_checkpoint.c.seq)).all()
    for cp in checkpoints:
        report.checkpoints += 1
        stored = keys.get(cp.key_id)
        public = _public_key(stored.public) if stored is not None and stored.public else None
        try:
            if public is None:
                raise ValueError("unknown key")
            public.verify(bytes.fromhex(cp.signature), f"{cp.seq}:{cp.hash}".encode())
        except Exception:
            report.problems.append(
                AuditProblem(cp.seq, "checkpoint", "a checkpoint's signature does not verify")
            )
            continue
        if cp.seq > last_seq:
            report.problems.append(
                AuditProblem(cp.seq, "truncated", f"records after {last_seq} up to {cp.seq} were removed")
            )
        elif heads.get(cp.seq) != cp.hash:
            report.problems.append(
                AuditProblem(cp.seq, "checkpoint", "the chain differs from a signed checkpoint")
            )
    return report


def _public_key(pem: str) -> Ed25519PublicKey | None:
    key = load_pem_public_key(pem.encode())
    return key if isinstance(key, Ed25519PublicKey) else None
