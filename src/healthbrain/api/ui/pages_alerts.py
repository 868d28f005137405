"""Alerts inbox (告警): critical values, early warnings and prescription issues for the signed-in clinician,
with acknowledgement, completion and the escalation timer of each alert."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from healthbrain.api.ui.directory import checked_id
from healthbrain.api.ui.record360 import patient_name
from healthbrain.api.ui.text import N_
from healthbrain.api.ui.web import InputProblem, Ui, page

router = APIRouter(include_in_schema=False)
ALERT_ID = re.compile(r"^[0-9a-f\-]{36}$")
REVIEW_ID = re.compile(r"^[A-Za-z0-9\-.]{1,80}$")


def _by(ui: Ui) -> dict[str, str]:
    """Who acts: the clinician's Practitioner (the API defaults to the account when there is none)."""
    return {"by": f"Practitioner/{ui.session.practitioner}"} if ui.session.practitioner else {}


async def _names(ui: Ui, refs: list[str]) -> dict[str, str]:
    ids = sorted({r.split("/", 1)[1] for r in refs if r.startswith("Patient/")})
    if not ids:
        return {}
    bundle = await ui.api.get("/fhir/R4/Patient", {"_id": ",".join(ids[:200]), "_count": "200"})
    return {f"Patient/{e['resource']['id']}": patient_name(e["resource"]) for e in bundle.get("entry") or ()}


def _view(alert: dict[str, Any], names: dict[str, str], now: float) -> dict[str, Any]:
    return {
        **alert,
        "patient_name": names.get(str(alert.get("patient")), ""),
        "overdue": bool(alert.get("due_at")) and float(alert["due_at"]) < now,
    }


async def _inbox(ui: Ui, mine: bool) -> dict[str, Any]:
    base: dict[str, str] = {"limit": "200"}
    if mine and ui.session.practitioner:
        base["recipient"] = f"Practitioner/{ui.session.practitioner}"
    open_, acked, reviews = await asyncio.gather(
        ui.api.get("/api/v1/cds/alerts", {**base, "status": "open"}),
        ui.api.get("/api/v1/cds/alerts", {**base, "status": "acknowledged", "limit": "50"}),
        ui.api.optional("/api/v1/cds/reviews", {"status": "pending", "limit": "100"}),
    )
    alerts = [*open_.get("alerts", []), *acked.get("alerts", [])]
    review_rows = (reviews or {}).get("reviews", []) if reviews is not None else None
    names = await _names(
        ui, [str(a.get("patient")) for a in alerts] + [str(r.get("patient")) for r in review_rows or ()]
    )
    now = time.time()
    return {
        "open": [_view(a, names, now) for a in open_.get("alerts", [])],
        "acknowledged": [_view(a, names, now) for a in acked.get("alerts", [])],
        "reviews": [{**r, "patient_name": names.get(str(r.get("patient")), "")} for r in review_rows]
        if review_rows is not None
        else None,
    }


@router.get("/ui/alerts")
@page("alerts")
async def inbox(ui: Ui) -> Response:
    mine = ui.request.query_params.get("all") != "1" and bool(ui.session.practitioner)
    data = await _inbox(ui, mine)
    template = "fragment_alerts.html" if ui.htmx else "alerts.html"
    return ui.render(
        template,
        active="alerts",
        page_title=N_("Alerts inbox"),
        mine=mine,
        live=True,
        can_act=bool(ui.roles & {"clinician", "nurse", "pharmacist"}),
        pharmacist="pharmacist" in ui.roles,
        now=time.time(),
        **data,
    )


def _alert_id(ui: Ui) -> str:
    value = str(ui.request.path_params.get("alert_id", ""))
    if not ALERT_ID.match(value):
        raise InputProblem("The address names no valid record.")
    return value


async def _row(ui: Ui, alert: dict[str, Any]) -> Response:
    names = await _names(ui, [str(alert.get("patient"))])
    return ui.render("fragment_alert_row.html", a=_view(alert, names, time.time()), can_act=True)


@router.post("/ui/alerts/{alert_id}/ack")
@page("alerts")
async def acknowledge(ui: Ui) -> Response:
    """Confirm receipt (stops escalation); the row is redrawn from the API's answer."""
    alert = await ui.api.post(f"/api/v1/cds/alerts/{_alert_id(ui)}/ack", _by(ui))
    return await _row(ui, alert)


@router.post("/ui/alerts/{alert_id}/complete")
@page("alerts")
async def complete(ui: Ui) -> Response:
    """Record what was done about the alert (closes the loop)."""
    action = ui.form.get("action", "").strip()
    if not action or len(action) > 120:
        raise InputProblem("Say in a few words what was done (at most 120 characters).")
    note = ui.form.get("note", "").strip()[:2000] or None
    alert = await ui.api.post(
        f"/api/v1/cds/alerts/{_alert_id(ui)}/complete", {**_by(ui), "action": action, "note": note}
    )
    return await _row(ui, alert)


@router.post("/ui/reviews/{review_id}/decision")
@page("alerts")
async def decide_review(ui: Ui) -> Response:
    """The pharmacist's decision on an audited prescription: approve, reject or return."""
    review_id = ui.request.path_params.get("review_id", "")
    if not REVIEW_ID.match(review_id):
        raise InputProblem("The address names no valid record.")
    decision = ui.form.get("decision", "")
    if decision not in ("approve", "reject", "return"):
        raise InputProblem("Choose approve, reject or return.")
    reason = ui.form.get("reason", "").strip()[:2000] or None
    await ui.api.post(
        f"/api/v1/cds/reviews/{review_id}/decision", {**_by(ui), "decision": decision, "reason_text": reason}
    )
    return ui.render("fragment_message.html", title=ui.t("Saved"), text=ui.t("The decision was recorded."))


_ = checked_id
