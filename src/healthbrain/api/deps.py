"""What routes need, built once per app: settings, repository, principal resolution."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from healthbrain.core.context import Principal, PurposeOfUse, RequestContext
from healthbrain.core.errors import InvalidInput, Unauthorized
from healthbrain.core.settings import Settings
from healthbrain.fhir.export import ExportService
from healthbrain.fhir.repository import FhirRepository

DEV_PRINCIPAL = Principal(
    id="dev", kind="user", roles=frozenset({"platform-admin"}), scopes=frozenset({"system/*.*"})
)


@dataclass(slots=True)
class AppState:
    """Everything the routes share; created in `create_app`."""

    settings: Settings
    repo: FhirRepository
    exports: ExportService


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.hb
    return state


def get_context(request: Request, state: Annotated[AppState, Depends(get_state)]) -> RequestContext:
    """Authenticate the bearer token and build the request context.

    The foundation knows the development token only; the security issue adds OAuth2 tokens.
    """
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    if not (state.settings.development and hmac.compare_digest(token.strip(), state.settings.dev_token)):
        raise Unauthorized("the token is not valid")
    purpose_header = request.headers.get("x-purpose-of-use")
    purpose = PurposeOfUse.TREATMENT
    if purpose_header:
        try:
            purpose = PurposeOfUse(purpose_header)
        except ValueError:
            raise InvalidInput("unknown purpose of use", code="security.unknown_purpose") from None
    return RequestContext(principal=DEV_PRINCIPAL, purpose=purpose)


StateDep = Annotated[AppState, Depends(get_state)]
ContextDep = Annotated[RequestContext, Depends(get_context)]
