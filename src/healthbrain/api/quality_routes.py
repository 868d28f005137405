"""Data-quality routes (/api/v1/quality): rules, daily scores, the quarantine and its decisions, a rule
check for integrators, and results mutual recognition (prior results, order-select cards, flags).

Thin: the logic is in healthbrain.quality; releases write through the repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from healthbrain.api.deps import ContextDep
from healthbrain.core.context import RequestContext
from healthbrain.core.errors import Forbidden, InvalidInput
from healthbrain.core.i18n import negotiate, translations
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.quality import (
    QualityMonitor,
    QuarantineDesk,
    RecognitionService,
    ResidentRefs,
    RuleSet,
    ScoreBoard,
    default_rules,
    evaluate_entries,
    reuse_card,
)

router = APIRouter(prefix="/api/v1/quality", tags=["Data quality (数据质量) and results recognition (互认)"])
SCORE_ROLES = frozenset({"platform-admin", "regional-officer", "provincial-supervisor", "data-scientist",
                         "institution-admin", "institution-system"})  # fmt: skip
INSTITUTION_ROLES = frozenset({"institution-admin", "institution-system"})
CARE_ROLES = frozenset({"clinician", "nurse", "pharmacist", "institution-system"})


@dataclass(slots=True)
class QualityServices:
    rules: RuleSet
    monitor: QualityMonitor
    desk: QuarantineDesk
    board: ScoreBoard
    recognition: RecognitionService


def get_services(request: Request) -> QualityServices:
    services: QualityServices = request.app.state.quality
    return services


ServicesDep = Annotated[QualityServices, Depends(get_services)]


def resident_refs(app: FastAPI) -> ResidentRefs | None:
    """Every Patient record of the same resident, from the patient index when it is installed."""
    index = getattr(app.state, "mpi", None)
    if index is None:
        return None

    def refs(ref: str) -> list[str]:
        with index.engine.connect() as conn:
            link = index.store.link_of(conn, ref)
            if link is None or link.state not in ("auto", "manual"):
                return []
            return [m.patient_ref for m in index.store.members(conn, link.resident_id)
                    if m.state in ("auto", "manual")]  # fmt: skip

    return refs


def install(app: FastAPI, repo: FhirRepository, dispatcher: EventDispatcher) -> None:
    """Create the services, subscribe the monitor and the recognition to their events, add the routes."""
    rules = default_rules()
    services = QualityServices(
        rules, QualityMonitor(repo, rules), QuarantineDesk(repo, rules), ScoreBoard(repo.engine, rules),
        RecognitionService(repo, residents=resident_refs(app)),
    )  # fmt: skip
    services.monitor.register(dispatcher)
    services.recognition.register(dispatcher)
    app.state.quality = services
    app.include_router(router)


def _require(ctx: RequestContext, roles: frozenset[str]) -> None:
    if not ctx.is_system and not ctx.principal.roles & {*roles, "system"}:
        needed = ", ".join(sorted(roles))
        raise Forbidden(f"this needs one of the roles: {needed}", code="quality.role_required")


def _own_institution(ctx: RequestContext, institution: str | None) -> str | None:
    """Institution-level principals see their own institution only."""
    if ctx.is_system or ctx.principal.roles & (SCORE_ROLES - INSTITUTION_ROLES):
        return institution
    return ctx.principal.organization or ""


def _language(request: Request) -> str:
    return negotiate(request.headers.get("accept-language"), request.query_params.get("lang"))


class ReleaseIn(BaseModel):
    resource: dict[str, Any] | None = None
    note: str | None = Field(default=None, max_length=500)
    override: bool = False


class DiscardIn(BaseModel):
    note: str | None = Field(default=None, max_length=500)


class HookIn(BaseModel):
    """A CDS Hooks `order-select` request (other fields accepted and not needed)."""

    model_config = ConfigDict(extra="allow")

    hook: str = Field(default="order-select", max_length=64)
    context: dict[str, Any]


@router.get("/rules", summary="the data-quality rules, their dimension and severity")
def rules(request: Request, services: ServicesDep, _ctx: ContextDep) -> list[dict[str, Any]]:
    tr = translations(_language(request))
    return [
        {"rule": code, "dimension": code.split(".", 1)[0], "severity": sev,
         "title": tr.pgettext("quality", services.rules.titles[code])}
        for code, sev in services.rules.severities.items()
    ]  # fmt: skip


@router.get("/scores", summary="quality scores (0-100) per institution and day, or over the period")
def scores(
    ctx: ContextDep,
    services: ServicesDep,
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
    institution: str | None = None,
    feed: str | None = None,
    by: Annotated[str, Query(pattern="^(day|feed|institution)$")] = "day",
) -> dict[str, Any]:
    _require(ctx, SCORE_ROLES)
    institution = _own_institution(ctx, institution)
    if by == "institution":
        rows = services.board.by_institution(start, end, feed=feed)
        if institution is not None:
            rows = [r for r in rows if r["institution"] == institution]
    else:
        rows = services.board.daily(start, end, institution=institution, feed=feed, by_feed=by == "feed")
    return {"from": start, "to": end, "by": by, "weights": dict(services.rules.weights), "scores": rows}


@router.get("/received", summary="records received on a day by resource type (latest versions written)")
def received(
    ctx: ContextDep,
    services: ServicesDep,
    day: date,
    institution: str | None = None,
) -> dict[str, Any]:
    """Managers: the region or one institution; care roles: their own institution's (a count)."""
    _require(ctx, SCORE_ROLES | CARE_ROLES)
    institution = _own_institution(ctx, institution)
    counts = services.board.received(day, institution=institution)
    return {"day": day, "institution": institution, "received": counts}


@router.get("/quarantine", summary="quarantined records (summaries: rules and times, no content)")
def quarantine_list(
    ctx: ContextDep,
    services: ServicesDep,
    status: Annotated[str, Query(pattern="^(held|released|discarded|all)$")] = "held",
    institution: str | None = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=500)] = 50,
    offset: Annotated[int, Query(alias="_offset", ge=0)] = 0,
) -> dict[str, Any]:
    rows, total = services.desk.entries(
        ctx, status=None if status == "all" else status, institution=institution, limit=count, offset=offset
    )
    return {"total": total, "entries": [r.summary() for r in rows]}


@router.get("/quarantine/{qid}", summary="one quarantined record with its content (audited)")
def quarantine_read(qid: str, ctx: ContextDep, services: ServicesDep) -> dict[str, Any]:
    row, content = services.desk.read(ctx, qid)
    return {**row.summary(), "request": row.request, "resource": content}


@router.post("/quarantine/{qid}/release", summary="release a held record, corrected or as it is")
def quarantine_release(qid: str, body: ReleaseIn, ctx: ContextDep, services: ServicesDep) -> dict[str, Any]:
    outcome = services.desk.release(ctx, qid, body.resource, note=body.note, override=body.override)
    return {"released": [{"id": i, "reference": ref} for i, ref in outcome.released]}


@router.post("/quarantine/{qid}/discard", summary="give up on a held record")
def quarantine_discard(qid: str, body: DiscardIn, ctx: ContextDep, services: ServicesDep) -> dict[str, Any]:
    row = services.desk.discard(ctx, qid, body.note)
    return {"id": row.id, "status": "discarded"}


@router.post("/check", summary="check a resource or Bundle against the rules, without storing anything")
def check(body: dict[str, Any], request: Request, _ctx: ContextDep, services: ServicesDep) -> dict[str, Any]:
    if body.get("resourceType") == "Bundle":
        entries = [e for e in body.get("entry") or () if isinstance(e, dict)]
    elif isinstance(body.get("resourceType"), str):
        entries = [{"resource": body}]
    else:
        raise InvalidInput("the body must be a FHIR resource or Bundle", code="quality.not_a_resource")
    if len(entries) > 5000:
        raise InvalidInput("at most 5000 entries can be checked at once", code="quality.too_many")
    tr = translations(_language(request))
    titles = services.rules.titles
    verdicts = evaluate_entries(entries, services.rules, datetime.now(UTC))
    return {"entries": [
        {"index": v.index, "resourceType": v.resource_type, "quarantine": bool(v.evaluation.hard),
         "findings": [{**f.to_json(), "title": tr.pgettext("quality", titles.get(f.rule, f.rule))}
                      for f in v.evaluation.findings]}
        for v in verdicts
    ]}  # fmt: skip


def _reusable(
    ctx: RequestContext, services: ServicesDep, resource: dict[str, Any], when: datetime
) -> tuple[list[Any], datetime]:
    order = services.recognition.order(ctx, resource, when)
    if order is None:
        return [], when
    return services.recognition.check(ctx, order), order.ordered


@router.get("/recognition", summary="prior results a new order for these tests could reuse")
def recognition(
    ctx: ContextDep,
    services: ServicesDep,
    patient: Annotated[str, Query(pattern=r"^Patient/[A-Za-z0-9\-.]{1,64}$")],
    code: Annotated[str, Query(min_length=1, max_length=400)],
    organization: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    _require(ctx, CARE_ROLES)
    now = datetime.now(UTC)
    draft = {
        "resourceType": "ServiceRequest", "id": "query", "status": "draft", "intent": "order",
        "subject": {"reference": patient}, "authoredOn": now.isoformat(),
        "code": {"coding": [{"system": "http://loinc.org", "code": c.strip()} for c in code.split(",")]},
        **({"requester": {"reference": f"Organization/{organization}"}} if organization else {}),
    }  # fmt: skip
    found, ordered = _reusable(ctx, services, draft, now)
    return {"patient": patient, "results": [
        {**r.to_json(ordered), "institutionName": services.recognition.institution_name(r.result.institution)}
        for r in found
    ]}  # fmt: skip


@router.post("/recognition/order-select", summary="CDS Hooks order-select: cards for reusable prior results")
def order_select(body: HookIn, request: Request, ctx: ContextDep, services: ServicesDep) -> dict[str, Any]:
    _require(ctx, CARE_ROLES)
    language = _language(request)
    drafts = ((body.context.get("draftOrders") or {}).get("entry")) or []
    patient = body.context.get("patientId")
    cards = []
    now = datetime.now(UTC)
    for entry in drafts[:50]:
        res = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict) or res.get("resourceType") != "ServiceRequest":
            continue
        if patient and not (res.get("subject") or {}).get("reference"):
            res = {**res, "subject": {"reference": f"Patient/{patient}"}}
        res = {**res, "status": res.get("status") or "draft", "id": res.get("id") or "draft"}
        found, ordered = _reusable(ctx, services, res, now)
        draft_id = f"ServiceRequest/{res['id']}"
        for rec in found:
            name = services.recognition.institution_name(rec.result.institution)
            cards.append(reuse_card(rec, ordered, name, draft_id, language))
    return {"cards": cards}


@router.get("/recognition/flags", summary="orders flagged as repeats, with the result they could reuse")
def recognition_flags(
    ctx: ContextDep,
    services: ServicesDep,
    patient: Annotated[str | None, Query(pattern=r"^Patient/[A-Za-z0-9\-.]{1,64}$")] = None,
    order: Annotated[str | None, Query(pattern=r"^ServiceRequest/[A-Za-z0-9\-.]{1,64}$")] = None,
) -> dict[str, Any]:
    _require(ctx, CARE_ROLES | SCORE_ROLES)
    if patient is None and order is None and not ctx.principal.roles & (SCORE_ROLES - INSTITUTION_ROLES):
        raise InvalidInput("name a patient or an order", code="quality.no_filter")
    repo = services.desk.repo
    for ref in (patient, order):
        if ref is not None:  # the caller must be allowed to see the patient or order itself
            repo.read(ctx, *ref.split("/", 1))
    with repo.engine.connect() as conn:
        rows = services.desk.store.recognitions(conn, patient=patient, order=order)
        counts = services.desk.store.recognition_counts(conn)
    if patient is None and order is None:
        rows = []  # regional roles get the counts, not the patients
    return {"counts": counts, "flags": rows}
