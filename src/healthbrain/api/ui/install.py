"""Wiring of the cockpit into the app: sign-in and sign-out, language, static files and browser libraries,
the pages, the live stream, and a friendly page for unknown cockpit paths."""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from healthbrain import __version__
from healthbrain.api.ui import (
    jobs,
    live,
    pages_alerts,
    pages_audit,
    pages_datahub,
    pages_overview,
    pages_patient,
    pages_surveillance,
)
from healthbrain.api.ui.client import Api, ApiError
from healthbrain.api.ui.session import (
    COOKIE,
    LANG_COOKIE,
    LOGIN_COOKIE,
    SessionCodec,
    new_session,
    same_token,
)
from healthbrain.api.ui.settings import UiSettings
from healthbrain.api.ui.templating import Templates
from healthbrain.api.ui.text import Translator
from healthbrain.api.ui.web import (
    SECURITY_HEADERS,
    Cockpit,
    Ui,
    client_host,
    get_cockpit,
    is_https,
    language,
    page,
    read_form,
    safe_next,
    set_session_cookie,
)
from healthbrain.core.errors import HealthBrainError

__all__ = ["install_ui"]

HERE = Path(__file__).resolve().parent
# browser libraries installed by `npm ci` (package.json at the project root); served, never fetched
VENDOR_FILES = {
    "echarts.min.js": "echarts/dist/echarts.min.js",
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
}
router = APIRouter(include_in_schema=False)


def _vendor_dir(settings: UiSettings) -> Path:
    if settings.vendor_dir:
        return Path(settings.vendor_dir)
    return HERE.parents[3] / "node_modules"  # src/healthbrain/api/ui -> the project root


def install_ui(app: FastAPI, settings: UiSettings | None = None) -> None:
    """Add the cockpit under /ui (after the API routers: it calls them in-process)."""
    settings = settings or UiSettings()
    security = app.state.hb.security
    app.state.cockpit = Cockpit(
        app=app,
        settings=settings,
        codec=SessionCodec(security.keys),
        templates=Templates(__version__),
        security=security,
    )
    app.state.cockpit_vendor = _vendor_dir(settings)
    app.state.cockpit_jobs = jobs.JobBoard()
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.include_router(router)
    for module in (
        pages_overview,
        pages_patient,
        pages_alerts,
        pages_surveillance,
        pages_datahub,
        pages_audit,
    ):
        app.include_router(module.router)
    app.include_router(live.router)
    app.include_router(jobs.router)
    app.include_router(fallback)


# ---- sign-in ---------------------------------------------------------------------------------------
def _login_page(
    request: Request,
    status: int = 200,
    notice: str = "",
    kind: str = "info",
    username: str = "",
    next_path: str | None = None,
) -> HTMLResponse:
    cockpit = get_cockpit(request)
    lang = language(request)
    token = secrets.token_urlsafe(24)
    html = cockpit.templates.render(
        lang,
        "login.html",
        login_csrf=token,
        next=safe_next(next_path or request.query_params.get("next") or None),
        notice=notice,
        notice_kind=kind,
        username=username,
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
        path="/ui",
        max_age=3600,
    )
    return response


@router.get("/ui/login")
async def login_form(request: Request) -> Response:
    t = Translator(language(request))
    q = request.query_params
    if q.get("expired"):
        return _login_page(request, notice=t("Your session has ended. Please sign in again."), kind="warn")
    if q.get("out"):
        return _login_page(request, notice=t("You have signed out."), kind="info")
    return _login_page(request)


@router.post("/ui/login")
async def login(request: Request) -> Response:
    cockpit = get_cockpit(request)
    lang = language(request)
    t = Translator(lang)
    form = await read_form(request)
    back = form.get("next")
    if not same_token(request.cookies.get(LOGIN_COOKIE) or "", form.get("csrf")):
        return _login_page(
            request, 403, t("The sign-in form is out of date. Please try again."), "error", next_path=back
        )
    username = form.get("username", "").strip()[:120]
    grant = {"grant_type": "password", "username": username, "password": form.get("password", "")}
    if form.get("totp", "").strip():
        grant["totp"] = form["totp"].strip()
    async with Api(cockpit.app, None, lang, client_host(request)) as api:
        try:
            issued = await api.post("/oauth/token", form=grant)
        except ApiError as err:
            text = (
                t("Sign-in failed: check the user name, the password and the six-digit code.")
                if err.status in (400, 401)
                else t("Sign-in is not available right now. Try again in a moment.")
            )
            return _login_page(request, 401, text, "error", username, back)
    try:
        claims = cockpit.security.tokens.verify(issued["access_token"])
    except HealthBrainError:
        return _login_page(
            request,
            401,
            t("Sign-in failed: check the user name, the password and the six-digit code."),
            "error",
            username,
            back,
        )
    if claims.get("kind") != "user":
        return _login_page(request, 403, t("Only people sign in to the cockpit."), "error", username, back)
    session = new_session(
        issued["access_token"],
        issued.get("refresh_token"),
        int(issued.get("expires_in") or 0),
        claims,
        username,
    )
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    set_session_cookie(cockpit, request, response, session)
    response.delete_cookie(LOGIN_COOKIE, path="/ui")
    return response


@router.post("/ui/logout")
@page(None, touch=False)
async def logout(ui: Ui) -> Response:
    """Revoke the token service's session (all its tokens die) and forget the cookie."""
    with contextlib.suppress(ApiError):  # already revoked or expired: the cookie goes anyway
        await ui.api.post("/oauth/logout")
    response = RedirectResponse("/ui/login?out=1", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.get("/ui/lang")
async def switch_language(request: Request) -> Response:
    chosen = "en" if request.query_params.get("to") == "en" else "zh_CN"
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    response.set_cookie(
        LANG_COOKIE, chosen, samesite="strict", secure=is_https(request), path="/ui", max_age=365 * 86400
    )
    return response


@router.get("/ui/vendor/{name}")
async def vendor(name: str, request: Request) -> Response:
    """A browser library installed by the setup (a fixed list: no path from the URL reaches the disk)."""
    relative = VENDOR_FILES.get(name)
    folder: Path = request.app.state.cockpit_vendor
    if relative is None or not (folder / relative).is_file():
        # the pages still work without charts; the script tag just finds nothing
        return Response("/* not installed: run `npm ci` */", media_type="text/javascript", status_code=404)
    return FileResponse(
        folder / relative, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
    )


fallback = APIRouter(include_in_schema=False)


@fallback.get("/ui")
async def ui_root() -> Response:
    return RedirectResponse("/ui/", status_code=307)


@fallback.api_route("/ui/{rest:path}", methods=["GET", "POST"])
@page(None)
async def not_found(ui: Ui) -> Response:
    return ui.message(404, ui.t("Page not found"), ui.t("There is no cockpit page at this address."))
