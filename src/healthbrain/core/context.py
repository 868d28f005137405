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
    """An authenticated user, institution client or HealthBrain itself.

    `kind` is "user" (a person), "client" (an institution system: HIS, LIS ...) or "system" (our own
    jobs). `organization` is the id of the FHIR Organization the principal acts for; `scopes` are
    SMART-style scopes (`user/Observation.read`, `system/*.write` ...).
    """

    id: str
    kind: str
    roles: frozenset[str] = frozenset()
    organization: str | None = None
    scopes: frozenset[str] = frozenset()
    practitioner: str | None = None  # the Practitioner id of a clinician account
    mfa: bool = False  # authenticated with a second factor
    session: str | None = None  # the token's session id, for revocation and anomaly baselines


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Principal, organisation scope and purpose of use for one call."""

    principal: Principal
    purpose: PurposeOfUse = PurposeOfUse.TREATMENT
    organization_scope: tuple[str, ...] = ()
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    source: str | None = None  # the client's network address, for the audit record
    patient: str | None = None  # SMART launch context: the one patient `patient/*` scopes allow
    break_glass: str | None = None  # the stated reason of an emergency access, when one is invoked

    @property
    def is_system(self) -> bool:
        return self.principal.kind == "system"


SYSTEM_PRINCIPAL = Principal(
    id="system", kind="system", roles=frozenset({"system"}), scopes=frozenset({"system/*.*"})
)


def system_context(purpose: PurposeOfUse = PurposeOfUse.OPERATIONS) -> RequestContext:
    """The context of HealthBrain's own jobs (ingest, simulation, dispatch)."""
    return RequestContext(principal=SYSTEM_PRINCIPAL, purpose=purpose)
