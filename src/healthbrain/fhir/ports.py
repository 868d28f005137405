"""The seams of the repository: access policy, labelling and audit, injected by the entry points."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from healthbrain.core.access import AuditEntry, Subject
from healthbrain.core.context import RequestContext
from healthbrain.storage.query import Criterion

__all__ = [
    "AccessPolicy",
    "AuditEntry",
    "AuditSink",
    "LogAuditSink",
    "MemoryAuditSink",
    "NoLabels",
    "PermitAllPolicy",
    "ResourceLabeler",
    "Subject",
]

log = logging.getLogger("healthbrain.audit")


class AccessPolicy(Protocol):
    """Decides what a context may do; the security package implements it.

    Three questions, each asked by the repository on every path: may this principal perform this
    action on this type at all (`authorize`); which of these resources may it act on (`permitted`);
    and which search constraints express everything it may see of a type (`constraints`), so that
    counts, chains, `_has` and paging never see what the principal may not.
    """

    def authorize(self, ctx: RequestContext, action: str, resource_type: str) -> None:
        """Raise `Forbidden` when the principal may not perform `action` on `resource_type` at all."""

    def permitted(self, ctx: RequestContext, action: str, subjects: Sequence[Subject]) -> list[bool]:
        """For each subject, whether the action on it is allowed."""

    def constraints(
        self, ctx: RequestContext, action: str, resource_type: str, patient_param: str | None
    ) -> tuple[Criterion, ...]:
        """Criteria every match of a search over `resource_type` must also satisfy (() = no limit).

        `patient_param` is the reference search parameter through which the type points at its
        patient (None when the type holds no patient data).
        """


class ResourceLabeler(Protocol):
    """Adds security labels (classification, sensitivity) to a resource before it is stored."""

    def label(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Return the resource with `meta.security` completed (may be the same object)."""


class AuditSink(Protocol):
    """Receives every interaction, success and failure."""

    def record(self, ctx: RequestContext, entry: AuditEntry) -> None: ...


class PermitAllPolicy:
    """The foundation's policy: every authenticated principal may do everything.

    Used by the CLI's own jobs and by tests of the FHIR layer alone; the API wires the security
    package's policy.
    """

    def authorize(self, ctx: RequestContext, action: str, resource_type: str) -> None:
        return None

    def permitted(self, ctx: RequestContext, action: str, subjects: Sequence[Subject]) -> list[bool]:
        return [True] * len(subjects)

    def constraints(
        self, ctx: RequestContext, action: str, resource_type: str, patient_param: str | None
    ) -> tuple[Criterion, ...]:
        return ()


class NoLabels:
    """Stores resources with the labels they came with."""

    def label(self, resource: dict[str, Any]) -> dict[str, Any]:
        return resource


class LogAuditSink:
    """Writes audit entries to the `healthbrain.audit` logger (ids and outcomes only)."""

    def record(self, ctx: RequestContext, entry: AuditEntry) -> None:
        log.info(
            "fhir.%s",
            entry.action,
            extra={
                "fields": {
                    "principal": ctx.principal.id,
                    "purpose": str(ctx.purpose),
                    "request_id": ctx.request_id,
                    "type": entry.resource_type,
                    "id": entry.resource_id,
                    "outcome": entry.outcome,
                    "detail": entry.detail,
                    "count": entry.count,
                    "patients": len(entry.patients),
                }
            },
        )


class MemoryAuditSink:
    """Keeps audit entries in memory (tests and the CLI summary)."""

    def __init__(self) -> None:
        self.entries: list[tuple[RequestContext, AuditEntry]] = []

    def record(self, ctx: RequestContext, entry: AuditEntry) -> None:
        self.entries.append((ctx, entry))
