"""Short-lived JWT access tokens (EdDSA, rotating keys, JWKS), opaque refresh tokens, revocation.

Access tokens carry who (sub, kind, org, roles, practitioner), what (scope) and how (mfa, sid);
they are checked for signature, algorithm (EdDSA only: no `alg` confusion), issuer, audience,
expiry and a live session, so revoking a session ends its access tokens at once. Refresh tokens
are random, stored hashed, and rotate on use; presenting a used one again revokes the session.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import Engine, insert, select, update

from healthbrain.core.context import Principal
from healthbrain.core.db import begin_write
from healthbrain.core.errors import Unauthorized
from healthbrain.core.settings import SecuritySettings
from healthbrain.security import tables as t
from healthbrain.security.crypto import KeyRing

__all__ = ["IssuedTokens", "TokenService"]

ALGORITHM = "EdDSA"
# Verification failures all read the same to the caller: nothing that helps an attacker.
INVALID = "the access token is not valid"


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str | None
    scope: str
    session: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    def __init__(
        self,
        engine: Engine,
        keys: KeyRing,
        settings: SecuritySettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.keys = keys
        self.settings = settings
        self.clock = clock
        self._live: dict[str, float] = {}  # session id -> checked at (a one-second cache)
        self._lock = threading.Lock()

    # ---- issuing -------------------------------------------------------------------------------
    def issue(self, principal: Principal, scopes: list[str], *, refresh: bool) -> IssuedTokens:
        """A new session with an access token (and a refresh token for people)."""
        session = uuid.uuid4().hex
        refresh_token = secrets.token_urlsafe(32) if refresh else None
        now = self.clock()
        with begin_write(self.engine) as conn:
            conn.execute(
                insert(t.session).values(
                    id=session,
                    subject=principal.id,
                    kind=principal.kind,
                    refresh_hash=_hash(refresh_token) if refresh_token else None,
                    scopes=orjson.dumps(scopes).decode(),
                    created_at=now,
                    expires_at=now
                    + (
                        self.settings.refresh_token_seconds if refresh else self.settings.access_token_seconds
                    ),
                )
            )
        return self._access(principal, scopes, session, refresh_token)

    def _access(
        self, principal: Principal, scopes: list[str], session: str, refresh_token: str | None
    ) -> IssuedTokens:
        key = self.keys.signing_key("signing")
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "sub": principal.id,
            "iat": now,
            "nbf": now,
            "exp": now + self.settings.access_token_seconds,
            "jti": uuid.uuid4().hex,
            "sid": session,
            "kind": principal.kind,
            "org": principal.organization,
            "roles": sorted(principal.roles),
            "scope": " ".join(scopes),
            "mfa": principal.mfa,
        }
        if principal.practitioner:
            claims["prac"] = principal.practitioner
        token = jwt.encode(
            claims,
            Ed25519PrivateKey.from_private_bytes(key.secret),
            algorithm=ALGORITHM,
            headers={"kid": key.id},
        )
        return IssuedTokens(
            token, self.settings.access_token_seconds, refresh_token, " ".join(scopes), session
        )

    def refresh(self, refresh_token: str, principal_of: Callable[[str], Principal]) -> IssuedTokens:
        """Rotate a refresh token; a refresh token used twice revokes its whole session (theft)."""
        digest = _hash(refresh_token)
        now = self.clock()
        with begin_write(self.engine) as conn:
            replayed = conn.execute(
                select(t.used_refresh.c.session).where(t.used_refresh.c.refresh_hash == digest)
            ).first()
            if replayed is not None:
                conn.execute(
                    update(t.session).where(t.session.c.id == replayed.session).values(revoked_at=now)
                )
                row = None
            else:
                row = conn.execute(select(t.session).where(t.session.c.refresh_hash == digest)).first()
            if row is None or row.revoked_at is not None or row.expires_at < now:
                failure = "security.refresh_replayed" if replayed is not None else "security.invalid_grant"
                error = Unauthorized("the refresh token is not valid", code=failure)
            else:
                error = None
                new_refresh = secrets.token_urlsafe(32)
                conn.execute(
                    update(t.session).where(t.session.c.id == row.id).values(refresh_hash=_hash(new_refresh))
                )
                conn.execute(insert(t.used_refresh).values(refresh_hash=digest, session=row.id, used_at=now))
        if error is not None or row is None:
            with self._lock:
                self._live.clear()
            raise error or Unauthorized("the refresh token is not valid", code="security.invalid_grant")
        principal = principal_of(row.subject)
        return self._access(principal, list(orjson.loads(row.scopes)), row.id, new_refresh)

    # ---- checking ------------------------------------------------------------------------------
    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid access token; raises Unauthorized with one generic message otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized(INVALID, code="security.invalid_token") from None
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise Unauthorized(INVALID, code="security.invalid_token")
        stored = self.keys.get(header["kid"])
        if stored is None or stored.purpose != "signing" or not stored.public:
            raise Unauthorized(INVALID, code="security.invalid_token")
        public = load_pem_public_key(stored.public.encode())
        if not isinstance(public, Ed25519PublicKey):
            raise Unauthorized(INVALID, code="security.invalid_token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                public,
                algorithms=[ALGORITHM],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                # times are checked below against the service's clock (one clock for issuing and checking)
                options={
                    "require": ["exp", "iat", "sub", "sid", "aud", "iss"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            raise Unauthorized(INVALID, code="security.invalid_token") from None
        now, leeway = self.clock(), 5
        if not (float(claims.get("nbf", claims["iat"])) - leeway <= now < float(claims["exp"]) + leeway):
            raise Unauthorized(INVALID, code="security.expired_token")
        if not self._session_live(str(claims["sid"])):
            raise Unauthorized(INVALID, code="security.revoked_token")
        return claims

    def _session_live(self, session: str) -> bool:
        now = self.clock()
        with self._lock:
            checked = self._live.get(session)
        if checked is not None and now - checked < 1.0:
            return True
        with self.engine.connect() as conn:
            row = conn.execute(select(t.session.c.revoked_at).where(t.session.c.id == session)).first()
        live = row is not None and row.revoked_at is None
        with self._lock:
            if live:
                self._live[session] = now
            else:
                self._live.pop(session, None)
        return live

    # ---- revoking ------------------------------------------------------------------------------
    def revoke_session(self, session: str) -> None:
        with begin_write(self.engine) as conn:
            conn.execute(update(t.session).where(t.session.c.id == session).values(revoked_at=self.clock()))
        with self._lock:
            self._live.pop(session, None)

    def revoke_refresh(self, refresh_token: str) -> None:
        """Revoke the session a refresh token belongs to (unknown tokens are ignored)."""
        with begin_write(self.engine) as conn:
            conn.execute(
                update(t.session)
                .where(t.session.c.refresh_hash == _hash(refresh_token))
                .values(revoked_at=self.clock())
            )
        with self._lock:
            self._live.clear()

    def revoke_subject(self, subject: str) -> int:
        """Revoke every session of a user or client (password reset, lockout, offboarding)."""
        with begin_write(self.engine) as conn:
            result = conn.execute(
                update(t.session)
                .where(t.session.c.subject == subject, t.session.c.revoked_at.is_(None))
                .values(revoked_at=self.clock())
            )
        with self._lock:
            self._live.clear()
        return int(result.rowcount)

    def jwks(self) -> dict[str, Any]:
        """The public keys that verify access tokens (retired ones too, until their tokens expire)."""
        keys = []
        for k in self.keys.keys("signing"):
            public = load_pem_public_key((k.public or "").encode())
            if isinstance(public, Ed25519PublicKey):
                raw = public.public_bytes_raw()
                x = base64.urlsafe_b64encode(raw).decode().rstrip("=")
                keys.append(
                    {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": k.id, "alg": ALGORITHM, "use": "sig"}
                )
        return {"keys": keys}
