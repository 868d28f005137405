"""CDS platform API under /api/v1/cds: alerts (list, SSE stream, acknowledge, complete), on-call roster,
webhooks, the pharmacist review queue, data-quality issues and the knowledge-base admin. Thin: the logic
is in healthbrain.cds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from healthbrain.api.cds_hooks_routes import router as hooks_router
from healthbrain.api.deps import ContextDep
from healthbrain.cds.alerts import AlertService
from healthbrain.cds.service import CdsService
from healthbrain.cds.settings import CdsSettings
from healthbrain.cds.visibility import visible_alerts, visible_reviews
from healthbrain.core.context import RequestContext
from healthbrain.core.errors import Forbidden, NotFound, TooLarge
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository

router = APIRouter(prefix="/api/v1/cds", tags=["Clinical decision support"])
REF = r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$"
RECIPIENT = r"^([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}|role:[a-z\-]{1,40})$"
MAX_KNOWLEDGE_BYTES = 5 * 1024 * 1024
VISIBILITY_TTL = 60.0  # seconds a stream trusts a policy decision about one patient


class ActorIn(BaseModel):
    by: str | None = Field(default=None, pattern=REF, description="who acts, e.g. Practitioner/123")


class CompleteIn(ActorIn):
    action: str = Field(min_length=1, max_length=120, description="what was done (a code or short phrase)")
    note: str | None = Field(default=None, max_length=2000)


class DecisionIn(ActorIn):
    decision: str = Field(pattern="^(approve|reject|return)$")
    reason_code: str | None = Field(default=None, max_length=40)
    reason_text: str | None = Field(default=None, max_length=2000)


class WebhookIn(BaseModel):
    url: str = Field(pattern=r"^https?://", max_length=500)
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    recipients: list[Annotated[str, Field(pattern=RECIPIENT)]] = Field(default_factory=list, max_length=200)


class OncallIn(BaseModel):
    organization: str = Field(pattern=r"^Organization/[A-Za-z0-9\-.]{1,64}$")
    department: str = Field(default="*", pattern=r"^(\*|[A-Za-z0-9\-]{1,16})$")
    role: str = Field(pattern="^(duty|head|pharmacist)$")
    practitioner: str = Field(pattern=r"^(Practitioner|PractitionerRole)/[A-Za-z0-9\-.]{1,64}$")


class ActivateIn(BaseModel):
    version_id: int | None = Field(
        default=None, description="an uploaded version id; null = the packaged file"
    )


def get_cds(request: Request) -> CdsService:
    service: CdsService = request.app.state.cds
    return service


CdsDep = Annotated[CdsService, Depends(get_cds)]


def _require(ctx: RequestContext, *roles: str) -> None:
    allowed = {*roles, "platform-admin", "system"}
    if not ctx.principal.roles & allowed:
        raise Forbidden(
            "this action needs one of the roles: " + ", ".join(sorted(roles)), code="cds.role_required"
        )


def _actor(ctx: RequestContext, body: ActorIn) -> str:
    return body.by or f"Practitioner/{ctx.principal.id}"


# ---- alerts -------------------------------------------------------------------------------------
@router.get("/alerts", summary="list alerts")
def list_alerts(
    cds: CdsDep,
    ctx: ContextDep,
    status: Annotated[str | None, Query(pattern="^(open|acknowledged|completed|cancelled)$")] = None,
    patient: Annotated[str | None, Query(pattern=REF)] = None,
    recipient: Annotated[str | None, Query(pattern=REF)] = None,
    kind: Annotated[str | None, Query(pattern="^(critical|delta|ews|audit)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    rows = cds.store.alerts(status=status, patient=patient, recipient=recipient, kind=kind, limit=limit)
    return {"alerts": [AlertService.public(r) for r in visible_alerts(cds.repo, ctx, rows)]}


def _sse(notification: Mapping[str, Any]) -> bytes:
    body = orjson.dumps(notification).decode()
    return f"id: {notification['seq']}\nevent: {notification['event']}\ndata: {body}\n\n".encode()


@router.get(
    "/alerts/stream", summary="server-sent events: alerts as they happen", response_class=StreamingResponse
)
async def stream_alerts(
    request: Request,
    cds: CdsDep,
    ctx: ContextDep,
    recipient: Annotated[
        list[str] | None, Query(description="Practitioner/..., Location/..., role:pharmacist")
    ] = None,
    since: Annotated[int | None, Query(ge=0, description="replay notifications after this id")] = None,
) -> StreamingResponse:
    """Alerts for the given recipients (all when none); reconnect with Last-Event-ID to miss nothing."""
    wanted = frozenset(recipient or [])
    header = request.headers.get("last-event-id")
    start = int(header) if header and header.isdigit() else since
    queue: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()
    subscription = cds.hub.subscribe_async(wanted, queue)  # before the replay, so nothing falls in between
    label = ",".join(sorted(wanted))[:80] or "all"

    async def events() -> AsyncIterator[bytes]:
        last = start or 0
        seen: dict[str, tuple[float, bool]] = {}  # patient -> (checked at, may see): one policy call a minute
        pending: set[asyncio.Task[None]] = set()

        async def may_see(public: Mapping[str, Any]) -> bool:
            hit = seen.get(str(public["patient"]))
            if hit is not None and time.monotonic() - hit[0] < VISIBILITY_TTL:
                return hit[1]
            verdict = await asyncio.to_thread(_may_see, cds, ctx, public)
            seen[str(public["patient"])] = (time.monotonic(), verdict)
            return verdict

        def record(alert_id: str) -> None:  # the 'delivered' step, without holding up the next event
            task = asyncio.create_task(asyncio.to_thread(cds.alerts.delivered, alert_id, "sse", label))
            pending.add(task)
            task.add_done_callback(pending.discard)

        try:
            yield b": connected\n\n"
            if start is not None:
                missed = await asyncio.to_thread(cds.store.notifications_after, start)
                for old in missed:
                    wanted_here = not wanted or bool(wanted & set(old["recipients"]))
                    if wanted_here and await may_see(old["payload"]["alert"]):
                        last = int(old["seq"])
                        replayed = {"seq": old["seq"], "event": old["event"], "recipients": old["recipients"]}
                        yield _sse({**replayed, **old["payload"]})
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), cds.settings.sse_heartbeat_seconds)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if int(item["seq"]) <= last or not await may_see(item["alert"]):
                    continue
                last = int(item["seq"])
                yield _sse(item)
                record(item["alert"]["id"])
        finally:
            cds.hub.unsubscribe(subscription)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _may_see(cds: CdsService, ctx: RequestContext, public: Mapping[str, Any]) -> bool:
    """Whether the listener may see a notified alert (the policy on its Task, without a database read)."""
    alert = {
        **public,
        "payload": {"title": public.get("title") or {"zh_CN": ""}, "business_status": public["status"]},
    }
    return bool(visible_alerts(cds.repo, ctx, [alert]))


@router.get("/alerts/{alert_id}", summary="an alert and every step of its loop")
def get_alert(alert_id: str, cds: CdsDep, ctx: ContextDep) -> dict[str, Any]:
    alert = cds.store.alert(alert_id)
    if alert is None or not visible_alerts(cds.repo, ctx, [alert]):
        raise NotFound("no such alert", code="cds.alert_not_found")
    return {**AlertService.public(alert), "events": cds.store.events(alert_id)}


@router.post("/alerts/{alert_id}/ack", summary="acknowledge receipt (stops escalation)")
def acknowledge(alert_id: str, body: ActorIn, cds: CdsDep, ctx: ContextDep) -> dict[str, Any]:
    _require(ctx, "clinician", "nurse", "pharmacist")
    return AlertService.public(cds.alerts.acknowledge(alert_id, _actor(ctx, body)))


@router.post("/alerts/{alert_id}/complete", summary="record the action taken (closes the loop)")
def complete(alert_id: str, body: CompleteIn, cds: CdsDep, ctx: ContextDep) -> dict[str, Any]:
    _require(ctx, "clinician", "nurse", "pharmacist")
    return AlertService.public(cds.alerts.complete(alert_id, _actor(ctx, body), body.action, body.note))


@router.get("/data-quality", summary="results CDS could not use (unknown units, implausible values)")
def data_quality(
    cds: CdsDep, _ctx: ContextDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    return {"issues": cds.store.dq_issues(limit)}


# ---- escalation roster and webhooks -------------------------------------------------------------
@router.get("/oncall", summary="the on-call roster of the escalation chain")
def roster(
    cds: CdsDep, _ctx: ContextDep, organization: Annotated[str | None, Query(pattern=REF)] = None
) -> dict[str, Any]:
    return {"roster": cds.admin.roster(organization)}


@router.put("/oncall", summary="set who is on duty / heads a department")
def set_oncall(body: OncallIn, cds: CdsDep, ctx: ContextDep) -> dict[str, Any]:
    _require(ctx, "institution-admin")
    cds.admin.set_oncall(body.organization, body.department, body.role, body.practitioner)
    return body.model_dump()


@router.get("/webhooks", summary="registered webhooks")
def list_webhooks(cds: CdsDep, ctx: ContextDep) -> dict[str, Any]:
    _require(ctx, "institution-admin")
    return {"webhooks": cds.admin.webhooks()}


@router.post(
    "/webhooks",
    summary="register a webhook (signed with HMAC-SHA256 when a secret is given)",
    status_code=201,
)
def add_webhook(body: WebhookIn, cds: CdsDep, ctx: ContextDep) -> dict[str, Any]:
    _require(ctx, "institution-admin")
    return {"id": cds.admin.add_webhook(body.url, body.secret, body.recipients)}


@router.delete("/webhooks/{hook_id}", summary="stop a webhook")
def remove_webhook(hook_id: str, cds: CdsDep, ctx: ContextDep) -> Response:
    _require(ctx, "institution-admin")
    if not cds.admin.remove_webhook(hook_id):
        raise NotFound("no such webhook", code="cds.webhook_not_found")
    return Response(status_code=204)


# ---- pharmacist review queue --------------------------------------------------------------------
@router.get("/reviews", summary="the prescription review queue")
def list_reviews(
    cds: CdsDep,
    ctx: ContextDep,
    status: Annotated[
        str | None, Query(pattern="^(pending|auto_approved|approved|rejected|returned|superseded)$")
    ] = None,
    organization: Annotated[str | None, Query(pattern=REF)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    rows = cds.admin.reviews(status=status, organization=organization, limit=limit)
    return {"reviews": visible_reviews(cds.repo, ctx, rows)}


@router.get("/reviews/{review_id}", summary="one audited prescription with its DetectedIssues")
def get_review(review_id: str, cds: CdsDep, ctx: ContextDep) -> dict[str, Any]:
    review = cds.admin.review(review_id)
    if review is None or not visible_reviews(cds.repo, ctx, [review]):
        raise NotFound("no such review", code="cds.review_not_found")
    issues = [cds.repo.read(ctx, "DetectedIssue", ref.split("/", 1)[1]).resource for ref in review["issues"]]
    return {**review, "detected_issues": issues}


@router.post("/reviews/{review_id}/decision", summary="approve, reject or return to the prescriber")
def decide(review_id: str, body: DecisionIn, cds: CdsDep, ctx: ContextDep) -> dict[str, Any]:
    _require(ctx, "pharmacist")
    return cds.reviews.decide(review_id, body.decision, _actor(ctx, body), body.reason_code, body.reason_text)


# ---- knowledge base -----------------------------------------------------------------------------
@router.get("/knowledge", summary="knowledge files in use (version, origin, hash)")
def knowledge(cds: CdsDep, _ctx: ContextDep) -> dict[str, Any]:
    return {"fingerprint": cds.knowledge.current.fingerprint, "files": cds.knowledge.listing()}


@router.get("/knowledge/{name}", summary="a knowledge file as in use")
def knowledge_file(name: str, cds: CdsDep, _ctx: ContextDep) -> dict[str, Any]:
    return cds.knowledge.document(name)


@router.get("/knowledge/{name}/versions", summary="the packaged and uploaded versions of a file")
def knowledge_versions(name: str, cds: CdsDep, _ctx: ContextDep) -> dict[str, Any]:
    return {"versions": cds.knowledge.versions(name)}


@router.put("/knowledge/{name}", summary="upload a new version (validated; every rule must cite a source)")
async def upload_knowledge(name: str, request: Request, cds: CdsDep, ctx: ContextDep) -> dict[str, Any]:
    _require(ctx, "institution-admin")
    body = await request.body()
    if len(body) > MAX_KNOWLEDGE_BYTES:
        raise TooLarge("the knowledge file is too large")
    return await asyncio.to_thread(cds.knowledge.upload, name, body, ctx.principal.id)


@router.post("/knowledge/{name}/activate", summary="use an earlier version again (or the packaged one)")
def activate_knowledge(name: str, body: ActivateIn, cds: CdsDep, ctx: ContextDep) -> dict[str, Any]:
    _require(ctx, "institution-admin")
    cds.knowledge.activate(name, body.version_id)
    return {"name": name, "version": cds.knowledge.current.version_of(name)}


# ---- wiring -------------------------------------------------------------------------------------
def install(
    app: FastAPI, repo: FhirRepository, dispatcher: EventDispatcher, settings: CdsSettings | None = None
) -> None:
    """Create the CDS service, subscribe it, run its escalation loop with the app, add the routes.

    CDS gets a dispatcher of its own (same engine and event store, its own cursors and thread), woken
    on every commit: a critical value must not wait behind slower subscribers of other packages.
    """
    service = CdsService(repo, settings or CdsSettings())
    app.state.cds = service
    own = EventDispatcher(repo.engine, dispatcher.settings, store=dispatcher.store)
    if service.settings.enabled:
        service.register(own)
        chained = repo.on_commit

        def wake() -> None:
            if chained is not None:
                chained()
            own.wake()

        repo.on_commit = wake

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        own.start()
        service.start()
        try:
            yield
        finally:
            service.stop()
            own.stop()

    wired = APIRouter(lifespan=lifespan)
    wired.include_router(router)
    wired.include_router(hooks_router)
    app.include_router(wired)
