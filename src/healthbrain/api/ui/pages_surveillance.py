"""Surveillance (传染病监测预警): signals by disease and area on a map and a chart with the detector's
threshold, the CIDARS workflow (assign, verify, conclude, respond), and forecasts with intervals."""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from healthbrain.api.ui.charts import PALETTE
from healthbrain.api.ui.directory import organizations
from healthbrain.api.ui.forecasting import forecast_option, forecast_weeks, weekly_counts
from healthbrain.api.ui.pages_overview import today
from healthbrain.api.ui.regionmap import area_code
from healthbrain.api.ui.text import N_
from healthbrain.api.ui.web import InputProblem, Ui, page

router = APIRouter(include_in_schema=False)
SIGNAL_ID = re.compile(r"^[A-Za-z0-9\-]{1,64}$")
DISEASE_KEY = re.compile(r"^[a-z0-9_]{1,40}$")
AREA = re.compile(r"^\d{6}$")
HISTORY_DAYS = 730
CHART_DAYS = 90
EARS = {"method": "C2", "alpha": 0.001, "min_sigma": 0.5}  # the daily detection's settings


def _counties(orgs: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for o in orgs:
        codes = {c.get("code") for t in o.get("type") or () for c in t.get("coding") or ()}
        code = area_code(o)
        if "county" in codes and code:
            out[code] = str(o.get("name") or code)
    return out


def _choice(value: str | None, pattern: re.Pattern[str]) -> str | None:
    if not value:
        return None
    if not pattern.match(value):
        raise InputProblem("The choice is not valid.")
    return value


async def _series(ui: Ui, disease: str, area: str | None) -> tuple[dict[str, int], date]:
    end = today().date()
    params = {
        "disease": disease,
        "from": (end - timedelta(days=HISTORY_DAYS)).isoformat(),
        "to": end.isoformat(),
    }
    if area:
        params["area"] = area
    data = await ui.api.get("/api/v1/surveillance/counts", params)
    days: dict[str, int] = data.get("days") or {}
    last = max((date.fromisoformat(d) for d in days), default=end)
    return days, last


async def _threshold_chart(
    ui: Ui, disease: dict[str, Any], days: dict[str, int], last: date
) -> dict[str, Any] | None:
    """Daily cases with the detector's expected value and alarm threshold over the last 90 days."""
    if not days:
        return None
    first = last - timedelta(days=CHART_DAYS - 1)
    x = [(first + timedelta(days=i)).isoformat() for i in range(CHART_DAYS)]
    counts = [float(days.get(d, 0)) for d in x]
    name = disease["detector"] if disease["detector"] in ("ears", "threshold") else "ears"
    options = EARS if name == "ears" else {"cases": 1}
    result = await ui.api.post(
        f"/api/v1/surveillance/detectors/{name}",
        {
            "counts": counts,
            "freq": 365,
            "start": first.isoformat(),
            "options": options,
            "at": list(range(7, CHART_DAYS)) if name == "ears" else None,
        },
    )
    expected, upper = [None] * CHART_DAYS, [None] * CHART_DAYS
    for pos, i in enumerate(result["index"]):
        expected[i], upper[i] = result["expected"][pos], result["upperbound"][pos]
    alarms = [
        {"coord": [x[i], counts[i]], "value": int(counts[i])}
        for pos, i in enumerate(result["index"])
        if result["alarm"][pos]
    ]
    t = ui.t
    return {
        "aria": {"enabled": True, "label": {"description": t("Cases and alarm threshold")}},
        "color": PALETTE,
        "grid": {"left": 40, "right": 20, "top": 36, "bottom": 40, "containLabel": True},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "xAxis": {"type": "category", "data": x},
        "yAxis": {"type": "value", "min": 0, "minInterval": 1},
        "series": [
            {
                "name": t("Cases by day of onset"),
                "type": "bar",
                "data": counts,
                "markPoint": {"symbol": "pin", "data": alarms, "itemStyle": {"color": "#c2410c"}},
            },
            {
                "name": t("Expected"),
                "type": "line",
                "data": expected,
                "symbol": "none",
                "connectNulls": True,
                "lineStyle": {"color": "#0f766e"},
                "itemStyle": {"color": "#0f766e"},
            },
            {
                "name": t("Alarm threshold"),
                "type": "line",
                "data": upper,
                "symbol": "none",
                "connectNulls": True,
                "lineStyle": {"type": "dashed", "color": "#c2410c"},
                "itemStyle": {"color": "#c2410c"},
            },
        ],
    }


def _by_area_option(
    ui: Ui, signals: list[dict[str, Any]], names: dict[str, str], counties: dict[str, str]
) -> dict[str, Any]:
    areas = sorted({s["area"] for s in signals})
    diseases = sorted({s["disease"] for s in signals})
    series = [
        {
            "name": names.get(d, d),
            "type": "bar",
            "stack": "signals",
            "data": [sum(1 for s in signals if s["area"] == a and s["disease"] == d) for a in areas],
        }
        for d in diseases
    ]
    return {
        "aria": {"enabled": True, "label": {"description": ui.t("Signals by disease and area")}},
        "color": PALETTE,
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0},
        "grid": {"left": 40, "right": 20, "top": 36, "bottom": 40, "containLabel": True},
        "xAxis": {"type": "category", "data": [counties.get(a, a) for a in areas]},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": series,
    }


@router.get("/ui/surveillance")
@page("surveillance")
async def surveillance(ui: Ui) -> Response:
    q = ui.request.query_params
    area = _choice(q.get("area"), AREA)
    diseases, signals, orgs, times = await asyncio.gather(
        ui.api.get("/api/v1/surveillance/diseases"),
        ui.api.get("/api/v1/surveillance/signals", {"limit": "200"}),
        organizations(ui),
        ui.api.get("/api/v1/surveillance/response-times"),
    )
    by_key = {d["key"]: d for d in diseases}
    names = {d["key"]: d["name"] for d in diseases}
    chosen = _choice(q.get("disease"), DISEASE_KEY) or (signals[0]["disease"] if signals else "influenza")
    if chosen not in by_key:
        raise InputProblem("The choice is not valid.")
    counties = _counties(orgs)
    days, last = await _series(ui, chosen, area)
    chart = await _threshold_chart(ui, by_key[chosen], days, last)
    weeks, values = weekly_counts(days, last - timedelta(days=HISTORY_DAYS - 1), last)
    fc = forecast_weeks(weeks[-104:], values[-104:])
    t = ui.t
    fc_option = (
        forecast_option(
            fc,
            {
                "title": t("Forecast"),
                "observed": t("Cases per week"),
                "median": t("Forecast (median)"),
                "i95": t("95% interval"),
                "i50": t("50% interval"),
            },
        )
        if fc
        else None
    )
    return ui.render(
        "surveillance.html",
        active="surveillance",
        page_title=N_("Surveillance"),
        live=True,
        diseases=diseases,
        names=names,
        signals=signals,
        counties=counties,
        chosen=chosen,
        area=area,
        chart=chart,
        forecast=fc,
        forecast_option=fc_option,
        times=times,
        by_area=_by_area_option(ui, signals, names, counties) if signals else None,
        may_work=bool(ui.roles & {"cdc-officer", "platform-admin"}),
        last_day=last.isoformat(),
    )


STEPS = {
    "assign": "assign",
    "verify": "verify",
    "outbreak": "conclude",
    "not_outbreak": "conclude",
    "respond": "respond",
}


@router.post("/ui/surveillance/signals/{sid}/{step}")
@page("surveillance")
async def signal_step(ui: Ui) -> Response:
    """One CIDARS step on a signal; the row is redrawn from the API's answer."""
    sid = ui.request.path_params.get("sid", "")
    step = ui.request.path_params.get("step", "")
    if not SIGNAL_ID.match(sid) or step not in STEPS:
        raise InputProblem("The address names no valid record.")
    body: dict[str, Any] | None = None
    if step == "assign":
        who = (ui.form.get("practitioner") or ui.session.practitioner or "").strip()
        if not re.match(r"^[A-Za-z0-9\-.]{1,64}$", who):
            raise InputProblem("Name the officer by their practitioner id.")
        body = {"practitioner": who}
    elif STEPS[step] == "conclude":
        body = {"outcome": step}
    signal = await ui.api.post(f"/api/v1/surveillance/signals/{sid}/{STEPS[step]}", body)
    diseases, orgs = await asyncio.gather(ui.api.get("/api/v1/surveillance/diseases"), organizations(ui))
    return ui.render(
        "fragment_signal_row.html",
        s=signal,
        names={d["key"]: d["name"] for d in diseases},
        counties=_counties(orgs),
        may_work=True,
    )
