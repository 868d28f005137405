"""The record of accepted messages (sender + MSH-10), kept in the ingest journal.

A message's row is written in the same transaction as its resources, so "accepted" and "stored"
can never disagree; a re-sent message finds its row and is acknowledged again without a write.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, insert, select

from healthbrain.storage.tables import ingest_journal

PREFIX = "hl7v2:"


def control_key(sending_application: str, sending_facility: str, control_id: str) -> str:
    """The journal key of a message: who sent it and its MSH-10 (hashed to a fixed length)."""
    digest = hashlib.sha256(f"{sending_application}|{sending_facility}|{control_id}".encode()).hexdigest()
    return PREFIX + digest[:48]


def find_accepted(engine: Engine, key: str) -> str | None:
    """The recorded fingerprint of an accepted message with this key, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(ingest_journal.c.source).where(ingest_journal.c.unit_key == key)).first()
    return None if row is None else str(row[0])


def recorder(key: str, fingerprint: str, entries: int) -> Callable[[Connection], None]:
    """A callback for `process_transaction(also=...)` that records the message in its transaction."""

    def record(conn: Connection) -> None:
        conn.execute(
            insert(ingest_journal).values(
                unit_key=key, source=fingerprint[:512], entries=entries, committed_at=time.time()
            )
        )

    return record
