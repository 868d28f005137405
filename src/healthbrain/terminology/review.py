"""Resolving the review queue: an operator maps a local code; the institution's ConceptMap gains the
mapping (future data) and every stored resource carrying the code is rewritten as a new version (past data).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

from healthbrain.core.context import RequestContext, system_context
from healthbrain.core.errors import (
    Conflict,
    Gone,
    InvalidInput,
    Issue,
    NotFound,
    PreconditionFailed,
    Unprocessable,
)
from healthbrain.fhir.reading import run_search
from healthbrain.terminology.local_maps import EQUIVALENCES, map_ids
from healthbrain.terminology.localcodes import CODED_ELEMENTS, enrich
from healthbrain.terminology.service import TerminologyService
from healthbrain.terminology.store import ReviewItem

log = logging.getLogger("healthbrain.terminology")
HB = "https://healthbrain.dev/fhir"
PAGE = 200


@dataclass(frozen=True, slots=True)
class Resolution:
    """What an operator decided: the standard code for the local one, and how close it is."""

    system: str
    code: str
    display: str | None = None
    equivalence: str = "equivalent"


@dataclass(frozen=True, slots=True)
class ResolveOutcome:
    item: ReviewItem
    concept_map: str
    rewritten: int


def _bad(message: str, where: str) -> InvalidInput:
    return InvalidInput(
        message, issues=[Issue("error", "invalid", message, where)], code="terminology.invalid_resolution"
    )


def check_resolution(service: TerminologyService, res: Resolution) -> Resolution:
    """The resolution with the target's display filled in; a code unknown to a complete system fails."""
    if res.equivalence not in EQUIVALENCES or res.equivalence in ("unmatched", "disjoint"):
        raise _bad(f"equivalence must say how the codes correspond, not '{res.equivalence}'", "equivalence")
    if not res.system or ":" not in res.system or not res.code:
        raise _bad("the target needs a system URI and a code", "target")
    cs = service.index.snapshot.code_system(res.system)
    concept = cs.get(res.code) if cs is not None else None
    if cs is not None and concept is None and cs.content == "complete":
        raise Unprocessable(
            f"the code '{res.code}' is not in the code system {res.system}",
            issues=[Issue("error", "code-invalid", "unknown target code", "target.code")],
            code="terminology.unknown_target",
        )
    display = res.display or (concept.display if concept is not None else None)
    return Resolution(res.system, concept.code if concept else res.code, display, res.equivalence)


def _map_with(
    existing: dict[str, Any] | None, item: ReviewItem, res: Resolution, cm_id: str
) -> dict[str, Any]:
    """The institution's ConceptMap with the new element (created when the institution has none yet)."""
    cm: dict[str, Any] = (
        copy.deepcopy(existing)
        if existing is not None
        else {
            "resourceType": "ConceptMap",
            "id": cm_id,
            "url": f"{HB}/ConceptMap/{cm_id}",
            "status": "active",
            "title": f"{item.institution or 'local'} codes → standard codes",
            "sourceUri": f"{item.system}?fhir_vs",
        }
    )
    groups: list[dict[str, Any]] = cm.setdefault("group", [])
    group = next(
        (g for g in groups if g.get("source") == item.system and g.get("target") == res.system), None
    )
    if group is None:
        group = {"source": item.system, "target": res.system, "element": []}
        groups.append(group)
    target: dict[str, Any] = {"code": res.code, "equivalence": res.equivalence}
    if res.display:
        target["display"] = res.display
    if res.equivalence in ("narrower", "inexact"):  # cmd-1: such a mapping must say why
        target["comment"] = "mapped by an operator from the review queue"
    elements = [e for e in group.get("element") or [] if e.get("code") != item.code]
    element: dict[str, Any] = {"code": item.code, "target": [target]}
    if item.display:
        element["display"] = item.display
    group["element"] = [*elements, element]
    for g in groups:  # the same code, known as unmatched elsewhere in the map, is matched now
        if g is not group:
            g["element"] = [
                e
                for e in g.get("element") or []
                if not (
                    e.get("code") == item.code
                    and g.get("source") == item.system
                    and all(t.get("equivalence") == "unmatched" for t in e.get("target") or [{}])
                )
            ]
    cm["group"] = [g for g in groups if g.get("element")]
    return cm


def resolve(
    service: TerminologyService, ctx: RequestContext, review_id: int, res: Resolution
) -> ResolveOutcome:
    """Map an open item: claim it, add the mapping to the ConceptMap (as `ctx`), rewrite past data."""
    item = service.reviews.get(review_id)
    if item is None:
        raise NotFound("no such review item", code="terminology.review_not_found")
    if item.status != "open":
        raise Conflict(f"the review item is already {item.status}", code="terminology.review_closed")
    res = check_resolution(service, res)
    repo = service.repo
    cm_id, _ = map_ids(item.system)
    now = service.clock()
    claimed = service.reviews.decide(
        review_id,
        "resolved",
        ctx.principal.id,
        now,
        target_system=res.system,
        target_code=res.code,
        target_display=res.display,
        equivalence=res.equivalence,
        concept_map=f"ConceptMap/{cm_id}",
    )
    if not claimed:
        raise Conflict("the review item was decided concurrently", code="terminology.review_closed")
    try:
        try:
            current = repo.read(ctx, "ConceptMap", cm_id)
            existing, version = current.resource, current.version_id
        except (NotFound, Gone):
            existing, version = None, None
        updated = _map_with(existing, item, res, cm_id)
        written = repo.update(ctx, "ConceptMap", cm_id, updated, if_match=version)
    except Exception:
        _reopen(service, review_id)
        raise
    if written.version.resource is not None:
        service.index.put(written.version.resource)  # read-your-writes; the subscriber will agree
    rewritten = apply_to_stored(service, item.system, item.code)
    service.reviews.set_applied(review_id, rewritten)
    log.info(
        "terminology.review_resolved",
        extra={"fields": {"review": review_id, "concept_map": cm_id, "rewritten": rewritten}},
    )
    final = service.reviews.get(review_id)
    assert final is not None
    return ResolveOutcome(final, f"ConceptMap/{cm_id}", rewritten)


def _reopen(service: TerminologyService, review_id: int) -> None:
    from sqlalchemy import update

    from healthbrain.core.db import begin_write
    from healthbrain.terminology import tables as t

    with begin_write(service.repo.engine) as conn:
        conn.execute(
            update(t.review)
            .where(t.review.c.id == review_id)
            .values(
                status="open",
                decided_by=None,
                decided_at=None,
                target_system=None,
                target_code=None,
                target_display=None,
                equivalence=None,
                concept_map=None,
            )
        )


def dismiss(service: TerminologyService, ctx: RequestContext, review_id: int) -> ReviewItem:
    """Close an item without a mapping (a test code, a typo): it is not queued again."""
    item = service.reviews.get(review_id)
    if item is None:
        raise NotFound("no such review item", code="terminology.review_not_found")
    if not service.reviews.decide(review_id, "dismissed", ctx.principal.id, service.clock()):
        raise Conflict(f"the review item is already {item.status}", code="terminology.review_closed")
    final = service.reviews.get(review_id)
    assert final is not None
    return final


def _matching_ids(service: TerminologyService, rt: str, param: str, token: str) -> list[str]:
    ctx = system_context()
    ids: list[str] = []
    offset = 0
    while True:  # collect first: rewriting changes _lastUpdated order, offsets would then skip resources
        page = run_search(
            service.repo,
            ctx,
            rt,
            [
                (param, token),
                ("_count", str(PAGE)),
                ("_offset", str(offset)),
                ("_sort", "_id"),
                ("_elements", "id"),
            ],
        )
        ids.extend(str(r["id"]) for r in page.matches)
        if not page.has_next:
            return ids
        offset += PAGE


def apply_to_stored(service: TerminologyService, system: str, code: str) -> int:
    """Rewrite every stored resource carrying `system|code` with the codes the maps now give; the count."""
    ctx = system_context()
    rewritten = 0
    for element in CODED_ELEMENTS:
        for rid in dict.fromkeys(
            _matching_ids(service, element.resource_type, element.search_param, f"{system}|{code}")
        ):
            rewritten += _rewrite_one(service, ctx, element.resource_type, rid)
    return rewritten


def _rewrite_one(service: TerminologyService, ctx: RequestContext, rt: str, rid: str) -> int:
    for _ in range(3):  # optimistic: a concurrent writer makes us read again
        try:
            current = service.repo.read(ctx, rt, rid)
        except (NotFound, Gone):
            return 0
        assert current.resource is not None
        changed, _ = enrich(current.resource, service.translate_coding, service.is_local)
        if changed is None:
            return 0
        try:
            service.repo.update(ctx, rt, rid, changed, if_match=current.version_id)
            return 1
        except (PreconditionFailed, Conflict):
            continue
    return 0
