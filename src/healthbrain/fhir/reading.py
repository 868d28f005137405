"""Multi-resource reads: search with includes, history and Patient/$everything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from healthbrain.core.context import RequestContext
from healthbrain.core.errors import Gone, InvalidInput, Issue, NotFound
from healthbrain.fhir.resources import loads, parse_instant
from healthbrain.fhir.search import Include, SearchRequest
from healthbrain.storage.store import StoredVersion

if TYPE_CHECKING:
    from healthbrain.fhir.repository import FhirRepository

MAX_INCLUDE_ROUNDS = 3
MAX_INCLUDED = 5000


@dataclass(slots=True)
class SearchResult:
    """One page of matches, what was included, and the total when it was counted."""

    request: SearchRequest
    matches: list[dict[str, Any]] = field(default_factory=list)
    included: list[dict[str, Any]] = field(default_factory=list)
    total: int | None = None
    has_next: bool = False


@dataclass(slots=True)
class HistoryResult:
    versions: list[StoredVersion]
    total: int
    count: int
    offset: int


def run_search(
    repo: FhirRepository,
    ctx: RequestContext,
    rt: str,
    params: Sequence[tuple[str, str]],
    *,
    lenient: bool = False,
) -> SearchResult:
    """Search one resource type; policy filters matches and included resources alike."""
    repo.check_type(rt)
    req = repo.parser.parse(rt, params, lenient=lenient)
    repo.policy.authorize(ctx, "search", rt)
    result = SearchResult(req)
    with repo.engine.connect() as conn:
        if req.summary == "count" or req.total == "accurate":
            result.total = repo.store.count(conn, req.query)
        if req.summary == "count":
            return result
        page = repo.store.search(conn, req.query, limit=req.count + 1, offset=req.offset)
        result.has_next = len(page) > req.count
        matches = [loads(v.content) for v in page[: req.count] if v.content]
        result.matches = repo.policy.filter_readable(ctx, matches)
        if req.includes or req.revincludes:
            result.included = _includes(repo, ctx, conn, rt, result.matches, req)
    return result


def _includes(
    repo: FhirRepository,
    ctx: RequestContext,
    conn: Connection,
    rt: str,
    matches: list[dict[str, Any]],
    req: SearchRequest,
) -> list[dict[str, Any]]:
    seen: set[tuple[str, str]] = {(rt, m["id"]) for m in matches}
    included: list[dict[str, Any]] = []
    frontier: list[dict[str, Any]] = matches
    for round_no in range(MAX_INCLUDE_ROUNDS):
        keys: list[tuple[str, str]] = []
        by_type: dict[str, list[str]] = {}
        for res in frontier:
            by_type.setdefault(res["resourceType"], []).append(res["id"])
        for inc in req.includes:
            if round_no > 0 and not inc.iterate:
                continue
            keys += _outgoing(repo, conn, inc, by_type)
        for inc in req.revincludes:
            if round_no > 0 and not inc.iterate:
                continue
            keys += _incoming(repo, conn, inc, by_type)
        new_keys = [k for k in dict.fromkeys(keys) if k not in seen]
        if not new_keys:
            break
        seen.update(new_keys)
        found = repo.store.read_current_many(conn, new_keys)
        batch = [loads(v.content) for k in new_keys if (v := found.get(k)) and not v.deleted and v.content]
        batch = repo.policy.filter_readable(ctx, batch)
        included += batch
        frontier = batch
        if len(included) > MAX_INCLUDED:
            raise InvalidInput(
                "the includes of this search are too many; page with a smaller _count",
                code="search.too_many_includes",
            )
    return included


def _outgoing(
    repo: FhirRepository, conn: Connection, inc: Include, by_type: dict[str, list[str]]
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for src, ids in by_type.items():
        if inc.source_type not in ("*", src):
            continue
        out += repo.store.outgoing_references(conn, src, ids, inc.param, inc.target_type)
    return out


def _incoming(
    repo: FhirRepository, conn: Connection, inc: Include, by_type: dict[str, list[str]]
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for target_type, ids in by_type.items():
        if inc.target_type not in (None, target_type):
            continue
        out += [
            (inc.source_type, rid)
            for rid in repo.store.incoming_references(conn, inc.source_type, inc.param, target_type, ids)
        ]
    return out


def run_history(
    repo: FhirRepository,
    ctx: RequestContext,
    rt: str | None,
    rid: str | None,
    params: Sequence[tuple[str, str]],
) -> HistoryResult:
    """Instance, type or system history, newest first, with `_since`, `_count` and `_offset`."""
    if rt is not None:
        repo.check_type(rt)
    repo.policy.authorize(ctx, "history", rt or "*")
    since: float | None = None
    count, offset = repo.parser.default_count, 0
    for name, value in params:
        if name == "_since":
            try:
                since = parse_instant(value)
            except ValueError:
                raise _bad("_since", "must be a FHIR instant") from None
        elif name == "_count":
            count = _nonneg(name, value, repo.parser.max_count)
        elif name == "_offset":
            offset = _nonneg(name, value, None)
        elif name not in ("_format", "_pretty"):
            raise _bad(name, "is not a history parameter")
    with repo.engine.connect() as conn:
        if rid is not None and rt is not None and repo.store.read_current(conn, rt, rid) is None:
            raise NotFound(f"{rt}/{rid} is not known")
        versions = repo.store.history(conn, res_type=rt, res_id=rid, since=since, limit=count, offset=offset)
        total = repo.store.count_history(conn, res_type=rt, res_id=rid, since=since)
    readable = {
        (r["resourceType"], r["id"], r.get("meta", {}).get("versionId"))
        for r in repo.policy.filter_readable(ctx, [loads(v.content) for v in versions if v.content])
    }
    versions = [
        v for v in versions if v.content is None or (v.res_type, v.res_id, str(v.version_id)) in readable
    ]
    return HistoryResult(versions, total, count, offset)


def run_everything(
    repo: FhirRepository, ctx: RequestContext, patient_id: str, params: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Patient/$everything: the patient, everything that refers to them, and what that refers to."""
    types: set[str] | None = None
    since: float | None = None
    for name, value in params:
        if name == "_type":
            types = {t.strip() for t in value.split(",") if t.strip()}
        elif name == "_since":
            try:
                since = parse_instant(value)
            except ValueError:
                raise _bad("_since", "must be a FHIR instant") from None
        elif name not in ("_count", "_format", "_pretty"):
            raise _bad(name, "is not a parameter of $everything")
    repo.policy.authorize(ctx, "everything", "Patient")
    with repo.engine.connect() as conn:
        cur = repo.store.read_current(conn, "Patient", patient_id)
        if cur is None:
            raise NotFound(f"Patient/{patient_id} is not known")
        if cur.deleted:
            raise Gone(f"Patient/{patient_id} was deleted")
        keys = [("Patient", patient_id), *repo.store.referring_types(conn, "Patient", patient_id)]
        by_type: dict[str, list[str]] = {}
        for t, i in keys:
            by_type.setdefault(t, []).append(i)
        for t, ids in list(by_type.items()):
            for ref in repo.store.outgoing_references(conn, t, ids, None, None):
                if ref[0] != "Patient":
                    keys.append(ref)
        found = repo.store.read_current_many(conn, list(dict.fromkeys(keys)))
    out: list[dict[str, Any]] = []
    for key in dict.fromkeys(keys):
        v = found.get(key)
        if v is None or v.deleted or not v.content:
            continue
        if types is not None and key[0] not in types and key[0] != "Patient":
            continue
        if since is not None and v.last_updated < since:
            continue
        out.append(loads(v.content))
    return repo.policy.filter_readable(ctx, out)


def _nonneg(name: str, value: str, cap: int | None) -> int:
    if not value.isdigit():
        raise _bad(name, "must be a non-negative integer")
    n = int(value)
    return min(n, cap) if cap is not None else n


def _bad(name: str, message: str) -> InvalidInput:
    msg = f"parameter '{name}' {message}"
    return InvalidInput(msg, issues=[Issue("error", "invalid", msg, name)], code="request.invalid_parameter")
