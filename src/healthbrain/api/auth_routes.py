"""OAuth 2.0 endpoints: token (password + TOTP, client credentials, refresh), revocation, JWKS, SMART.

Errors follow RFC 6749 section 5.2 (`{"error": ...}`), the same for every kind of bad credential.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl, unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from healthbrain.api.deps import ANONYMOUS, StateDep, authenticate
from healthbrain.core.access import AuditEntry
from healthbrain.core.context import Principal, RequestContext
from healthbrain.core.errors import HealthBrainError, InvalidInput, Unauthorized
from healthbrain.security import LoginFailure
from healthbrain.security.tokens import IssuedTokens

router = APIRouter(tags=["OAuth 2.0"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="healthbrain"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _client_auth(request: Request, form: dict[str, str]) -> tuple[str, str]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            raw = base64.b64decode(auth[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        cid, _, secret = raw.partition(":")
        return unquote(cid), unquote(secret)
    return form.get("client_id", ""), form.get("client_secret", "")


def _tokens(issued: IssuedTokens) -> JSONResponse:
    body: dict[str, object] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    }
    if issued.refresh_token:
        body["refresh_token"] = issued.refresh_token
    return JSONResponse(body, headers=NO_STORE)


@router.post("/oauth/token", summary="OAuth 2.0 token endpoint")
async def token(request: Request, state: StateDep) -> Response:
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return _oauth_error(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
    raw = (await request.body())[:16384].decode("utf-8", errors="replace")
    form = dict(parse_qsl(raw, keep_blank_values=True))
    grant = form.get("grant_type", "")
    identity = state.security.identity
    source = request.client.host if request.client else None
    subject = ANONYMOUS
    try:
        if grant == "password":
            issued = identity.password_grant(
                form.get("username", ""), form.get("password", ""), form.get("totp"), form.get("scope")
            )
        elif grant == "client_credentials":
            cid, secret = _client_auth(request, form)
            issued = identity.client_grant(cid, secret, form.get("scope"))
        elif grant == "refresh_token":
            issued = state.security.tokens.refresh(form.get("refresh_token", ""), identity.principal_of)
        else:
            return _oauth_error(
                400,
                "unsupported_grant_type",
                "grant_type must be password, client_credentials or refresh_token",
            )
        claims = state.security.tokens.verify(issued.access_token)
        subject = Principal(
            str(claims["sub"]), str(claims["kind"]), frozenset(claims.get("roles") or ()), claims.get("org")
        )
        state.security.audit.record(
            RequestContext(subject, source=source), AuditEntry("login", None, None, "success", grant)
        )
        return _tokens(issued)
    except LoginFailure as err:
        who = Principal(err.subject or "anonymous", "user")
        state.security.audit.record(
            RequestContext(who, source=source),
            AuditEntry("login", None, None, "failure", f"{grant}:{err.reason}"),
        )
        if grant == "client_credentials":
            return _oauth_error(401, "invalid_client", "client authentication failed")
        return _oauth_error(400, "invalid_grant", "invalid credentials")
    except Unauthorized as err:
        state.security.audit.record(
            RequestContext(subject, source=source), AuditEntry("login", None, None, "failure", err.code)
        )
        error = "invalid_scope" if err.code == "security.invalid_scope" else "invalid_grant"
        return _oauth_error(400, error, err.message)
    except InvalidInput as err:
        return _oauth_error(400, "invalid_scope" if "scope" in err.code else "invalid_request", err.message)


@router.post("/oauth/revoke", summary="OAuth 2.0 token revocation (RFC 7009)")
async def revoke(request: Request, state: StateDep) -> Response:
    raw = (await request.body())[:16384].decode("utf-8", errors="replace")
    form = dict(parse_qsl(raw, keep_blank_values=True))
    value = form.get("token", "")
    try:
        claims = state.security.tokens.verify(value)
        state.security.tokens.revoke_session(str(claims["sid"]))
    except HealthBrainError:
        state.security.tokens.revoke_refresh(value)
    # RFC 7009: the answer does not say whether the token was valid
    return Response(status_code=200, headers=NO_STORE)


@router.post("/oauth/logout", summary="end the caller's session")
def logout(request: Request, state: StateDep) -> Response:
    principal = authenticate(request, state)
    if principal.session:
        state.security.tokens.revoke_session(principal.session)
    return Response(status_code=204)


@router.get("/.well-known/jwks.json", summary="the public keys that verify access tokens")
def jwks(state: StateDep) -> JSONResponse:
    return JSONResponse(state.security.tokens.jwks())


@router.get("/fhir/R4/.well-known/smart-configuration", summary="SMART App Launch discovery")
def smart_configuration(request: Request, state: StateDep) -> JSONResponse:
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "issuer": state.security.settings.issuer,
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "grant_types_supported": ["password", "client_credentials", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": [
                "user/*.read",
                "user/*.write",
                "system/*.read",
                "system/*.write",
                "offline_access",
            ],
            "capabilities": [
                "client-confidential-symmetric",
                "permission-v1",
                "permission-v2",
                "permission-user",
            ],
            "code_challenge_methods_supported": [],
        }
    )
