"""Build SQL for search criteria: every function here returns SQLAlchemy Core expressions."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Dialect,
    Select,
    String,
    and_,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.sql.expression import literal

from healthbrain.storage import tables as t
from healthbrain.storage.care import PATIENT_TYPE
from healthbrain.storage.query import (
    AllOf,
    AnyOf,
    CareLink,
    Chain,
    Cond,
    Criterion,
    HasParam,
    IdIn,
    IndexMatch,
    LastUpdated,
    Not,
    Query,
    ReverseChain,
    SortKey,
)

_R = t.resource


def _cond_sql(col: Any, cond: Cond) -> ColumnElement[bool]:
    op, v = cond.op, cond.value
    if op == "=":
        return col == v  # type: ignore[no-any-return]
    if op == "!=":
        return col != v  # type: ignore[no-any-return]
    if op == "<":
        return col < v  # type: ignore[no-any-return]
    if op == "<=":
        return col <= v  # type: ignore[no-any-return]
    if op == ">":
        return col > v  # type: ignore[no-any-return]
    if op == ">=":
        return col >= v  # type: ignore[no-any-return]
    if op == "like":
        return col.like(v, escape="\\")  # type: ignore[no-any-return]
    if op == "in":
        return col.in_(list(v))  # type: ignore[call-overload, no-any-return]
    if op == "is_null":
        return col.is_(None)  # type: ignore[no-any-return]
    if op == "not_null":
        return col.is_not(None)  # type: ignore[no-any-return]
    raise ValueError(f"unknown operator {op}")


def matching_ids_sql(resource_type: str, criterion: Criterion) -> Select[Any] | None:
    """A SELECT of res_id of `resource_type` matching a positive criterion, or None if not expressible."""
    if isinstance(criterion, IndexMatch):
        tbl = t.INDEX_TABLES[criterion.kind]
        conds = [tbl.c.res_type == resource_type, tbl.c.param == criterion.param]
        conds += [_cond_sql(tbl.c[c.column], c) for c in criterion.conds]
        return select(tbl.c.res_id).where(*conds)
    if isinstance(criterion, HasParam) and criterion.present:
        tbl = t.INDEX_TABLES[criterion.kind]
        return select(tbl.c.res_id).where(tbl.c.res_type == resource_type, tbl.c.param == criterion.param)
    if isinstance(criterion, Chain):
        ref = t.idx_reference
        inner = query_ids_sql(criterion.target_type, criterion.criteria)
        return select(ref.c.res_id).where(
            ref.c.res_type == resource_type,
            ref.c.param == criterion.param,
            ref.c.target_type == criterion.target_type,
            ref.c.target_id.in_(inner),
        )
    if isinstance(criterion, ReverseChain):
        ref = t.idx_reference
        inner = query_ids_sql(criterion.source_type, criterion.criteria)
        return select(ref.c.target_id).where(
            ref.c.res_type == criterion.source_type,
            ref.c.param == criterion.param,
            ref.c.target_type == resource_type,
            ref.c.res_id.in_(inner),
        )
    if isinstance(criterion, CareLink):
        # the patients the units saw since the cutoff, through the (unit, high) index
        link = t.care_link
        return select(link.c.patient_id).where(*_care_link_conds(resource_type, criterion, link))
    return None


def _care_link_conds(resource_type: str, criterion: CareLink, link: Any) -> list[ColumnElement[bool]]:
    """A CareLink's conditions on `fhir_care_link` (or an alias); links name Patients only."""
    if resource_type != PATIENT_TYPE or not criterion.units:
        return [false()]
    units = criterion.units
    unit = link.c.unit == units[0] if len(units) == 1 else link.c.unit.in_(units)
    return [unit, link.c.high >= criterion.cutoff]


def _unindexed(column: Any) -> Any:
    """`param || ''`: keeps SQLite's planner (without statistics) off the value index for per-resource
    lookups, where the (type, id) index finds the handful of rows of one resource directly."""
    return column.concat("")


def _is_text(column: Any) -> bool:
    return isinstance(column.type, String)


def _exists_sql(resource_type: str, criterion: Criterion, res: Any) -> ColumnElement[bool] | None:
    """A correlated EXISTS for a criterion, checked per candidate row of `res` (a fhir_resource alias).

    Plain index criteria go through the (type, id, param) index; chains follow the candidate's own
    reference rows and reverse chains the reference rows pointing at it, so a policy or a chained
    parameter costs a few index probes per candidate instead of materialising every match.
    """
    if isinstance(criterion, IndexMatch):
        tbl = t.INDEX_TABLES[criterion.kind].alias()
        # Text columns are shielded from other indexes too: a check like "references Organization/A"
        # must probe the candidate's own rows, not every row in the region that references A.
        conds = [
            _cond_sql(_unindexed(tbl.c[c.column]) if _is_text(tbl.c[c.column]) else tbl.c[c.column], c)
            for c in criterion.conds
        ]
    elif isinstance(criterion, HasParam) and criterion.present:
        tbl = t.INDEX_TABLES[criterion.kind].alias()
        conds = []
    elif isinstance(criterion, Chain):
        ref = t.idx_reference.alias()
        target = _R.alias()
        return exists(
            select(literal(1))
            .select_from(ref)
            .join(target, and_(target.c.res_type == ref.c.target_type, target.c.res_id == ref.c.target_id))
            .where(
                ref.c.res_type == res.c.res_type,
                ref.c.res_id == res.c.res_id,
                _unindexed(ref.c.param) == criterion.param,
                ref.c.target_type == criterion.target_type,
                target.c.deleted == false(),
                *(
                    criterion_sql(criterion.target_type, c, correlated=True, res=target)
                    for c in criterion.criteria
                ),
            )
        )
    elif isinstance(criterion, ReverseChain):
        ref = t.idx_reference.alias()
        source = _R.alias()
        return exists(
            select(literal(1))
            .select_from(ref)
            .join(source, and_(source.c.res_type == ref.c.res_type, source.c.res_id == ref.c.res_id))
            .where(
                ref.c.target_id == res.c.res_id,
                ref.c.target_type == res.c.res_type,
                ref.c.res_type == criterion.source_type,
                ref.c.param == criterion.param,
                source.c.deleted == false(),
                *(
                    criterion_sql(criterion.source_type, c, correlated=True, res=source)
                    for c in criterion.criteria
                ),
            )
        )
    elif isinstance(criterion, CareLink):
        # one seek to the patient's links within the window (the (patient, high, unit) index), the
        # units checked in the index: the cost does not grow with the patient's history
        link = t.care_link.alias()
        return exists(
            select(literal(1)).where(
                link.c.patient_id == res.c.res_id, *_care_link_conds(resource_type, criterion, link)
            )
        )
    else:
        return None
    return exists(
        select(literal(1)).where(
            tbl.c.res_type == res.c.res_type,
            tbl.c.res_id == res.c.res_id,
            _unindexed(tbl.c.param) == criterion.param,
            *conds,
        )
    )


def criterion_sql(
    resource_type: str, criterion: Criterion, *, correlated: bool = False, res: Any = _R
) -> ColumnElement[bool]:
    """A boolean expression over `res` (fhir_resource or an alias of it) for one criterion.

    The driving criterion of a search selects candidate ids through a value index (`IN`); the others
    are `correlated` checks on each candidate, so a patient's 200 observations are filtered by code
    without listing every observation in the region that has that code.
    """
    if correlated:
        check = _exists_sql(resource_type, criterion, res)
        if check is not None:
            return check
    if isinstance(criterion, IdIn):
        if len(criterion.ids) == 1:  # a read by id: `=` needs no expanding IN parameter at execution
            return res.c.res_id == criterion.ids[0]  # type: ignore[no-any-return]
        return res.c.res_id.in_(list(criterion.ids)) if criterion.ids else false()
    if isinstance(criterion, LastUpdated):
        return _cond_sql(res.c.last_updated, Cond("last_updated", criterion.op, criterion.value))
    if isinstance(criterion, AnyOf):
        if not criterion.options:
            return false()
        return or_(
            *(criterion_sql(resource_type, o, correlated=correlated, res=res) for o in criterion.options)
        )
    if isinstance(criterion, AllOf):
        return and_(
            true(),
            *(criterion_sql(resource_type, p, correlated=correlated, res=res) for p in criterion.parts),
        )
    if isinstance(criterion, Not):
        return not_(criterion_sql(resource_type, criterion.criterion, correlated=True, res=res))
    if isinstance(criterion, HasParam) and not criterion.present:
        return not_(criterion_sql(resource_type, HasParam(criterion.kind, criterion.param, True), res=res))
    ids = matching_ids_sql(resource_type, criterion)
    if ids is None:
        raise ValueError(f"unsupported criterion {criterion!r}")
    return res.c.res_id.in_(ids)  # type: ignore[no-any-return]


def where_sql(
    resource_type: str,
    criteria: tuple[Criterion, ...],
    constraints: tuple[Criterion, ...] = (),
    dialect: Dialect | None = None,
) -> ColumnElement[bool]:
    """The WHERE clause of a search: live resources of the type that satisfy every criterion.

    `constraints` (the access policy's) are always checked per candidate, never used to select
    candidates: they are broad (everything a principal may see) while criteria are selective.
    """
    parts = [_R.c.res_type == resource_type, _R.c.deleted == false()]
    driver = _driver(criteria)
    parts += [criterion_sql(resource_type, c, correlated=i != driver) for i, c in enumerate(criteria)]
    parts += [constraint_clause(resource_type, c, dialect) for c in constraints]
    return and_(true(), *parts)


# constraint objects seen before, by identity: the policy hands out the same objects for the same
# request shape, and hashing a deep criterion for the lru_cache below costs more than looking it up
_SEEN: dict[tuple[str, int, int], tuple[Criterion, Dialect | None, ColumnElement[bool]]] = {}


def constraint_clause(
    resource_type: str, criterion: Criterion, dialect: Dialect | None
) -> ColumnElement[bool]:
    """`_constraint_sql`, found by the constraint's identity when it was seen before."""
    key = (resource_type, id(criterion), id(dialect))
    seen = _SEEN.get(key)
    if seen is not None and seen[0] is criterion and seen[1] is dialect:
        return seen[2]
    clause = _constraint_sql(resource_type, criterion, dialect)
    if len(_SEEN) >= 4096:
        _SEEN.clear()
    _SEEN[key] = (criterion, dialect, clause)  # holding the objects keeps their ids unique
    return clause


@lru_cache(maxsize=2048)
def _constraint_sql(resource_type: str, criterion: Criterion, dialect: Dialect | None) -> ColumnElement[bool]:
    """A policy constraint as SQL, built (and, with a dialect, rendered to text) once per constraint.

    Constraints are deep (a patient's encounters, consents, break-glass ...) and the same for every
    request of a principal; building their aliases anew, or even walking them for SQLAlchemy's
    statement cache key, cost more than running them. Rendered once with its values inlined (ids
    and numbers of our own making, quoted by the dialect), it is a constant SQL fragment that
    correlates to the outer `fhir_resource`.
    """
    clause = criterion_sql(resource_type, criterion, correlated=True)
    if dialect is None:
        return clause
    # Rendered inside a SELECT from fhir_resource, so that its subqueries correlate to it (a
    # clause compiled alone would put fhir_resource into every subquery's FROM instead).
    carrier = select(_R.c.res_id).select_from(_R).where(clause)
    rendered = str(carrier.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    head, sep, where = rendered.partition("\nWHERE ")
    if not sep or "\nWHERE " in head:
        return clause
    return text(f"({where})")  # type: ignore[return-value]


def _driver(criteria: tuple[Criterion, ...]) -> int:
    """The criterion that selects candidates: ids first, then references (a patient), then any."""

    def rank(c: Criterion) -> int:
        if isinstance(c, IdIn):
            return 0
        opts = c.options if isinstance(c, AnyOf) else (c,)
        if opts and all(isinstance(o, IndexMatch) and o.kind == "reference" for o in opts):
            return 1
        if opts and all(isinstance(o, (IndexMatch, Chain, ReverseChain, CareLink)) for o in opts):
            return 2
        return 3

    if not criteria:
        return -1
    return min(range(len(criteria)), key=lambda i: rank(criteria[i]))


def query_ids_sql(resource_type: str, criteria: tuple[Criterion, ...]) -> Select[Any]:
    return select(_R.c.res_id).where(where_sql(resource_type, criteria))


_SORT_COLUMN = {
    "token": "code",
    "string": "norm",
    "date": "low",
    "quantity": "low",
    "uri": "uri",
    "reference": "target_id",
    "composite": "c1_code",
}


def _sort_sql(key: SortKey) -> Any:
    if key.kind == "meta":
        col = _R.c.last_updated if key.param == "_lastUpdated" else _R.c.res_id
        return col.desc() if key.descending else col.asc()
    tbl = t.INDEX_TABLES[key.kind]
    value_col = tbl.c[_SORT_COLUMN[key.kind]]
    agg = func.max(value_col) if key.descending else func.min(value_col)
    sub = (
        select(agg)
        .where(
            tbl.c.res_type == _R.c.res_type,
            tbl.c.res_id == _R.c.res_id,
            _unindexed(tbl.c.param) == key.param,
        )
        .scalar_subquery()
    )
    # Resources without a value sort last in both directions.
    missing = sub.is_(None)
    return [missing.asc(), sub.desc() if key.descending else sub.asc()]


def search_sql(query: Query, *, limit: int, offset: int, dialect: Dialect | None = None) -> Select[Any]:
    """SELECT id, version and content of one page of a search."""
    order: list[Any] = []
    for key in query.sort:
        s = _sort_sql(key)
        order.extend(s if isinstance(s, list) else [s])
    order.append(_R.c.res_id.asc())
    return (
        select(_R.c.res_id, _R.c.version_id, _R.c.last_updated, _R.c.content)
        .where(where_sql(query.resource_type, query.criteria, query.constraints, dialect))
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )


def count_sql(query: Query, dialect: Dialect | None = None) -> Select[Any]:
    return (
        select(func.count(literal(1)))
        .select_from(_R)
        .where(where_sql(query.resource_type, query.criteria, query.constraints, dialect))
    )
