"""Security APIs under /api/v1/security: consent, break-glass, the audit trail and access anomalies.

Consents are FHIR `Consent` resources written through the repository (so the policy that reads
them is the policy that guards them); these routes only spare clients from building one by hand.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from healthbrain.api.deps import ContextDep, StateDep
from healthbrain.api.responses import FhirResponse
from healthbrain.core.context import PurposeOfUse
from healthbrain.core.errors import InvalidInput, Issue
from healthbrain.fhir.resources import ID_RE, parse_instant
from healthbrain.security import tables as st
from healthbrain.security.audit_events import AuditQuery, require_auditor, search_audit, to_audit_event

router = APIRouter(prefix="/api/v1/security", tags=["security"])
V3_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
HB_PURPOSE = "https://healthbrain.dev/fhir/CodeSystem/purpose-of-use"
_V3_CODES = {"TREAT", "ETREAT", "PUBHLTH", "CLMATTCH", "HQUALIMP", "HRESCH", "HOPERAT"}


class ConsentCreate(BaseModel):
    """A patient's decision for one purpose: permit or deny, optionally for named organisations."""

    patient: str = Field(pattern=ID_RE.pattern)
    purpose: PurposeOfUse
    permit: bool = True
    organizations: list[str] = Field(default_factory=list)
    start: str | None = None
    end: str | None = None


class BreakGlassCreate(BaseModel):
    patient: str = Field(pattern=ID_RE.pattern)
    reason: str
    minutes: int | None = Field(default=None, ge=1)


def _consent(body: ConsentCreate) -> dict[str, Any]:
    purpose_system = V3_REASON if body.purpose.value in _V3_CODES else HB_PURPOSE
    provision: dict[str, Any] = {
        "type": "permit" if body.permit else "deny",
        "purpose": [{"system": purpose_system, "code": body.purpose.value}],
    }
    if body.organizations:
        provision["actor"] = [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                        }
                    ]
                },
                "reference": {"reference": f"Organization/{org}"},
            }
            for org in body.organizations
        ]
    if body.start or body.end:
        provision["period"] = {k: v for k, v in (("start", body.start), ("end", body.end)) if v}
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{body.patient}"},
        "dateTime": datetime.now(UTC).isoformat(timespec="seconds"),
        "policyRule": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "OPTIN" if body.permit else "OPTOUT",
                }
            ]
        },
        "provision": provision,
    }


@router.post("/consents", status_code=201, summary="record a patient's consent (or refusal) for a purpose")
def grant_consent(body: ConsentCreate, state: StateDep, ctx: ContextDep) -> Response:
    written = state.repo.create(ctx, _consent(body))
    return FhirResponse(written.version.resource, status_code=201)


@router.post("/consents/{consent_id}/$revoke", summary="revoke a consent")
def revoke_consent(consent_id: str, state: StateDep, ctx: ContextDep) -> Response:
    current = state.repo.read(ctx, "Consent", consent_id)
    revoked = {**(current.resource or {}), "status": "inactive"}
    written = state.repo.update(ctx, "Consent", consent_id, revoked, if_match=current.version_id)
    return FhirResponse(written.version.resource)


@router.post("/break-glass", status_code=201, summary="emergency access to one patient (audited, alerted)")
def break_glass(body: BreakGlassCreate, state: StateDep, ctx: ContextDep) -> Response:
    grant = state.security.break_glass.grant(ctx, body.patient, body.reason, body.minutes)
    return JSONResponse(
        {
            "id": grant.id,
            "patient": grant.patient,
            "expires": datetime.fromtimestamp(grant.expires_at, UTC).isoformat(),
        },
        status_code=201,
    )


def _instant(name: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        msg = f"parameter '{name}' must be a FHIR instant"
        raise InvalidInput(
            msg, issues=[Issue("error", "invalid", msg, name)], code="request.invalid_parameter"
        ) from None


@router.get("/audit", summary="search the audit trail (security auditors)")
def audit_search(request: Request, state: StateDep, ctx: ContextDep) -> Response:
    require_auditor(ctx)
    q = request.query_params
    allowed = {"principal", "patient", "action", "outcome", "since", "until", "_count", "_offset"}
    unknown = [k for k in q if k not in allowed]
    if unknown:
        issues = [
            Issue("error", "invalid", f"parameter '{k}' is not an audit search parameter", k) for k in unknown
        ]
        raise InvalidInput(issues[0].diagnostics, issues=issues, code="request.invalid_parameter")
    count = q.get("_count", "100")
    offset = q.get("_offset", "0")
    if not count.isdigit() or not offset.isdigit():
        raise InvalidInput(
            "_count and _offset must be non-negative integers", code="request.invalid_parameter"
        )
    state.security.audit.flush()
    rows = search_audit(
        state.security.audit.engine,
        AuditQuery(
            principal=q.get("principal"),
            patient=q.get("patient"),
            action=q.get("action"),
            outcome=q.get("outcome"),
            since=_instant("since", q.get("since")),
            until=_instant("until", q.get("until")),
            count=min(int(count), 1000),
            offset=int(offset),
        ),
    )
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": to_audit_event(r), "search": {"mode": "match"}} for r in rows],
    }
    return FhirResponse(bundle)


@router.get("/audit/verify", summary="verify the audit chain")
def audit_verify(state: StateDep, ctx: ContextDep) -> Response:
    require_auditor(ctx)
    started = time.perf_counter()
    report = state.security.verify_audit()
    return JSONResponse(
        {
            "ok": report.ok,
            "checked": report.checked,
            "checkpoints": report.checkpoints,
            "seconds": round(time.perf_counter() - started, 3),
            "problems": [{"seq": p.seq, "kind": p.kind, "message": p.message} for p in report.problems],
        }
    )


@router.get("/anomalies", summary="access anomalies and break-glass alerts (security auditors)")
def anomalies(state: StateDep, ctx: ContextDep, status: str = "open") -> Response:
    require_auditor(ctx)
    a = st.anomaly.c
    with state.security.audit.engine.connect() as conn:
        rows = conn.execute(
            select(st.anomaly).where(a.status == status).order_by(a.detected_at.desc()).limit(500)
        )
        items = [
            {
                "id": r.id,
                "detected": datetime.fromtimestamp(r.detected_at, UTC).isoformat(),
                "principal": r.principal,
                "rule": r.rule,
                "severity": r.severity,
                "detail": r.detail,
                "blocked": r.blocked,
            }
            for r in rows
        ]
    return JSONResponse({"anomalies": items})
