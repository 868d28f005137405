"""Search criteria over the index tables, in storage terms (no FHIR semantics)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

IndexKind = Literal["token", "string", "date", "reference", "quantity", "uri", "composite"]
Op = Literal["=", "!=", "<", "<=", ">", ">=", "like", "in", "is_null", "not_null"]


@dataclass(frozen=True, slots=True)
class Cond:
    """A condition on one column of an index row."""

    column: str
    op: Op
    value: object = None


@dataclass(frozen=True, slots=True)
class IndexMatch:
    """The resource has a row of `kind` for `param` satisfying every condition."""

    kind: IndexKind
    param: str
    conds: tuple[Cond, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one option holds (OR)."""

    options: tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every part holds (AND), for a single value that needs several conditions."""

    parts: tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The criterion does not hold."""

    criterion: Criterion


@dataclass(frozen=True, slots=True)
class HasParam:
    """The resource has (or, with present=False, lacks) any row of `kind` for `param`."""

    kind: IndexKind
    param: str
    present: bool = True


@dataclass(frozen=True, slots=True)
class IdIn:
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LastUpdated:
    op: Op
    value: float


@dataclass(frozen=True, slots=True)
class Chain:
    """A reference `param` points at a `target_type` resource that satisfies `criteria`."""

    param: str
    target_type: str
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class ReverseChain:
    """A `source_type` resource satisfying `criteria` refers to this one through `param` (`_has`)."""

    source_type: str
    param: str
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class CareLink:
    """The Patient has a care link (`storage.care`) to one of `units` whose end is at or after
    `cutoff` (epoch seconds): an encounter there or a referral to it, within a care window."""

    units: tuple[str, ...]
    cutoff: float


Criterion = IndexMatch | AnyOf | AllOf | Not | HasParam | IdIn | LastUpdated | Chain | ReverseChain | CareLink


@dataclass(frozen=True, slots=True)
class SortKey:
    """Sort by an index value (`kind`, `param`) or by `_id` / `_lastUpdated` (kind "meta")."""

    kind: IndexKind | Literal["meta"]
    param: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """A search over one resource type: AND of criteria, ordered by sort keys then id."""

    resource_type: str
    criteria: tuple[Criterion, ...] = ()
    sort: tuple[SortKey, ...] = ()
    # the access policy's restrictions: checked per candidate, never used to choose candidates
    constraints: tuple[Criterion, ...] = ()
