"""Shared fixtures: one suite, run against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from healthbrain.core.db import create_db_engine
from healthbrain.fhir.ports import MemoryAuditSink
from healthbrain.fhir.repository import FhirRepository
from healthbrain.storage.migrate import upgrade_database

from pgsupport import PG_AVAILABLE, database_url, drop_database

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def pg_name(worker_id: str, testrun_uid: str) -> Iterator[str]:
    """A database name of this run and xdist worker's own: concurrent test runs never share one."""
    name = f"hb_test_{testrun_uid[:8]}_{worker_id}"
    yield name
    if PG_AVAILABLE:
        drop_database(name)


@pytest.fixture(scope="session")
def pg_url(pg_name: str) -> str:
    if not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable")
    url = database_url(pg_name, fresh=True)
    engine = create_db_engine(url)
    upgrade_database(engine)
    engine.dispose()
    return url


def _truncate(engine: Engine) -> None:
    """Empty every table of every package (services own tables too), keeping the schema."""
    tables = [n for n in inspect(engine).get_table_names() if n != "alembic_version"]
    with engine.begin() as conn:
        conn.execute(text(f"truncate {', '.join(tables)} restart identity cascade"))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hb.db'}"
        engine = create_db_engine(url)
        upgrade_database(engine)
        engine.dispose()
        yield url
        return
    url = request.getfixturevalue("pg_url")
    engine = create_db_engine(url)
    _truncate(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = create_db_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def audit() -> MemoryAuditSink:
    return MemoryAuditSink()


@pytest.fixture
def repo(engine: Engine, audit: MemoryAuditSink) -> FhirRepository:
    return FhirRepository(engine, audit=audit, base_url="http://test/fhir/R4")


@pytest.fixture(params=BACKENDS)
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path, pg_name: str) -> Iterator[Engine]:
    """A database of this test's own: the test takes the schema down a revision and up again."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        if not PG_AVAILABLE:
            pytest.skip("PostgreSQL is not reachable")
        url = database_url(f"{pg_name}_fresh", fresh=True)
    engine = create_db_engine(url)
    upgrade_database(engine)
    yield engine
    engine.dispose()
    if request.param == "postgres":
        drop_database(f"{pg_name}_fresh")
