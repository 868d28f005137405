"""Patient record (360°): find a resident, then see their records from every institution the user may see,
merged through the patient index, with the institution of each fact."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from healthbrain.api.ui.charts import line_option
from healthbrain.api.ui.client import ApiError
from healthbrain.api.ui.directory import checked_id, org_names
from healthbrain.api.ui.record360 import build_record, mask_id, patient_name
from healthbrain.api.ui.text import N_
from healthbrain.api.ui.web import InputProblem, Ui, page

router = APIRouter(include_in_schema=False)
ID_CARD = "urn:oid:2.16.156.10011.1.1"
ID_CARD_RE = re.compile(r"^\d{17}[\dXx]$")
PAGE = 50  # matches shown for a search
MAX_RECORDS = 20  # Patient records of one resident shown (institutions rarely exceed a handful)


def _search_params(q: str) -> list[tuple[str, str]]:
    q = q.strip()
    if len(q) > 60:
        raise InputProblem("The search text is too long.")
    if ID_CARD_RE.match(q):
        return [("identifier", f"{ID_CARD}|{q.upper()}")]
    if q.isdigit():
        return [("identifier", q)]  # a local patient number (MRN) at any institution
    return [("name:contains", q)]


@router.get("/ui/patients")
@page("patients")
async def find_patient(ui: Ui) -> Response:
    """Search by name, 身份证 number or local patient number, within what the user may see."""
    q = ui.request.query_params.get("q", "")
    results: list[dict[str, Any]] | None = None
    more = False
    if q.strip():
        # a page of matches and whether there are more, never a count of them all (a surname alone
        # matches thousands in a large region)
        params = [*_search_params(q), ("_count", str(PAGE)), ("_total", "none")]
        bundle = await ui.api.get("/fhir/R4/Patient", params)
        more = any(link.get("relation") == "next" for link in bundle.get("link") or ())
        names = await org_names(ui)
        results = []
        for e in bundle.get("entry") or ():
            p = e["resource"]
            org = ((p.get("managingOrganization") or {}).get("reference") or "").split("/")[-1]
            ident = next(
                (i.get("value") for i in p.get("identifier") or () if i.get("system") == ID_CARD), ""
            )
            results.append(
                {
                    "id": p["id"],
                    "name": patient_name(p),
                    "gender": p.get("gender", ""),
                    "birth": p.get("birthDate", ""),
                    "institution": names.get(org, org),
                    "id_number": mask_id(ident),
                }
            )
    return ui.render(
        "patients.html", active="patients", page_title=N_("Patient record"), q=q, results=results, more=more
    )


async def _everything(ui: Ui, pid: str) -> list[dict[str, Any]]:
    bundle = await ui.api.get(f"/fhir/R4/Patient/{pid}/$everything")
    return [e["resource"] for e in bundle.get("entry") or () if e.get("resource")]


async def _records_of(ui: Ui, pid: str) -> list[dict[str, Any]]:
    """The Patient records of the same resident that the user may see; the one asked for first."""
    first = await ui.api.get(f"/fhir/R4/Patient/{pid}")
    try:
        link = await ui.api.get(f"/api/v1/mpi/patients/{pid}")
    except ApiError as err:
        if err.status in (403, 404):
            return [first]
        raise
    bundle = await ui.api.get(f"/api/v1/mpi/residents/{link['resident']}/patients")
    others = [e["resource"] for e in bundle.get("entry") or () if e["resource"]["id"] != pid]
    return [first, *others[: MAX_RECORDS - 1]]


async def _alerts(ui: Ui, patients: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    found = await asyncio.gather(
        *(
            ui.api.optional("/api/v1/cds/alerts", {"patient": f"Patient/{p['id']}", "limit": "50"})
            for p in patients
        )
    )
    if all(f is None for f in found):
        return None
    alerts = [a for f in found if f for a in f.get("alerts") or ()]
    return sorted(alerts, key=lambda a: float(a.get("created_at") or 0), reverse=True)


@router.get("/ui/patients/{pid}")
@page("patients")
async def patient_record(ui: Ui) -> Response:
    """The resident's 360° record."""
    pid = checked_id(ui.request.path_params.get("pid"))
    patients = await _records_of(ui, pid)
    contents, names, alerts = await asyncio.gather(
        asyncio.gather(*(_everything(ui, str(p["id"])) for p in patients)),
        org_names(ui),
        _alerts(ui, patients),
    )
    record = build_record(patients, {str(p["id"]): c for p, c in zip(patients, contents, strict=True)}, names)
    charts = []
    for i, series in enumerate(record.labs):
        option = line_option(
            series.name,
            [w[:10] for w, _, _, _ in series.points],
            [(f"{series.name} ({series.unit})", [v for _, v, _, _ in series.points])],
            band=(series.low, series.high) if series.low is not None and series.high is not None else None,
            band_label=ui.t("reference range"),
        )
        charts.append({"id": f"lab-{i}", "series": series, "option": option})
    return ui.render(
        "patient.html",
        active="patients",
        page_title=N_("Patient record"),
        record=record,
        charts=charts,
        alerts=alerts,
        pid=pid,
    )
