"""Data-use requests and their three-level approval (三级授权): institution → region → province.

A request (research, AI model training, cross-border transfer) fixes its export specification when
it is submitted; an institution admin of the requester's institution, then a regional officer of a
city or county above it, then a provincial supervisor of its province approve it, in that order, each
a different person and none the requester; any of them may reject it, which ends it. Only an
approved request can run its de-identified export. Every step, refused ones included, is audited.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy import Engine, insert, select, update

from healthbrain.core.access import AuditEntry
from healthbrain.core.context import PurposeOfUse, RequestContext
from healthbrain.core.db import begin_write
from healthbrain.core.errors import Conflict, Forbidden, HealthBrainError, InvalidInput, Issue, NotFound
from healthbrain.security import tables as t
from healthbrain.security.deid_spec import ExportSpec, parse_spec
from healthbrain.security.orgs import OrgDirectory

__all__ = [
    "APPROVAL_LEVELS",
    "DATA_USE_PURPOSES",
    "AuditRecorder",
    "DataUseApprovals",
    "DataUseDecision",
    "DataUseRequest",
]

DATA_USE_PURPOSES = frozenset({PurposeOfUse.RESEARCH, PurposeOfUse.MODEL_TRAINING, PurposeOfUse.CROSS_BORDER})
# level → (the role that decides it, the organisation levels that role must act for)
APPROVAL_LEVELS: dict[int, tuple[str, frozenset[str]]] = {
    1: ("institution-admin", frozenset({"institution", "department", "other"})),
    2: ("regional-officer", frozenset({"city", "county"})),
    3: ("provincial-supervisor", frozenset({"province"})),
}
REQUESTER_ROLES = frozenset({"data-scientist", "clinician", "cdc-officer"})
OVERSEER_ROLES = frozenset({"security-auditor"})
RESOURCE = "DataUseRequest"


@dataclass(slots=True)
class _Note:
    """What the audit record of a step carries: the request and the level decided."""

    request_id: str | None = None
    detail: str = ""


class AuditRecorder(Protocol):
    """The audit sink (HashChainAuditSink.record)."""

    def record(self, ctx: RequestContext, entry: AuditEntry) -> None: ...


@dataclass(frozen=True, slots=True)
class DataUseDecision:
    level: int
    approver: str
    decision: str  # approve | reject
    reason: str
    decided_at: float


@dataclass(frozen=True, slots=True)
class DataUseRequest:
    """A request as stored, with its decisions so far."""

    id: str
    requester: str
    organization: str
    purpose: PurposeOfUse
    description: str
    spec: ExportSpec
    status: str  # pending | approved | rejected | exported
    level: int  # approvals obtained so far (0..3)
    created_at: float
    updated_at: float
    decisions: tuple[DataUseDecision, ...] = ()

    @property
    def runnable(self) -> bool:
        return self.status in ("approved", "exported")


class DataUseApprovals:
    """Submit, decide, read and list data-use requests."""

    def __init__(
        self,
        engine: Engine,
        orgs: OrgDirectory,
        audit: AuditRecorder,
        clock: Callable[[], float] = time.time,
        gate: Callable[[RequestContext], None] | None = None,
    ) -> None:
        """`gate` refuses suspended principals (the anomaly detector's `check`)."""
        self.engine = engine
        self.orgs = orgs
        self.audit = audit
        self.clock = clock
        self.gate = gate

    @contextmanager
    def _audited(self, ctx: RequestContext, action: str, note: _Note) -> Iterator[_Note]:
        try:
            if self.gate is not None:
                self.gate(ctx)
            yield note
        except HealthBrainError as err:
            self.audit.record(ctx, AuditEntry(action, RESOURCE, note.request_id, "failure", err.code))
            raise
        except Exception:
            self.audit.record(ctx, AuditEntry(action, RESOURCE, note.request_id, "failure", "internal"))
            raise
        self.audit.record(ctx, AuditEntry(action, RESOURCE, note.request_id, "success", note.detail))

    # ---- submit ----------------------------------------------------------------------------------
    def submit(
        self, ctx: RequestContext, purpose: PurposeOfUse, description: str, spec: Any
    ) -> DataUseRequest:
        """File a request for the principal's organisation; it waits for the institution's approval."""
        with self._audited(ctx, "data-use.submit", _Note()) as note:
            org = ctx.principal.organization
            if ctx.principal.kind != "user" or org is None or not (ctx.principal.roles & REQUESTER_ROLES):
                raise Forbidden("the role may not request data for secondary use", code="security.forbidden")
            problems: list[Issue] = []
            if purpose not in DATA_USE_PURPOSES:
                problems.append(
                    Issue("error", "value", "the purpose must be HRESCH, MLTRAINING or XBORDER", "purpose")
                )
            if not 10 <= len(description.strip()) <= 4000:
                problems.append(
                    Issue("error", "value", "the description must be 10-4000 characters", "description")
                )
            if problems:
                raise InvalidInput(
                    problems[0].diagnostics, issues=problems, code="governance.invalid_request"
                )
            parsed = parse_spec(spec, cross_border=purpose == PurposeOfUse.CROSS_BORDER)
            root = self.province_of(org)
            outside = [s for s in parsed.scope if root not in (s, *self.orgs.ancestors(s))]
            if outside:
                msg = "the scope reaches beyond the requester's province"
                raise InvalidInput(
                    msg, issues=[Issue("error", "value", msg, "spec.scope")], code="governance.scope"
                )
            now = self.clock()
            rid = note.request_id = uuid.uuid4().hex
            with begin_write(self.engine) as conn:
                conn.execute(
                    insert(t.data_use_request).values(
                        id=rid,
                        requester=ctx.principal.id,
                        organization=org,
                        purpose=purpose.value,
                        description=description.strip(),
                        spec=orjson.dumps(parsed.to_json()).decode(),
                        status="pending",
                        level=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
            return self._load(rid)

    def province_of(self, org: str) -> str:
        """The province an organisation lies in (the root of its hierarchy when none is marked)."""
        chain = [org, *self.orgs.ancestors(org)]
        return next(
            (o for o in chain if (n := self.orgs.node(o)) is not None and n.level == "province"), chain[-1]
        )

    # ---- decide ----------------------------------------------------------------------------------
    def decide(self, ctx: RequestContext, request_id: str, approve: bool, reason: str) -> DataUseRequest:
        """The next level's decision; raises Forbidden for the wrong approver, Conflict when decided."""
        action = "data-use.approve" if approve else "data-use.reject"
        with self._audited(ctx, action, _Note(request_id)) as note:
            request = self._load(request_id)
            if request.status != "pending":
                raise Conflict("the request is no longer awaiting a decision", code="governance.decided")
            level = request.level + 1
            self._check_approver(ctx, request, level)
            if not 2 <= len(reason.strip()) <= 2000:
                msg = "a decision gives its reason (2-2000 characters)"
                raise InvalidInput(
                    msg, issues=[Issue("error", "required", msg, "reason")], code="governance.reason"
                )
            now = self.clock()
            status = ("approved" if level == 3 else "pending") if approve else "rejected"
            with begin_write(self.engine) as conn:
                changed = conn.execute(
                    update(t.data_use_request)
                    .where(
                        t.data_use_request.c.id == request_id,
                        t.data_use_request.c.level == request.level,
                        t.data_use_request.c.status == "pending",
                    )
                    .values(level=level if approve else request.level, status=status, updated_at=now)
                ).rowcount
                if changed != 1:
                    raise Conflict("the request was decided concurrently", code="governance.decided")
                conn.execute(
                    insert(t.data_use_decision).values(
                        request_id=request_id,
                        level=level,
                        approver=ctx.principal.id,
                        decision="approve" if approve else "reject",
                        reason=reason.strip(),
                        decided_at=now,
                    )
                )
            note.detail = f"level-{level}"
            return self._load(request_id)

    def _check_approver(self, ctx: RequestContext, request: DataUseRequest, level: int) -> None:
        role, org_levels = APPROVAL_LEVELS[level]
        p = ctx.principal
        if p.kind != "user" or role not in p.roles or p.organization is None:
            raise Forbidden(f"level {level} is decided by the role {role}", code="governance.wrong_approver")
        if p.id == request.requester or any(d.approver == p.id for d in request.decisions):
            raise Forbidden(
                "one person approves at most one level, never their own request",
                code="governance.separation_of_duties",
            )
        node = self.orgs.node(p.organization)
        if node is None or node.level not in org_levels:
            raise Forbidden(
                f"level {level} is decided at another organisation level", code="governance.wrong_approver"
            )
        if level == 1:
            inside = self.orgs.care_unit(p.organization) == self.orgs.care_unit(request.organization)
        else:
            inside = p.organization in self.orgs.ancestors(request.organization)
        if level == 3:
            inside = inside and all(
                p.organization in (s, *self.orgs.ancestors(s)) for s in request.spec.scope
            )
        if not inside:
            raise Forbidden(
                "the request is outside the approver's organisation", code="governance.wrong_approver"
            )

    def mark_exported(self, request_id: str) -> None:
        """Record that the approved request's export ran."""
        with begin_write(self.engine) as conn:
            conn.execute(
                update(t.data_use_request)
                .where(
                    t.data_use_request.c.id == request_id,
                    t.data_use_request.c.status.in_(("approved", "exported")),
                )
                .values(status="exported", updated_at=self.clock())
            )

    # ---- read ------------------------------------------------------------------------------------
    def _load(self, request_id: str) -> DataUseRequest:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.data_use_request).where(t.data_use_request.c.id == request_id)
            ).first()
            if row is None:
                raise NotFound("no such data-use request", code="governance.not_found")
            decisions = conn.execute(
                select(t.data_use_decision)
                .where(t.data_use_decision.c.request_id == request_id)
                .order_by(t.data_use_decision.c.level)
            ).all()
        return _request(row._mapping, [d._mapping for d in decisions])

    def may_see(self, ctx: RequestContext, request: DataUseRequest) -> bool:
        """The requester, approvers over the requester's organisation, security auditors, the system."""
        p = ctx.principal
        if ctx.is_system or p.id == request.requester or p.roles & OVERSEER_ROLES:
            return True
        approver_roles = {role for role, _ in APPROVAL_LEVELS.values()}
        return (
            bool(p.roles & approver_roles)
            and p.organization is not None
            and (request.organization in self.orgs.subtree(p.organization))
        )

    def get(self, ctx: RequestContext, request_id: str) -> DataUseRequest:
        """One request, when the principal may see it (404 otherwise: existence is not confirmed)."""
        request = self._load(request_id)
        if not self.may_see(ctx, request):
            raise NotFound("no such data-use request", code="governance.not_found")
        return request

    def list_requests(
        self, ctx: RequestContext, status: str | None = None, limit: int = 200
    ) -> list[DataUseRequest]:
        """The requests the principal may see, newest first."""
        c = t.data_use_request.c
        stmt = select(c.id).order_by(c.created_at.desc()).limit(5000)
        if status is not None:
            stmt = stmt.where(c.status == status)
        with self.engine.connect() as conn:
            ids = [r.id for r in conn.execute(stmt)]
        out: list[DataUseRequest] = []
        for rid in ids:
            request = self._load(rid)
            if self.may_see(ctx, request):
                out.append(request)
                if len(out) >= limit:
                    break
        return out


def _request(row: Any, decisions: list[Any]) -> DataUseRequest:
    purpose = PurposeOfUse(row["purpose"])
    return DataUseRequest(
        id=row["id"],
        requester=row["requester"],
        organization=row["organization"],
        purpose=purpose,
        description=row["description"],
        spec=parse_spec(orjson.loads(row["spec"]), cross_border=purpose == PurposeOfUse.CROSS_BORDER),
        status=row["status"],
        level=int(row["level"]),
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        decisions=tuple(
            DataUseDecision(
                int(d["level"]), d["approver"], d["decision"], d["reason"], float(d["decided_at"])
            )
            for d in decisions
        ),
    )
