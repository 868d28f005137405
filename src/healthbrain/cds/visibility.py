"""Who may see which alert or review: the repository's access policy, asked about the Task that
represents it (same patient, same organisation), and the read audited like any other."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from healthbrain.cds import fhir_out
from healthbrain.cds.prescribing import review_task
from healthbrain.core.access import AuditEntry
from healthbrain.core.context import RequestContext
from healthbrain.fhir.repository import FhirRepository

__all__ = ["visible_alerts", "visible_reviews"]


def _visible(
    repo: FhirRepository,
    ctx: RequestContext,
    rows: Sequence[dict[str, Any]],
    render: Callable[[dict[str, Any]], dict[str, Any]],
    what: str,
) -> list[dict[str, Any]]:
    repo.guard.authorize(ctx, "search", "Task")
    rendered = [render(r) for r in rows]
    allowed = {t["id"] for t in repo.guard.visible(ctx, "search", rendered)}
    shown = [r for r, t in zip(rows, rendered, strict=True) if t["id"] in allowed]
    patients = tuple(dict.fromkeys(str(r["patient"]).split("/")[-1] for r in shown))
    repo.audit.record(ctx, AuditEntry("search", "Task", None, "success", what, len(shown), patients))
    return shown


def visible_alerts(
    repo: FhirRepository, ctx: RequestContext, alerts: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The alerts the context may see (policy on the alert's Task), audited as a search."""
    return _visible(repo, ctx, alerts, lambda a: fhir_out.task(a, float(a["created_at"])), "cds-alerts")


def visible_reviews(
    repo: FhirRepository, ctx: RequestContext, reviews: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The reviews the context may see (policy on the review Task), audited as a search."""
    return _visible(repo, ctx, reviews, lambda r: review_task(r, float(r["created_at"])), "cds-reviews")
