"""Surveillance routes (/api/v1/surveillance): diseases, counts, detection runs, signals and their
CIDARS workflow, county officers, response times, and the detectors as a stateless service.

Thin: the logic is in healthbrain.surveillance; signals are FHIR resources read through the repository.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, Field

from healthbrain.api.deps import ContextDep
from healthbrain.core.context import RequestContext
from healthbrain.core.errors import Forbidden, InvalidInput
from healthbrain.core.i18n import negotiate, translations
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.surveillance import DISEASES, SurveillanceService, series_from_counts
from healthbrain.surveillance.cases import ResidentOf
from healthbrain.surveillance.detectors import DETECTORS, run_detector

router = APIRouter(prefix="/api/v1/surveillance", tags=["Surveillance (传染病监测预警)"])
READ_ROLES = ("cdc-officer", "provincial-supervisor", "data-scientist")
WORK_ROLES = ("cdc-officer",)
STATUS_TEXT = {
    "new": "New signal",
    "assigned": "Pushed to the county officer",
    "verifying": "Being verified",
    "confirmed": "Outbreak confirmed",
    "excluded": "Not an outbreak",
    "responded": "Response started",
}
CLASS_TEXT = {"A": "Class A", "B": "Class B", "C": "Class C"}


def get_service(request: Request) -> SurveillanceService:
    service: SurveillanceService = request.app.state.surveillance
    return service


ServiceDep = Annotated[SurveillanceService, Depends(get_service)]


def _require(ctx: RequestContext, roles: tuple[str, ...]) -> None:
    if not ctx.principal.roles & {*roles, "platform-admin", "system"}:
        raise Forbidden(
            "this action needs one of the roles: " + ", ".join(roles), code="surveillance.role_required"
        )


def _actor(ctx: RequestContext) -> str:
    return ctx.principal.practitioner or ctx.principal.id


def _resident_resolver(app: FastAPI) -> ResidentOf | None:
    """Residents from the patient index when it is installed (one resident, one case)."""
    index = getattr(app.state, "mpi", None)
    if index is None:
        return None

    def resident(ref: str) -> str | None:
        with index.engine.connect() as conn:
            link = index.store.link_of(conn, ref)
        return None if link is None else str(link.resident_id)

    return resident


def install(app: FastAPI, repo: FhirRepository, dispatcher: EventDispatcher) -> None:
    """Create the service, subscribe it to Condition changes and add the routes."""
    service = SurveillanceService(repo, resident_of=_resident_resolver(app))
    service.register(dispatcher)
    app.state.surveillance = service
    app.include_router(router)


class DetectIn(BaseModel):
    day: date


class AssignIn(BaseModel):
    practitioner: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-.]+$")


class ConcludeIn(BaseModel):
    outcome: str = Field(pattern="^(outbreak|not_outbreak)$")


class OfficerIn(BaseModel):
    practitioner: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-.]+$")


class SeriesIn(BaseModel):
    counts: list[float | None] = Field(min_length=1, max_length=20_000)
    freq: int = 52
    start: date | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    at: list[int] | None = Field(default=None, max_length=20_000)


@router.get("/diseases", summary="notifiable diseases (甲乙丙类) and their detection rules")
def diseases(request: Request) -> list[dict[str, Any]]:
    lang = negotiate(request.headers.get("accept-language"))
    tr = translations(lang)
    zh = lang.startswith("zh")
    return [
        {"key": d.key, "class": d.klass, "classLabel": tr.pgettext("surveillance", CLASS_TEXT[d.klass]),
         "name": d.name_zh if zh else d.name_en, "icd10": list(d.icd10), "detector": d.detector}
        for d in DISEASES
    ]  # fmt: skip


@router.get("/counts", summary="cases by day of onset for a disease (and county)")
def counts(
    ctx: ContextDep,
    service: ServiceDep,
    disease: str,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
    area: str | None = None,
) -> dict[str, Any]:
    _require(ctx, READ_ROLES)
    if end < start or (end - start).days > 3660:
        raise InvalidInput("'to' must follow 'from' by at most ten years", code="surveillance.bad_period")
    return {"disease": disease, "area": area, "days": service.store.counts(disease, area, start, end)}


@router.post("/detect", summary="run detection for a day: alarms become signals")
def detect(body: DetectIn, ctx: ContextDep, service: ServiceDep) -> dict[str, Any]:
    _require(ctx, WORK_ROLES)
    summary, ids = service.detect(body.day)
    return {"day": summary.day, "series": summary.series, "alarms": summary.alarms, "signals": ids}


def _labelled(signal: dict[str, Any], request: Request) -> dict[str, Any]:
    tr = translations(negotiate(request.headers.get("accept-language")))
    label = STATUS_TEXT.get(signal["status"])
    return {**signal, "statusLabel": tr.pgettext("surveillance", label) if label else signal["status"]}


@router.get("/signals", summary="signals, newest first")
def list_signals(
    request: Request,
    ctx: ContextDep,
    service: ServiceDep,
    status: str | None = None,
    area: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    _require(ctx, READ_ROLES)
    return [_labelled(s, request) for s in service.signals.list(status, area, limit)]


@router.get("/signals/{sid}", summary="a signal with its evidence and workflow history")
def get_signal(sid: str, request: Request, ctx: ContextDep, service: ServiceDep) -> dict[str, Any]:
    _require(ctx, READ_ROLES)
    return _labelled(service.signals.get(sid), request)


@router.post("/signals/{sid}/assign", summary="push a signal to an officer")
def assign(
    sid: str, body: AssignIn, request: Request, ctx: ContextDep, service: ServiceDep
) -> dict[str, Any]:
    _require(ctx, WORK_ROLES)
    return _labelled(service.assign(sid, body.practitioner, _actor(ctx)), request)


@router.post("/signals/{sid}/verify", summary="start verifying a signal")
def verify(sid: str, request: Request, ctx: ContextDep, service: ServiceDep) -> dict[str, Any]:
    _require(ctx, WORK_ROLES)
    return _labelled(service.start_verification(sid, _actor(ctx)), request)


@router.post("/signals/{sid}/conclude", summary="record the verification: outbreak or not")
def conclude(
    sid: str, body: ConcludeIn, request: Request, ctx: ContextDep, service: ServiceDep
) -> dict[str, Any]:
    _require(ctx, WORK_ROLES)
    return _labelled(service.conclude(sid, body.outcome, _actor(ctx)), request)


@router.post("/signals/{sid}/respond", summary="record that the response started")
def respond(sid: str, request: Request, ctx: ContextDep, service: ServiceDep) -> dict[str, Any]:
    _require(ctx, WORK_ROLES)
    return _labelled(service.respond(sid, _actor(ctx)), request)


@router.put("/officers/{area}", summary="the county CDC officer who receives the area's signals")
def set_officer(area: str, body: OfficerIn, ctx: ContextDep, service: ServiceDep) -> dict[str, str]:
    _require(ctx, ("platform-admin",))
    service.signals.set_officer(area, body.practitioner)
    return {"area": area, "practitioner": body.practitioner}


@router.get("/response-times", summary="median hours from signal to assignment, verification, response")
def response_times(ctx: ContextDep, service: ServiceDep) -> dict[str, Any]:
    _require(ctx, READ_ROLES)
    return service.signals.response_times()


@router.post("/detectors/{name}", summary="run a detector on a series you send (options checked strictly)")
def run_on_series(name: str, body: SeriesIn, ctx: ContextDep) -> dict[str, Any]:
    if name not in DETECTORS:
        raise InvalidInput(f"unknown detector '{name}'", code="surveillance.unknown_detector")
    series = series_from_counts(body.counts, body.freq, body.start)
    result = run_detector(name, series, body.options, body.at)

    def listed(values: np.ndarray) -> list[float | None]:
        return [None if not np.isfinite(v) else float(v) for v in values]

    return {
        "method": result.method,
        "index": result.index.tolist(),
        "observed": listed(result.observed),
        "expected": listed(result.expected),
        "upperbound": listed(result.upperbound),
        "pvalue": listed(result.pvalue),
        "alarm": result.alarm.tolist(),
        "notes": [{"code": n.code, "message": n.message, "periods": n.periods} for n in result.notes],
    }
