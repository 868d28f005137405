"""One executor per engine: DuckDB (embedded) and PostgreSQL (SQLAlchemy), with the same three verbs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import duckdb
from sqlalchemy import Connection, text

from healthbrain.mpi.sql.dialects import DUCKDB, POSTGRES, Dialect
from healthbrain.mpi.sql.pg_functions import ALL as PG_FUNCTIONS

Column = tuple[str, str]  # (name, "text" | "bigint")


class SqlExecutor(Protocol):
    dialect: Dialect

    def load(self, table: str, columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> None:
        """(Re)create `table` as a scratch table holding `rows`."""

    def run(self, sql: str) -> None: ...

    def query(self, sql: str) -> list[tuple[Any, ...]]: ...


def _create_sql(table: str, columns: Sequence[Column], temporary: bool) -> str:
    cols = ", ".join(f"{name} {kind}" for name, kind in columns)
    return f"CREATE {'TEMPORARY ' if temporary else ''}TABLE {table} ({cols})"


class DuckDBExecutor:
    """Runs the scale path on an in-process DuckDB database."""

    dialect = DUCKDB

    def __init__(self, connection: duckdb.DuckDBPyConnection | None = None) -> None:
        self.con = connection or duckdb.connect()

    def load(self, table: str, columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {table}")
        self.con.execute(_create_sql(table, columns, temporary=False))
        if rows:
            marks = ", ".join("?" for _ in columns)
            self.con.executemany(f"INSERT INTO {table} VALUES ({marks})", [list(r) for r in rows])

    def load_parquet(self, table: str, path: str) -> None:
        """A features table exported as Parquet (the way a province-scale run is fed)."""
        self.con.execute(f"DROP TABLE IF EXISTS {table}")
        self.con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet(?)", [path])

    def run(self, sql: str) -> None:
        self.con.execute(sql)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.con.execute(sql).fetchall()]


class PostgresExecutor:
    """Runs the scale path on PostgreSQL through one SQLAlchemy connection (temporary tables)."""

    dialect = POSTGRES

    def __init__(self, connection: Connection) -> None:
        self.conn = connection
        for ddl in PG_FUNCTIONS:
            self.conn.execute(text(ddl))

    def load(self, table: str, columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> None:
        self.conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        self.conn.execute(text(_create_sql(table, columns, temporary=True)))
        if rows:
            names = [name for name, _ in columns]
            statement = text(f"INSERT INTO {table} VALUES ({', '.join(':' + n for n in names)})")
            self.conn.execute(statement, [dict(zip(names, r, strict=True)) for r in rows])

    def run(self, sql: str) -> None:
        self.conn.execute(text(sql))

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.conn.execute(text(sql))]


def feature_rows(
    text_columns: Mapping[str, Any],
    number_columns: Mapping[str, Any],
    source: Sequence[int],
) -> tuple[list[Column], list[tuple[Any, ...]]]:
    """Columns and rows of the features table ('' text becomes NULL, as 'missing')."""
    columns: list[Column] = [("row_id", "bigint"), ("source", "bigint")]
    columns += [(name, "text") for name in text_columns]
    columns += [(name, "bigint") for name in number_columns]
    n = len(source)
    texts = [list(col) for col in text_columns.values()]
    numbers = [list(col) for col in number_columns.values()]
    rows = [
        (k, int(source[k]), *((str(c[k]) or None) for c in texts), *(int(c[k]) for c in numbers))
        for k in range(n)
    ]
    return columns, rows
