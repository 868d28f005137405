"""PostgreSQL for the tests: is it reachable, and fresh databases of a worker's own."""

from __future__ import annotations

import os

import psycopg

PG_DSN = os.environ.get("HEALTHBRAIN_TEST_PG", "host=127.0.0.1 port=5432 dbname=test user=postgres")


def pg_available() -> bool:
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3) as conn:
            conn.execute("select 1")
        return True
    except psycopg.Error:
        return False


PG_AVAILABLE = pg_available()


def database_url(name: str, *, fresh: bool) -> str:
    """The SQLAlchemy URL of database `name`, created if missing (dropped first when `fresh`)."""
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        if fresh:
            conn.execute(f'drop database if exists "{name}" with (force)')
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'create database "{name}"')
    params = dict(p.split("=", 1) for p in PG_DSN.split())
    return (
        f"postgresql+psycopg://{params.get('user', 'postgres')}@{params.get('host', '127.0.0.1')}:"
        f"{params.get('port', '5432')}/{name}"
    )


def drop_database(name: str) -> None:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
