"""What every cockpit request goes through: language, session (timeouts, token refresh, CSRF), the page's
role gate, the API client, rendering, and failure turned into a clear message instead of a stack trace."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from healthbrain.api.ui.client import Api, ApiError
from healthbrain.api.ui.nav import BY_KEY, may_use, menu
from healthbrain.api.ui.session import COOKIE, LANG_COOKIE, Session, SessionCodec, same_token
from healthbrain.api.ui.settings import UiSettings
from healthbrain.api.ui.templating import Templates
from healthbrain.api.ui.text import N_, Translator
from healthbrain.core.i18n import negotiate

__all__ = ["Cockpit", "InputProblem", "Ui", "get_cockpit", "language", "page", "safe_next"]

log = logging.getLogger("healthbrain.ui")
REFRESH_AHEAD = 60.0  # seconds before the access token expires that it is renewed
STALE_LIMIT = 10  # cache lifetimes an expired aggregate is still shown while it is counted again
MAX_FORM_BYTES = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class InputProblem(Exception):
    """Bad input from a cockpit form or link: shown to the user as a translated message (HTTP 400)."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


@dataclass(slots=True)
class Cockpit:
    """The cockpit of one app: its settings, session codec, templates and a small aggregate cache."""

    app: Any
    settings: UiSettings
    codec: SessionCodec
    templates: Templates
    security: Any  # SecurityServices: verifies the access tokens it issued
    _cache: dict[tuple[Any, ...], tuple[float, Any]] = field(default_factory=dict)
    refresh_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    renewed: dict[str, tuple[float, Any]] = field(default_factory=dict)  # spent refresh token -> answer
    refreshing: set[tuple[Any, ...]] = field(default_factory=set)  # keys being counted again
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def cached(self, key: tuple[Any, ...]) -> Any:
        hit = self._cache.get(key)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def remember(self, key: tuple[Any, ...], value: Any) -> Any:
        if len(self._cache) > 2000:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + self.settings.cache_seconds, value)
        return value

    def stale(self, key: tuple[Any, ...]) -> tuple[bool, Any] | None:
        """(expired, value) of a key cached within STALE_LIMIT cache lifetimes; None when not."""
        hit = self._cache.get(key)
        if hit is None:
            return None
        now = time.monotonic()
        if now > hit[0] + STALE_LIMIT * self.settings.cache_seconds:
            return None
        return hit[0] <= now, hit[1]

    def refresh_behind(
        self, key: tuple[Any, ...], compute: Callable[[Api], Awaitable[Any]], api: Callable[[], Api]
    ) -> None:
        """Count a key's value again in a task of its own (once at a time per key)."""
        if key in self.refreshing:
            return

        async def run() -> None:
            try:
                async with api() as client:
                    self.remember(key, await compute(client))
            except Exception:  # the last figures stay; the next request of the key tries again
                log.warning("ui.refresh_failed", extra={"fields": {"panel": str(key[0])}})
            finally:
                self.refreshing.discard(key)

        self.refreshing.add(key)
        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def get_cockpit(request: Request) -> Cockpit:
    cockpit: Cockpit = request.app.state.cockpit
    return cockpit


def language(request: Request) -> str:
    """zh_CN unless the user chose English (cookie) or the browser asks for it; `?lang=` overrides."""
    override = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    return negotiate(request.headers.get("accept-language"), override)


def safe_next(target: str | None) -> str:
    """A same-site cockpit path to go back to (never an absolute URL: no open redirect)."""
    if target and target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"


def client_host(request: Request) -> str | None:
    return request.client.host if request.client else None


@dataclass(slots=True)
class Ui:
    """One cockpit request: who, in which language, with which API client."""

    request: Request
    cockpit: Cockpit
    session: Session
    lang: str
    t: Translator
    api: Api
    form: dict[str, str] = field(default_factory=dict)
    touch: bool = True

    @property
    def roles(self) -> frozenset[str]:
        return self.session.role_set

    async def kept(self, key: tuple[Any, ...], compute: Callable[[Api], Awaitable[Any]]) -> Any:
        """An aggregate through the cockpit's cache. Fresh, it is returned; expired (for less than
        STALE_LIMIT lifetimes), the last figures are returned at once and counted again behind the
        answer, with this user's token, so that only the first request of a key waits for a count."""
        hit = self.cockpit.stale(key)
        if hit is None:
            return self.cockpit.remember(key, await compute(self.api))
        expired, value = hit
        if expired:
            token, lang, host = self.session.access, self.lang, client_host(self.request)
            self.cockpit.refresh_behind(key, compute, lambda: Api(self.cockpit.app, token, lang, host))
        return value

    @property
    def htmx(self) -> bool:
        return self.request.headers.get("hx-request") == "true"

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.cockpit.templates.render(
            self.lang,
            template,
            request=self.request,
            session=self.session,
            menu=menu(self.roles),
            csrf=self.session.csrf,
            **values,
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def message(self, status: int, title: str, text: str, *, template: str = "message.html") -> HTMLResponse:
        tpl = "fragment_message.html" if self.htmx else template
        return self.render(tpl, status=status, title=title, text=text, page=None)

    def api_error(self, err: ApiError) -> HTMLResponse:
        t = self.t
        if err.status == 403:
            return self.message(403, t("Not permitted"), t("Your role may not see or do this."))
        if err.status in (404, 410):
            return self.message(
                404, t("Not found"), t("The record asked for does not exist or is no longer there.")
            )
        if err.status == 409:
            return self.message(
                409,
                t("Already changed"),
                t("Someone else changed this in the meantime. Reload the page and try again."),
            )
        if 400 <= err.status < 500:
            return self.message(
                400,
                t("Not accepted"),
                t("The platform did not accept the request: %(reason)s", reason=err.message),
            )
        return self.message(
            502,
            t("Service error"),
            t("A platform service did not answer as expected. Try again in a moment."),
        )


def _login_redirect(request: Request, expired: bool) -> Response:
    target = "/ui/login?" + ("expired=1&" if expired else "") + "next=" + quote(safe_next(request.url.path))
    if request.headers.get("hx-request") == "true":
        response: Response = Response(status_code=200, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    if expired:
        response.delete_cookie(COOKIE, path="/ui")
    return response


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (size-limited), last value of each name."""
    if request.method != "POST":
        return {}
    body = (await request.body())[:MAX_FORM_BYTES]
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


async def _fresh(cockpit: Cockpit, request: Request, session: Session, lang: str) -> Session | None:
    """The session with an access token that is good for a while (renewed with the refresh token)."""
    now = time.time()
    if session.access_expires - now > REFRESH_AHEAD:
        return session
    if not session.refresh:
        return None
    async with cockpit.refresh_lock:
        # parallel requests of one page (lazy panels) share one renewal: a refresh token used twice
        # would be taken for a stolen one and the whole session revoked
        done = cockpit.renewed.get(session.refresh)
        if done is not None and now - done[0] < REFRESH_AHEAD:
            issued = done[1]
        else:
            async with Api(cockpit.app, None, lang, client_host(request)) as api:
                try:
                    issued = await api.post(
                        "/oauth/token", form={"grant_type": "refresh_token", "refresh_token": session.refresh}
                    )
                except ApiError:
                    return None
            cockpit.renewed = {k: v for k, v in cockpit.renewed.items() if now - v[0] < REFRESH_AHEAD}
            cockpit.renewed[session.refresh] = (now, issued)
    return replace(
        session,
        access=issued["access_token"],
        refresh=issued.get("refresh_token") or session.refresh,
        access_expires=now + int(issued.get("expires_in") or 0),
    )


def set_session_cookie(cockpit: Cockpit, request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        cockpit.codec.dumps(session),
        httponly=True,
        samesite="strict",
        secure=is_https(request),
        path="/ui",
    )


Handler = Callable[[Ui], Awaitable[Response]]


def page(
    key: str | None, *, touch: bool = True
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a cockpit handler: signed-in session, CSRF on POST, the page's role gate, clear failures.

    `touch=False` for background requests (live stream, progress polls) that must not keep an idle
    session alive.
    """

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await _run(request, key, handler, touch)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    return wrap


async def _run(request: Request, key: str | None, handler: Handler, touch: bool) -> Response:
    cockpit = get_cockpit(request)
    lang = language(request)
    raw = request.cookies.get(COOKIE)
    session = cockpit.codec.loads(raw)
    if session is None:
        return _login_redirect(request, expired=bool(raw))
    now = time.time()
    if session.idle(now, cockpit.settings.idle_minutes * 60):
        await _revoke(cockpit, request, session, lang)
        return _login_redirect(request, expired=True)
    form = await read_form(request)
    fresh = await _fresh(cockpit, request, session, lang)
    if fresh is None:
        return _login_redirect(request, expired=True)
    refreshed = fresh is not session
    session = fresh.touched(now) if touch else fresh
    async with Api(cockpit.app, session.access, lang, client_host(request)) as api:
        ui = Ui(request, cockpit, session, lang, Translator(lang), api, form, touch)
        response = await _guarded(ui, key, handler)
    if touch or refreshed:  # a renewed refresh token must reach the cookie: the old one is spent
        set_session_cookie(cockpit, request, response, session)
    return response


async def _guarded(ui: Ui, key: str | None, handler: Handler) -> Response:
    t = ui.t
    if ui.request.method == "POST":
        given = ui.form.get("csrf") or ui.request.headers.get("x-csrf-token")
        if not same_token(ui.session.csrf, given):
            return ui.message(
                403, t("Request refused"), t("The form is out of date. Reload the page and try again.")
            )
    if key is not None and not may_use(key, ui.roles):
        title = t(BY_KEY[key].title)
        return ui.message(
            403, t("Not permitted"), t("Your role may not open the page “%(page)s”.", page=title)
        )
    try:
        return await handler(ui)
    except ApiError as err:
        if err.expired:
            return _login_redirect(ui.request, expired=True)
        return ui.api_error(err)
    except InputProblem as err:
        return ui.message(400, t("Please check the input"), t(err.message, **err.params))
    except Exception as exc:  # the user gets a message, the log gets the error type (no patient data)
        log.exception("ui.page_failed", extra={"fields": {"page": key, "error": type(exc).__name__}})
        return ui.message(
            500,
            t("Something went wrong"),
            t("The page could not be shown. The error was logged; try again in a moment."),
        )


async def _revoke(cockpit: Cockpit, request: Request, session: Session, lang: str) -> None:
    """End the token service's session (RFC 7009 revocation: works after the access token expired)."""
    token = session.refresh or session.access
    async with Api(cockpit.app, None, lang, client_host(request)) as api:
        try:
            await api.post("/oauth/revoke", form={"token": token})
        except ApiError:
            log.info("ui.revoke_refused", extra={"fields": {"roles": ",".join(session.roles)}})


PAGE_TITLE = N_("HealthBrain cockpit")
