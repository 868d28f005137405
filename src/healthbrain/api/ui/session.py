"""The cockpit's sign-in session: the user's tokens sealed in an HttpOnly cookie, with CSRF and timeouts.

The cookie holds the access and refresh tokens that the password + TOTP grant issued, encrypted and
authenticated with the key ring's data key (associated data "ui-session"), so it can neither be read
nor forged by the browser. The server keeps no session table of its own: the token service's session
is the session, and logging out revokes it, which ends every token in the cookie at once.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import orjson

from healthbrain.security import CryptoError, KeyRing

__all__ = ["COOKIE", "LANG_COOKIE", "LOGIN_COOKIE", "Session", "SessionCodec", "same_token"]

COOKIE = "hb_session"
LOGIN_COOKIE = "hb_login"  # the CSRF token of the sign-in form, before there is a session
LANG_COOKIE = "hb_lang"
_CONTEXT = "ui-session"


@dataclass(frozen=True, slots=True)
class Session:
    """One signed-in user: tokens, the CSRF token of their forms, and the times that end the session."""

    access: str
    refresh: str | None
    csrf: str
    username: str
    roles: tuple[str, ...]
    organization: str | None
    practitioner: str | None
    started: float
    seen: float  # last request (the idle timeout counts from here)
    access_expires: float

    def idle(self, now: float, idle_seconds: float) -> bool:
        return now - self.seen > idle_seconds

    def touched(self, now: float) -> Session:
        return replace(self, seen=now)

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(self.roles)


def new_session(
    access: str, refresh: str | None, expires_in: int, claims: dict[str, Any], username: str
) -> Session:
    """A fresh session from a token response and the verified claims of its access token."""
    now = time.time()
    return Session(
        access=access,
        refresh=refresh,
        csrf=secrets.token_urlsafe(24),
        username=username,
        roles=tuple(sorted(str(r) for r in claims.get("roles") or ())),
        organization=claims.get("org"),
        practitioner=claims.get("prac"),
        started=now,
        seen=now,
        access_expires=now + expires_in,
    )


class SessionCodec:
    """Seals sessions into cookie values and opens them again (None for anything tampered or foreign)."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    def dumps(self, session: Session) -> str:
        sealed = self.keys.encrypt(orjson.dumps(asdict(session)).decode(), _CONTEXT)
        # base64url: a cookie value needs no quoting (the sealed form has ':' '/' '+' '=')
        return base64.urlsafe_b64encode(sealed.encode()).decode().rstrip("=")

    def loads(self, value: str | None) -> Session | None:
        if not value:
            return None
        try:
            sealed = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            data = orjson.loads(self.keys.decrypt(sealed, _CONTEXT))
            data["roles"] = tuple(data.get("roles") or ())
            return Session(**data)
        except (CryptoError, ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
            return None


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
