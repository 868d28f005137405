"""SQL builders of the scale path: features table, blocking, levels and match weights (all `_sql`)."""

from __future__ import annotations

from collections.abc import Sequence

from healthbrain.core.errors import InvalidInput
from healthbrain.mpi.blocking import BlockingRule
from healthbrain.mpi.comparisons import Comparison
from healthbrain.mpi.model import MatchModel
from healthbrain.mpi.sql.dialects import Dialect

FEATURES = "mpi_sql_features"
PAIRS = "mpi_sql_pairs"


def tf_table(name: str) -> str:
    return f"mpi_sql_tf_{name}"


def _agree_sql(rule: BlockingRule, a: str = "l", b: str = "r") -> str:
    def one_way(left: Sequence[str], right: Sequence[str]) -> str:
        return " AND ".join(f"{a}.{x} = {b}.{y}" for x, y in zip(left, right, strict=True))

    if rule.symmetric:
        return f"({one_way(rule.left, rule.left)})"
    return f"(({one_way(rule.left, rule.right)}) OR ({one_way(rule.right, rule.left)}))"


def _small_blocks_sql(columns: Sequence[str], max_block: int, alias: str, match: Sequence[str]) -> str:
    """`alias`'s `match` columns form a key held by at most `max_block` records on `columns`."""
    group = ", ".join(columns)
    keys = ", ".join(f"{alias}.{c}" for c in match)
    present = " AND ".join(f"{c} IS NOT NULL" for c in columns)
    return (
        f"({keys}) IN (SELECT {group} FROM {FEATURES} WHERE {present}"
        f" GROUP BY {group} HAVING count(*) <= {int(max_block)})"
    )


def rule_pairs_sql(rules: Sequence[BlockingRule], index: int, link_type: str) -> str:
    """Pairs (l_row < r_row) found by rule `index` and by no earlier rule."""
    rule = rules[index]
    link = " AND l.source <> r.source" if link_type == "link" else ""
    earlier = "".join(f" AND NOT coalesce({_agree_sql(e)}, false)" for e in rules[:index])
    if rule.symmetric:
        on = " AND ".join(f"l.{c} = r.{c}" for c in rule.left)
        small = _small_blocks_sql(rule.left, rule.max_block, "l", rule.left)
        return (
            f"SELECT l.row_id AS l_row, r.row_id AS r_row, {index} AS rule"
            f" FROM {FEATURES} l JOIN {FEATURES} r ON {on} AND l.row_id < r.row_id"
            f" WHERE {small}{link}{earlier}"
        )
    on = " AND ".join(f"a.{x} = b.{y}" for x, y in zip(rule.left, rule.right, strict=True))
    small = _small_blocks_sql(rule.right, rule.max_block, "a", rule.left)
    cross = (
        f"SELECT DISTINCT least(a.row_id, b.row_id) AS l_row, greatest(a.row_id, b.row_id) AS r_row"
        f" FROM {FEATURES} a JOIN {FEATURES} b ON {on} AND a.row_id <> b.row_id WHERE {small}"
    )
    return (
        f"SELECT p.l_row, p.r_row, {index} AS rule FROM ({cross}) p JOIN {FEATURES} l ON l.row_id = p.l_row"
        f" JOIN {FEATURES} r ON r.row_id = p.r_row WHERE true{link}{earlier}"
    )


def blocking_sql(rules: Sequence[BlockingRule], link_type: str) -> str:
    """Every candidate pair once, with the first rule that found it (Splink's match_key)."""
    return " UNION ALL ".join(f"({rule_pairs_sql(rules, k, link_type)})" for k in range(len(rules)))


def levels_sql(comparisons: Sequence[Comparison], dialect: Dialect) -> str:
    """Pairs of PAIRS with one level column `lv<k>` per comparison (and `tf<k>`, the left value of a
    term-frequency-adjusted column)."""
    exprs = []
    for k, comp in enumerate(comparisons):
        if comp.sql is None:
            raise InvalidInput(f"comparison {comp.name!r} has no SQL form", code="mpi.no_sql")
        exprs.append(f"{comp.sql(dialect)} AS lv{k}")
        if comp.tf_column is not None:
            exprs.append(f"l.{comp.tf_column} AS tf{k}")
    return (
        f"SELECT p.l_row, p.r_row, {', '.join(exprs)} FROM {PAIRS} p"
        f" JOIN {FEATURES} l ON l.row_id = p.l_row JOIN {FEATURES} r ON r.row_id = p.r_row"
    )


def predict_sql(model: MatchModel, comparisons: Sequence[Comparison], dialect: Dialect) -> str:
    """Levels and match weight (prior + level weights + TF adjustments) of every candidate pair."""
    terms, joins = [repr(model.prior_weight)], []
    for k, (comp, params) in enumerate(zip(comparisons, model.fields, strict=True)):
        cases = " ".join(f"WHEN {level} THEN {w!r}" for level, w in enumerate(params.weights))
        terms.append(f"(CASE v.lv{k} {cases} ELSE 0.0 END)")
        table = model.term_frequencies.get(comp.name)
        if table is None or comp.tf_column is None:
            continue
        top = comp.n_levels - 1
        joins.append(f" LEFT JOIN {tf_table(comp.name)} t{k} ON t{k}.value = v.tf{k}")
        share = f"(coalesce(t{k}.n, 1) * 1.0 / {max(table.total, 1)})"
        terms.append(
            f"(CASE WHEN v.lv{k} = {top} THEN ln({params.u[-1]!r} / {share}) / ln(2.0) ELSE 0.0 END)"
        )
    levels = ", ".join(f"v.lv{k}" for k in range(len(comparisons)))
    return (
        f"SELECT v.l_row, v.r_row, {levels}, {' + '.join(terms)} AS weight"
        f" FROM ({levels_sql(comparisons, dialect)}) v{''.join(joins)} ORDER BY v.l_row, v.r_row"
    )
