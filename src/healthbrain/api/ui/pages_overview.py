"""Region overview (区域总览): institutions connected, records today, quality trend, open alerts and
signals, top conditions and a map of the region — each panel only if the user's role may see it."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from healthbrain.api.ui.charts import bar_option, line_option
from healthbrain.api.ui.client import Api, ApiError
from healthbrain.api.ui.conditions import ICD10, WATCHED_CONDITIONS
from healthbrain.api.ui.directory import organizations
from healthbrain.api.ui.regionmap import county_of, institutions, region_tree, treemap_option
from healthbrain.api.ui.text import N_, REGION_TZ
from healthbrain.api.ui.web import Ui, page
from healthbrain.security import ROLES

router = APIRouter(include_in_schema=False)
RECORD_TYPES = (
    ("Patient", N_("Patients")),
    ("Encounter", N_("Encounters")),
    ("Observation", N_("Observations")),
    ("Condition", N_("Diagnoses")),
    ("MedicationRequest", N_("Prescriptions")),
    ("DiagnosticReport", N_("Reports")),
)
OPEN_SIGNAL = ("new", "assigned", "verifying", "confirmed")
TREND_DAYS = 30


def today() -> datetime:
    """The start of the region's current day."""
    return datetime.combine(datetime.now(REGION_TZ).date(), time(), REGION_TZ)


async def count(api: Api, resource_type: str, params: dict[str, str]) -> int | None:
    """How many the user's reach holds (None when the role may not count this type)."""
    try:
        bundle = await api.get(f"/fhir/R4/{resource_type}", {**params, "_summary": "count"})
    except ApiError as err:
        if err.forbidden:
            return None
        raise
    return int(bundle.get("total") or 0)


async def records_today(ui: Ui) -> list[dict[str, Any]] | None:
    """Records received since the region's midnight, by kind (None: the role may not count them).

    Managers (the region) and care roles (their institution) read the quality service's daily
    tallies, a few rows, current as the service keeps up; other roles count what their reach holds
    through FHIR, kept a while per role and organisation
    (counting a day of a large region takes time)."""
    day = today()
    tallied = await ui.api.optional("/api/v1/quality/received", {"day": day.date().isoformat()})
    if tallied is not None:
        received = tallied.get("received") or {}
        counts: list[int | None] = [int(received.get(rt) or 0) for rt, _ in RECORD_TYPES]
    else:
        since = day.isoformat(timespec="seconds")

        async def today_counts(api: Api) -> list[int | None]:
            found = await asyncio.gather(
                *(count(api, rt, {"_lastUpdated": f"ge{since}"}) for rt, _ in RECORD_TYPES)
            )
            return list(found)

        key = ("records-today", day.date().isoformat(), ui.roles, ui.session.organization)
        counts = await ui.kept(key, today_counts)
    if all(c is None for c in counts):
        return None
    return [
        {"type": rt, "label": ui.t(label), "count": c}
        for (rt, label), c in zip(RECORD_TYPES, counts, strict=True)
        if c is not None
    ]


async def quality(ui: Ui) -> dict[str, Any] | None:
    end = today().date()
    start = end - timedelta(days=TREND_DAYS - 1)
    data = await ui.api.optional(
        "/api/v1/quality/scores", {"from": start.isoformat(), "to": end.isoformat(), "by": "day"}
    )
    if data is None:
        return None
    days: dict[str, list[float]] = {}
    active: set[str] = set()
    for row in data.get("scores") or ():
        records = float(row.get("records") or 0)
        if records:
            active.add(str(row.get("institution")))
        acc = days.setdefault(str(row["day"]), [0.0, 0.0])
        acc[0] += float(row.get("score") or 0) * records
        acc[1] += records
    x = sorted(days)
    y = [round(days[d][0] / days[d][1], 1) if days[d][1] else None for d in x]
    option = line_option(ui.t("Data-quality score"), x, [(ui.t("Score (0-100)"), y)], y_min=0, y_max=100)
    latest = next((v for v in reversed(y) if v is not None), None)
    return {"option": option, "latest": latest, "active": active, "empty": not x}


async def open_alerts(ui: Ui) -> dict[str, Any] | None:
    data = await ui.api.optional("/api/v1/cds/alerts", {"status": "open", "limit": "500"})
    if data is None:
        return None
    alerts = data.get("alerts") or []
    return {"total": len(alerts), "critical": sum(1 for a in alerts if a.get("priority") == "critical")}


async def open_signals(ui: Ui) -> dict[str, Any] | None:
    data = await ui.api.optional("/api/v1/surveillance/signals", {"limit": "500"})
    if data is None:
        return None
    live = [s for s in data if s.get("status") in OPEN_SIGNAL]
    by_area: dict[str, int] = {}
    for s in live:
        by_area[str(s.get("area"))] = by_area.get(str(s.get("area")), 0) + 1
    return {"total": len(live), "new": sum(1 for s in live if s.get("status") == "new"), "by_area": by_area}


@router.get("/ui/")
@page("overview")
async def overview(ui: Ui) -> Response:
    """The region on one screen; the heavier panels (map, conditions) load after the page."""
    orgs, qual, alerts, signals = await asyncio.gather(
        organizations(ui), quality(ui), open_alerts(ui), open_signals(ui)
    )
    providers = institutions(orgs)
    connected = len({o["id"] for o in providers} & qual["active"]) if qual else None
    return ui.render(
        "overview.html",
        active="overview",
        page_title=N_("Region overview"),
        providers=len(providers),
        connected=connected,
        may_count=_may_count(ui),
        quality=qual,
        alerts=alerts,
        signals=signals,
        live=alerts is not None or signals is not None,
        day=today().date().isoformat(),
    )


def _may_count(ui: Ui) -> bool:
    """Whether the role may count clinical records at all (else the panel is left out)."""
    return any(("count", "clinical") in ROLES[r].grants for r in ui.roles if r in ROLES)


@router.get("/ui/overview/records")
@page("overview")
async def records_panel(ui: Ui) -> Response:
    """Records received today: the table, and the key figure swapped in out of band."""
    records = await records_today(ui)
    if records is None:
        return ui.render(
            "fragment_message.html", title=ui.t("Not shown"), text=ui.t("Your role may not count records.")
        )
    return ui.render("fragment_records.html", records=records)


@router.get("/ui/overview/map")
@page("overview")
async def region_map(ui: Ui) -> Response:
    """The region's treemap: area = patients registered at each institution (where the role may count)."""
    orgs = await organizations(ui)
    places = region_tree(orgs)
    providers = [o["id"] for o in institutions(orgs)]

    async def registered(api: Api) -> dict[str, int]:
        found = await asyncio.gather(
            *(count(api, "Patient", {"organization": f"Organization/{oid}"}) for oid in providers)
        )
        return {oid: n for oid, n in zip(providers, found, strict=True) if n}

    values = await ui.kept(("patients-by-org", ui.roles, ui.session.organization), registered)
    signals = await open_signals(ui)
    by_county: dict[str, int] = {}
    if signals:
        for oid, county in county_of(places).items():
            _ = oid
            code = county.removeprefix("adm-")
            if signals["by_area"].get(code):
                by_county[county] = signals["by_area"][code]
    option = treemap_option(places, values, by_county, ui.t("Map of the region"))
    return ui.render(
        "fragment_chart.html",
        chart_id="region-map",
        option=option,
        height=420,
        caption=ui.t("Area: patients registered at each institution. ⚠: open signals in the county."),
    )


@router.get("/ui/overview/conditions")
@page("overview")
async def top_conditions(ui: Ui) -> Response:
    """Diagnoses recorded in the user's reach, most frequent first."""

    async def by_code(api: Api) -> list[tuple[str, int | None]]:
        found = await asyncio.gather(
            *(count(api, "Condition", {"code": f"{ICD10}|{code}"}) for code, _ in WATCHED_CONDITIONS)
        )
        return [(code, n) for (code, _), n in zip(WATCHED_CONDITIONS, found, strict=True)]

    counts = await ui.kept(("conditions", ui.roles, ui.session.organization), by_code)
    names = dict(WATCHED_CONDITIONS)
    if all(n is None for _, n in counts):
        return ui.render(
            "fragment_message.html", title=ui.t("Not shown"), text=ui.t("Your role may not count diagnoses.")
        )
    ranked = sorted(((n, code) for code, n in counts if n), reverse=True)[:10]
    if not ranked:
        return ui.render("fragment_empty.html", text=ui.t("No diagnoses recorded yet."))
    option = bar_option(
        ui.t("Top conditions"), [f"{ui.t(names[c])} ({c})" for _, c in ranked], [n for n, _ in ranked]
    )
    return ui.render("fragment_chart.html", chart_id="top-conditions", option=option, height=360, caption="")
