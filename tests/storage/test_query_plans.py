"""The store's bulk lookups use the indexes on SQLite: none of them scans a whole table, and the
quarantine's lookup of held entries searches by reference.

A row-value IN, `(res_type, res_id) IN (VALUES ...)`, makes SQLite read every row of the table for
each statement: an ingest whose transactions looked up their resources that way slowed down with
every resource stored (1,200/s at the start of a 100,000-patient region, under 300/s at half way).
Every statement the store runs for an ingest-sized transaction is explained here and must search.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.transaction import process_transaction
from healthbrain.quality.store import QualityStore
from healthbrain.storage.migrate import upgrade_database

BIG_TABLES = ("fhir_resource", "fhir_resource_version", "fhir_idx_")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    upgrade_database(engine)
    yield engine
    engine.dispose()


def bundle(n: int, family: str, *, conditional: bool) -> dict[str, Any]:
    entries = []
    for k in range(n):
        pid = f"p-{k:04d}"
        entries.append(
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": pid,
                    "identifier": [{"system": "urn:mrn", "value": f"mrn-{k}"}],
                    "name": [{"family": family}],
                },
                "request": {"method": "PUT", "url": f"Patient/{pid}"},
            }
        )
        entries.append(
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": f"o-{k:04d}",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]},
                    # conditional: looked up by the identifier of a Patient stored before
                    "subject": {
                        "reference": f"Patient?identifier=urn:mrn|mrn-{k}"
                        if conditional
                        else f"Patient/{pid}"
                    },
                    "valueQuantity": {"value": 150 + k % 40, "unit": "cm"},
                },
                "request": {"method": "PUT", "url": f"Observation/o-{k:04d}"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The single (not executemany) SELECT and DELETE statements run on `engine` inside the block."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if statement.lstrip().lower().startswith(("select", "delete")) and not many:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def plans(engine: Engine, statements: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """(plan step, statement head) of every step SQLite would take for `statements`."""
    raw = engine.raw_connection()
    try:
        return [
            (str(row[-1]), statement.split("WHERE")[0][:80])
            for statement, parameters in statements
            for row in raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters or ()).fetchall()
        ]
    finally:
        raw.close()


def test_an_ingest_transaction_searches_indexes_and_scans_no_table(engine: Engine) -> None:
    repo = FhirRepository(engine, validate=False)
    process_transaction(repo, system_context(), bundle(300, "Wang", conditional=False))  # first: creates
    with captured(engine) as statements:
        process_transaction(
            repo, system_context(), bundle(300, "Li", conditional=True)
        )  # again: every entry updates
    kinds = {s.split()[0].lower() for s, _ in statements}
    assert kinds >= {"select", "delete"}  # the lookups and the index rows replaced were seen
    scans = [
        (detail, head)
        for detail, head in plans(engine, statements)
        if detail.startswith("SCAN ") and any(t in detail for t in BIG_TABLES)
    ]
    assert scans == []


def test_held_entries_are_looked_up_by_reference_not_by_reading_every_held_one(engine: Engine) -> None:
    # an ingest asks, for each transaction, which of its references are held in the quarantine; at
    # 100,000 patients 39,782 entries were held, and a status-only search read all of them each time
    refs = [f"Observation/o-{k}" for k in range(500)] + ["Patient/p-1", "Encounter/e-1", "not-a-reference"]
    with captured(engine) as statements, engine.connect() as conn:
        assert QualityStore().held_keys(conn, refs) == {}
    steps = plans(engine, statements)
    assert len(statements) == 4  # Observations in two chunks, one each for Encounter and Patient
    assert all("USING INDEX ix_quality_quarantine_key (res_type=? AND res_id=?)" in d for d, _ in steps), (
        steps
    )
