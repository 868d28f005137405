"""Bulk Data `$export` routes: kick-off (system, Patient, Group), status polling, files, cancel.

See: https://hl7.org/fhir/uv/bulkdata/export.html
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from healthbrain.api.deps import ContextDep, StateDep
from healthbrain.api.responses import FhirResponse
from healthbrain.core.errors import InvalidInput, Issue
from healthbrain.fhir.export import parse_export_params
from healthbrain.fhir.outcome import operation_outcome

router = APIRouter(prefix="/fhir/R4", tags=["Bulk Data"])


def _kick_off(level: str, request: Request, state: StateDep, ctx: ContextDep, group: str | None) -> Response:
    # The spec asks for Prefer: respond-async; we accept its absence (many clients omit it).
    accept = request.headers.get("accept", "application/fhir+json")
    if accept not in ("*/*", "") and "json" not in accept:
        raise InvalidInput("$export answers in application/fhir+json", code="export.accept")
    params = parse_qsl(request.url.query, keep_blank_values=True)
    export_request = parse_export_params(level, params, group)
    job_id = state.exports.kick_off(ctx, export_request, str(request.url))
    status_url = f"{state.settings.api.base_url.rstrip('/')}/$export-poll/{job_id}"
    return Response(status_code=202, headers={"Content-Location": status_url})


@router.get("/$export", summary="system-level export (kick-off)")
def export_system(request: Request, state: StateDep, ctx: ContextDep) -> Response:
    return _kick_off("system", request, state, ctx, None)


@router.get("/Patient/$export", summary="Patient-level export (kick-off)")
def export_patients(request: Request, state: StateDep, ctx: ContextDep) -> Response:
    return _kick_off("patient", request, state, ctx, None)


@router.get("/Group/{group_id}/$export", summary="Group-level export (kick-off)")
def export_group(group_id: str, request: Request, state: StateDep, ctx: ContextDep) -> Response:
    return _kick_off("group", request, state, ctx, group_id)


@router.get("/$export-poll/{job_id}", summary="export status")
def export_status(job_id: str, state: StateDep, ctx: ContextDep) -> Response:
    job = state.exports.job(ctx, job_id)
    if job.status in ("accepted", "in-progress"):
        return Response(
            status_code=202,
            headers={"X-Progress": job.progress or job.status, "Retry-After": "1"},
        )
    if job.status == "completed" and job.manifest is not None:
        return FhirResponse(job.manifest, media_type="application/json")
    if job.status == "cancelled":
        return FhirResponse(
            operation_outcome([Issue("error", "not-found", "the export was cancelled")]), status_code=404
        )
    return FhirResponse(
        operation_outcome([Issue("error", "exception", f"the export failed: {job.error or 'unknown'}")]),
        status_code=500,
    )


@router.delete("/$export-poll/{job_id}", summary="cancel an export")
def export_cancel(job_id: str, state: StateDep, ctx: ContextDep) -> Response:
    state.exports.cancel(ctx, job_id)
    return Response(status_code=202)


@router.get("/$export-file/{job_id}/{name}", summary="an export's NDJSON file")
def export_file(job_id: str, name: str, state: StateDep, ctx: ContextDep) -> Response:
    path = state.exports.file_path(ctx, job_id, name)
    return FileResponse(path, media_type="application/fhir+ndjson")
