"""Live updates (SSE) for the cockpit: alerts as the CDS service raises and escalates them, and new
surveillance signals, each only when the user may see it — the same policy calls as the public APIs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from starlette.requests import Request

from healthbrain.api.cds_routes import _may_see  # one rule for who may hear of an alert
from healthbrain.api.deps import get_context
from healthbrain.api.ui.client import Api, ApiError
from healthbrain.api.ui.nav import may_use
from healthbrain.api.ui.web import Ui, client_host, page
from healthbrain.core.context import RequestContext

router = APIRouter(include_in_schema=False)
ALERT_EVENTS = {
    "alert": "alert",
    "escalation": "escalation",
    "acknowledged": "acknowledged",
    "completed": "completed",
    "cancelled": "completed",
    "exhausted": "escalation",
}


def _frame(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {orjson.dumps(data).decode()}\n\n".encode()


def user_context(ui: Ui) -> RequestContext:
    """The RequestContext the API would build for this user's token (authentication, purpose)."""
    scope = {**ui.request.scope, "headers": [(b"authorization", f"Bearer {ui.session.access}".encode())]}
    return get_context(Request(scope), ui.request.app.state.hb)


async def _signal_ids(api: Api) -> dict[str, dict[str, Any]]:
    try:
        return {s["id"]: s for s in await api.get("/api/v1/surveillance/signals", {"limit": "100"})}
    except ApiError:
        return {}


@router.get("/ui/live")
@page(None, touch=False)
async def live(ui: Ui) -> Response:
    """text/event-stream: `alert`, `escalation`, `acknowledged`, `completed` and `signal` events."""
    cds = getattr(ui.request.app.state, "cds", None)
    hear_alerts = cds is not None and may_use("alerts", ui.roles)
    hear_signals = may_use("surveillance", ui.roles)
    ctx = user_context(ui)
    settings = ui.cockpit.settings
    t, lang, request = ui.t, ui.lang, ui.request
    api = Api(ui.cockpit.app, ui.session.access, lang, client_host(request))

    async def events() -> AsyncIterator[bytes]:
        queue: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()
        subscription = (
            cds.hub.subscribe_async(frozenset(), queue) if hear_alerts and cds is not None else None
        )
        known = await _signal_ids(api) if hear_signals else {}
        diseases = (
            {d["key"]: d["name"] for d in await api.get("/api/v1/surveillance/diseases")}
            if hear_signals
            else {}
        )
        next_poll = time.monotonic() + settings.signal_poll_seconds
        try:
            yield b": connected\n\nretry: 5000\n\n"
            while not await request.is_disconnected():
                wait = max(
                    0.05,
                    min(settings.heartbeat_seconds, next_poll - time.monotonic())
                    if hear_signals
                    else settings.heartbeat_seconds,
                )
                try:
                    item: Mapping[str, Any] | None = await asyncio.wait_for(queue.get(), wait)
                except TimeoutError:
                    item = None
                if item is not None and cds is not None:
                    name = ALERT_EVENTS.get(str(item.get("event")))
                    alert = item["alert"]
                    visible = bool(name) and bool(await asyncio.to_thread(_may_see, cds, ctx, alert))
                    if name and visible:
                        title = (alert.get("title") or {}).get(lang) or ""
                        yield _frame(
                            name,
                            {
                                "id": alert["id"],
                                "title": title,
                                "priority": alert.get("priority"),
                                "status": alert.get("status"),
                            },
                        )
                if hear_signals and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + settings.signal_poll_seconds
                    current = await _signal_ids(api)
                    for sid in current.keys() - known.keys():
                        s = current[sid]
                        text = t(
                            "New signal: %(disease)s, area %(area)s, %(day)s",
                            disease=diseases.get(s.get("disease"), s.get("disease")),
                            area=s.get("area"),
                            day=s.get("day"),
                        )
                        yield _frame("signal", {"id": sid, "title": text})
                    known = current
                elif item is None:
                    yield b": keep-alive\n\n"
        finally:
            if subscription is not None and cds is not None:
                cds.hub.unsubscribe(subscription)
            await api.__aexit__(None, None, None)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
