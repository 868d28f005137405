"""Batch and transaction Bundles.

See: https://hl7.org/fhir/R4/http.html#transaction — transactions are all or nothing, processed in
the order DELETE, POST, PUT/PATCH, GET, with `urn:uuid:` and conditional references resolved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from healthbrain.core.context import RequestContext
from healthbrain.core.errors import HealthBrainError, InvalidInput, Issue, PreconditionFailed, Unprocessable
from healthbrain.fhir.repository import PlannedWrite, Versioned
from healthbrain.fhir.resources import ID_RE, iter_references, new_id, parse_etag, rewrite_references
from healthbrain.fhir.types import is_resource_type
from healthbrain.fhir.validation import validate_resource
from healthbrain.storage.rows import IndexRows

if TYPE_CHECKING:
    from healthbrain.fhir.repository import FhirRepository

ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
MAX_ENTRIES = 20000
# The error code of a conditional reference that matches nothing: the resource may yet come (a
# parallel ingest retries such a unit after the others).
UNRESOLVED_CONDITIONAL = "fhir.unresolved_conditional_reference"


@dataclass(slots=True)
class EntryOp:
    """One parsed Bundle entry."""

    index: int
    method: str
    url: str
    rt: str
    rid: str | None = None
    query: str | None = None
    resource: dict[str, Any] | None = None
    full_url: str | None = None
    if_match: int | None = None
    if_none_exist: str | None = None
    target_id: str | None = None  # resolved id
    matched: bool = False  # a conditional create that found its resource
    rewritten: bool = False  # references already rewritten before the write lock
    rows: IndexRows | None = None  # index rows computed before the write lock


@dataclass(slots=True)
class EntryResult:
    """The response of one entry: status line, location, version and resource or outcome."""

    status: str
    versioned: Versioned | None = None
    resource: dict[str, Any] | None = None
    outcome: list[Issue] = field(default_factory=list)


def parse_entries(bundle: Any, kind: str) -> list[EntryOp]:
    """Check the Bundle's shape; every problem is reported with its location."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidInput("the body must be a Bundle", code="fhir.not_a_bundle")
    if bundle.get("type") != kind:
        raise InvalidInput(
            f"Bundle.type must be '{kind}'",
            code="fhir.bundle_type",
            issues=[Issue("error", "invalid", f"Bundle.type must be '{kind}'", "Bundle.type")],
        )
    entries = bundle.get("entry") or []
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise InvalidInput(
            f"Bundle.entry must be a list of at most {MAX_ENTRIES} entries", code="fhir.bundle_size"
        )
    ops: list[EntryOp] = []
    issues: list[Issue] = []
    for i, entry in enumerate(entries):
        try:
            ops.append(_parse_entry(i, entry))
        except InvalidInput as err:
            issues += err.issues
    if issues:
        raise InvalidInput(issues[0].diagnostics, issues=issues, code="fhir.invalid_bundle")
    return ops


def _parse_entry(i: int, entry: Any) -> EntryOp:
    loc = f"Bundle.entry[{i}]"

    def bad(msg: str, where: str) -> InvalidInput:
        return InvalidInput(
            msg, issues=[Issue("error", "invalid", msg, f"{loc}{where}")], code="fhir.invalid_bundle"
        )

    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        raise bad("each entry needs a request", ".request")
    req = entry["request"]
    method = str(req.get("method", "")).upper()
    url = req.get("url")
    if method not in ORDER or not isinstance(url, str) or not url:
        raise bad("request.method and request.url are required", ".request")
    path, _, query = url.partition("?")
    parts = [p for p in urlsplit(path).path.split("/") if p]
    if not parts or not is_resource_type(parts[0]):
        raise bad("request.url must start with a resource type", ".request.url")
    op = EntryOp(i, method, url, parts[0], parts[1] if len(parts) > 1 else None, query or None)
    resource = entry.get("resource")
    if method in ("POST", "PUT"):
        if not isinstance(resource, dict):
            raise bad(f"a {method} entry needs a resource", ".resource")
        if resource.get("resourceType") != op.rt:
            raise bad("resource.resourceType differs from request.url", ".resource.resourceType")
        op.resource = resource
    if method == "PATCH":
        raise InvalidInput(
            "PATCH inside a Bundle is not supported; use PATCH on the resource URL",
            issues=[Issue("error", "not-supported", "PATCH in a Bundle", f"{loc}.request.method")],
            code="fhir.bundle_patch",
        )
    if method == "PUT" and op.rid is None and op.query is None:
        raise bad("PUT needs Type/id or Type?criteria", ".request.url")
    if method == "DELETE" and op.rid is None and op.query is None:
        raise bad("DELETE needs Type/id or Type?criteria", ".request.url")
    if op.rid is not None and method in ("PUT", "DELETE") and not ID_RE.match(op.rid):
        raise bad("invalid resource id", ".request.url")
    if "ifMatch" in req:
        op.if_match = parse_etag(str(req["ifMatch"]))
    op.if_none_exist = req.get("ifNoneExist")
    full_url = entry.get("fullUrl")
    op.full_url = full_url if isinstance(full_url, str) else None
    return op


def validate_entries(repo: FhirRepository, ops: list[EntryOp]) -> None:
    if not repo.validate:
        return
    issues: list[Issue] = []
    for op in ops:
        if op.resource is not None:
            loc = f"Bundle.entry[{op.index}].resource"
            for issue in validate_resource(op.resource, expected_type=op.rt):
                expr = issue.expression or ""
                expr = (
                    loc + expr[len(op.rt) :] if expr.startswith(op.rt) else (f"{loc}.{expr}" if expr else loc)
                )
                issues.append(Issue(issue.severity, issue.code, issue.diagnostics, expr))
    errors = [i for i in issues if i.severity in ("error", "fatal")]
    if errors:
        raise Unprocessable(errors[0].diagnostics, issues=errors, code="fhir.invalid_resource")


def process_transaction(
    repo: FhirRepository,
    ctx: RequestContext,
    bundle: Any,
    *,
    also: Callable[[Connection], None] | None = None,
) -> list[EntryResult]:
    """All or nothing: any failure rolls back every entry and reports where it happened.

    `also` runs inside the same database transaction (the ingest journal uses it).
    """
    with repo.audited(ctx, "transaction", None) as note:
        results = _transaction(repo, ctx, bundle, also)
        for r in results:
            if r.versioned is not None and r.versioned.resource is not None:
                note.patients.extend(repo.guard.subject(r.versioned.resource).patients)
        note.count = len(results)
        return results


def _transaction(
    repo: FhirRepository,
    ctx: RequestContext,
    bundle: Any,
    also: Callable[[Connection], None] | None,
) -> list[EntryResult]:
    ops = parse_entries(bundle, "transaction")
    validate_entries(repo, ops)
    for op in ops:
        if op.resource is not None:
            op.resource = repo.labeler.label(op.resource)
        repo.guard.check(ctx, _action(op.method), op.rt, op.resource)
    _prepare(repo, ops)
    results: dict[int, EntryResult] = {}
    with repo.write_tx() as conn:
        match = _Matcher(repo, ctx, conn, ops)
        _resolve_targets(ops, match)
        _rewrite_all_references(ops, match)
        planned = _plan(repo, conn, ops)
        repo.flush(conn, [p for _, p in planned])
        if also is not None:
            also(conn)
        for op, p in planned:
            results[op.index] = EntryResult(_status(p.status), p.versioned)
        for op in ops:
            if op.method == "DELETE" and op.index not in results:
                results[op.index] = EntryResult("204 No Content")
            if op.matched:
                cur = repo.store.read_current(conn, op.rt, op.target_id or "")
                assert cur is not None
                results[op.index] = EntryResult(
                    "200 OK", Versioned(op.rt, op.target_id or "", cur.version_id, cur.last_updated, None)
                )
    for op in ops:
        if op.method in ("GET", "HEAD"):
            results[op.index] = _get(repo, ctx, op)
    return [results[i] for i in range(len(ops))]


def process_batch(repo: FhirRepository, ctx: RequestContext, bundle: Any) -> list[EntryResult]:
    """Each entry on its own: failures are reported in place and do not affect the others."""
    ops = parse_entries(bundle, "batch")
    results: dict[int, EntryResult] = {}
    for op in sorted(ops, key=lambda o: ORDER[o.method]):
        try:
            results[op.index] = _batch_entry(repo, ctx, op)
        except HealthBrainError as err:
            results[op.index] = EntryResult(f"{err.status} {type(err).__name__}", outcome=err.issues)
    return [results[i] for i in range(len(ops))]


def _batch_entry(repo: FhirRepository, ctx: RequestContext, op: EntryOp) -> EntryResult:
    if op.method == "POST":
        w = repo.create(ctx, op.resource, rt=op.rt, if_none_exist=op.if_none_exist)
        return EntryResult("201 Created" if w.status == "created" else "200 OK", w.version)
    if op.method == "PUT":
        if op.query is not None:
            w = repo.conditional_update(ctx, op.rt, op.query, op.resource)
        else:
            w = repo.update(ctx, op.rt, op.rid or "", op.resource, if_match=op.if_match)
        return EntryResult(_status(w.status), w.version)
    if op.method == "DELETE":
        if op.query is not None:
            repo.conditional_delete(ctx, op.rt, op.query)
        else:
            repo.delete(ctx, op.rt, op.rid or "")
        return EntryResult("204 No Content")
    return _get(repo, ctx, op)


def _get(repo: FhirRepository, ctx: RequestContext, op: EntryOp) -> EntryResult:
    from healthbrain.fhir.reading import run_search  # reading imports repository; avoid a cycle at import

    try:
        if op.rid is not None:
            v = repo.read(ctx, op.rt, op.rid)
            return EntryResult("200 OK", v, v.resource)
        from urllib.parse import parse_qsl

        result = run_search(repo, ctx, op.rt, parse_qsl(op.query or "", keep_blank_values=True))
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": result.total,
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in result.matches],
        }
        return EntryResult("200 OK", resource=bundle)
    except HealthBrainError as err:
        return EntryResult(f"{err.status} {type(err).__name__}", outcome=err.issues)


def _action(method: str) -> str:
    return {"POST": "create", "PUT": "update", "DELETE": "delete", "GET": "read", "HEAD": "read"}[method]


def _status(status: str) -> str:
    return {
        "created": "201 Created",
        "updated": "200 OK",
        "unchanged": "200 OK",
        "deleted": "204 No Content",
        "matched": "200 OK",
    }[status]


def _prepare(repo: FhirRepository, ops: list[EntryOp]) -> None:
    """Do before the write lock what needs no database: ids for new resources, the references
    that resolve inside the Bundle, and the search index rows of every entry whose content is then
    final. On SQLite one writer at a time holds the lock, so indexing here lets another process's
    transaction commit meanwhile.

    An entry whose content depends on the database (a conditional reference, or a reference to an
    entry whose id a conditional create or update decides) is left to the locked phase.
    """
    known: dict[str, str] = {}
    undecided: set[str] = set()
    for op in ops:
        if op.method == "POST":
            op.target_id = new_id()
        if not op.full_url or op.method not in ("POST", "PUT"):
            continue
        if op.if_none_exist or op.query is not None:
            undecided.add(op.full_url)
        else:
            known[op.full_url] = f"{op.rt}/{op.target_id if op.method == 'POST' else op.rid}"
    for op in ops:
        rid = op.target_id if op.method == "POST" else op.rid if op.query is None else None
        if op.resource is None or rid is None:
            continue
        refs = list(iter_references(op.resource))
        if not all(_settled(ref["reference"], known, undecided) for ref in refs):
            continue
        for ref in refs:
            target = known.get(ref["reference"])
            if target is not None:
                ref["reference"] = target
        op.rewritten = True
        op.rows = repo.index_rows(op.rt, rid, op.resource)


def _settled(ref: str, known: dict[str, str], undecided: set[str]) -> bool:
    """Whether a reference's final form is known without the database."""
    if ref in known:
        return True
    if ref in undecided or ref.startswith(("urn:uuid:", "urn:oid:")):
        return False
    return "?" not in ref or ref.startswith("#")


def _lookups(ops: list[EntryOp]) -> list[tuple[str, str]]:
    """Every (type, query) the transaction will look up: conditional creates, updates and deletes,
    and the conditional references of entries not rewritten yet."""
    out: list[tuple[str, str]] = []
    for op in ops:
        if op.method == "POST" and op.if_none_exist:
            out.append((op.rt, op.if_none_exist))
        elif op.method in ("PUT", "DELETE") and op.query is not None:
            out.append((op.rt, op.query))
        if op.resource is not None and not op.rewritten:
            for ref in iter_references(op.resource):
                value = ref["reference"]
                if "?" in value and not value.startswith("#"):
                    rt, _, query = value.partition("?")
                    out.append((rt, query))
    return out


class _Matcher:
    """`match_ids` for one transaction, with the lookups that can share a statement done up front.

    Nothing is written before every lookup is done, so answering them early gives what asking one
    by one would have."""

    def __init__(
        self, repo: FhirRepository, ctx: RequestContext, conn: Connection, ops: list[EntryOp]
    ) -> None:
        self.repo, self.ctx, self.conn = repo, ctx, conn
        self.known = repo.match_many(conn, ctx, _lookups(ops))

    def __call__(self, rt: str, query: str) -> list[str]:
        found = self.known.get((rt, query))
        return found if found is not None else self.repo.match_ids(self.conn, self.ctx, rt, query)


def _resolve_targets(ops: list[EntryOp], match: _Matcher) -> None:
    for op in sorted(ops, key=lambda o: ORDER[o.method]):
        if op.method == "POST":
            op.target_id = op.target_id or new_id()
            if op.if_none_exist:
                found = match(op.rt, op.if_none_exist)
                if len(found) > 1:
                    raise _entry_error(op, PreconditionFailed, "ifNoneExist matches more than one resource")
                if found:
                    op.target_id, op.matched = found[0], True
        elif op.method in ("PUT", "DELETE") and op.query is not None:
            found = match(op.rt, op.query)
            if len(found) > 1:
                raise _entry_error(
                    op, PreconditionFailed, "the conditional URL matches more than one resource"
                )
            if found:
                op.target_id = found[0]
            elif op.method == "PUT":
                rid = (op.resource or {}).get("id")
                op.target_id = str(rid) if rid else new_id()
        else:
            op.target_id = op.rid
        if (
            op.method == "PUT"
            and op.resource is not None
            and op.rid is not None
            and op.resource.get("id") not in (None, op.rid)
        ):
            raise _entry_error(op, InvalidInput, "resource.id differs from request.url")


def _rewrite_all_references(ops: list[EntryOp], match: _Matcher) -> None:
    mapping: dict[str, str] = {}
    for op in ops:
        if op.full_url and op.target_id and op.method in ("POST", "PUT"):
            mapping[op.full_url] = f"{op.rt}/{op.target_id}"
    cache: dict[str, str] = {}
    for op in ops:
        if op.resource is None or op.rewritten:
            continue

        def rewrite(ref: str, op: EntryOp = op) -> str | None:
            if ref in mapping:
                return mapping[ref]
            if ref.startswith("urn:uuid:") or ref.startswith("urn:oid:"):
                raise _entry_error(
                    op, InvalidInput, "a urn reference does not resolve to any entry in the Bundle"
                )
            if "?" in ref and not ref.startswith("#"):
                if ref not in cache:
                    cache[ref] = _resolve_conditional(match, op, ref)
                return cache[ref]
            return None

        rewrite_references(op.resource, rewrite)


def _resolve_conditional(match: _Matcher, op: EntryOp, ref: str) -> str:
    rt, _, query = ref.partition("?")
    if not is_resource_type(rt):
        raise _entry_error(op, InvalidInput, "a conditional reference must start with a resource type")
    found = match(rt, query)
    if len(found) != 1:
        raise _entry_error(
            op,
            PreconditionFailed,
            f"a conditional reference matches {'no' if not found else 'more than one'} {rt}",
            code=UNRESOLVED_CONDITIONAL if not found else "fhir.transaction_entry",
        )
    return f"{rt}/{found[0]}"


def _plan(repo: FhirRepository, conn: Connection, ops: list[EntryOp]) -> list[tuple[EntryOp, PlannedWrite]]:
    writes = [o for o in ops if o.method in ("POST", "PUT", "DELETE") and not o.matched]
    keys = [(o.rt, o.target_id or "") for o in writes]
    if len(set(keys)) != len(keys):
        dup = next(o for o in writes if keys.count((o.rt, o.target_id or "")) > 1)
        raise _entry_error(dup, InvalidInput, "the same resource appears more than once in the transaction")
    current = repo.store.read_current_many(
        conn, [k for o, k in zip(writes, keys, strict=True) if o.method != "POST"]
    )
    now = repo.clock()
    planned: list[tuple[EntryOp, PlannedWrite]] = []
    for op in sorted(writes, key=lambda o: ORDER[o.method]):
        rid = op.target_id or ""
        prev = current.get((op.rt, rid))
        if op.if_match is not None and (prev is None or prev.deleted or prev.version_id != op.if_match):
            raise _entry_error(op, PreconditionFailed, f"the resource is not at version {op.if_match}")
        if op.method == "DELETE":
            if prev is None or prev.deleted:
                continue
            planned.append((op, repo.plan(op.rt, rid, None, prev, "DELETE", now)))
        else:
            assert op.resource is not None
            resource = {**op.resource, "id": rid}
            planned.append((op, repo.plan(op.rt, rid, resource, prev, op.method, now, rows=op.rows)))
    return planned


def _entry_error(
    op: EntryOp, cls: type[HealthBrainError], message: str, *, code: str = "fhir.transaction_entry"
) -> HealthBrainError:
    loc = f"Bundle.entry[{op.index}]"
    return cls(f"{loc}: {message}", issues=[Issue("error", cls.issue_type, message, loc)], code=code)
