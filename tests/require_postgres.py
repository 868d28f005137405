"""Before the suite: in CI, PostgreSQL must be reachable so that its tests run instead of skipping."""

from __future__ import annotations

import os
import sys

import psycopg

URL = os.environ.get("HEALTHBRAIN_TEST_PG", "host=127.0.0.1 port=5432 dbname=test user=postgres")


def main() -> int:
    try:
        with psycopg.connect(URL, connect_timeout=5) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        if os.environ.get("CI"):
            print(f"PostgreSQL is not reachable in CI: {type(exc).__name__}", file=sys.stderr)
            return 1
        print("PostgreSQL is not reachable: its tests will be skipped (they run in CI)")
        return 0
    print("PostgreSQL reachable: the suite runs against SQLite and PostgreSQL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
