"""The landing page and health endpoints."""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from healthbrain.api.deps import StateDep
from healthbrain.core.i18n import negotiate, translations

router = APIRouter(include_in_schema=False)


@cache
def _template(name: str) -> Template:
    return Template(resources.files("healthbrain.api").joinpath(f"templates/{name}").read_text("utf-8"))


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, state: StateDep, lang: str | None = None) -> HTMLResponse:
    """A landing page in the user's language (zh_CN unless asked otherwise)."""
    language = negotiate(request.headers.get("accept-language"), lang)
    _ = translations(language).gettext
    with state.repo.engine.connect() as conn:
        counts = state.repo.store.type_counts(conn)
    rows = "\n".join(f"<tr><td>{html.escape(t)}</td><td>{n:,}</td></tr>" for t, n in sorted(counts.items()))
    header = f"<code>{html.escape('Authorization: Bearer <token>')}</code>"
    page = _template("landing.html").substitute(
        html_lang="zh-CN" if language == "zh_CN" else "en",
        title=_("HealthBrain"),
        tagline=_("Regional health data and AI platform"),
        chinese=_("Chinese"),
        english=_("English"),
        fhir_server=_("FHIR R4 server"),
        api_docs=_("API documentation"),
        capability=_("CapabilityStatement (what this server supports)"),
        health=_("Health check"),
        token_hint=_("Use the header %(header)s for FHIR requests in development.") % {"header": header},
        resources_heading=_("Resources in this region"),
        type_heading=_("Resource type"),
        count_heading=_("Count"),
        rows=rows,
    )
    return HTMLResponse(page)


@router.get("/healthz")
def healthz(state: StateDep) -> JSONResponse:
    with state.repo.engine.connect() as conn:
        head = state.repo.store.outbox_head(conn)
    return JSONResponse({"status": "ok", "outbox_head": head})
