"""Data-governance APIs under /api/v1/governance: data-use requests, approvals, de-identified exports,
and the security auditor's verdicts on access anomalies.

Thin: the workflow is `security.approvals`, the export `security.deid_export` (reading through the
repository, so policy and audit apply to every page), the anomaly detector `security.anomaly`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from healthbrain.api.deps import ContextDep
from healthbrain.core.context import PurposeOfUse, RequestContext
from healthbrain.core.errors import InvalidInput, NotFound
from healthbrain.core.i18n import negotiate, translations
from healthbrain.core.settings import Settings
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.security import RolePolicy, SecurityServices
from healthbrain.security.anomaly import AnomalyDetector, BlockingPolicy
from healthbrain.security.anomaly_rules import RULES, AnomalySettings
from healthbrain.security.approvals import APPROVAL_LEVELS, DataUseApprovals, DataUseRequest
from healthbrain.security.audit_events import require_auditor
from healthbrain.security.deid_export import DeidExporter, ExportRun
from healthbrain.security.deid_spec import EXPORTABLE_TYPES

router = APIRouter(prefix="/api/v1/governance", tags=["data governance"])
WARM_UP_DAYS = 14


@dataclass(slots=True)
class Governance:
    """The governance services of one app: approvals, de-identified exports, anomaly detection."""

    approvals: DataUseApprovals
    exporter: DeidExporter
    detector: AnomalyDetector

    def policy(self, inner: RolePolicy) -> BlockingPolicy:
        """The access policy with the detector's block list in front of it."""
        return BlockingPolicy(inner, self.detector)

    def start(self) -> None:
        self.detector.warm_up(time.time() - WARM_UP_DAYS * 86400)
        self.detector.start()

    def stop(self) -> None:
        self.detector.stop()


def build_governance(
    engine: Engine, security: SecurityServices, settings: Settings, anomaly: AnomalySettings | None = None
) -> Governance:
    """Assemble the services and put the anomaly detector on the audit stream."""
    detector = AnomalyDetector(engine, anomaly, security.audit)
    approvals = DataUseApprovals(engine, security.orgs, security.audit, gate=detector.check)
    exporter = DeidExporter(
        engine, security.keys, security.orgs, approvals, security.audit, settings.export_dir
    )
    security.audit.listeners.append(detector.observe)
    return Governance(approvals, exporter, detector)


class RepositorySource:
    """`ResourceSource` over the repository: every page of a search, audited and policy-checked."""

    def __init__(self, repo: FhirRepository) -> None:
        self.repo = repo

    def search(
        self, ctx: RequestContext, resource_type: str, params: Sequence[tuple[str, str]]
    ) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            # no total: counting every page would double the export's reads
            page = run_search(
                self.repo, ctx, resource_type, [*params, ("_total", "none"), ("_offset", str(offset))]
            )
            yield from page.matches
            if not page.has_next or not page.matches:
                return
            offset += len(page.matches)


def get_governance(request: Request) -> Governance:
    governance: Governance = request.app.state.governance
    return governance


GovernanceDep = Annotated[Governance, Depends(get_governance)]


def install(app: FastAPI, repo: FhirRepository, governance: Governance) -> None:
    """Add the routes; the export reads through `repo`."""
    app.state.governance = governance
    app.state.governance_source = RepositorySource(repo)
    app.include_router(router)


# ---- bodies and views ----------------------------------------------------------------------------
class DataUseRequestCreate(BaseModel):
    purpose: PurposeOfUse
    description: str = Field(max_length=4000)
    spec: dict[str, Any] = Field(default_factory=dict)


class DecisionCreate(BaseModel):
    decision: str = Field(pattern="^(approve|reject)$")
    reason: str = Field(max_length=2000)


class AnomalyResolution(BaseModel):
    status: str = Field(pattern="^(acknowledged|dismissed)$")


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts is not None else None


def _text(lang: str) -> Callable[[str], str]:
    catalog = translations(lang)
    return lambda message: catalog.pgettext("governance", message)


def _status_text(request: DataUseRequest, lang: str) -> str:
    _ = _text(lang)
    if request.status == "pending":
        return {
            0: _("Awaiting the institution's approval"),
            1: _("Awaiting the region's approval"),
            2: _("Awaiting the province's approval"),
        }[request.level]
    return {
        "approved": _("Approved at all three levels"),
        "rejected": _("Rejected"),
        "exported": _("Approved; the de-identified export has run"),
    }[request.status]


def _view(request: DataUseRequest, lang: str) -> dict[str, Any]:
    waiting = request.status == "pending"
    return {
        "id": request.id,
        "requester": request.requester,
        "organization": request.organization,
        "purpose": request.purpose.value,
        "description": request.description,
        "spec": request.spec.to_json(),
        "status": request.status,
        "status_text": _status_text(request, lang),
        "approvals": request.level,
        "next_approver_role": APPROVAL_LEVELS[request.level + 1][0] if waiting else None,
        "created": _iso(request.created_at),
        "updated": _iso(request.updated_at),
        "decisions": [
            {
                "level": d.level,
                "approver": d.approver,
                "decision": d.decision,
                "reason": d.reason,
                "decided": _iso(d.decided_at),
            }
            for d in request.decisions
        ],
    }


def _run_view(run: ExportRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "request": run.request_id,
        "status": run.status,
        "started": _iso(run.started_at),
        "finished": _iso(run.finished_at),
        "released_patients": run.released,
        "files": run.files,
        "report": run.report,
        "error": run.error,
    }


def _lang(request: Request) -> str:
    return negotiate(request.headers.get("accept-language"), request.query_params.get("lang"))


# ---- data-use requests ---------------------------------------------------------------------------
@router.post(
    "/requests", status_code=201, summary="file a data-use request (research, model training, cross-border)"
)
def create_request(
    body: DataUseRequestCreate, request: Request, ctx: ContextDep, gov: GovernanceDep
) -> JSONResponse:
    created = gov.approvals.submit(ctx, body.purpose, body.description, body.spec)
    return JSONResponse(_view(created, _lang(request)), status_code=201)


@router.get("/requests", summary="the data-use requests the caller may see")
def list_requests(
    request: Request, ctx: ContextDep, gov: GovernanceDep, status: str | None = None
) -> JSONResponse:
    if status is not None and status not in ("pending", "approved", "rejected", "exported"):
        raise InvalidInput(
            "status must be pending, approved, rejected or exported", code="request.invalid_parameter"
        )
    lang = _lang(request)
    return JSONResponse({"requests": [_view(r, lang) for r in gov.approvals.list_requests(ctx, status)]})


@router.get("/requests/{request_id}", summary="one data-use request and its decisions")
def get_request(request_id: str, request: Request, ctx: ContextDep, gov: GovernanceDep) -> JSONResponse:
    return JSONResponse(_view(gov.approvals.get(ctx, request_id), _lang(request)))


@router.post("/requests/{request_id}/decisions", summary="approve or reject at the next level")
def decide(
    request_id: str, body: DecisionCreate, request: Request, ctx: ContextDep, gov: GovernanceDep
) -> JSONResponse:
    decided = gov.approvals.decide(ctx, request_id, body.decision == "approve", body.reason)
    return JSONResponse(_view(decided, _lang(request)))


# ---- the de-identified export --------------------------------------------------------------------
@router.post(
    "/requests/{request_id}/$export", status_code=201, summary="run the approved de-identified export"
)
def run_export(request_id: str, request: Request, ctx: ContextDep, gov: GovernanceDep) -> JSONResponse:
    source: RepositorySource = request.app.state.governance_source
    run = gov.exporter.run(ctx, request_id, source)
    return JSONResponse(_run_view(run), status_code=201)


@router.get("/requests/{request_id}/exports", summary="the export runs of a request")
def list_exports(request_id: str, ctx: ContextDep, gov: GovernanceDep) -> JSONResponse:
    return JSONResponse({"exports": [_run_view(r) for r in gov.exporter.runs(ctx, request_id)]})


@router.get(
    "/requests/{request_id}/report", summary="the residual-risk report of the latest (or a given) export"
)
def risk_report(request_id: str, ctx: ContextDep, gov: GovernanceDep, run: str | None = None) -> JSONResponse:
    found = gov.exporter.get_run(ctx, request_id, run)
    if found.report is None:
        raise NotFound("the export has no report", code="governance.no_export")
    return JSONResponse({"request": request_id, "export": found.id, **found.report})


@router.get("/requests/{request_id}/exports/{run_id}/{file_name}", summary="download an export file (NDJSON)")
def export_file(
    request_id: str, run_id: str, file_name: str, ctx: ContextDep, gov: GovernanceDep
) -> Response:
    resource_type = file_name.removesuffix(".ndjson")
    if not file_name.endswith(".ndjson") or (
        resource_type != "Patient" and resource_type not in EXPORTABLE_TYPES
    ):
        raise NotFound("no such export file", code="governance.no_export")
    path = gov.exporter.file_path(ctx, request_id, run_id, resource_type)
    return FileResponse(path, media_type="application/fhir+ndjson")


# ---- anomalies -----------------------------------------------------------------------------------
@router.get("/anomaly-rules", summary="the access-anomaly rules and their thresholds (security auditors)")
def anomaly_rules(request: Request, ctx: ContextDep, gov: GovernanceDep) -> JSONResponse:
    require_auditor(ctx)
    _ = _text(_lang(request))
    titles = {
        "volume-spike": _("Unusual number of patient records in a short time"),
        "off-hours": _("Patient records opened outside the user's usual working hours"),
        "no-relationship": _("Repeated attempts to open records without a care relationship"),
        "watched-record": _("A VIP's or an employee's record was opened"),
        "bulk-paging": _("Many pages of search results in a short time"),
    }
    s = gov.detector.settings
    return JSONResponse(
        {
            "rules": [{"rule": r, "title": titles[r], "blocks": r in s.block_rules} for r in RULES],
            "settings": s.model_dump(mode="json"),
        }
    )


@router.post(
    "/anomalies/{anomaly_id}/$resolve", summary="acknowledge or dismiss an anomaly (lifts its block)"
)
def resolve_anomaly(
    anomaly_id: str, body: AnomalyResolution, ctx: ContextDep, gov: GovernanceDep
) -> JSONResponse:
    require_auditor(ctx)
    gov.detector.resolve(ctx, anomaly_id, body.status)
    return JSONResponse({"id": anomaly_id, "status": body.status})
