"""The operators' side of the quarantine: list, read, fix and re-release through the repository, discard.

A release writes the (corrected) record and every record held only with it in one transaction,
through the repository with the caller's context, so that policy, audit and events apply as for
any other write; the quarantine rows change status in that same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from healthbrain.core.access import AuditEntry
from healthbrain.core.context import PurposeOfUse, RequestContext, system_context
from healthbrain.core.db import begin_write
from healthbrain.core.errors import Conflict, Forbidden, InvalidInput, Issue, NotFound, Unprocessable
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.resources import iter_references, loads
from healthbrain.fhir.transaction import process_transaction
from healthbrain.quality.catalog import RuleSet, default_rules
from healthbrain.quality.elements import subject_reference
from healthbrain.quality.evaluate import evaluate_record, patient_facts
from healthbrain.quality.holding import final_reference
from healthbrain.quality.model import Evaluation, PatientFacts, RecordContext
from healthbrain.quality.quarantine import FEED_SOURCE_PREFIX
from healthbrain.quality.store import QualityStore, QuarantineRow

# Who may see the quarantine: summaries (ids, rules, times) and content (the held records).
SUMMARY_ROLES = frozenset({"platform-admin", "regional-officer", "provincial-supervisor", "institution-admin",
                           "institution-system"})  # fmt: skip
CONTENT_ROLES = frozenset({"institution-admin", "institution-system"})
INSTITUTION_ROLES = frozenset({"institution-admin", "institution-system"})


@dataclass(frozen=True, slots=True)
class ReleaseOutcome:
    """The quarantine entries released and the references of the records written."""

    released: tuple[tuple[str, str], ...]  # (quarantine id, Type/id)


def _institution_scope(ctx: RequestContext) -> str | None:
    """The institution an institution-level principal is confined to (None: not confined)."""
    if ctx.is_system or ctx.principal.roles & (SUMMARY_ROLES - INSTITUTION_ROLES):
        return None
    return ctx.principal.organization or ""


class QuarantineDesk:
    """List, inspect, release and discard quarantined records."""

    def __init__(
        self, repo: FhirRepository, rules: RuleSet | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.repo = repo
        self.rules = rules or default_rules()
        self.clock = clock
        self.store = QualityStore()
        self.system = system_context(PurposeOfUse.OPERATIONS)

    # ---- access -----------------------------------------------------------------------------------
    def _require(self, ctx: RequestContext, roles: frozenset[str], row: QuarantineRow | None = None) -> None:
        if ctx.is_system:
            return
        if not ctx.principal.roles & roles:
            raise Forbidden("this needs a data-quality role", code="quality.role_required")
        scope = _institution_scope(ctx)
        if row is not None and scope is not None and row.institution != scope:
            raise NotFound("no such quarantine entry", code="quality.quarantine_not_found")

    def _audit(self, ctx: RequestContext, action: str, row: QuarantineRow, outcome: str = "success") -> None:
        patient = subject_reference(orjson.loads(row.content)) if row.res_type != "Patient" else None
        own = f"Patient/{row.res_id}" if row.res_type == "Patient" and row.res_id else None
        patients = tuple(p for p in (patient, own) if p)
        entry = AuditEntry(f"quality.{action}", row.res_type, row.res_id, outcome, row.id, 1, patients)
        self.repo.audit.record(ctx, entry)

    # ---- reading ----------------------------------------------------------------------------------
    def entries(
        self, ctx: RequestContext, *, status: str | None = "held", institution: str | None = None,
        limit: int = 50, offset: int = 0,
    ) -> tuple[list[QuarantineRow], int]:  # fmt: skip
        """Quarantine entries, newest first (summaries: no content)."""
        self._require(ctx, SUMMARY_ROLES)
        scope = _institution_scope(ctx)
        if scope is not None:
            institution = scope
        with self.repo.engine.connect() as conn:
            return self.store.entries(
                conn, status=status, institution=institution, limit=limit, offset=offset
            )

    def _row(self, conn: Connection, qid: str) -> QuarantineRow:
        row = self.store.get(conn, qid)
        if row is None:
            raise NotFound("no such quarantine entry", code="quality.quarantine_not_found")
        return row

    def read(self, ctx: RequestContext, qid: str) -> tuple[QuarantineRow, dict[str, Any]]:
        """One entry with its content in the clear (audited)."""
        self._require(ctx, SUMMARY_ROLES | CONTENT_ROLES)
        with self.repo.engine.connect() as conn:
            row = self._row(conn, qid)
        self._require(ctx, CONTENT_ROLES, row)
        self._audit(ctx, "quarantine.read", row)
        return row, self._content(row)

    def _content(self, row: QuarantineRow) -> dict[str, Any]:
        protector = self.repo.protector
        text = row.content
        if protector is not None and row.res_type in protector.protected_types:
            text = protector.reveal_text(row.res_type, text)
        return loads(text)

    # ---- deciding ---------------------------------------------------------------------------------
    def discard(self, ctx: RequestContext, qid: str, note: str | None = None) -> QuarantineRow:
        """Give up on an entry: it stays listed, is never written."""
        with begin_write(self.repo.engine) as conn:  # read then write: the lock first
            row = self._row(conn, qid)
            self._require(ctx, CONTENT_ROLES, row)
            if row.status != "held":
                raise Conflict("the entry is no longer held", code="quality.not_held")
            self.store.decide(conn, qid, "discarded", ctx.principal.id, note, self.clock())
        self._audit(ctx, "quarantine.discard", row)
        return row

    def release(
        self, ctx: RequestContext, qid: str, resource: dict[str, Any] | None = None, *,
        note: str | None = None, override: bool = False,
    ) -> ReleaseOutcome:  # fmt: skip
        """Write a held record (or its corrected version) and what was held only with it.

        Raises:
            Unprocessable: the record still fails a hard rule (and no override with a note was given).
            Conflict: it waits for another held record it refers to, or is no longer held.
        """
        with self.repo.engine.connect() as conn:
            row = self._row(conn, qid)
        self._require(ctx, CONTENT_ROLES, row)
        if row.status != "held":
            raise Conflict("the entry is no longer held", code="quality.not_held")
        content = self._replacement(row, resource) if resource is not None else self._content(row)
        self._check_rules(content, override, note)
        with self.repo.engine.connect() as conn:
            blocking = self._blocking(conn, row, content)
            if blocking:
                raise Conflict(
                    "the record refers to other quarantined records; release or fix them first",
                    issues=[Issue("error", "conflict", "held with", f"quarantine/{b}") for b in blocking],
                    code="quality.held_by_others",
                )
            members = [(row, content), *self._ready_dependents(conn, row.id)]
            bundle = self._bundle(conn, members)
        actor, now = ctx.principal.id, self.clock()

        def mark(conn: Connection) -> None:
            states = self.store.statuses(conn, [m.id for m, _ in members])
            if any(s != "held" for s in states.values()):
                raise Conflict("the entry was decided concurrently", code="quality.not_held")
            for m, _ in members:
                self.store.decide(conn, m.id, "released", actor, note, now)

        results = process_transaction(self.repo, ctx, bundle, also=mark)
        released = []
        with begin_write(self.repo.engine) as conn:  # read then write: the lock first
            for (m, _), res in zip(members, results, strict=True):
                ref = f"{res.versioned.resource_type}/{res.versioned.id}" if res.versioned else ""
                self.store.update_entry(conn, m.id, released_ref=ref or None)
                released.append((m.id, ref))
        self._audit(ctx, "quarantine.release", row)
        return ReleaseOutcome(tuple(released))

    def _replacement(self, row: QuarantineRow, resource: Any) -> dict[str, Any]:
        if not isinstance(resource, dict) or resource.get("resourceType") != row.res_type:
            raise InvalidInput(
                f"the corrected record must be a {row.res_type}",
                issues=[Issue("error", "invalid", "wrong resource type", "resourceType")],
                code="quality.wrong_type",
            )
        if row.res_id is not None and resource.get("id") not in (None, row.res_id):
            raise InvalidInput(
                "the corrected record must keep the held record's id",
                issues=[Issue("error", "invalid", "id differs from the held record", f"{row.res_type}.id")],
                code="quality.id_mismatch",
            )
        return dict(resource)

    def _facts(self, content: dict[str, Any], arrival: datetime) -> PatientFacts | None:
        subject = subject_reference(content)
        if content.get("resourceType") == "Patient" or not subject or not subject.startswith("Patient/"):
            return None
        try:
            patient = self.repo.read(self.system, "Patient", subject.split("/", 1)[1]).resource
        except (NotFound, Forbidden):
            return None
        if patient is None:
            return None
        ev = evaluate_record(patient, RecordContext(arrival), self.rules)
        return patient_facts(patient, ev, self.rules)

    def _check_rules(self, content: dict[str, Any], override: bool, note: str | None) -> Evaluation:
        arrival = datetime.fromtimestamp(self.clock(), UTC)
        ev = evaluate_record(content, RecordContext(arrival, self._facts(content, arrival)), self.rules)
        if ev.hard and override and not (note or "").strip():
            raise InvalidInput(
                "releasing a failing record needs a note saying why", code="quality.override_note"
            )
        if ev.hard and not override:
            raise Unprocessable(
                "the record still fails hard data-quality rules",
                issues=[
                    Issue("error", "business-rule", self.rules.titles.get(f.rule, f.rule), f.path)
                    for f in ev.hard
                ],
                code="quality.still_failing",
            )
        return ev

    def _referenced(self, holder: QuarantineRow, content: dict[str, Any]) -> bool:
        literal = f"{holder.res_type}/{holder.res_id}" if holder.res_id else None
        names = {n for n in (holder.full_url, literal) if n}
        return any(node["reference"] in names for node in iter_references(content))

    def _blocking(self, conn: Connection, row: QuarantineRow, content: dict[str, Any],
                  releasing: frozenset[str] = frozenset()) -> list[str]:  # fmt: skip
        """Holders that are not released (nor being released) and that the content still refers to."""
        out = []
        for hid in self.store.holders(conn, row.id):
            holder = self.store.get(conn, hid)
            if holder is None or holder.status == "released" or hid in releasing:
                continue
            if self._referenced(holder, content):
                out.append(hid)
        return out

    def _ready_dependents(self, conn: Connection, root: str) -> list[tuple[QuarantineRow, dict[str, Any]]]:
        """Entries held only with the released one (transitively) that can go with it."""
        chosen: dict[str, tuple[QuarantineRow, dict[str, Any]]] = {}
        frontier = [root]
        while frontier:
            current = frontier.pop()
            for did in self.store.dependents(conn, current):
                dep = self.store.get(conn, did)
                if dep is None or dep.status != "held" or dep.own or did in chosen:
                    continue
                content = self._content(dep)
                if self._blocking(conn, dep, content, frozenset({root, *chosen})):
                    continue
                chosen[did] = (dep, content)
                frontier.append(did)
        return list(chosen.values())

    def _bundle(
        self, conn: Connection, members: list[tuple[QuarantineRow, dict[str, Any]]]
    ) -> dict[str, Any]:
        inside = {m.id for m, _ in members}
        finals: dict[str, str] = {}
        for m, _ in members:
            for hid in self.store.holders(conn, m.id):
                holder = self.store.get(conn, hid)
                if hid not in inside and holder is not None and holder.full_url:
                    ref = holder.released_ref or final_reference({"request": holder.request})
                    if ref:
                        finals[holder.full_url] = ref
        entries = []
        for m, content in members:
            resource = orjson.loads(orjson.dumps(content))
            for node in iter_references(resource):
                if node["reference"] in finals:
                    node["reference"] = finals[node["reference"]]
            if not (resource.get("meta") or {}).get("source"):
                resource["meta"] = {**(resource.get("meta") or {}), "source": FEED_SOURCE_PREFIX + m.feed}
            entry: dict[str, Any] = {"resource": resource, "request": dict(m.request)}
            if m.full_url:
                entry["fullUrl"] = m.full_url
            entries.append(entry)
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
