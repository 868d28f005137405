"""CDS Hooks endpoints: /cds-services discovery, service calls and feedback (https://cds-hooks.hl7.org/)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from healthbrain.api.deps import ContextDep
from healthbrain.cds.hooks import discovery, evaluate_hook
from healthbrain.cds.service import CdsService
from healthbrain.core.i18n import negotiate

router = APIRouter(tags=["CDS Hooks"])


class HookRequest(BaseModel):
    """A CDS Hooks service request (fhirAuthorization and prefetch are accepted and not needed)."""

    model_config = ConfigDict(extra="allow")

    hook: str = Field(min_length=1, max_length=64)
    hookInstance: str = Field(min_length=1, max_length=128)  # noqa: N815 - CDS Hooks field name
    context: dict[str, Any]
    fhirServer: str | None = None  # noqa: N815


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    card: str = Field(min_length=1, max_length=64)
    outcome: str = Field(pattern="^(accepted|overridden)$")
    overrideReason: dict[str, Any] | None = None  # noqa: N815


class FeedbackRequest(BaseModel):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)


def _service(request: Request) -> CdsService:
    service: CdsService = request.app.state.cds
    return service


@router.get("/cds-services", summary="CDS Hooks discovery")
def cds_services() -> dict[str, Any]:
    return discovery()


@router.post("/cds-services/{service_id}", summary="call a CDS service")
def call_service(service_id: str, body: HookRequest, request: Request, _ctx: ContextDep) -> dict[str, Any]:
    service = _service(request)
    language = negotiate(request.headers.get("accept-language"), request.query_params.get("lang"))
    return evaluate_hook(
        service_id, body.model_dump(), service.auditor, service.store, service.admin, language
    )


@router.post("/cds-services/{service_id}/feedback", summary="feedback on cards")
def feedback(service_id: str, body: FeedbackRequest, request: Request, _ctx: ContextDep) -> dict[str, Any]:
    service = _service(request)
    for item in body.feedback:
        reason = ((item.overrideReason or {}).get("reason") or {}).get("code")
        service.admin.add_feedback(service_id, item.card, item.outcome, reason)
    return {"received": len(body.feedback)}
