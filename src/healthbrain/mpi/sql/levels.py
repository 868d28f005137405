"""SQL CASE expressions of every comparison's levels, equal level for level to the numpy versions.

Each function builds SQL over a pair `l`/`r` of rows of the features table (missing = NULL) and
ends in `_sql`, as Splink's do; `Dialect` says which string functions the engine has.
"""

from __future__ import annotations

from collections.abc import Sequence

from healthbrain.mpi.sql.dialects import Dialect

EPS = 1e-9  # the slack of similarity thresholds, as in `comparisons.EPS`


def _missing(*columns: str) -> str:
    return " OR ".join(f"l.{c} IS NULL OR r.{c} IS NULL" for c in columns)


def exact_match_sql(column: str, dialect: Dialect) -> str:
    return f"CASE WHEN {_missing(column)} THEN -1 WHEN l.{column} = r.{column} THEN 1 ELSE 0 END"


def string_levels_sql(
    column: str, metric: str, thresholds: Sequence[float], swap_with: str | None, dialect: Dialect
) -> str:
    closer_is_higher = metric == "jaro_winkler"
    ordered = sorted(thresholds, reverse=not closer_is_higher)
    top = len(ordered) + (2 if swap_with else 1)
    parts = [f"WHEN {_missing(column)} THEN -1", f"WHEN l.{column} = r.{column} THEN {top}"]
    if swap_with:
        parts.append(f"WHEN l.{column} = r.{swap_with} AND l.{swap_with} = r.{column} THEN {top - 1}")
    fn = dialect.metric(metric)
    for level in range(len(ordered), 0, -1):
        bound = f">= {ordered[level - 1] - EPS!r}" if closer_is_higher else f"<= {ordered[level - 1]!r}"
        parts.append(f"WHEN {fn}(l.{column}, r.{column}) {bound} THEN {level}")
    return "CASE " + " ".join(parts) + " ELSE 0 END"


def nested_levels_sql(columns: Sequence[str], dialect: Dialect) -> str:
    parts = [f"WHEN {_missing(columns[0])} THEN -1"]
    parts += [f"WHEN l.{c} = r.{c} THEN {k}" for k, c in reversed(list(enumerate(columns, start=1)))]
    return "CASE " + " ".join(parts) + " ELSE 0 END"


def date_levels_sql(column: str, dialect: Dialect) -> str:
    y, m, d, days = (f"{column}_{p}" for p in ("y", "m", "d", "days"))
    full = f"(l.{d} > 0 AND r.{d} > 0)"
    gap = f"abs(l.{days} - r.{days})"
    return (
        f"CASE WHEN l.{y} = 0 OR r.{y} = 0 THEN -1"
        f" WHEN {full} AND l.{column} = r.{column} THEN 7"
        f" WHEN {full} AND l.{y} = r.{y} AND l.{m} = r.{d} AND l.{d} = r.{m} AND l.{m} <> l.{d} THEN 6"
        f" WHEN {full} AND {dialect.damerau_levenshtein}(l.{column}, r.{column}) <= 1 THEN 5"
        f" WHEN NOT {full} AND l.{y} = r.{y} AND (l.{m} = r.{m} OR l.{m} = 0 OR r.{m} = 0) THEN 4"
        f" WHEN {full} AND {gap} <= 31 THEN 3 WHEN {full} AND {gap} <= 366 THEN 2"
        f" WHEN {full} AND {gap} <= 3653 THEN 1 ELSE 0 END"
    )


def chinese_name_sql(dialect: Dialect) -> str:
    return (
        "CASE WHEN l.name IS NULL OR r.name IS NULL THEN -1 WHEN l.name = r.name THEN 6"
        " WHEN l.name_py = r.name_py OR l.name_bag = r.name_bag THEN 5"
        " WHEN l.name_shape = r.name_shape THEN 4 WHEN l.name_fz = r.name_fz THEN 3"
        f" WHEN l.name_han = 1 AND r.name_han = 1 AND {dialect.levenshtein}(l.name, r.name) <= 1 THEN 2"
        f" WHEN {dialect.jaro_winkler}(l.name_py, r.name_py) >= {0.88 - EPS!r} THEN 1"
        " ELSE 0 END"
    )


def id_card_sql(dialect: Dialect) -> str:
    dl = f"{dialect.damerau_levenshtein}(l.id, r.id)"
    return (
        f"CASE WHEN {_missing('id')} THEN -1 WHEN l.id = r.id THEN 3 WHEN {dl} = 1 THEN 2"
        f" WHEN {dl} = 2 AND NOT (l.id_valid = 1 AND r.id_valid = 1) THEN 1 ELSE 0 END"
    )


def sex_sql(dialect: Dialect) -> str:
    return exact_match_sql("gender", dialect)


def phone_sql(dialect: Dialect) -> str:
    combos = []
    for a, b in (("1", "1"), ("1", "2"), ("2", "1"), ("2", "2")):
        pa, pb = f"l.phone{a}", f"r.phone{b}"
        combos.append(
            f"CASE WHEN {pa} IS NULL OR {pb} IS NULL THEN 0 WHEN {pa} = {pb} THEN 3"
            f" WHEN l.local{a} = r.local{b} THEN 2"
            f" WHEN {dialect.damerau_levenshtein}({pa}, {pb}) <= 1 THEN 1 ELSE 0 END"
        )
    return f"CASE WHEN {_missing('phone1')} THEN -1 ELSE greatest({', '.join(combos)}) END"


def address_sql(dialect: Dialect) -> str:
    empty = "(l.district IS NULL AND l.detail IS NULL) OR (r.district IS NULL AND r.detail IS NULL)"
    near = "(l.district = r.district OR l.district IS NULL OR r.district IS NULL)"
    return (
        f"CASE WHEN {empty} THEN -1"
        f" WHEN {near} AND l.detail IS NOT NULL AND r.detail IS NOT NULL"
        f" AND {dialect.jaro_winkler}(l.detail, r.detail) >= {0.92 - EPS!r} THEN 4"
        " WHEN l.community = r.community THEN 3 WHEN l.township = r.township THEN 2"
        " WHEN l.district = r.district THEN 1 ELSE 0 END"
    )
