"""Database engines: embedded SQLite (WAL) and PostgreSQL, one code path."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, Integer, MetaData, create_engine, event

log = logging.getLogger("healthbrain.db")

# Constraint and index names every package's tables share, so migrations name them the same on
# SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY columns.
AutoBigInt = BigInteger().with_variant(Integer(), "sqlite")


def table_metadata() -> MetaData:
    """A package's own MetaData (its tables, its migrations) under the shared naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)


# The WAL is checkpointed by a background thread, not by the committing writer: an automatic
# checkpoint inside COMMIT copies pages and fsyncs while the writer waits, which cost a third of the
# ingest time. The thread starts a PASSIVE checkpoint when the WAL passes CHECKPOINT_BYTES and a
# blocking one past WAL_LIMIT_BYTES, so the WAL cannot grow without bound.
CHECKPOINT_BYTES = 32 * 1024 * 1024
WAL_LIMIT_BYTES = 512 * 1024 * 1024
CHECKPOINT_POLL_SECONDS = 0.25


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the usual way."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


_WRITE_OPTION = "healthbrain_write"
_SINGLE_OPTION = "healthbrain_single_statement"


@contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed when the block returns, rolled back when it raises."""
    with engine.connect().execution_options(**{_WRITE_OPTION: True}) as conn, conn.begin():
        yield conn


@contextmanager
def single_statement(engine: Engine) -> Iterator[Connection]:
    """A connection for reads of one statement each. On PostgreSQL it runs outside a transaction
    (autocommit): no BEGIN and ROLLBACK round trips, which a read by id would otherwise pay for
    twice. On SQLite no BEGIN either: one SELECT reads one snapshot by itself."""
    with engine.connect() as conn:
        if is_postgres(engine):
            conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            conn.execution_options(**{_SINGLE_OPTION: True})
        yield conn


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy own transactions: pysqlite's implicit BEGIN is disabled and
            # an explicit BEGIN is emitted so that "all or nothing" really holds.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA cache_size=-65536")
            cur.execute("PRAGMA temp_store=MEMORY")
            if path and path != ":memory:":
                cur.execute("PRAGMA wal_autocheckpoint=0")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the write lock up front (a deferred transaction that upgrades fails at
            # once when another writer got in first); readers stay deferred and run concurrently.
            options = conn.get_execution_options()
            if options.get(_SINGLE_OPTION, False):
                return  # a single statement runs in SQLite's own autocommit (see single_statement)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE_OPTION, False) else "BEGIN")

        if path and path != ":memory:":
            WalCheckpointer.start_for(engine, os.path.abspath(path))
        return engine
    return create_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)


class WalCheckpointer:
    """Checkpoints one SQLite database's WAL off the writers' path; stops with its engine."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.wal = path + "-wal"
        self.stopped = threading.Event()

    @classmethod
    def start_for(cls, engine: Engine, path: str) -> WalCheckpointer:
        checkpointer = cls(path)
        thread = threading.Thread(target=checkpointer.run, name="healthbrain-wal", daemon=True)
        # the thread must not keep the engine alive: stop when it is disposed or collected
        weakref.finalize(engine, checkpointer.stopped.set)
        event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stopped.set())
        thread.start()
        return checkpointer

    def run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self.stopped.wait(CHECKPOINT_POLL_SECONDS):
                size = os.path.getsize(self.wal) if os.path.exists(self.wal) else 0
                if size < CHECKPOINT_BYTES:
                    continue
                if conn is None:
                    conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                mode = "RESTART" if size > WAL_LIMIT_BYTES else "PASSIVE"
                try:
                    conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()
                    if mode == "PASSIVE":
                        # restart the WAL from its beginning when every frame is in the database
                        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                except sqlite3.Error as exc:  # busy or locked: try again on the next poll
                    log.debug("wal.checkpoint_deferred", extra={"fields": {"error": type(exc).__name__}})
        finally:
            if conn is not None:
                conn.close()
