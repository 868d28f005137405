"""The cockpit's way to the platform: its own public APIs, called in-process with the user's token.

Every panel asks the same routes integrators use (FHIR REST, /api/v1/...), through an ASGI transport
into the running app: the request is authenticated from the user's bearer token, the routes and the
repository apply role checks, policy, consent and audit exactly as for any other client, and the
cockpit never reads a table itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
from starlette.types import ASGIApp

__all__ = ["Api", "ApiError"]

INTERNAL_BASE = "http://cockpit.internal"
TIMEOUT = httpx.Timeout(60.0)
PARALLEL_CALLS = 4
Params = Any  # what httpx takes as query parameters (a mapping or a list of pairs)


class ApiError(Exception):
    """An API answer other than 2xx: the status and the OperationOutcome's (or OAuth error's) text."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.code = code

    @property
    def forbidden(self) -> bool:
        return self.status == 403

    @property
    def expired(self) -> bool:
        return self.status == 401


def _message(response: httpx.Response) -> tuple[str, str | None]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.reason_phrase or "error", None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        issues = body.get("issue") or [{}]
        first = issues[0] if isinstance(issues[0], dict) else {}
        return str(first.get("diagnostics") or first.get("code") or "error"), str(first.get("code") or "")
    if isinstance(body, dict) and "error" in body:
        return str(body.get("error_description") or body["error"]), str(body["error"])
    return response.reason_phrase or "error", None


class Api:
    """An API client for one cockpit request (one user, one language, one client address)."""

    def __init__(self, app: ASGIApp, token: str | None, language: str, client_host: str | None) -> None:
        headers = {"Accept": "application/json", "Accept-Language": "zh-CN" if language == "zh_CN" else "en"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=False, client=(client_host or "127.0.0.1", 0)
        )
        self._client = httpx.AsyncClient(
            transport=transport, base_url=INTERNAL_BASE, headers=headers, timeout=TIMEOUT
        )
        self.calls = 0
        # a page's fan-out (counts per institution ...) may not take the whole worker thread pool:
        # other users' requests must still get through while one overview is being counted
        self._parallel = asyncio.Semaphore(PARALLEL_CALLS)

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> Any:
        """The parsed JSON answer; raises ApiError for a non-2xx status."""
        self.calls += 1
        content = orjson.dumps(json) if json is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else None
        async with self._parallel:
            response = await self._client.request(
                method, path, params=params, content=content, data=form, headers=headers
            )
        if response.status_code >= 400:
            message, code = _message(response)
            raise ApiError(response.status_code, message, code)
        if not response.content:
            return None
        return orjson.loads(response.content)

    async def get(self, path: str, params: Params = None) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, json: Any = None, *, form: Mapping[str, str] | None = None) -> Any:
        return await self.request("POST", path, json=json, form=form)

    async def optional(self, path: str, params: Params = None) -> Any:
        """GET, or None when the user's role may not see it (the panel is then left out, not shown empty)."""
        try:
            return await self.get(path, params)
        except ApiError as err:
            if err.forbidden:
                return None
            raise
