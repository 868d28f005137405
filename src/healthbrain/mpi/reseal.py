"""Re-sealing the patient index's rows: after a data-key rotation, and for rows written unsealed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Engine, Table, select, update

from healthbrain.core.db import begin_write
from healthbrain.mpi import tables as t
from healthbrain.mpi.features import chinese_frame
from healthbrain.mpi.index import PatientIndex
from healthbrain.mpi.keys import stored_keys

log = logging.getLogger("healthbrain.mpi")
# (connection, row key, stored blob) -> whether the row was re-sealed
ResealOne = Callable[[Connection, Any, str], bool]


@dataclass(frozen=True, slots=True)
class ResealSummary:
    """How many rows of each kind were sealed again under the active data key."""

    records: int
    residents: int
    models: int

    @property
    def total(self) -> int:
        return self.records + self.residents + self.models


def _reseal_rows(
    engine: Engine, table: Table, key: Column[Any], blob: Column[Any], stale: Callable[[str], bool],
    one: ResealOne, batch: int,
) -> int:  # fmt: skip
    """Walk `table` in key order, `batch` rows at a time; re-seal the stale ones, a transaction per batch."""
    done, last = 0, None
    while True:
        query = select(key, blob).order_by(key).limit(batch)
        if last is not None:
            query = query.where(key > last)
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return done
        todo = [(row[0], row[1]) for row in rows if stale(row[1])]
        if todo:
            with begin_write(engine) as conn:
                done += sum(one(conn, k, text) for k, text in todo)
        last = rows[-1][0]


def reseal(index: PatientIndex, batch: int = 500) -> ResealSummary:
    """Seal again, online and in place, every blob of the index that is plain or under a retired data key.

    Records get their blocking keys rebuilt too (rows stored before sealing was on have plain
    keys). Each update is conditional on the blob read: a row an arrival rewrote meanwhile is
    already sealed under the active key and is left alone. Without a key ring nothing is stale.
    """
    store = index.store
    link, resident, model = t.link.c, t.resident.c, t.model.c

    def one_record(conn: Connection, ref: Any, text: str) -> bool:
        record = store.open_record(ref, text)
        changed = conn.execute(
            update(t.link)
            .where(link.patient_ref == ref, link.record == text)
            .values(record=store.record_text(record))
        ).rowcount
        if changed:
            store.set_keys(conn, ref, stored_keys(chinese_frame([record]), index.settings.blocking, 0))
        return bool(changed)

    def one_resident(conn: Connection, rid: Any, text: str) -> bool:
        sealed = store.golden_text(rid, store.open_golden(rid, text))
        stmt = update(t.resident).where(resident.id == rid, resident.golden == text).values(golden=sealed)
        return bool(conn.execute(stmt).rowcount)

    def one_model(conn: Connection, mid: Any, text: str) -> bool:
        sealed = store.model_text(store.open_model(text))
        stmt = update(t.model).where(model.id == mid, model.content == text).values(content=sealed)
        return bool(conn.execute(stmt).rowcount)

    stale = store.sealer.stale
    summary = ResealSummary(
        _reseal_rows(index.engine, t.link, link.patient_ref, link.record, stale, one_record, batch),
        _reseal_rows(index.engine, t.resident, resident.id, resident.golden, stale, one_resident, batch),
        _reseal_rows(index.engine, t.model, model.id, model.content, stale, one_model, batch),
    )
    log.info("mpi.reseal", extra={"fields": {"records": summary.records, "residents": summary.residents,
                                             "models": summary.models}})  # fmt: skip
    return summary
