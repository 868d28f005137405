"""Scoring a RecordFrame on a SQL engine: load features, block, grade and weigh pairs there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from healthbrain.mpi.blocking import BlockingRule
from healthbrain.mpi.comparisons import Comparison
from healthbrain.mpi.frame import IntArray, RecordFrame
from healthbrain.mpi.model import MatchModel
from healthbrain.mpi.sql.build import FEATURES, PAIRS, blocking_sql, predict_sql, tf_table
from healthbrain.mpi.sql.executors import SqlExecutor, feature_rows


@dataclass(frozen=True, slots=True, eq=False)
class SqlScores:
    """What the engine computed, in (left, right) order."""

    left: IntArray
    right: IntArray
    rule: NDArray[np.int16]
    levels: NDArray[np.int8]
    weight: NDArray[np.float64]


def load_frame(executor: SqlExecutor, frame: RecordFrame, model: MatchModel | None = None) -> None:
    """The features table (and the term-frequency tables of `model`) on the engine."""
    columns, rows = feature_rows(frame.text, frame.numbers, frame.source.tolist())
    executor.load(FEATURES, columns, rows)
    for name, table in (model.term_frequencies if model is not None else {}).items():
        executor.load(tf_table(name), [("value", "text"), ("n", "bigint")], list(table.counts.items()))


def block_sql(executor: SqlExecutor, rules: Sequence[BlockingRule], link_type: str) -> None:
    """Materialise the candidate pairs on the engine."""
    executor.run(f"DROP TABLE IF EXISTS {PAIRS}")
    executor.run(f"CREATE TABLE {PAIRS} AS {blocking_sql(rules, link_type)}")


def score_with_sql(
    executor: SqlExecutor,
    frame: RecordFrame,
    comparisons: Sequence[Comparison],
    blocking: Sequence[BlockingRule],
    model: MatchModel,
    link_type: str = "dedupe",
) -> SqlScores:
    """Block, compare and weigh every candidate pair on the engine; clustering stays in Python."""
    load_frame(executor, frame, model)
    block_sql(executor, blocking, link_type)
    rules = {(a, b): r for a, b, r in executor.query(f"SELECT l_row, r_row, rule FROM {PAIRS}")}
    rows = executor.query(predict_sql(model, comparisons, executor.dialect))
    n = len(comparisons)
    left = np.asarray([r[0] for r in rows], dtype=np.int64)
    right = np.asarray([r[1] for r in rows], dtype=np.int64)
    levels = np.asarray([r[2 : 2 + n] for r in rows], dtype=np.int8).reshape(len(rows), n)
    weight = np.asarray([float(r[2 + n]) for r in rows], dtype=np.float64)
    rule = np.asarray([rules[(int(a), int(b))] for a, b in zip(left, right, strict=True)], dtype=np.int16)
    return SqlScores(left, right, rule, levels, weight)
