"""Terminology routes: the FHIR operations ($lookup, $validate-code, $subsumes, $expand, $translate) and the
review queue of unmapped local codes. Thin: the logic is in healthbrain.terminology.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from healthbrain.api.deps import ContextDep, StateDep
from healthbrain.api.responses import FhirResponse, read_json
from healthbrain.core.context import RequestContext
from healthbrain.core.errors import InvalidInput, NotFound
from healthbrain.core.i18n import negotiate, translations
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.terminology import (
    EXPAND_PARAMS,
    LOOKUP_PARAMS,
    STATUSES,
    SUBSUMES_PARAMS,
    TRANSLATE_PARAMS,
    VALIDATE_CS_PARAMS,
    VALIDATE_VS_PARAMS,
    OpParams,
    Resolution,
    ReviewItem,
    TerminologyService,
    dismiss,
    from_parameters,
    from_query,
    resolve,
)

router = APIRouter(tags=["Terminology"])
FHIR = "/fhir/R4"
BOTH = ["GET", "POST"]
STATUS_TEXT = {"open": "Waiting for a standard code", "resolved": "Mapped", "dismissed": "Dismissed"}


def get_terminology(request: Request) -> TerminologyService:
    service: TerminologyService = request.app.state.terminology
    return service


TerminologyDep = Annotated[TerminologyService, Depends(get_terminology)]


def install(app: FastAPI, repo: FhirRepository, dispatcher: EventDispatcher) -> TerminologyService:
    """Build the index from the stored resources, subscribe it, and add the routes (before the FHIR
    router, so that /fhir/R4/ValueSet/$expand is not taken for a read of a ValueSet called "$expand")."""
    service = TerminologyService(repo)
    service.load()
    service.register(dispatcher)
    app.state.terminology = service
    app.include_router(router)
    return service


async def _params(request: Request, state: StateDep, operation: str, allowed: frozenset[str]) -> OpParams:
    query = parse_qsl(request.url.query, keep_blank_values=True)
    if request.method == "GET":
        return from_query(operation, query, allowed)
    body = await read_json(request, state.settings.api.max_body_bytes)
    params = from_parameters(operation, body, allowed)
    extra = from_query(operation, query, allowed)  # a POST may carry primitive inputs in the URL too
    return OpParams(operation, {**extra.values, **params.values})


OPERATIONS: tuple[tuple[str, str, frozenset[str], str, bool], ...] = (
    # resource type, operation, inputs, service method, also on an instance
    ("CodeSystem", "$lookup", LOOKUP_PARAMS, "lookup", False),
    ("CodeSystem", "$validate-code", VALIDATE_CS_PARAMS, "validate_code_system", True),
    ("CodeSystem", "$subsumes", SUBSUMES_PARAMS, "subsumes", True),
    ("ValueSet", "$expand", EXPAND_PARAMS, "expand", True),
    ("ValueSet", "$validate-code", VALIDATE_VS_PARAMS, "validate_value_set", True),
    ("ConceptMap", "$translate", TRANSLATE_PARAMS, "translate", True),
)


def _type_level(operation: str, allowed: frozenset[str], method: str) -> Any:
    async def endpoint(
        request: Request, state: StateDep, ctx: ContextDep, service: TerminologyDep
    ) -> Response:
        params = await _params(request, state, operation, allowed)
        return FhirResponse(getattr(service, method)(ctx, params))

    return endpoint


def _instance_level(operation: str, allowed: frozenset[str], method: str) -> Any:
    async def endpoint(
        rid: str, request: Request, state: StateDep, ctx: ContextDep, service: TerminologyDep
    ) -> Response:
        params = await _params(request, state, operation, allowed)
        return FhirResponse(getattr(service, method)(ctx, params, rid))

    return endpoint


for _rt, _op, _allowed, _method, _instance in OPERATIONS:
    router.add_api_route(
        f"{FHIR}/{_rt}/{_op}",
        _type_level(_op, _allowed, _method),
        methods=BOTH,
        summary=f"{_rt}/{_op}",
        name=f"{_rt}-{_op}",
    )
    if _instance:
        router.add_api_route(
            f"{FHIR}/{_rt}/{{rid}}/{_op}",
            _instance_level(_op, _allowed, _method),
            methods=BOTH,
            summary=f"{_rt}/[id]/{_op}",
            name=f"{_rt}-id-{_op}",
        )


# ---- the review queue ---------------------------------------------------------------------------
class ResolveIn(BaseModel):
    system: str = Field(min_length=3, max_length=500)
    code: str = Field(min_length=1, max_length=200)
    display: str | None = Field(default=None, max_length=500)
    equivalence: str = Field(default="equivalent", max_length=20)


def _item_json(item: ReviewItem, request: Request) -> dict[str, Any]:
    tr = translations(negotiate(request.headers.get("accept-language"), request.query_params.get("lang")))
    return {**item.as_json(), "statusText": tr.pgettext("terminology", STATUS_TEXT[item.status])}


def _may_review(service: TerminologyService, ctx: RequestContext, action: str) -> None:
    service.repo.guard.authorize(ctx, action, "ConceptMap")


@router.get("/api/v1/terminology/reviews", summary="local codes waiting for (or given) a standard code")
def list_reviews(
    request: Request,
    ctx: ContextDep,
    service: TerminologyDep,
    status: Annotated[str, Query()] = "open",
    institution: Annotated[str | None, Query(max_length=100)] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=500)] = 50,
    offset: Annotated[int, Query(alias="_offset", ge=0)] = 0,
) -> dict[str, Any]:
    if status not in STATUSES:
        raise InvalidInput("status must be open, resolved or dismissed", code="terminology.bad_status")
    with service.repo.audited(ctx, "search", "ConceptMap"):
        _may_review(service, ctx, "search")
        items, total = service.reviews.page(
            status=status, institution=institution, limit=count, offset=offset
        )
    return {"total": total, "offset": offset, "items": [_item_json(i, request) for i in items]}


@router.get("/api/v1/terminology/reviews/{review_id}", summary="one review item and where its code was seen")
def get_review(review_id: int, request: Request, ctx: ContextDep, service: TerminologyDep) -> dict[str, Any]:
    with service.repo.audited(ctx, "read", "ConceptMap"):
        _may_review(service, ctx, "read")
        item = service.reviews.get(review_id)
        if item is None:
            raise NotFound("no such review item", code="terminology.review_not_found")
        seen = [f"{rt}/{rid}" for rt, rid in service.reviews.resources(review_id, limit=100)]
    return {**_item_json(item, request), "resources": seen}


@router.post(
    "/api/v1/terminology/reviews/{review_id}/resolve", summary="map the local code (past and future data)"
)
def resolve_review(
    review_id: int, body: ResolveIn, request: Request, ctx: ContextDep, service: TerminologyDep
) -> dict[str, Any]:
    _may_review(service, ctx, "update")
    outcome = resolve(
        service, ctx, review_id, Resolution(body.system, body.code, body.display, body.equivalence)
    )
    return {
        **_item_json(outcome.item, request),
        "conceptMap": outcome.concept_map,
        "rewritten": outcome.rewritten,
    }


@router.post("/api/v1/terminology/reviews/{review_id}/dismiss", summary="close without a mapping")
def dismiss_review(
    review_id: int, request: Request, ctx: ContextDep, service: TerminologyDep
) -> dict[str, Any]:
    with service.repo.audited(ctx, "update", "ConceptMap"):
        _may_review(service, ctx, "update")
        return _item_json(dismiss(service, ctx, review_id), request)
