"""FHIR REST routes under /fhir/R4: thin translations between HTTP and the repository."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from healthbrain.api.deps import ContextDep, StateDep
from healthbrain.api.responses import FhirResponse, read_json
from healthbrain.core.errors import InvalidInput
from healthbrain.fhir import bundle as bundles
from healthbrain.fhir.capability import capability_statement
from healthbrain.fhir.outcome import informational_outcome, operation_outcome
from healthbrain.fhir.reading import run_everything, run_history, run_search
from healthbrain.fhir.repository import Versioned, WriteResult
from healthbrain.fhir.resources import etag, instant, parse_etag
from healthbrain.fhir.transaction import process_batch, process_transaction
from healthbrain.fhir.validation import validate_resource

router = APIRouter(prefix="/fhir/R4", tags=["FHIR R4"])


def _params(request: Request) -> list[tuple[str, str]]:
    return parse_qsl(request.url.query, keep_blank_values=True)


def _lenient(request: Request) -> bool:
    return "handling=lenient" in request.headers.get("prefer", "").replace(" ", "")


def _versioned_response(
    v: Versioned, status: int = 200, location: bool = False, request: Request | None = None
) -> Response:
    headers = {"ETag": etag(v.version_id), "Last-Modified": _http_date(v.last_updated)}
    if location:
        headers["Location"] = f"{_base(request)}/{v.resource_type}/{v.id}/_history/{v.version_id}"
    prefer = request.headers.get("prefer", "") if request is not None else ""
    if "return=minimal" in prefer:
        return Response(status_code=status, headers=headers)
    if "return=OperationOutcome" in prefer:
        return FhirResponse(informational_outcome("ok"), status_code=status, headers=headers)
    return FhirResponse(v.resource, status_code=status, headers=headers)


def _write_response(w: WriteResult, request: Request) -> Response:
    status = 201 if w.status == "created" else 200
    return _versioned_response(w.version, status, location=w.status == "created", request=request)


def _http_date(ts: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(ts))


def _base(request: Request | None) -> str:
    if request is None:
        return ""
    state = request.app.state.hb
    return str(state.settings.api.base_url).rstrip("/")


def _if_match(request: Request) -> int | None:
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    v = parse_etag(raw)
    if v is None:
        raise InvalidInput('If-Match must be an ETag like W/"3"', code="request.invalid_if_match")
    return v


@router.get("/metadata", summary="CapabilityStatement")
def metadata(request: Request, state: StateDep) -> Response:
    from healthbrain import __version__

    # operations are listed when the running app has a route for them, so the statement is true
    routed: set[tuple[str, str]] = set()
    for route in request.app.routes:
        path = str(getattr(route, "path", ""))
        if path.startswith("/fhir/R4/") and "$" in path:
            parts = path.removeprefix("/fhir/R4/").split("/")
            routed.add((parts[0], parts[-1].lstrip("$")))
    root = str(request.base_url).rstrip("/")
    cs = capability_statement(
        state.repo.registry,
        state.settings.api.base_url,
        __version__,
        instant(time.time()),
        routed_operations=frozenset(routed),
        oauth={"token": f"{root}/oauth/token", "revoke": f"{root}/oauth/revoke"},
    )
    return FhirResponse(cs)


@router.post("", summary="batch or transaction Bundle")
async def batch_or_transaction(request: Request, state: StateDep, ctx: ContextDep) -> Response:
    body: Any = await read_json(request, state.settings.api.max_body_bytes)
    kind = body.get("type") if isinstance(body, dict) else None
    if kind == "transaction":
        results = process_transaction(state.repo, ctx, body)
        return FhirResponse(
            bundles.response_bundle("transaction-response", results, _base(request), time.time())
        )
    if kind == "batch":
        results = process_batch(state.repo, ctx, body)
        return FhirResponse(bundles.response_bundle("batch-response", results, _base(request), time.time()))
    raise InvalidInput(
        "POST to the base needs a Bundle of type batch or transaction", code="fhir.not_a_bundle"
    )


@router.get("/_history", summary="system history")
def system_history(request: Request, state: StateDep, ctx: ContextDep) -> Response:
    result = run_history(state.repo, ctx, None, None, _params(request))
    return FhirResponse(bundles.history(result, _base(request), "_history", time.time()))


@router.get("/Patient/{rid}/$everything", summary="Patient/$everything")
@router.post("/Patient/{rid}/$everything", include_in_schema=False)
def patient_everything(rid: str, request: Request, state: StateDep, ctx: ContextDep) -> Response:
    resources = run_everything(state.repo, ctx, rid, _params(request))
    return FhirResponse(bundles.collection("searchset", resources, _base(request), time.time()))


@router.post("/{rt}/$validate", summary="$validate a resource")
@router.post("/{rt}/{rid}/$validate", include_in_schema=False)
async def validate(
    rt: str, request: Request, state: StateDep, ctx: ContextDep, rid: str | None = None
) -> Response:
    state.repo.check_type(rt)
    body = await read_json(request, state.settings.api.max_body_bytes)
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        found = [p.get("resource") for p in body.get("parameter", []) if p.get("name") == "resource"]
        body = found[0] if found else None
    issues = validate_resource(body, expected_type=rt)
    if not issues:
        return FhirResponse(informational_outcome("the resource is valid"))
    return FhirResponse(operation_outcome(issues), status_code=200)


@router.get("/{rt}", summary="search")
def search(rt: str, request: Request, state: StateDep, ctx: ContextDep) -> Response:
    result = run_search(state.repo, ctx, rt, _params(request), lenient=_lenient(request))
    return FhirResponse(bundles.searchset(result, _base(request), rt, time.time()))


@router.post("/{rt}/_search", summary="search by POST (form body)")
async def search_post(rt: str, request: Request, state: StateDep, ctx: ContextDep) -> Response:
    body = (await request.body()).decode("utf-8", errors="replace")
    params = _params(request) + parse_qsl(body, keep_blank_values=True)
    result = run_search(state.repo, ctx, rt, params, lenient=_lenient(request))
    return FhirResponse(bundles.searchset(result, _base(request), rt, time.time()))


@router.post("/{rt}", summary="create")
async def create(rt: str, request: Request, state: StateDep, ctx: ContextDep) -> Response:
    body = await read_json(request, state.settings.api.max_body_bytes)
    if_none_exist = request.headers.get("if-none-exist")
    w = state.repo.create(ctx, body, rt=rt, if_none_exist=if_none_exist)
    return _write_response(w, request)


@router.put("/{rt}", summary="conditional update")
async def conditional_update(rt: str, request: Request, state: StateDep, ctx: ContextDep) -> Response:
    body = await read_json(request, state.settings.api.max_body_bytes)
    w = state.repo.conditional_update(ctx, rt, request.url.query, body)
    return _write_response(w, request)


@router.delete("/{rt}", summary="conditional delete")
def conditional_delete(rt: str, request: Request, state: StateDep, ctx: ContextDep) -> Response:
    deleted = state.repo.conditional_delete(ctx, rt, request.url.query)
    return FhirResponse(informational_outcome(f"deleted {sum(1 for d in deleted if d.status == 'deleted')}"))


@router.get("/{rt}/_history", summary="type history")
def type_history(rt: str, request: Request, state: StateDep, ctx: ContextDep) -> Response:
    result = run_history(state.repo, ctx, rt, None, _params(request))
    return FhirResponse(bundles.history(result, _base(request), f"{rt}/_history", time.time()))


@router.get("/{rt}/{rid}", summary="read")
def read(rt: str, rid: str, request: Request, state: StateDep, ctx: ContextDep) -> Response:
    v = state.repo.read(ctx, rt, rid)
    inm = request.headers.get("if-none-match")
    if inm is not None and parse_etag(inm) == v.version_id:
        return Response(status_code=304, headers={"ETag": etag(v.version_id)})
    return _versioned_response(v, request=request)


@router.put("/{rt}/{rid}", summary="update")
async def update(rt: str, rid: str, request: Request, state: StateDep, ctx: ContextDep) -> Response:
    body = await read_json(request, state.settings.api.max_body_bytes)
    w = state.repo.update(ctx, rt, rid, body, if_match=_if_match(request))
    return _write_response(w, request)


@router.patch("/{rt}/{rid}", summary="JSON Patch")
async def patch(rt: str, rid: str, request: Request, state: StateDep, ctx: ContextDep) -> Response:
    ctype = request.headers.get("content-type", "")
    if "json-patch+json" not in ctype:
        raise InvalidInput("PATCH needs Content-Type application/json-patch+json", code="fhir.patch_format")
    body = await read_json(request, state.settings.api.max_body_bytes)
    w = state.repo.patch(ctx, rt, rid, body, if_match=_if_match(request))
    return _write_response(w, request)


@router.delete("/{rt}/{rid}", summary="delete")
def delete(rt: str, rid: str, state: StateDep, ctx: ContextDep) -> Response:
    w = state.repo.delete(ctx, rt, rid)
    headers = {"ETag": etag(w.version.version_id)} if w.status == "deleted" else {}
    return FhirResponse(
        informational_outcome("deleted" if w.status == "deleted" else "nothing to delete"), headers=headers
    )


@router.get("/{rt}/{rid}/_history", summary="instance history")
def instance_history(rt: str, rid: str, request: Request, state: StateDep, ctx: ContextDep) -> Response:
    result = run_history(state.repo, ctx, rt, rid, _params(request))
    return FhirResponse(bundles.history(result, _base(request), f"{rt}/{rid}/_history", time.time()))


@router.get("/{rt}/{rid}/_history/{vid}", summary="vread")
def vread(rt: str, rid: str, vid: str, request: Request, state: StateDep, ctx: ContextDep) -> Response:
    if not vid.isdigit():
        raise InvalidInput("the version id must be a number", code="fhir.invalid_version")
    v = state.repo.vread(ctx, rt, rid, int(vid))
    return _versioned_response(v, request=request)
