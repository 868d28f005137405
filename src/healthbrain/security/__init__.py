"""Zero-trust security: identity and tokens, access policy, consent, break-glass, audit chain, encryption.

`SecurityServices.build` assembles everything from an engine and the settings; the entry points
hand its `policy`, `audit` and `labeler` to the FHIR repository, which consults them on every path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from healthbrain.core.settings import SecuritySettings
from healthbrain.security.audit import (
    AuditProblem,
    AuditReport,
    BatchWriter,
    ChainAppender,
    HashChainAuditSink,
    verify_chain,
)
from healthbrain.security.audit_writer import ProcessChainWriter
from healthbrain.security.breakglass import BreakGlassGrant, BreakGlassLedger
from healthbrain.security.crypto import CryptoError, KeyRing
from healthbrain.security.fields import IdentityFieldProtector, reencrypt
from healthbrain.security.identity import Enrollment, IdentityService, LoginFailure
from healthbrain.security.labels import SENSITIVE_LABELS, ClassificationLabeler
from healthbrain.security.orgs import OrgDirectory
from healthbrain.security.policy import RolePolicy
from healthbrain.security.roles import ROLES, parse_scopes
from healthbrain.security.tokens import IssuedTokens, TokenService
from healthbrain.security.totp import totp

__all__ = [
    "ROLES",
    "SENSITIVE_LABELS",
    "AuditProblem",
    "AuditReport",
    "BreakGlassGrant",
    "BreakGlassLedger",
    "ClassificationLabeler",
    "CryptoError",
    "Enrollment",
    "HashChainAuditSink",
    "IdentityFieldProtector",
    "IdentityService",
    "IssuedTokens",
    "KeyRing",
    "LoginFailure",
    "OrgDirectory",
    "RolePolicy",
    "SecurityServices",
    "TokenService",
    "parse_scopes",
    "reencrypt",
    "totp",
    "verify_chain",
]


@dataclass(slots=True)
class SecurityServices:
    """The security package's services for one deployment, built once by an entry point."""

    settings: SecuritySettings
    keys: KeyRing
    tokens: TokenService
    identity: IdentityService
    orgs: OrgDirectory
    break_glass: BreakGlassLedger
    policy: RolePolicy
    audit: HashChainAuditSink
    labeler: ClassificationLabeler
    protector: IdentityFieldProtector | None

    @classmethod
    def build(
        cls, engine: Engine, settings: SecuritySettings, clock: Callable[[], float] = time.time
    ) -> SecurityServices:
        keys = KeyRing(engine, settings.master_key, settings.cipher)
        for purpose in ("data", "blind-index", "audit", "signing", "audit-signing"):
            keys.ensure(purpose)
        tokens = TokenService(engine, keys, settings, clock)
        orgs = OrgDirectory(engine)
        ledger = BreakGlassLedger(engine, settings, clock)
        return cls(
            settings=settings,
            keys=keys,
            tokens=tokens,
            identity=IdentityService(engine, keys, tokens, settings, clock),
            orgs=orgs,
            break_glass=ledger,
            policy=RolePolicy(engine, settings, orgs=orgs, break_glass=ledger, clock=clock),
            audit=HashChainAuditSink(
                engine,
                keys,
                algorithm=settings.audit_hash,
                flush_seconds=settings.audit_flush_seconds,
                checkpoint_every=settings.audit_checkpoint_every,
                clock=clock,
                writer=_chain_writer(engine, settings),
            ),
            labeler=ClassificationLabeler(),
            protector=IdentityFieldProtector(keys) if settings.encrypt_identifiers else None,
        )

    def repository_options(self) -> dict[str, Any]:
        """What a FhirRepository needs from security: policy, audit, labels, sealing."""
        return {
            "policy": self.policy,
            "audit": self.audit,
            "labeler": self.labeler,
            "protector": self.protector,
        }

    def verify_audit(self) -> AuditReport:
        self.audit.flush()
        return verify_chain(self.audit.engine, self.keys, self.settings.audit_hash)


def _chain_writer(
    engine: Engine, settings: SecuritySettings
) -> Callable[[ChainAppender], BatchWriter] | None:
    """The audit chain's writer process when the settings ask for one and the store can have one."""
    database = engine.url.database or ""
    if settings.audit_writer != "process" or (
        engine.url.get_backend_name() == "sqlite" and database in ("", ":memory:")
    ):
        return None
    url = engine.url.render_as_string(hide_password=False)
    return ProcessChainWriter.factory(url, settings.master_key, settings.cipher)
