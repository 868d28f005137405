"""Accounts and sign-in: users (argon2 passwords, TOTP, lockout), institution clients, OAuth grants.

Every failure reads the same to the caller ("invalid credentials"): which of user, password or
code was wrong is kept for the audit trail only.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select, update

from healthbrain.core.context import Principal
from healthbrain.core.db import begin_write
from healthbrain.core.errors import Conflict, InvalidInput, Issue, NotFound, Unauthorized
from healthbrain.core.settings import SecuritySettings
from healthbrain.security import tables as t
from healthbrain.security.crypto import KeyRing
from healthbrain.security.passwords import check_password_rules, hash_password, verify_password
from healthbrain.security.roles import PERSON_ROLES, ROLES, parse_scopes
from healthbrain.security.tokens import IssuedTokens, TokenService
from healthbrain.security.totp import new_secret, provisioning_uri, verify_totp

__all__ = ["Enrollment", "IdentityService", "LoginFailure"]

INVALID_CREDENTIALS = "invalid credentials"
USER_SCOPES = ("user/*.*",)


class LoginFailure(Unauthorized):
    """A failed sign-in; `reason` is for the audit record, never for the caller."""

    code = "security.invalid_credentials"

    def __init__(self, reason: str, subject: str | None) -> None:
        super().__init__(INVALID_CREDENTIALS)
        self.reason = reason
        self.subject = subject


@dataclass(frozen=True, slots=True)
class Enrollment:
    """What a new user receives once: the TOTP secret and the URI for an authenticator app."""

    user_id: str
    totp_secret: str | None
    totp_uri: str | None


def _roles(roles: list[str] | tuple[str, ...], allowed: frozenset[str]) -> list[str]:
    unknown = [r for r in roles if r not in allowed]
    if unknown or not roles:
        msg = f"roles must be some of: {', '.join(sorted(allowed))}"
        raise InvalidInput(msg, issues=[Issue("error", "value", msg, "roles")], code="security.unknown_role")
    return sorted(set(roles))


class IdentityService:
    """Users, clients and the OAuth 2.0 grants that turn credentials into tokens."""

    def __init__(
        self,
        engine: Engine,
        keys: KeyRing,
        tokens: TokenService,
        settings: SecuritySettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.keys = keys
        self.tokens = tokens
        self.settings = settings
        self.clock = clock

    # ---- users -----------------------------------------------------------------------------------
    def create_user(
        self,
        username: str,
        password: str,
        roles: list[str],
        organization: str,
        practitioner: str | None = None,
    ) -> Enrollment:
        """Create a person's account; roles that read identified data get a TOTP secret to enrol."""
        check_password_rules(password)
        role_list = _roles(roles, PERSON_ROLES)
        needs_mfa = bool(set(role_list) & self.settings.mfa_roles)
        secret = new_secret() if needs_mfa else None
        user_id = uuid.uuid4().hex
        # keys are made before the write transaction opens (SQLite has one writer at a time)
        sealed = self.keys.encrypt(secret, f"totp:{user_id}") if secret else None
        password_hash = hash_password(password)
        with begin_write(self.engine) as conn:
            if conn.execute(select(t.user.c.id).where(t.user.c.username == username)).first():
                raise Conflict("the username is taken", code="security.username_taken")
            conn.execute(
                insert(t.user).values(
                    id=user_id,
                    username=username,
                    password_hash=password_hash,
                    roles=orjson.dumps(role_list).decode(),
                    organization=organization,
                    practitioner=practitioner,
                    totp_secret=sealed,
                    mfa_enrolled=secret is not None,
                    failed_logins=0,
                    active=True,
                    created_at=self.clock(),
                )
            )
        uri = provisioning_uri(secret, username) if secret else None
        return Enrollment(user_id, secret, uri)

    def reset_mfa(self, username: str) -> Enrollment:
        """A new TOTP secret (the old one stops working) and every session revoked."""
        row = self._user_by_name(username)
        secret = new_secret()
        sealed = self.keys.encrypt(secret, f"totp:{row.id}")
        with begin_write(self.engine) as conn:
            conn.execute(
                update(t.user)
                .where(t.user.c.id == row.id)
                .values(
                    totp_secret=sealed,
                    mfa_enrolled=True,
                    last_totp_step=None,
                )
            )
        self.tokens.revoke_subject(row.id)
        return Enrollment(row.id, secret, provisioning_uri(secret, username))

    def set_active(self, username: str, active: bool) -> None:
        row = self._user_by_name(username)
        with begin_write(self.engine) as conn:
            conn.execute(update(t.user).where(t.user.c.id == row.id).values(active=active))
        if not active:
            self.tokens.revoke_subject(row.id)

    def unlock(self, username: str) -> None:
        row = self._user_by_name(username)
        with begin_write(self.engine) as conn:
            conn.execute(
                update(t.user).where(t.user.c.id == row.id).values(failed_logins=0, locked_until=None)
            )

    def _user_by_name(self, username: str) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.user).where(t.user.c.username == username)).first()
        if row is None:
            raise NotFound("no such user", code="security.no_user")
        return row

    def user_principal(self, user_id: str, *, mfa: bool = False) -> Principal:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.user).where(t.user.c.id == user_id)).first()
        if row is None or not row.active:
            raise Unauthorized(INVALID_CREDENTIALS, code="security.invalid_credentials")
        return Principal(
            id=row.id,
            kind="user",
            roles=frozenset(orjson.loads(row.roles)),
            organization=row.organization,
            scopes=frozenset(USER_SCOPES),
            practitioner=row.practitioner,
            mfa=mfa or not row.mfa_enrolled,
        )

    # ---- the password grant (+ TOTP) ------------------------------------------------------------
    def password_grant(
        self, username: str, password: str, code: str | None, scope: str | None
    ) -> IssuedTokens:
        """Sign a person in: password, then the TOTP code when the account has MFA; lockout on repeats."""
        now = self.clock()
        with self.engine.connect() as conn:
            row = conn.execute(select(t.user).where(t.user.c.username == username)).first()
        if row is None:
            verify_password(_DUMMY_HASH, password)  # same work whether or not the user exists
            raise LoginFailure("unknown-user", None)
        if not row.active:
            raise LoginFailure("inactive", row.id)
        if row.locked_until is not None and row.locked_until > now:
            raise LoginFailure("locked", row.id)
        if not verify_password(row.password_hash, password):
            self._failed(row.id, row.failed_logins + 1)
            raise LoginFailure("password", row.id)
        if row.mfa_enrolled:
            secret = self.keys.decrypt(row.totp_secret, f"totp:{row.id}")
            step = verify_totp(secret, code or "", at=now)
            if step is None or (row.last_totp_step is not None and step <= row.last_totp_step):
                self._failed(row.id, row.failed_logins + 1)
                raise LoginFailure("totp" if step is None else "totp-replayed", row.id)
            with begin_write(self.engine) as conn:
                conn.execute(
                    update(t.user).where(t.user.c.id == row.id).values(last_totp_step=step, failed_logins=0)
                )
        elif row.failed_logins:
            with begin_write(self.engine) as conn:
                conn.execute(update(t.user).where(t.user.c.id == row.id).values(failed_logins=0))
        principal = self.user_principal(row.id, mfa=bool(row.mfa_enrolled))
        return self.tokens.issue(principal, _granted(scope, USER_SCOPES), refresh=True)

    def _failed(self, user_id: str, failures: int) -> None:
        values: dict[str, object] = {"failed_logins": failures}
        if failures >= self.settings.max_failed_logins:
            values["locked_until"] = self.clock() + self.settings.lockout_seconds
            values["failed_logins"] = 0
        with begin_write(self.engine) as conn:
            conn.execute(update(t.user).where(t.user.c.id == user_id).values(**values))
        if "locked_until" in values:
            self.tokens.revoke_subject(user_id)

    # ---- clients and the client-credentials grant -------------------------------------------------
    def create_client(
        self, name: str, organization: str, roles: list[str], scopes: list[str]
    ) -> tuple[str, str]:
        """Register an institution system; returns (client_id, client_secret) — the secret once."""
        role_list = _roles(roles, frozenset(ROLES) - {"system"})
        parse_scopes(scopes)  # malformed scopes are refused now, not at the first token request
        client_id = f"client-{uuid.uuid4().hex[:16]}"
        secret = secrets.token_urlsafe(32)
        secret_hash = hash_password(secret)
        with begin_write(self.engine) as conn:
            conn.execute(
                insert(t.client).values(
                    id=client_id,
                    secret_hash=secret_hash,
                    name=name,
                    organization=organization,
                    roles=orjson.dumps(role_list).decode(),
                    scopes=orjson.dumps(sorted(set(scopes))).decode(),
                    active=True,
                    created_at=self.clock(),
                )
            )
        return client_id, secret

    def client_grant(self, client_id: str, secret: str, scope: str | None) -> IssuedTokens:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.client).where(t.client.c.id == client_id)).first()
        if row is None:
            verify_password(_DUMMY_HASH, secret)
            raise LoginFailure("unknown-client", None)
        if not row.active or not verify_password(row.secret_hash, secret):
            raise LoginFailure("client-secret", row.id)
        principal = self.client_principal(row.id)
        return self.tokens.issue(principal, _granted(scope, tuple(principal.scopes)), refresh=False)

    def client_principal(self, client_id: str) -> Principal:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.client).where(t.client.c.id == client_id)).first()
        if row is None or not row.active:
            raise Unauthorized(INVALID_CREDENTIALS, code="security.invalid_credentials")
        return Principal(
            id=row.id,
            kind="client",
            roles=frozenset(orjson.loads(row.roles)),
            organization=row.organization,
            scopes=frozenset(orjson.loads(row.scopes)),
        )

    def principal_of(self, subject: str) -> Principal:
        return (
            self.client_principal(subject) if subject.startswith("client-") else self.user_principal(subject)
        )


def _granted(requested: str | None, allowed: tuple[str, ...]) -> list[str]:
    """The requested scopes the account may have (all of them when none are asked for)."""
    if not requested:
        return sorted(allowed)
    asked = requested.split()
    parse_scopes(asked)
    allowed_scopes = parse_scopes(list(allowed))
    out = []
    for item, scope in zip([a for a in asked if "/" in a], parse_scopes(asked), strict=True):
        if any(
            (a.context == scope.context or (scope.context == "patient" and a.context == "user"))
            and a.resource_type in ("*", scope.resource_type)
            and set(scope.permissions) <= set(a.permissions)
            for a in allowed_scopes
        ):
            out.append(item)
    if not out:
        raise Unauthorized("none of the requested scopes may be granted", code="security.invalid_scope")
    return out


_DUMMY_HASH = hash_password(secrets.token_hex(8))
