"""Multi-resource reads: search with includes, history and Patient/$everything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from healthbrain.core.context import RequestContext
from healthbrain.core.errors import Gone, InvalidInput, Issue, NotFound
from healthbrain.fhir.repository import AuditNote
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
    patients: list[str] = field(default_factory=list)  # the patients whose data was returned (audit)


@dataclass(slots=True)
class HistoryResult:
    versions: list[StoredVersion]
    total: int | None  # None when the principal may not see the whole history it would count
    count: int
    offset: int
    has_next: bool = False


def run_search(
    repo: FhirRepository,
    ctx: RequestContext,
    rt: str,
    params: Sequence[tuple[str, str]],
    *,
    lenient: bool = False,
) -> SearchResult:
    """Search one resource type, audited; the policy constrains matches, counts and includes alike."""
    with repo.audited(ctx, "search", rt) as note:
        note.params = tuple(dict.fromkeys(name for name, _ in params))
        result = _search(repo, ctx, rt, params, lenient=lenient)
        note.patients.extend(result.patients)
        note.count = result.total if result.total is not None else len(result.matches)
        return result


def _search(
    repo: FhirRepository, ctx: RequestContext, rt: str, params: Sequence[tuple[str, str]], *, lenient: bool
) -> SearchResult:
    repo.check_type(rt)
    req = repo.parser.parse(rt, params, lenient=lenient)
    # a count reveals no record, so roles that see aggregates only may ask for it
    action = "count" if req.summary == "count" else "search"
    repo.guard.authorize(ctx, action, rt)
    query = repo.guard.restrict(ctx, action, req.query)
    result = SearchResult(req)
    with repo.engine.connect() as conn:
        if req.summary == "count" or req.total == "accurate":
            result.total = repo.store.count(conn, query)
        if req.summary == "count":
            return result
        page = repo.store.search(conn, query, limit=req.count + 1, offset=req.offset)
        result.has_next = len(page) > req.count
        result.matches = [loads(v.content) for v in page[: req.count] if v.content]
        if req.includes or req.revincludes:
            result.included = _includes(repo, ctx, conn, rt, result.matches, req)
    for res in (*result.matches, *result.included):
        result.patients.extend(repo.guard.subject(res).patients)
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
        batch = repo.guard.visible(ctx, "read", batch)
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
    """Instance, type or system history, newest first, with `_since`, `_count` and `_offset`; audited."""
    with repo.audited(ctx, "history", rt, rid) as note:
        result = _history(repo, ctx, rt, rid, params)
        for v in result.versions:
            if v.content:
                note.patients.extend(repo.guard.subject(loads(v.content)).patients)
        note.count = len(result.versions)
        return result


def _history(
    repo: FhirRepository,
    ctx: RequestContext,
    rt: str | None,
    rid: str | None,
    params: Sequence[tuple[str, str]],
) -> HistoryResult:
    if rt is not None:
        repo.check_type(rt)
    repo.guard.authorize(ctx, "history", rt or "*")
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
    # An unrestricted principal sees every version and its total; anyone else sees the versions of
    # what they may see now (deletions only of a resource they may see) and no total.
    restricted = repo.guard.is_restricted(ctx, "history", rt)
    with repo.engine.connect() as conn:
        current = repo.store.read_current(conn, rt, rid) if rid is not None and rt is not None else None
        if rid is not None and current is None:
            raise NotFound(f"{rt}/{rid} is not known")
        if restricted and current is not None and current.content is not None:
            repo.ensure_visible(ctx, "read", loads(current.content), AuditNote())
        versions = repo.store.history(
            conn, res_type=rt, res_id=rid, since=since, limit=count + 1, offset=offset
        )
        total = None if restricted else repo.store.count_history(conn, res_type=rt, res_id=rid, since=since)
    has_next = len(versions) > count
    versions = versions[:count]
    if restricted:
        contents = [loads(v.content) for v in versions if v.content]
        keys = {
            (r["resourceType"], r["id"], r.get("meta", {}).get("versionId"))
            for r in repo.guard.visible(ctx, "read", contents)
        }
        visible_ids = {(k[0], k[1]) for k in keys}
        versions = [
            v
            for v in versions
            if (v.res_type, v.res_id, str(v.version_id)) in keys
            or (v.content is None and rid is not None and (v.res_type, v.res_id) in visible_ids | {(rt, rid)})
        ]
    return HistoryResult(versions, total, count, offset, has_next)


def run_everything(
    repo: FhirRepository, ctx: RequestContext, patient_id: str, params: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Patient/$everything: the patient, everything that refers to them, and what that refers to."""
    with repo.audited(ctx, "everything", "Patient", patient_id) as note:
        note.patients.append(patient_id)
        found = _everything(repo, ctx, patient_id, params)
        note.count = len(found)
        return found


def _everything(
    repo: FhirRepository, ctx: RequestContext, patient_id: str, params: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
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
    repo.guard.authorize(ctx, "everything", "Patient")
    with repo.engine.connect() as conn:
        cur = repo.store.read_current(conn, "Patient", patient_id)
        if cur is None:
            raise NotFound(f"Patient/{patient_id} is not known")
        if cur.deleted or cur.content is None:
            raise Gone(f"Patient/{patient_id} was deleted")
        repo.ensure_visible(ctx, "read", loads(cur.content), AuditNote())
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
    return repo.guard.visible(ctx, "read", out)


def _nonneg(name: str, value: str, cap: int | None) -> int:
    if not value.isdigit():
        raise _bad(name, "must be a non-negative integer")
    n = int(value)
    return min(n, cap) if cap is not None else n


def _bad(name: str, message: str) -> InvalidInput:
    msg = f"parameter '{name}' {message}"
    return InvalidInput(msg, issues=[Issue("error", "invalid", msg, name)], code="request.invalid_parameter")
