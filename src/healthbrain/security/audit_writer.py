"""The audit chain's writer process: hashing and writing batches off the serving process.

A server's request threads share one interpreter. Hashing a batch and binding its rows for the
insert is interpreter work, and done by a thread of the server it takes turns with the requests.
`ProcessChainWriter` hands each batch, as one JSON message over a pipe, to a process of its own
that runs the same `ChainAppender`; the server's thread only serialises the batch and waits for the
answer (waiting does not hold the interpreter).

Nothing is lost when the writer process fails. A batch the process did not acknowledge is checked
against the chain: if its last record is there, the batch committed (a batch is one transaction);
otherwise this process writes it itself, and a new writer process is started for the next batch.
A batch the writer could not commit (the database was busy) raises in `append`, so the sink keeps
it queued, as with the thread.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import orjson

from healthbrain.core.db import create_db_engine
from healthbrain.core.processes import die_with_parent
from healthbrain.security.audit import ChainAppender
from healthbrain.security.crypto import KeyRing, StoredKey

__all__ = ["AuditWriterError", "ProcessChainWriter"]

log = logging.getLogger("healthbrain.audit")

_OK = b"ok"
_STOP = b""
# A batch the writer has not answered within this long is treated as lost with the writer (the
# database's own busy timeout is 30 s): the process is ended and the batch checked and rewritten.
ANSWER_SECONDS = 120.0


class AuditWriterError(RuntimeError):
    """The writer process could not commit a batch; the sink keeps it queued for the next round."""


class ProcessChainWriter:
    """A `BatchWriter` that appends through a writer process; `fallback` writes when it cannot."""

    def __init__(self, fallback: ChainAppender, url: str, master_key: str, cipher: str) -> None:
        self.fallback = fallback
        self._args = (url, master_key, cipher, fallback.algorithm, fallback.checkpoint_every)
        self._lock = threading.Lock()  # one batch on the pipe at a time
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self.restarts = 0  # writer processes started again after one failed

    @classmethod
    def factory(cls, url: str, master_key: str, cipher: str) -> Callable[[ChainAppender], ProcessChainWriter]:
        """What `HashChainAuditSink(writer=...)` takes: the sink's appender in, the writer out."""
        return lambda appender: cls(appender, url, master_key, cipher)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def append(self, rows: list[dict[str, Any]], key: StoredKey) -> None:
        payload = orjson.dumps({"key": key.id, "rows": rows})
        with self._lock:
            try:
                conn = self._connection()
                conn.send_bytes(payload)
                if not conn.poll(ANSWER_SECONDS):
                    raise TimeoutError("the audit writer did not answer")
                answer = conn.recv_bytes()
            except (EOFError, OSError, TimeoutError) as exc:
                log.warning("audit.writer_lost", extra={"fields": {"error": type(exc).__name__}})
                self._end_process()
                self.restarts += 1
                if not self.fallback.written(rows[-1]):
                    self.fallback.append(rows, key)
                return
        if answer != _OK:
            raise AuditWriterError(answer.decode(errors="replace"))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.send_bytes(_STOP)
            self._end_process(wait=True)

    def _connection(self) -> Connection:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            return self._conn
        self._end_process()
        context = multiprocessing.get_context("spawn")  # no fork: the server runs threads
        mine, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, *self._args, os.getpid()),
            name="healthbrain-audit-writer",
            daemon=True,
        )
        process.start()
        theirs.close()
        self._process, self._conn = process, mine
        return mine

    def _end_process(self, *, wait: bool = False) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is None:
            return
        process.join(timeout=10 if wait else 0)
        if process.is_alive():
            process.kill()
            process.join(timeout=10)


def _serve(
    conn: Connection, url: str, master_key: str, cipher: str, algorithm: str, every: int, parent: int
) -> None:
    """The writer process: append each batch it is sent and answer ok, or the error's name."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's: it sends the last batch
    engine = create_db_engine(url)
    keys = KeyRing(engine, master_key, cipher)
    appender = ChainAppender(engine, keys, algorithm=algorithm, checkpoint_every=every)
    try:
        while True:
            try:
                payload = conn.recv_bytes()
            except EOFError:
                return
            if payload == _STOP:
                return
            try:
                batch = orjson.loads(payload)
                key = keys.get(batch["key"])
                if key is None:
                    raise LookupError("unknown audit key")
                appender.append(batch["rows"], key)
            except Exception as exc:  # rolled back: the server keeps the batch and sends it again
                log.warning("audit.writer_failed", extra={"fields": {"error": type(exc).__name__}})
                conn.send_bytes(type(exc).__name__.encode())
            else:
                conn.send_bytes(_OK)
    finally:
        engine.dispose()
