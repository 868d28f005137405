"""Patient index routes: FHIR Patient/$match, residents and their records, the review queue, merges.

Thin: every Patient shown is read through the repository (policy, audit); the logic is in healthbrain.mpi.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from healthbrain.api.deps import ContextDep, StateDep
from healthbrain.api.responses import FhirResponse, read_json
from healthbrain.core.context import RequestContext
from healthbrain.core.errors import HealthBrainError, NotFound
from healthbrain.core.i18n import negotiate, translations
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.mpi import (
    PatientIndex,
    decide_review,
    link_manually,
    match,
    match_bundle,
    open_index,
    parse_match_request,
    register_subscriber,
    relink,
    sealer_for,
    unlink,
)
from healthbrain.security import SecurityServices
from healthbrain.security.roles import require_role

router = APIRouter(tags=["Patient index (EMPI)"])
REASON_TEXT = {
    "sparse_record": "Almost empty record (little more than a name)",
    "placeholder_id": "Both records carry a placeholder ID number",
    "possible_twin": "Possible twins: same birth date and surname, different given names",
    "family_shared_contact": "Shares a phone or home with a different person (a family member?)",
    "conflicting_id": "Two different valid ID numbers",
    "conflicting_sex": "Different sex",
    "conflicting_name": "The names have nothing in common",
}
FIELD_TEXT = {
    "name": "Name", "id_number": "ID number", "birth_date": "Birth date", "sex": "Sex", "phone": "Phone",
    "address": "Address",
}  # fmt: skip


STEWARDS = frozenset({"index-steward"})


def require_steward(ctx: ContextDep) -> RequestContext:
    """Review, merge, link and re-link are for the index's data stewards (and HealthBrain itself)."""
    require_role(ctx, STEWARDS)
    return ctx


StewardDep = Annotated[RequestContext, Depends(require_steward)]


class DecisionIn(BaseModel):
    decision: str = Field(pattern="^(match|no_match)$")


class MergeIn(BaseModel):
    other: str = Field(min_length=1, max_length=64)


class LinkIn(BaseModel):
    patient: str = Field(pattern=r"^Patient/[A-Za-z0-9\-.]{1,64}$")
    resident: str = Field(min_length=1, max_length=64)


class RelinkIn(BaseModel):
    train: bool = False


def get_index(request: Request) -> PatientIndex:
    index: PatientIndex = request.app.state.mpi
    return index


IndexDep = Annotated[PatientIndex, Depends(get_index)]


def install(app: FastAPI, repo: FhirRepository, dispatcher: EventDispatcher) -> None:
    """Open the index, subscribe it to Patient changes and add the routes (before the FHIR router,
    so that /fhir/R4/Patient/$match is not taken for a read of a Patient called "$match").

    The index seals its identifying rows with the deployment's key ring (`app.state.hb.security`).
    """
    security: SecurityServices = app.state.hb.security
    index = open_index(repo.engine, sealer=sealer_for(security))
    register_subscriber(index, dispatcher)
    app.state.mpi = index
    app.include_router(router)


def _reader(repo: FhirRepository, ctx: RequestContext) -> Any:
    def read(pid: str) -> dict[str, Any] | None:
        try:
            return repo.read(ctx, "Patient", pid).resource
        except NotFound:
            return None
        except HealthBrainError as err:
            if err.status in (403, 410):
                return None
            raise

    return read


@router.post("/fhir/R4/Patient/$match", summary="Patient/$match: scored, graded candidates")
async def patient_match(request: Request, state: StateDep, ctx: ContextDep, index: IndexDep) -> Response:
    body = await read_json(request, state.settings.api.max_body_bytes)
    found = match(index, parse_match_request(body))
    bundle = match_bundle(found, _reader(state.repo, ctx), state.settings.api.base_url.rstrip("/"))
    return FhirResponse(bundle)


def _resident_or_404(index: PatientIndex, rid: str) -> dict[str, Any]:
    with index.engine.connect() as conn:
        row = index.store.resident(conn, rid)
        if row is None:
            raise NotFound("no such resident", code="mpi.resident_not_found")
        while row.status == "merged" and row.merged_into:
            nxt = index.store.resident(conn, row.merged_into)
            if nxt is None:
                break
            row = nxt
        links = index.store.members(conn, row.id)
        history = index.store.history(conn, resident_id=row.id)
    return {
        "id": row.id, "status": row.status, "mergedInto": row.merged_into, "golden": row.golden,
        "links": [{"patient": m.patient_ref, "state": m.state, "score": m.score} for m in links],
        "history": history,
    }  # fmt: skip


@router.get("/api/v1/mpi/residents/{rid}", summary="a resident: golden record, links and history")
def get_resident(rid: str, ctx: StewardDep, index: IndexDep) -> dict[str, Any]:
    return _resident_or_404(index, rid)


@router.get("/api/v1/mpi/residents/{rid}/patients", summary="every institution's Patient of a resident")
def resident_patients(rid: str, state: StateDep, ctx: ContextDep, index: IndexDep) -> Response:
    resident = _resident_or_404(index, rid)
    read = _reader(state.repo, ctx)
    base = state.settings.api.base_url.rstrip("/")
    entries = []
    for link in resident["links"]:
        resource = read(link["patient"].split("/", 1)[1])
        if resource is not None:
            entries.append(
                {"fullUrl": f"{base}/{link['patient']}", "resource": resource, "search": {"mode": "match"}}
            )
    return FhirResponse(
        {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
    )


@router.get("/api/v1/mpi/patients/{pid}", summary="the resident a Patient is linked to")
def patient_link(pid: str, ctx: ContextDep, index: IndexDep) -> dict[str, Any]:
    with index.engine.connect() as conn:
        link = index.store.link_of(conn, f"Patient/{pid}")
    if link is None:
        raise NotFound("the Patient is not in the index", code="mpi.not_indexed")
    return {
        "patient": link.patient_ref,
        "resident": link.resident_id,
        "state": link.state,
        "score": link.score,
    }


def _side(resource: dict[str, Any] | None) -> dict[str, Any] | None:
    if resource is None:
        return None
    from healthbrain.mpi.records import patient_record, record_to_json

    return record_to_json(patient_record(resource))


@router.get("/api/v1/mpi/reviews", summary="review queue: possible matches side by side, with field weights")
def reviews(
    request: Request, state: StateDep, ctx: StewardDep, index: IndexDep,
    status: Annotated[str, Query(pattern="^(open|linked|rejected|obsolete)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0)] = 0,
    lang: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    _ = translations(negotiate(request.headers.get("accept-language"), lang)).gettext
    with index.engine.connect() as conn:
        rows = index.store.reviews(conn, status, limit, offset)
    read = _reader(state.repo, ctx)
    items = []
    for r in rows:
        items.append({
            "id": r.id, "status": r.status, "probability": r.probability, "weight": r.weight,
            "reasons": [{"code": c, "text": _(REASON_TEXT.get(c, c))} for c in r.reasons],
            "fields": [{**f, "text": _(FIELD_TEXT.get(str(f["field"]), str(f["field"])))} for f in r.detail],
            "left": {"patient": r.patient_ref, "record": _side(read(r.patient_ref.split("/", 1)[1]))},
            "right": {"patient": r.candidate_ref, "record": _side(read(r.candidate_ref.split("/", 1)[1]))},
        })  # fmt: skip
    return {"status": status, "items": items}


@router.post("/api/v1/mpi/reviews/{review_id}", summary="decide a review: match or no_match")
def decide(review_id: int, body: DecisionIn, ctx: StewardDep, index: IndexDep) -> dict[str, Any]:
    row = decide_review(index, review_id, body.decision, ctx.principal.id)
    return {"id": row.id, "status": row.status, "decidedBy": row.decided_by}


@router.post("/api/v1/mpi/residents/{rid}/merge", summary="merge another resident into this one")
def merge(rid: str, body: MergeIn, ctx: StewardDep, index: IndexDep) -> dict[str, Any]:
    entry = index.merge(rid, body.other, ctx.principal.id)
    return {"resident": rid, "merged": body.other, "historyEntry": entry}


@router.post("/api/v1/mpi/history/{entry}/undo", summary="undo a merge (unmerge)")
def undo(entry: int, ctx: StewardDep, index: IndexDep) -> dict[str, Any]:
    return {"restored": index.unmerge(entry, ctx.principal.id)}


@router.post("/api/v1/mpi/links", summary="link a Patient to a resident by hand")
def manual_link(body: LinkIn, ctx: StewardDep, index: IndexDep) -> dict[str, Any]:
    link_manually(index, body.patient, body.resident, ctx.principal.id)
    return {"patient": body.patient, "resident": body.resident, "state": "manual"}


@router.delete("/api/v1/mpi/links/{pid}", summary="take a Patient out of its resident")
def manual_unlink(pid: str, ctx: StewardDep, index: IndexDep) -> dict[str, Any]:
    return {"patient": f"Patient/{pid}", "resident": unlink(index, f"Patient/{pid}", ctx.principal.id)}


@router.post("/api/v1/mpi/relink", summary="batch re-link of every indexed Patient")
def batch_relink(body: RelinkIn, ctx: StewardDep, index: IndexDep) -> dict[str, Any]:
    s = relink(index, train=body.train, actor=ctx.principal.id)
    return {
        "records": s.records,
        "residents": s.residents,
        "moved": s.moved,
        "reviews": s.reviews,
        "seconds": s.seconds,
    }


@router.get("/api/v1/mpi/model", summary="the match model: m, u and weight of every level")
def model(ctx: StewardDep, index: IndexDep) -> dict[str, Any]:
    m = index.model
    return {
        "prior": m.prior, "autoLink": m.auto_link, "review": m.review,
        "fields": [
            {"name": f.name, "fixed": f.fixed, "levels": [
                {"label": lab, "m": mv, "u": uv, "weight": round(w, 3)}
                for lab, mv, uv, w in zip(f.labels, f.m, f.u, f.weights, strict=True)]}
            for f in m.fields
        ],
    }  # fmt: skip
