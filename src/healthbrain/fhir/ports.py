"""The seams of the repository: access policy and audit, injected by the entry points."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from healthbrain.core.context import RequestContext

log = logging.getLogger("healthbrain.audit")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One interaction: who did what to which resource, and how it ended (ids only, no content)."""

    action: str  # create | read | vread | update | patch | delete | search | history | transaction | ...
    resource_type: str | None
    resource_id: str | None
    outcome: str  # success | failure
    detail: str = ""  # an error code, never patient data
    count: int = 0


class AccessPolicy(Protocol):
    """Decides whether a context may perform an action; the security package implements it."""

    def authorize(
        self, ctx: RequestContext, action: str, resource_type: str, resource: dict[str, Any] | None = None
    ) -> None:
        """Raise `Forbidden` when the action is not allowed."""

    def filter_readable(self, ctx: RequestContext, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Keep only the resources the context may see (search results, includes, history)."""


class AuditSink(Protocol):
    """Receives every interaction, success and failure."""

    def record(self, ctx: RequestContext, entry: AuditEntry) -> None: ...


class PermitAllPolicy:
    """The foundation's policy: every authenticated principal may do everything.

    The security issue replaces it with role, organisation, care-relationship and consent checks.
    """

    def authorize(
        self, ctx: RequestContext, action: str, resource_type: str, resource: dict[str, Any] | None = None
    ) -> None:
        return None

    def filter_readable(self, ctx: RequestContext, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return resources


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
                }
            },
        )


class MemoryAuditSink:
    """Keeps audit entries in memory (tests and the CLI summary)."""

    def __init__(self) -> None:
        self.entries: list[tuple[RequestContext, AuditEntry]] = []

    def record(self, ctx: RequestContext, entry: AuditEntry) -> None:
        self.entries.append((ctx, entry))
