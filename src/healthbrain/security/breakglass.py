"""Break-glass: emergency access to a patient with a mandatory reason, a time limit and an alert."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from sqlalchemy import Engine, insert, select

from healthbrain.core.context import PurposeOfUse, RequestContext
from healthbrain.core.db import begin_write
from healthbrain.core.errors import Forbidden, InvalidInput, Issue
from healthbrain.core.settings import SecuritySettings
from healthbrain.security import tables as t

__all__ = ["BreakGlassGrant", "BreakGlassLedger"]

MIN_REASON = 10
EMERGENCY_ROLES = frozenset({"clinician", "nurse"})


@dataclass(frozen=True, slots=True)
class BreakGlassGrant:
    id: str
    principal: str
    patient: str
    expires_at: float


class BreakGlassLedger:
    """Grants, lists and expires break-glass access; every grant raises a high-severity anomaly."""

    def __init__(
        self, engine: Engine, settings: SecuritySettings, clock: Callable[[], float] = time.time
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock

    def grant(
        self, ctx: RequestContext, patient: str, reason: str, minutes: int | None = None
    ) -> BreakGlassGrant:
        """Open emergency access to one patient for `minutes` (at most the configured limit)."""
        if not (ctx.principal.roles & EMERGENCY_ROLES):
            raise Forbidden("only clinicians and nurses may break the glass", code="security.forbidden")
        if ctx.purpose != PurposeOfUse.EMERGENCY:
            raise Forbidden("break-glass needs the purpose of use ETREAT", code="security.purpose")
        if len(reason.strip()) < MIN_REASON:
            msg = f"a break-glass reason of at least {MIN_REASON} characters is mandatory"
            raise InvalidInput(
                msg, issues=[Issue("error", "required", msg, "reason")], code="security.reason"
            )
        limit = self.settings.break_glass_minutes
        minutes = min(minutes or limit, limit)
        now = self.clock()
        grant = BreakGlassGrant(uuid.uuid4().hex, ctx.principal.id, patient, now + minutes * 60)
        with begin_write(self.engine) as conn:
            conn.execute(
                insert(t.break_glass).values(
                    id=grant.id,
                    principal=grant.principal,
                    organization=ctx.principal.organization,
                    patient=patient,
                    reason=reason.strip()[:2000],
                    created_at=now,
                    expires_at=grant.expires_at,
                )
            )
            conn.execute(
                insert(t.anomaly).values(
                    id=uuid.uuid4().hex,
                    detected_at=now,
                    principal=ctx.principal.id,
                    rule="break-glass",
                    severity="high",
                    detail=orjson.dumps({"patient": patient, "grant": grant.id, "minutes": minutes}).decode(),
                    blocked=False,
                    status="open",
                )
            )
        return grant

    def active_patients(self, principal: str) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.break_glass.c.patient).where(
                    t.break_glass.c.principal == principal, t.break_glass.c.expires_at > self.clock()
                )
            )
            return {r.patient for r in rows}
