"""Surveillance routes (/api/v1/surveillance): diseases and syndromes, counts (county or township, day
or ISO week), detection runs (county series and the space-time scan), signals and their CIDARS
workflow, county officers, response times, weekly forecasts, and the detectors as a stateless service.

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
from healthbrain.mpi import PatientIndex
from healthbrain.surveillance import (
    BY_KEY,
    DISEASES,
    SYNDROME_BY_KEY,
    SYNDROME_LIST,
    SurveillanceService,
    series_from_counts,
)
from healthbrain.surveillance.cases import ResidentOf
from healthbrain.surveillance.detectors import DETECTORS, run_detector
from healthbrain.surveillance.forecast import WeeklyForecast

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
METHOD_TEXT = {"space_time_scan": "Space-time cluster"}
MODEL_TEXT = {"seasonal": "Seasonal model", "baseline": "Flat baseline"}
HISTORY_WEEKS = 26  # weeks of history returned with a forecast


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
    """Residents from the patient index when it is installed (one resident, one case), through its
    public interface: the resolver is all the surveillance service knows of the index."""
    index = getattr(app.state, "mpi", None)
    return index.resident_of if isinstance(index, PatientIndex) else None


def install(app: FastAPI, repo: FhirRepository, dispatcher: EventDispatcher) -> None:
    """Create the service (with the patient index's resident resolver), subscribe it to Condition and
    Observation changes and add the routes."""
    service = SurveillanceService(repo, resident_of=_resident_resolver(app))
    service.register(dispatcher)
    app.state.surveillance = service
    app.include_router(router)


class DetectIn(BaseModel):
    day: date
    scan: bool = True  # also the space-time scan across neighbouring counties


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


def _key(disease: str | None, syndrome: str | None) -> str:
    """The count key of a request naming exactly one known disease or syndrome."""
    if (disease is None) == (syndrome is None):
        raise InvalidInput("name either a disease or a syndrome", code="surveillance.key_required")
    if disease is not None and disease not in BY_KEY:
        raise InvalidInput(f"unknown disease '{disease}'", code="surveillance.unknown_key")
    if syndrome is not None and syndrome not in SYNDROME_BY_KEY:
        raise InvalidInput(f"unknown syndrome '{syndrome}'", code="surveillance.unknown_key")
    return str(disease or syndrome)


def _period(start: date, end: date) -> None:
    if end < start or (end - start).days > 3660:
        raise InvalidInput("'to' must follow 'from' by at most ten years", code="surveillance.bad_period")


Level = Annotated[str, Query(pattern="^(county|township)$")]


@router.get("/syndromes", summary="the syndromes counted (fever, diarrhoea, rash, respiratory)")
def syndromes(request: Request) -> list[dict[str, Any]]:
    zh = negotiate(request.headers.get("accept-language")).startswith("zh")
    return [{"key": s.key, "name": s.name_zh if zh else s.name_en} for s in SYNDROME_LIST]


@router.get("/counts", summary="cases of a disease or syndrome by day or ISO week (in a county or township)")
def counts(
    ctx: ContextDep,
    service: ServiceDep,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
    disease: str | None = None,
    syndrome: str | None = None,
    area: str | None = None,
    level: Level = "county",
    freq: Annotated[str, Query(pattern="^(day|week)$")] = "day",
) -> dict[str, Any]:
    _require(ctx, READ_ROLES)
    _period(start, end)
    key = _key(disease, syndrome)
    found = service.store.counts(key, area, start, end, level=level, freq=freq)
    kind = "disease" if key in BY_KEY else "syndrome"
    return {
        kind: key,
        "area": area,
        "level": level,
        "freq": freq,
        "days" if freq == "day" else "weeks": found,
    }


@router.get("/areas", summary="cases of a disease or syndrome per county or township over a period")
def areas(
    ctx: ContextDep,
    service: ServiceDep,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
    disease: str | None = None,
    syndrome: str | None = None,
    level: Level = "county",
) -> dict[str, Any]:
    _require(ctx, READ_ROLES)
    _period(start, end)
    key = _key(disease, syndrome)
    return {"key": key, "level": level, "areas": service.store.totals(key, start, end, level=level)}


def _forecast_body(fc: WeeklyForecast, lang: str) -> dict[str, Any]:
    tr = translations(lang)
    rows = []
    for i, horizon in enumerate(fc.horizons):
        q = {
            round(float(level), 3): round(float(v), 2)
            for level, v in zip(fc.levels, fc.values[i], strict=True)
        }
        rows.append({
            "horizon": horizon, "week": fc.targets[i], "median": q.get(0.5),
            "interval50": [q.get(0.25), q.get(0.75)], "interval95": [q.get(0.025), q.get(0.975)],
            "quantiles": [{"level": k, "value": v} for k, v in q.items()],
        })  # fmt: skip
    tail = slice(max(0, len(fc.weeks) - HISTORY_WEEKS), len(fc.weeks))
    return {
        "model": fc.model,
        "modelLabel": tr.pgettext("surveillance", MODEL_TEXT[fc.model]),
        "origin": fc.origin,
        "history": [
            {"week": w, "cases": float(v)} for w, v in zip(fc.weeks[tail], fc.observed[tail], strict=True)
        ],
        "forecasts": rows,
        "notes": [{"code": n.code, "message": n.message} for n in fc.notes],
    }


@router.get("/forecasts", summary="weekly cases 1–4 weeks ahead: 23 quantiles, 50 % and 95 % intervals")
def forecasts(
    request: Request,
    ctx: ContextDep,
    service: ServiceDep,
    disease: str | None = None,
    syndrome: str | None = None,
    area: str | None = None,
    level: Level = "county",
    as_of: Annotated[date | None, Query(alias="asOf")] = None,
) -> dict[str, Any]:
    _require(ctx, READ_ROLES)
    key = _key(disease, syndrome)
    fc = service.forecast(key, area, level=level, as_of=as_of)
    lang = negotiate(request.headers.get("accept-language"))
    return {"key": key, "area": area, "level": level, **_forecast_body(fc, lang)}


@router.post("/detect", summary="run detection for a day: alarms become signals")
def detect(body: DetectIn, ctx: ContextDep, service: ServiceDep) -> dict[str, Any]:
    _require(ctx, WORK_ROLES)
    summary, ids = service.detect(body.day)
    out: dict[str, Any] = {"day": summary.day, "series": summary.series, "alarms": summary.alarms}
    if body.scan:
        scan, cluster_ids = service.scan(body.day)
        out.update(clusters=scan.clusters, clusterSignals=cluster_ids)
        ids = ids + [c for c in cluster_ids if c not in ids]
    return {**out, "signals": ids}


def _labelled(signal: dict[str, Any], request: Request) -> dict[str, Any]:
    tr = translations(negotiate(request.headers.get("accept-language")))
    label = STATUS_TEXT.get(signal["status"])
    method = METHOD_TEXT.get(signal["method"])
    return {
        **signal,
        "statusLabel": tr.pgettext("surveillance", label) if label else signal["status"],
        "methodLabel": tr.pgettext("surveillance", method) if method else signal["method"],
    }


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
