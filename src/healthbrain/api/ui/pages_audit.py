"""Audit and security (审计与安全): audit search, chain verification, access anomalies, break-glass events
and data-use approvals — for security auditors, and approvals for those who decide them."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, time, timedelta
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from healthbrain.api.ui.text import N_, REGION_TZ
from healthbrain.api.ui.web import InputProblem, Ui, page

router = APIRouter(include_in_schema=False)
ANOMALY_ID = re.compile(r"^[A-Za-z0-9\-]{1,64}$")
SEARCH_FIELDS = ("principal", "patient", "action", "outcome")
TEXT_FIELD = re.compile(r"^[A-Za-z0-9\-._:/]{0,80}$")


def audit_rows(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """AuditEvents flattened for a table (ids only, as recorded)."""
    rows = []
    for entry in bundle.get("entry") or ():
        ev = entry["resource"]
        agent = (ev.get("agent") or [{}])[0]
        what = [e.get("what") or {} for e in ev.get("entity") or ()]
        rows.append(
            {
                "seq": ev.get("id"),
                "recorded": ev.get("recorded"),
                "principal": ((agent.get("who") or {}).get("identifier") or {}).get("value", ""),
                "roles": [r.get("text") for r in agent.get("role") or ()],
                "action": ((ev.get("subtype") or [{}])[0]).get("code", ""),
                "success": str(ev.get("outcome")) == "0",
                "what": next(
                    (
                        w.get("reference") or w.get("display")
                        for w in what
                        if "Patient/" not in str(w.get("reference"))
                    ),
                    "",
                ),
                "patients": [
                    str(w.get("reference")).split("/")[-1]
                    for w in what
                    if str(w.get("reference", "")).startswith("Patient/")
                ],
                "detail": ev.get("outcomeDesc") or "",
                "source": (agent.get("network") or {}).get("address", ""),
            }
        )
    return rows


def _grant(anomaly: dict[str, Any]) -> dict[str, Any]:
    """A break-glass anomaly with its detail (patient id, minutes granted) read out."""
    try:
        detail = orjson.loads(anomaly.get("detail") or "{}")
    except orjson.JSONDecodeError:
        detail = {}
    return {**anomaly, "patient": detail.get("patient", ""), "minutes": detail.get("minutes")}


def _search(ui: Ui) -> tuple[dict[str, str], list[tuple[str, str]]]:
    q = ui.request.query_params
    form = {k: q.get(k, "").strip() for k in (*SEARCH_FIELDS, "since", "until")}
    params: list[tuple[str, str]] = [("_count", "100")]
    for k in SEARCH_FIELDS:
        if form[k]:
            if not TEXT_FIELD.match(form[k]):
                raise InputProblem("The search field “%(field)s” has characters it cannot hold.", field=k)
            params.append((k, form[k]))
    for k, end in (("since", False), ("until", True)):
        if form[k]:
            try:
                day = date.fromisoformat(form[k])
            except ValueError:
                raise InputProblem("Enter dates as YYYY-MM-DD.") from None
            moment = datetime.combine(day + timedelta(days=1) if end else day, time(), REGION_TZ)
            params.append((k, moment.isoformat(timespec="seconds")))
    return form, params


@router.get("/ui/audit")
@page("audit")
async def audit(ui: Ui) -> Response:
    form, params = _search(ui)
    trail, open_, acked, requests = await asyncio.gather(
        ui.api.optional("/api/v1/security/audit", params),
        ui.api.optional("/api/v1/security/anomalies", {"status": "open"}),
        ui.api.optional("/api/v1/security/anomalies", {"status": "acknowledged"}),
        ui.api.optional("/api/v1/governance/requests"),
    )
    anomalies = (open_ or {}).get("anomalies") if open_ is not None else None
    everything = [*(anomalies or []), *((acked or {}).get("anomalies") or [])]
    return ui.render(
        "audit.html",
        active="audit",
        page_title=N_("Audit and security"),
        form=form,
        trail=audit_rows(trail) if trail is not None else None,
        anomalies=[a for a in anomalies or () if a.get("rule") != "break-glass"]
        if anomalies is not None
        else None,
        breakglass=[_grant(a) for a in everything if a.get("rule") == "break-glass"]
        if open_ is not None
        else None,
        requests=(requests or {}).get("requests") if requests is not None else None,
    )


@router.post("/ui/audit/anomalies/{aid}/{status}")
@page("audit")
async def resolve_anomaly(ui: Ui) -> Response:
    aid, status = ui.request.path_params.get("aid", ""), ui.request.path_params.get("status", "")
    if not ANOMALY_ID.match(aid) or status not in ("acknowledged", "dismissed"):
        raise InputProblem("The address names no valid record.")
    await ui.api.post(f"/api/v1/governance/anomalies/{aid}/$resolve", {"status": status})
    return ui.render(
        "fragment_message.html",
        title=ui.t("Saved"),
        kind="ok",
        text=ui.t("Acknowledged.") if status == "acknowledged" else ui.t("Dismissed."),
    )


@router.post("/ui/audit/requests/{rid}")
@page("audit")
async def decide_request(ui: Ui) -> Response:
    """Approve or reject a data-use request at the approver's level (a reason is required)."""
    rid = ui.request.path_params.get("rid", "")
    decision, reason = ui.form.get("decision", ""), ui.form.get("reason", "").strip()
    if not ANOMALY_ID.match(rid) or decision not in ("approve", "reject"):
        raise InputProblem("The address names no valid record.")
    if not reason:
        raise InputProblem("Give a reason for the decision.")
    out = await ui.api.post(
        f"/api/v1/governance/requests/{rid}/decisions", {"decision": decision, "reason": reason[:2000]}
    )
    return ui.render(
        "fragment_message.html", title=ui.t("Saved"), kind="ok", text=str(out.get("status_text") or "")
    )
