"""FhirRepository: the one place every FHIR read and write goes through.

Policy, validation, indexing, versioning, the outbox event and audit all happen here, on every
path, so that routes, CLI commands and services stay thin.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import jsonpatch
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from healthbrain.core.context import RequestContext
from healthbrain.core.db import begin_write, single_statement
from healthbrain.core.errors import (
    Conflict,
    Gone,
    HealthBrainError,
    InvalidInput,
    Issue,
    NotFound,
    PreconditionFailed,
    Unprocessable,
)
from healthbrain.fhir.access import AccessGuard
from healthbrain.fhir.indexing import ResourceIndexer
from healthbrain.fhir.ports import (
    AccessPolicy,
    AuditEntry,
    AuditSink,
    LogAuditSink,
    NoLabels,
    PermitAllPolicy,
    ResourceLabeler,
)
from healthbrain.fhir.protection import FieldProtector, protect_rows
from healthbrain.fhir.resources import ID_RE, dumps, loads, new_id, stamp, without_version_meta
from healthbrain.fhir.search import SearchParser
from healthbrain.fhir.search_values import token_conds
from healthbrain.fhir.searchparams import SearchParamRegistry, default_registry
from healthbrain.fhir.types import is_resource_type
from healthbrain.fhir.validation import validate_or_raise
from healthbrain.storage.query import AnyOf, IndexMatch
from healthbrain.storage.rows import IndexRows
from healthbrain.storage.store import SqlResourceStore, StoredVersion, VersionConflict, VersionWrite


@dataclass(frozen=True, slots=True)
class Versioned:
    """A resource as stored: content plus version and time."""

    resource_type: str
    id: str
    version_id: int
    last_updated: float
    resource: dict[str, Any] | None  # None for a deleted version


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of one write: `status` is created | updated | deleted | unchanged | matched."""

    status: str
    version: Versioned


@dataclass(slots=True)
class AuditNote:
    """What a repository call learns while it runs and the audit record should carry."""

    patients: list[str] = field(default_factory=list)
    count: int = 0
    params: tuple[str, ...] = ()
    detail: str = ""


@dataclass(slots=True)
class PlannedWrite:
    """A write prepared inside a transaction, before it is flushed."""

    write: VersionWrite
    versioned: Versioned
    status: str


class FhirRepository:
    """Versioned, searchable FHIR storage with policy, audit and events on every call."""

    def __init__(
        self,
        engine: Engine,
        *,
        registry: SearchParamRegistry | None = None,
        policy: AccessPolicy | None = None,
        audit: AuditSink | None = None,
        labeler: ResourceLabeler | None = None,
        protector: FieldProtector | None = None,
        validate: bool = True,
        base_url: str = "",
        default_count: int = 50,
        max_count: int = 1000,
        clock: Callable[[], float] = time.time,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.registry = registry or default_registry()
        self.indexer = ResourceIndexer(self.registry)
        self.policy: AccessPolicy = policy or PermitAllPolicy()
        self.guard = AccessGuard(self.policy, self.registry, self.indexer)
        self.audit: AuditSink = audit or LogAuditSink()
        self.labeler: ResourceLabeler = labeler or NoLabels()
        self.validate = validate
        self.base_url = base_url.rstrip("/")
        self.protector = protector
        self.store = SqlResourceStore(reveal=protector.reveal_text if protector is not None else None)
        self.parser = SearchParser(
            self.registry,
            default_count=default_count,
            max_count=max_count,
            base_url=self.base_url,
            protector=protector,
        )
        self.clock = clock
        self.on_commit = on_commit

    # ---- plumbing ------------------------------------------------------------------------------
    @contextmanager
    def write_tx(self) -> Iterator[Connection]:
        """A write transaction; version conflicts become 409 and listeners hear about commits."""
        try:
            with begin_write(self.engine) as conn:
                yield conn
        except (IntegrityError, VersionConflict) as exc:
            raise Conflict(
                "the resource was changed or created concurrently; retry", code="fhir.version_conflict"
            ) from exc
        if self.on_commit is not None:
            self.on_commit()

    @contextmanager
    def audited(
        self, ctx: RequestContext, action: str, rt: str | None, rid: str | None = None
    ) -> Iterator[AuditNote]:
        """Audit the block: success when it returns, failure with the error code when it raises.

        The block fills the yielded note with the patients it touched and what it counted.
        """
        note = AuditNote()

        def entry(outcome: str, detail: str) -> AuditEntry:
            patients = tuple(dict.fromkeys(note.patients))
            return AuditEntry(action, rt, rid, outcome, detail, note.count, patients, note.params)

        try:
            yield note
        except HealthBrainError as err:
            self.audit.record(ctx, entry("failure", note.detail or err.code))
            raise
        except Exception:
            self.audit.record(ctx, entry("failure", "internal"))
            raise
        self.audit.record(ctx, entry("success", note.detail))

    def check_type(self, rt: str) -> None:
        if not is_resource_type(rt):
            raise NotFound(f"unknown resource type '{rt}'", code="fhir.unknown_type")

    def check_incoming(self, resource: Any, rt: str | None, location: str = "") -> dict[str, Any]:
        """Structural checks (and full validation when enabled) for a resource from outside."""
        if not isinstance(resource, dict):
            raise InvalidInput("the body must be a JSON object", code="fhir.not_an_object")
        actual = resource.get("resourceType")
        if rt is not None and actual != rt:
            raise InvalidInput(
                f"resourceType '{actual}' does not match the URL's type '{rt}'",
                issues=[Issue("error", "invalid", "resourceType does not match the URL", "resourceType")],
                code="fhir.wrong_type",
            )
        if not isinstance(actual, str) or not is_resource_type(actual):
            raise InvalidInput("missing or unknown resourceType", code="fhir.unknown_type")
        if self.validate:
            validate_or_raise(resource, expected_type=actual)
        return resource

    def plan(
        self,
        rt: str,
        rid: str,
        resource: dict[str, Any] | None,
        prev: StoredVersion | None,
        method: str,
        now: float,
        *,
        rows: IndexRows | None = None,
    ) -> PlannedWrite:
        """Prepare a new version (or detect an unchanged update) without touching the database.

        `rows` are the resource's index rows when the caller computed them already (`index_rows`).
        """
        prev_version = prev.version_id if prev is not None else 0
        if resource is not None and prev is not None and not prev.deleted and prev.content is not None:
            old = loads(prev.content)
            if without_version_meta(old) == without_version_meta({**resource, "id": rid}):
                versioned = Versioned(rt, rid, prev.version_id, prev.last_updated, old)
                dummy = VersionWrite(
                    rt, rid, prev.version_id, prev.last_updated, "NOOP", None, None, prev.version_id
                )
                return PlannedWrite(dummy, versioned, "unchanged")
        version_id = prev_version + 1
        if resource is None:
            write = VersionWrite(rt, rid, version_id, now, "DELETE", None, None, prev_version)
            return PlannedWrite(write, Versioned(rt, rid, version_id, now, None), "deleted")
        stamped = stamp(resource, rid, version_id, now)
        if rows is None:
            rows = self.indexer.index(stamped)
        stored = stamped
        if self.protector is not None and rt in self.protector.protected_types:
            # index from the plaintext, store sealed values and blind index rows
            stored, sealed = self.protector.seal(stamped)
            rows = protect_rows(self.protector, rt, rows, sealed)
        write = VersionWrite(rt, rid, version_id, now, method, dumps(stored), rows, prev_version)
        status = "created" if prev is None or prev.deleted else "updated"
        return PlannedWrite(write, Versioned(rt, rid, version_id, now, stamped), status)

    def index_rows(self, rt: str, rid: str, resource: dict[str, Any]) -> IndexRows:
        """The search index rows `plan` would write for this content; they do not depend on the
        version or time stamped into meta, so they can be computed before the write lock."""
        return self.indexer.index(stamp({**resource, "resourceType": rt}, rid, 1, 0.0))

    def flush(self, conn: Connection, planned: Sequence[PlannedWrite]) -> None:
        self.store.write_versions(conn, [p.write for p in planned if p.write.method != "NOOP"])

    def match_ids(self, conn: Connection, ctx: RequestContext, rt: str, query: str) -> list[str]:
        """Ids of live resources matching a conditional URL's query (at most 2 are needed)."""
        params = parse_qsl(query, keep_blank_values=True)
        if not params:
            raise PreconditionFailed("a conditional operation needs search criteria", code="fhir.no_criteria")
        req = self.parser.parse(rt, params)
        restricted = self.guard.restrict(ctx, "search", req.query)
        return [v.res_id for v in self.store.search(conn, restricted, limit=2, offset=0)]

    def match_many(
        self, conn: Connection, ctx: RequestContext, lookups: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[str]]:
        """`match_ids` for many (type, query) pairs at once, as far as they can share a query.

        Lookups of one exact token (`identifier=system|value`, the usual conditional reference of
        an integration) on the same type and parameter are answered by one statement; the result
        holds up to 2 ids per lookup, like `match_ids`. Other lookups are left out (callers fall
        back to `match_ids`, which also reports their errors).
        """
        groups: dict[tuple[str, str, tuple[str, ...]], list[tuple[tuple[str, str], tuple[Any, ...]]]] = {}
        for rt, query in dict.fromkeys(lookups):
            match = self._single_token(rt, query)
            if match is not None:
                param, columns, values = match
                groups.setdefault((rt, param, columns), []).append(((rt, query), values))
        out: dict[tuple[str, str], list[str]] = {}
        for (rt, param, columns), members in groups.items():
            constraints = self.guard.constraints(ctx, "search", rt)
            found = self.store.index_matches(
                conn, rt, "token", param, columns, [v for _, v in members], constraints
            )
            for key, values in members:
                out[key] = found.get(values, [])[:2]
        return out

    def _single_token(self, rt: str, query: str) -> tuple[str, tuple[str, ...], tuple[Any, ...]] | None:
        """(param, columns, values) when the query is one token parameter of exact values."""
        if not is_resource_type(rt):
            return None
        params = parse_qsl(query, keep_blank_values=True)
        if len(params) != 1:
            return None
        name, value = params[0]
        plain = value and not name.startswith("_") and not set("\\,") & set(value)
        sp = self.registry.get(rt, name) if plain else None
        if sp is not None and sp.type == "token":
            # `identifier=system|value` of an integration, nothing escaped, one value: what the
            # parser would make of it, without the parser (a message carries a dozen of these)
            conds = token_conds(value)
            if all(c.op == "=" for c in conds):
                return sp.code, tuple(c.column for c in conds), tuple(c.value for c in conds)
            return None
        return self._parsed_single_token(rt, params)

    def _parsed_single_token(
        self, rt: str, params: list[tuple[str, str]]
    ) -> tuple[str, tuple[str, ...], tuple[Any, ...]] | None:
        try:
            req = self.parser.parse(rt, params)
        except HealthBrainError:
            return None
        criteria = req.query.criteria
        if len(criteria) != 1 or req.query.constraints or req.query.sort:
            return None
        only = criteria[0]
        if isinstance(only, AnyOf) and len(only.options) == 1:
            only = only.options[0]
        if not isinstance(only, IndexMatch) or only.kind != "token" or not only.conds:
            return None
        if any(c.op != "=" for c in only.conds):
            return None
        return only.param, tuple(c.column for c in only.conds), tuple(c.value for c in only.conds)

    # ---- reads ---------------------------------------------------------------------------------
    def ensure_visible(
        self, ctx: RequestContext, action: str, resource: dict[str, Any], note: AuditNote
    ) -> None:
        """Instance-level check for a read: a resource the context may not see is "not found".

        Answering 404 rather than 403 does not confirm to an unauthorised caller that it exists; the
        audit record keeps the real reason.
        """
        subject = self.guard.subject(resource)
        note.patients.extend(subject.patients)
        if not self.policy.permitted(ctx, action, [subject])[0]:
            note.detail = "security.not_visible"
            rt, rid = resource.get("resourceType"), resource.get("id")
            raise NotFound(f"{rt}/{rid} is not known", code="fhir.not_found")

    def read(self, ctx: RequestContext, rt: str, rid: str) -> Versioned:
        with self.audited(ctx, "read", rt, rid) as note:
            self.check_type(rt)
            self.guard.authorize(ctx, "read", rt)
            constraints = self.guard.constraints(ctx, "read", rt)
            with single_statement(self.engine) as conn:  # one query either way
                if constraints:
                    # one query: the resource, if the policy's constraints let this context see it
                    found = self.store.read_constrained(conn, rt, rid, constraints)
                    if found is not None and found.content is not None:
                        resource = loads(found.content)
                        note.patients.extend(self.guard.subject(resource).patients)
                        return Versioned(rt, rid, found.version_id, found.last_updated, resource)
                cur = self.store.read_current(conn, rt, rid)
            if cur is None:
                raise NotFound(f"{rt}/{rid} is not known", code="fhir.not_found")
            if cur.deleted or cur.content is None:
                raise Gone(f"{rt}/{rid} was deleted", code="fhir.deleted")
            resource = loads(cur.content)
            self.ensure_visible(ctx, "read", resource, note)
            return Versioned(rt, rid, cur.version_id, cur.last_updated, resource)

    def vread(self, ctx: RequestContext, rt: str, rid: str, version_id: int) -> Versioned:
        with self.audited(ctx, "vread", rt, rid) as note:
            self.check_type(rt)
            self.guard.authorize(ctx, "read", rt)
            with self.engine.connect() as conn:
                ver = self.store.read_version(conn, rt, rid, version_id)
                cur = self.store.read_current(conn, rt, rid)
            if ver is None:
                raise NotFound(f"{rt}/{rid} has no version {version_id}", code="fhir.version_not_found")
            # an old version is visible when the resource is, now and then
            if cur is not None and cur.content is not None:
                self.ensure_visible(ctx, "read", loads(cur.content), note)
            if ver.deleted or ver.content is None:
                raise Gone(f"version {version_id} of {rt}/{rid} is a deletion", code="fhir.deleted")
            resource = loads(ver.content)
            self.ensure_visible(ctx, "read", resource, note)
            return Versioned(rt, rid, version_id, ver.last_updated, resource)

    # ---- writes --------------------------------------------------------------------------------
    def create(
        self, ctx: RequestContext, resource: Any, *, rt: str | None = None, if_none_exist: str | None = None
    ) -> WriteResult:
        """Create with a server-assigned id; with `If-None-Exist`, return the match instead (200)."""
        with self.audited(ctx, "create", rt) as note:
            resource = self.labeler.label(self.check_incoming(resource, rt))
            rt = str(resource["resourceType"])
            self.guard.check(ctx, "create", rt, resource)
            with self.write_tx() as conn:
                if if_none_exist:
                    found = self.match_ids(conn, ctx, rt, if_none_exist)
                    if len(found) > 1:
                        raise PreconditionFailed(
                            "the If-None-Exist criteria match more than one resource",
                            code="fhir.multiple_matches",
                        )
                    if found:
                        cur = self.store.read_current(conn, rt, found[0])
                        assert cur is not None and cur.content is not None
                        return WriteResult(
                            "matched",
                            Versioned(rt, found[0], cur.version_id, cur.last_updated, loads(cur.content)),
                        )
                planned = self.plan(rt, new_id(), dict(resource), None, "POST", self.clock())
                self.flush(conn, [planned])
            if planned.versioned.resource is not None:
                note.patients.extend(self.guard.subject(planned.versioned.resource).patients)
            return WriteResult(planned.status, planned.versioned)

    def update(
        self, ctx: RequestContext, rt: str, rid: str, resource: Any, *, if_match: int | None = None
    ) -> WriteResult:
        """Update (or create with the client's id); `if_match` enforces optimistic locking."""
        with self.audited(ctx, "update", rt, rid) as note:
            self.check_type(rt)
            resource = self.labeler.label(self.check_incoming(resource, rt))
            if resource.get("id") != rid:
                raise InvalidInput(
                    "the resource id must equal the id in the URL",
                    issues=[Issue("error", "invalid", "id does not match the URL", f"{rt}.id")],
                    code="fhir.id_mismatch",
                )
            if not ID_RE.match(rid):
                raise InvalidInput("invalid resource id", code="fhir.invalid_id")
            self.guard.check(ctx, "update", rt, resource)
            note.patients.extend(self.guard.subject(resource).patients)
            with self.write_tx() as conn:
                prev = self.store.read_current(conn, rt, rid)
                if prev is not None and prev.content is not None:
                    # replacing what one may not see is not allowed either
                    self.guard.check(ctx, "update", rt, loads(prev.content))
                self._check_if_match(rt, rid, prev, if_match)
                planned = self.plan(rt, rid, dict(resource), prev, "PUT", self.clock())
                self.flush(conn, [planned])
            return WriteResult(planned.status, planned.versioned)

    def conditional_update(self, ctx: RequestContext, rt: str, query: str, resource: Any) -> WriteResult:
        """PUT Type?criteria: create when nothing matches, update the one match, 412 for several."""
        self.check_type(rt)
        resource = self.check_incoming(resource, rt)
        with self.engine.connect() as conn:
            found = self.match_ids(conn, ctx, rt, query)
        if len(found) > 1:
            raise PreconditionFailed(
                "the criteria match more than one resource", code="fhir.multiple_matches"
            )
        if not found:
            if resource.get("id"):
                return self.update(ctx, rt, str(resource["id"]), resource)
            return self.create(ctx, resource, rt=rt)
        if resource.get("id") not in (None, found[0]):
            raise InvalidInput("the resource id differs from the matched resource", code="fhir.id_mismatch")
        return self.update(ctx, rt, found[0], {**resource, "id": found[0]})

    def patch(
        self, ctx: RequestContext, rt: str, rid: str, operations: Any, *, if_match: int | None = None
    ) -> WriteResult:
        """Apply a JSON Patch (RFC 6902) to the current version."""
        with self.audited(ctx, "patch", rt, rid) as note:
            self.check_type(rt)
            if not isinstance(operations, list):
                raise InvalidInput(
                    "a JSON Patch body must be an array of operations", code="fhir.invalid_patch"
                )
            self.guard.authorize(ctx, "update", rt)
            with self.write_tx() as conn:
                prev = self.store.read_current(conn, rt, rid)
                if prev is None:
                    raise NotFound(f"{rt}/{rid} is not known")
                if prev.deleted or prev.content is None:
                    raise Gone(f"{rt}/{rid} was deleted")
                self.ensure_visible(ctx, "update", loads(prev.content), note)
                self._check_if_match(rt, rid, prev, if_match)
                try:
                    patched = jsonpatch.apply_patch(loads(prev.content), operations)
                except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
                    raise Unprocessable(
                        f"the patch cannot be applied: {type(exc).__name__}", code="fhir.patch_failed"
                    ) from exc
                if patched.get("id") != rid or patched.get("resourceType") != rt:
                    raise Unprocessable(
                        "a patch may not change id or resourceType", code="fhir.patch_identity"
                    )
                patched = self.labeler.label(self.check_incoming(patched, rt))
                self.guard.check(ctx, "update", rt, patched)
                planned = self.plan(rt, rid, patched, prev, "PATCH", self.clock())
                self.flush(conn, [planned])
            return WriteResult(planned.status, planned.versioned)

    def delete(self, ctx: RequestContext, rt: str, rid: str) -> WriteResult:
        """Write a tombstone version; deleting a missing or deleted resource is not an error."""
        with self.audited(ctx, "delete", rt, rid) as note:
            self.check_type(rt)
            self.guard.authorize(ctx, "delete", rt)
            with self.write_tx() as conn:
                prev = self.store.read_current(conn, rt, rid)
                if prev is None or prev.deleted:
                    version = prev.version_id if prev else 0
                    return WriteResult(
                        "unchanged", Versioned(rt, rid, version, prev.last_updated if prev else 0, None)
                    )
                self.ensure_visible(ctx, "delete", loads(prev.content or "{}"), note)
                planned = self.plan(rt, rid, None, prev, "DELETE", self.clock())
                self.flush(conn, [planned])
            return WriteResult(planned.status, planned.versioned)

    def conditional_delete(self, ctx: RequestContext, rt: str, query: str) -> list[WriteResult]:
        """DELETE Type?criteria: delete every match (up to 100, else 412)."""
        self.check_type(rt)
        with self.engine.connect() as conn:
            req = self.parser.parse(rt, parse_qsl(query, keep_blank_values=True))
            if not req.query.criteria:
                raise PreconditionFailed(
                    "a conditional delete needs search criteria", code="fhir.no_criteria"
                )
            restricted = self.guard.restrict(ctx, "delete", req.query)
            ids = [v.res_id for v in self.store.search(conn, restricted, limit=101, offset=0)]
        if len(ids) > 100:
            raise PreconditionFailed(
                "the criteria match more than 100 resources", code="fhir.too_many_matches"
            )
        return [self.delete(ctx, rt, rid) for rid in ids]

    @staticmethod
    def _check_if_match(rt: str, rid: str, prev: StoredVersion | None, if_match: int | None) -> None:
        # See: https://hl7.org/fhir/R4/http.html#concurrency
        if if_match is None:
            return
        current = prev.version_id if prev is not None and not prev.deleted else None
        if current != if_match:
            raise PreconditionFailed(f"{rt}/{rid} is not at version {if_match}", code="fhir.version_mismatch")
