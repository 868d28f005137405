"""Data hub (数据中心): feeds per institution, throughput, errors, the quarantine queue, unmapped local
codes and the patient index's review queue — each panel for the roles its API admits."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from healthbrain.api.ui.charts import PALETTE
from healthbrain.api.ui.directory import org_names
from healthbrain.api.ui.pages_overview import today
from healthbrain.api.ui.text import N_
from healthbrain.api.ui.web import InputProblem, Ui, page

router = APIRouter(include_in_schema=False)
DAYS = 30
QID = re.compile(r"^[A-Za-z0-9\-]{1,64}$")
NUMERIC = re.compile(r"^\d{1,12}$")


def _feeds(rows: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """One line per institution and feed: records, flagged, quarantined, mean score, last day seen."""
    acc: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        key = (str(r["institution"]), str(r.get("feed") or ""))
        a = acc.setdefault(
            key,
            {
                "institution": names.get(key[0], key[0]),
                "feed": key[1],
                "records": 0,
                "flagged": 0,
                "quarantined": 0,
                "weighted": 0.0,
                "last": "",
            },
        )
        n = int(r.get("records") or 0)
        a["records"] += n
        a["flagged"] += int(r.get("flagged") or 0)
        a["quarantined"] += int(r.get("quarantined") or 0)
        a["weighted"] += float(r.get("score") or 0) * n
        a["last"] = max(a["last"], str(r.get("day") or ""))
    out = []
    for a in acc.values():
        a["score"] = round(a.pop("weighted") / a["records"], 1) if a["records"] else None
        out.append(a)
    return sorted(out, key=lambda a: (a["institution"], a["feed"]))


def _throughput(ui: Ui, rows: list[dict[str, Any]]) -> dict[str, Any]:
    days = sorted({str(r["day"]) for r in rows})
    per = {d: [0, 0] for d in days}
    for r in rows:
        per[str(r["day"])][0] += int(r.get("records") or 0)
        per[str(r["day"])][1] += int(r.get("flagged") or 0) + int(r.get("quarantined") or 0)
    t = ui.t
    return {
        "aria": {"enabled": True, "label": {"description": t("Records received per day")}},
        "color": PALETTE,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 40, "right": 20, "top": 36, "bottom": 40, "containLabel": True},
        "xAxis": {"type": "category", "data": days},
        "yAxis": {"type": "value"},
        "series": [
            {"name": t("Records"), "type": "bar", "data": [per[d][0] for d in days]},
            {"name": t("Flagged or quarantined"), "type": "bar", "data": [per[d][1] for d in days]},
        ],
    }


RECORD_FIELDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "name": lambda r: r.get("name"),
    "id_number": lambda r: r.get("idNumber"),
    "birth_date": lambda r: r.get("birthDate"),
    "sex": lambda r: r.get("gender"),
    "phone": lambda r: " ".join(r.get("phones") or ()),
    "address": lambda r: (r.get("address") or {}).get("text"),
}


def _side_by_side(review: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per compared field: both records' values and the field's match weight."""
    left = review["left"].get("record") or {}
    right = review["right"].get("record") or {}
    rows = []
    for f in review.get("fields") or ():
        value = RECORD_FIELDS.get(str(f.get("field")))
        rows.append(
            {
                "text": f.get("text"),
                "weight": f.get("weight"),
                "left": (value(left) if value else "") or "–",
                "right": (value(right) if value else "") or "–",
            }
        )
    return rows


@router.get("/ui/datahub")
@page("datahub")
async def datahub(ui: Ui) -> Response:
    end = today().date()
    period = {"from": (end - timedelta(days=DAYS - 1)).isoformat(), "to": end.isoformat()}
    scores, quarantine, codes, reviews, cds_dq, names = await asyncio.gather(
        ui.api.optional("/api/v1/quality/scores", {**period, "by": "feed"}),
        ui.api.optional("/api/v1/quality/quarantine", {"status": "held", "_count": "50"}),
        ui.api.optional("/api/v1/terminology/reviews", {"status": "open", "_count": "50"}),
        ui.api.optional("/api/v1/mpi/reviews", {"status": "open", "limit": "20"}),
        ui.api.optional("/api/v1/cds/data-quality", {"limit": "50"}),
        org_names(ui),
    )
    rows = (scores or {}).get("scores") or []
    for review in (reviews or {}).get("items") or ():
        review["rows"] = _side_by_side(review)
    return ui.render(
        "datahub.html",
        active="datahub",
        page_title=N_("Data hub"),
        names=names,
        feeds=_feeds(rows, names) if scores is not None else None,
        throughput=_throughput(ui, rows) if rows else None,
        scores=scores,
        quarantine=quarantine,
        codes=codes,
        reviews=reviews,
        cds_dq=cds_dq,
        steward="index-steward" in ui.roles or "platform-admin" in ui.roles,
    )


@router.post("/ui/datahub/reviews/{rid}")
@page("datahub")
async def decide_match(ui: Ui) -> Response:
    """The steward's decision on a possible match: the same resident, or two people."""
    rid = ui.request.path_params.get("rid", "")
    decision = ui.form.get("decision", "")
    if not NUMERIC.match(rid) or decision not in ("match", "no_match"):
        raise InputProblem("Choose whether the two records are the same person.")
    await ui.api.post(f"/api/v1/mpi/reviews/{rid}", {"decision": decision})
    text = (
        ui.t("Linked: the two records are the same resident.")
        if decision == "match"
        else ui.t("Kept apart: two different people.")
    )
    return ui.render("fragment_message.html", title=ui.t("Saved"), text=text, kind="ok")


@router.post("/ui/datahub/quarantine/{qid}/{action}")
@page("datahub")
async def quarantine_decision(ui: Ui) -> Response:
    """Release a held record as it is, or discard it."""
    qid, action = ui.request.path_params.get("qid", ""), ui.request.path_params.get("action", "")
    if not QID.match(qid) or action not in ("release", "discard"):
        raise InputProblem("The address names no valid record.")
    note = ui.form.get("note", "").strip()[:500] or None
    body: dict[str, Any] = {"note": note}
    if action == "release":
        body["override"] = ui.form.get("override") == "1"
    await ui.api.post(f"/api/v1/quality/quarantine/{qid}/{action}", body)
    text = ui.t("Released into the record.") if action == "release" else ui.t("Discarded.")
    return ui.render("fragment_message.html", title=ui.t("Saved"), text=text, kind="ok")


@router.post("/ui/datahub/codes/{cid}/{action}")
@page("datahub")
async def code_decision(ui: Ui) -> Response:
    """Map a local code to a standard one (past and future data), or dismiss it."""
    cid, action = ui.request.path_params.get("cid", ""), ui.request.path_params.get("action", "")
    if not NUMERIC.match(cid) or action not in ("resolve", "dismiss"):
        raise InputProblem("The address names no valid record.")
    if action == "dismiss":
        await ui.api.post(f"/api/v1/terminology/reviews/{cid}/dismiss")
        return ui.render("fragment_message.html", title=ui.t("Saved"), text=ui.t("Dismissed."), kind="ok")
    system, code = ui.form.get("system", "").strip(), ui.form.get("code", "").strip()
    if len(system) < 3 or not code:
        raise InputProblem("Give the standard code system and code.")
    out = await ui.api.post(
        f"/api/v1/terminology/reviews/{cid}/resolve",
        {"system": system, "code": code, "display": ui.form.get("display") or None},
    )
    return ui.render(
        "fragment_message.html",
        title=ui.t("Saved"),
        kind="ok",
        text=ui.t("Mapped; %(n)s stored records rewritten.", n=out.get("rewritten", 0)),
    )
