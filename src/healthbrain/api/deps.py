"""What routes need, built once per app: settings, repository, security, and the request context."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from healthbrain.core.access import AuditEntry
from healthbrain.core.context import Principal, PurposeOfUse, RequestContext
from healthbrain.core.errors import InvalidInput, Unauthorized
from healthbrain.core.settings import Settings
from healthbrain.fhir.export import ExportService
from healthbrain.fhir.repository import FhirRepository
from healthbrain.security import ROLES, SecurityServices

# The development token acts as HealthBrain itself; it is refused outside development mode.
DEV_PRINCIPAL = Principal(
    id="dev", kind="system", roles=frozenset({"system"}), scopes=frozenset({"system/*.*"})
)
ANONYMOUS = Principal(id="anonymous", kind="user")
# When a request names no purpose: the first one the principal's roles allow, in this order.
_PURPOSE_ORDER = (
    PurposeOfUse.TREATMENT,
    PurposeOfUse.PUBLIC_HEALTH,
    PurposeOfUse.INSURANCE,
    PurposeOfUse.OPERATIONS,
    PurposeOfUse.QUALITY,
    PurposeOfUse.RESEARCH,
    PurposeOfUse.MODEL_TRAINING,
)


@dataclass(slots=True)
class AppState:
    """Everything the routes share; created in `create_app`."""

    settings: Settings
    repo: FhirRepository
    exports: ExportService
    security: SecurityServices


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.hb
    return state


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    return Principal(
        id=str(claims["sub"]),
        kind="client" if claims.get("kind") == "client" else "user",
        roles=frozenset(str(r) for r in claims.get("roles") or ()),
        organization=claims.get("org"),
        scopes=frozenset(str(claims.get("scope") or "").split()),
        practitioner=claims.get("prac"),
        mfa=bool(claims.get("mfa")),
        session=str(claims["sid"]),
    )


def _purpose(request: Request, principal: Principal) -> PurposeOfUse:
    header = request.headers.get("x-purpose-of-use")
    if header:
        try:
            return PurposeOfUse(header.strip())
        except ValueError:
            raise InvalidInput("unknown purpose of use", code="security.unknown_purpose") from None
    allowed = {p for r in principal.roles if r in ROLES for p in ROLES[r].purposes}
    return next((p for p in _PURPOSE_ORDER if p in allowed), PurposeOfUse.TREATMENT)


def authenticate(request: Request, state: AppState) -> Principal:
    """The principal behind the bearer token; every failure is audited and reads the same."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    token = token.strip()
    try:
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(
                "a bearer token is required (Authorization: Bearer <token>)", code="security.no_token"
            )
        dev = state.settings.dev_token
        if state.settings.development and dev and hmac.compare_digest(token, dev):
            return DEV_PRINCIPAL
        principal = principal_from_claims(state.security.tokens.verify(token))
        needs_mfa = principal.kind == "user" and principal.roles & state.security.settings.mfa_roles
        if needs_mfa and not principal.mfa:
            raise Unauthorized("this role must sign in with a second factor", code="security.mfa_required")
        return principal
    except Unauthorized as err:
        ctx = RequestContext(ANONYMOUS, source=request.client.host if request.client else None)
        state.security.audit.record(ctx, AuditEntry("authenticate", None, None, "failure", err.code))
        raise


def get_context(request: Request, state: Annotated[AppState, Depends(get_state)]) -> RequestContext:
    """Authenticate the request and build its context: principal, purpose, source, break-glass."""
    principal = authenticate(request, state)
    reason = request.headers.get("x-break-glass")
    return RequestContext(
        principal=principal,
        purpose=_purpose(request, principal),
        source=request.client.host if request.client else None,
        break_glass=reason.strip() if reason and reason.strip() else None,
    )


StateDep = Annotated[AppState, Depends(get_state)]
ContextDep = Annotated[RequestContext, Depends(get_context)]
