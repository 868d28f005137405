"""Shared benchmark helpers: data sets, databases, medians, and the results file."""

from __future__ import annotations

import os
import platform
import re
import statistics
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"
PG_DSN = os.environ.get("HEALTHBRAIN_TEST_PG", "host=127.0.0.1 port=5432 dbname=test user=postgres")
UUID_RE = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def synthea_bundles() -> list[bytes]:
    return [p.read_bytes() for p in sorted((DATA / "fhir" / "synthea-r4-bundles").glob("*.json"))]


def fresh_copies(raw_bundles: list[bytes], min_resources: int, skip: int = 0) -> Iterator[dict[str, Any]]:
    """Yield the Synthea bundles again and again, each copy with new uuids, until enough resources.

    `skip` resources' worth of whole copies are left out (to continue filling a partly filled store).
    """
    per_copy = sum(len(orjson.loads(raw)["entry"]) for raw in raw_bundles)
    copy = skip // per_copy
    total = copy * per_copy
    while total < min_resources:
        salt = uuid.UUID(int=copy)

        def renamed(m: re.Match[bytes], salt: uuid.UUID = salt) -> bytes:
            return str(uuid.uuid5(salt, m.group(0).decode())).encode()

        for raw in raw_bundles:
            text = UUID_RE.sub(renamed, raw)
            bundle = orjson.loads(text)
            total += len(bundle["entry"])
            yield bundle
            if total >= min_resources:
                return
        copy += 1


def fresh_pg_database(name: str) -> str:
    """Drop and create a PostgreSQL database for a benchmark run; returns its SQLAlchemy URL."""
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    params = dict(p.split("=", 1) for p in PG_DSN.split())
    user, host, port = params.get("user", "postgres"), params.get("host"), params.get("port")
    return f"postgresql+psycopg://{user}@{host}:{port}/{name}"


def pg_available() -> bool:
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def save(name: str, result: dict[str, Any]) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return path
