"""Who is asking and why: the request context every repository call takes."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field


class PurposeOfUse(enum.StrEnum):
    """Purposes of use (HL7 v3 PurposeOfUse codes where one exists)."""

    TREATMENT = "TREAT"
    EMERGENCY = "ETREAT"
    PUBLIC_HEALTH = "PUBHLTH"
    INSURANCE = "CLMATTCH"
    QUALITY = "HQUALIMP"
    RESEARCH = "HRESCH"
    MODEL_TRAINING = "MLTRAINING"
    COMMERCIAL = "COMMERCIAL"
    CROSS_BORDER = "XBORDER"
    OPERATIONS = "HOPERAT"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user or system."""

    id: str
    kind: str  # "user" | "system"
    roles: frozenset[str] = frozenset()
    organization: str | None = None
    scopes: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Principal, organisation scope and purpose of use for one call."""

    principal: Principal
    purpose: PurposeOfUse = PurposeOfUse.TREATMENT
    organization_scope: tuple[str, ...] = ()
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def is_system(self) -> bool:
        return self.principal.kind == "system"


SYSTEM_PRINCIPAL = Principal(
    id="system", kind="system", roles=frozenset({"system"}), scopes=frozenset({"system/*.*"})
)


def system_context(purpose: PurposeOfUse = PurposeOfUse.OPERATIONS) -> RequestContext:
    """The context of HealthBrain's own jobs (ingest, simulation, dispatch)."""
    return RequestContext(principal=SYSTEM_PRINCIPAL, purpose=purpose)
