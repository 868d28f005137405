"""Comparisons: vectorised functions that grade each record pair into levels (0 = disagree ... top = exact).

A level of -1 means the comparison could not be made (a value is missing) and contributes no weight.
The generic building blocks here serve any data set; `chinese.py` builds those for Chinese identity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein

from healthbrain.core.errors import InvalidInput
from healthbrain.mpi.frame import IntArray, RecordFrame
from healthbrain.mpi.sql import levels as sql_levels
from healthbrain.mpi.sql.dialects import Dialect

Levels = NDArray[np.int8]
LevelFunction = Callable[[RecordFrame, IntArray, IntArray], Levels]
NULL = -1
# Similarities are compared with this slack: engines round 0.8 to 0.7999... differently.
EPS = 1e-9


@dataclass(frozen=True, eq=False)
class Comparison:
    """One field's comparison: named levels from 0 (disagree) up to the strongest agreement.

    Attributes:
        name: the output name (`name`, `id_number`, ...).
        labels: one human-readable label per level, index = level.
        compute: grades pairs (left index array, right index array) into levels, -1 where missing.
        columns: the frame columns it reads; an EM training rule that blocks on one of them cannot
            estimate this comparison's m values.
        tf_column: if set, the top level's weight is adjusted by the frequency of the value there.
        exact_column: if set, the top level is equality of this column, so its u value is computed
            exactly from value frequencies instead of by sampling.
        sql: builds the same levels as a SQL expression over rows `l` and `r` (see `mpi.sql`).
    """

    name: str
    labels: tuple[str, ...]
    compute: LevelFunction
    columns: tuple[str, ...]
    tf_column: str | None = None
    exact_column: str | None = None
    sql: Callable[[Dialect], str] | None = None  # the same levels as a SQL CASE (scale path)

    @property
    def n_levels(self) -> int:
        return len(self.labels)


_PARALLEL_PAIRS = 100_000


def similarity(metric: str, a: Any, b: Any) -> NDArray[np.float64]:
    """Element-wise string similarity (Jaro-Winkler, 0-1) or distance (edit metrics, in edits)."""
    if len(a) == 0:
        return np.zeros(0, dtype=np.float64)
    scorers = {
        "jaro_winkler": JaroWinkler.normalized_similarity,
        "damerau_levenshtein": DamerauLevenshtein.distance,
        "levenshtein": Levenshtein.distance,
    }
    if metric not in scorers:
        raise InvalidInput(f"unknown string metric {metric!r}", code="mpi.unknown_metric")
    scorer: Any = scorers[metric]
    # threads pay off for a batch re-link's millions of pairs; starting them costs more than the
    # few pairs of one arriving record (incremental matching)
    workers = -1 if len(a) >= _PARALLEL_PAIRS else 1
    out = process.cpdist(a, b, scorer=scorer, workers=workers)
    return np.asarray(out, dtype=np.float64)


def missing(frame: RecordFrame, columns: Sequence[str], i: IntArray, j: IntArray) -> NDArray[np.bool_]:
    """Pairs where any of `columns` is missing on either side."""
    out = np.zeros(len(i), dtype=bool)
    for col in columns:
        codes = frame.code(col)
        out |= (codes[i] < 0) | (codes[j] < 0)
    return out


def exact_match(column: str, *, tf: bool = False, name: str | None = None) -> Comparison:
    """Two levels: different, identical."""

    def compute(frame: RecordFrame, i: IntArray, j: IntArray) -> Levels:
        codes = frame.code(column)
        out = np.asarray(codes[i] == codes[j], dtype=np.int8)
        out[missing(frame, (column,), i, j)] = NULL
        return out

    return Comparison(
        name or column, ("different", "exact"), compute, (column,), column if tf else None, column,
        partial(sql_levels.exact_match_sql, column),
    )  # fmt: skip


def string_levels(
    column: str,
    metric: str,
    thresholds: Sequence[float],
    *,
    tf: bool = False,
    swap_with: str | None = None,
    name: str | None = None,
) -> Comparison:
    """Levels: else, then each threshold from loosest to strictest, [swapped with another column], exact.

    `thresholds` are similarities (Jaro-Winkler, higher is closer) or edit distances (lower is
    closer); give them in any order. `swap_with` adds a level for values entered in each other's
    field (given name in the surname field and vice versa).
    """
    closer_is_higher = metric == "jaro_winkler"
    ordered = sorted(thresholds, reverse=not closer_is_higher)
    labels = ["else", *(f"{metric} {'>=' if closer_is_higher else '<='} {t:g}" for t in ordered)]
    if swap_with:
        labels.append(f"swapped with {swap_with}")
    labels.append("exact")
    top = len(labels) - 1

    def compute(frame: RecordFrame, i: IntArray, j: IntArray) -> Levels:
        codes = frame.code(column)
        out = np.zeros(len(i), dtype=np.int8)
        exact = codes[i] == codes[j]
        rest = np.flatnonzero(~exact)
        values = frame.column(column)
        score = similarity(metric, values[i[rest]], values[j[rest]])
        for level, threshold in enumerate(ordered, start=1):
            hit = score >= threshold - EPS if closer_is_higher else score <= threshold
            out[rest[hit]] = level
        if swap_with:
            other = frame.code(swap_with)
            swapped = (codes[i] == other[j]) & (other[i] == codes[j]) & (codes[i] >= 0) & ~exact
            out[swapped] = top - 1
        out[exact] = top
        out[missing(frame, (column,), i, j)] = NULL
        return out

    columns = (column, swap_with) if swap_with else (column,)
    sql = partial(sql_levels.string_levels_sql, column, metric, tuple(thresholds), swap_with)
    return Comparison(name or column, tuple(labels), compute, columns, column if tf else None, column, sql)


def date_levels(column: str, *, name: str | None = None) -> Comparison:
    """Dates as 'YYYYMMDD' text with numbers `<column>_y/_m/_d` (0 where unknown) and `<column>_days`.

    Levels: else, within 10 years, within 1 year, within 1 month, one typo (one edit in the digits),
    day and month swapped, exact. A partial date (year or year-month) that agrees on what it has
    gets the `partial agreement` level.
    """
    labels = (
        "else", "within 10 years", "within 1 year", "within 1 month", "partial agreement",
        "one typo", "day/month swapped", "exact",
    )  # fmt: skip

    def compute(frame: RecordFrame, i: IntArray, j: IntArray) -> Levels:
        y, m, d = (frame.number(f"{column}_{p}") for p in ("y", "m", "d"))
        days = frame.number(f"{column}_days")
        out = np.zeros(len(i), dtype=np.int8)
        gap = np.abs(days[i] - days[j])
        full = (d[i] > 0) & (d[j] > 0)
        out[full & (gap <= 3653)] = 1
        out[full & (gap <= 366)] = 2
        out[full & (gap <= 31)] = 3
        partial = ~full & (y[i] == y[j]) & ((m[i] == m[j]) | (m[i] == 0) | (m[j] == 0))
        out[partial] = 4
        codes = frame.code(column)
        candidates = np.flatnonzero(full & (codes[i] != codes[j]))
        values = frame.column(column)
        typo = similarity("damerau_levenshtein", values[i[candidates]], values[j[candidates]]) <= 1
        out[candidates[typo]] = 5
        swapped = full & (y[i] == y[j]) & (m[i] == d[j]) & (d[i] == m[j]) & (m[i] != d[i])
        out[swapped] = 6
        out[full & (codes[i] == codes[j])] = 7
        out[(y[i] == 0) | (y[j] == 0)] = NULL
        return out

    sql = partial(sql_levels.date_levels_sql, column)
    return Comparison(name or column, labels, compute, (column,), None, column, sql)


def nested_levels(
    name: str, columns: Sequence[str], labels: Sequence[str] | None = None, *, tf: bool = False
) -> Comparison:
    """Levels by the finest of nested parts that agree: else, then `columns` from coarsest to finest.

    For hierarchical values: a postcode's area, district, sector and whole code; an address's
    district, township, community and home. Missing when the coarsest part is missing on either
    side; with `tf`, the top level (the finest part) is adjusted by its value's frequency.
    """
    if not columns:
        raise InvalidInput("nested levels need at least one column", code="mpi.bad_comparison")
    names = tuple(labels) if labels is not None else ("else", *(f"same {c}" for c in columns))
    if len(names) != len(columns) + 1:
        raise InvalidInput(
            "nested levels need one label per column, and one for else", code="mpi.bad_comparison"
        )

    def compute(frame: RecordFrame, i: IntArray, j: IntArray) -> Levels:
        out = np.zeros(len(i), dtype=np.int8)
        for level, column in enumerate(columns, start=1):
            codes = frame.code(column)
            out[(codes[i] == codes[j]) & (codes[i] >= 0)] = level
        out[missing(frame, (columns[0],), i, j)] = NULL
        return out

    finest = columns[-1]
    sql = partial(sql_levels.nested_levels_sql, tuple(columns))
    return Comparison(name, names, compute, tuple(columns), finest if tf else None, finest, sql)
