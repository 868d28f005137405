"""CDS Hooks services (patient-view, order-select, order-sign): discovery and cards with suggestions.

See: https://cds-hooks.hl7.org/ (2.0). Cards are in the clinician's language; the audit is the same
one the MedicationRequest subscriber runs, applied to the draft orders before they are saved.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from healthbrain.cds.alerts import ALERT_NAMESPACE
from healthbrain.cds.findings import SEVERITY_RANK, Finding
from healthbrain.cds.messages import N_, advice_text, finding_text, label
from healthbrain.cds.prescribing import PrescriptionAuditor
from healthbrain.cds.prescription import Prescription, parse_medication_request
from healthbrain.cds.store import CdsStore
from healthbrain.cds.store_admin import AdminStore
from healthbrain.core.errors import InvalidInput, NotFound
from healthbrain.core.i18n import translations

__all__ = ["SERVICES", "discovery", "evaluate_hook"]

ISSUE_SYSTEM = "https://healthbrain.dev/fhir/CodeSystem/cds-issue"
OVERRIDE_SYSTEM = "https://healthbrain.dev/fhir/CodeSystem/cds-override"
SOURCE_LABEL = N_("HealthBrain clinical decision support")
REMOVE = N_("Remove %(drug)s")
OPEN_ALERT = N_("Open alert: %(title)s")
PENDING_REVIEW = N_("Prescription awaiting pharmacist review (%(severity)s)")
OVERRIDES = (
    ("benefit-outweighs-risk", N_("Benefit outweighs the risk")),
    ("already-monitored", N_("Patient is being monitored")),
    ("tolerated-before", N_("Patient has tolerated this before")),
)
SERVICES: tuple[dict[str, Any], ...] = (
    {
        "hook": "patient-view",
        "id": "healthbrain-patient-view",
        "title": "HealthBrain patient safety summary",
        "description": "Open critical-value and early-warning alerts and prescriptions awaiting review.",
        "prefetch": {"patient": "Patient/{{context.patientId}}"},
    },
    {
        "hook": "order-select",
        "id": "healthbrain-order-select",
        "title": "HealthBrain medication check (on selection)",
        "description": "Interactions, allergies, doses, duplication, contraindications of selected orders.",
        "prefetch": {"patient": "Patient/{{context.patientId}}"},
    },
    {
        "hook": "order-sign",
        "id": "healthbrain-order-sign",
        "title": "HealthBrain prescription pre-audit (处方前置审核)",
        "description": "The full prescription audit of every draft order before it is signed.",
        "prefetch": {"patient": "Patient/{{context.patientId}}"},
    },
)
_INDICATOR = {
    "contraindicated": "critical",
    "major": "critical",
    "moderate": "warning",
    "minor": "info",
    "info": "info",
}


def discovery() -> dict[str, Any]:
    """The /cds-services discovery document."""
    return {"services": [dict(s) for s in SERVICES]}


def _service(service_id: str) -> Mapping[str, Any]:
    for service in SERVICES:
        if service["id"] == service_id:
            return service
    raise NotFound(f"no CDS service '{service_id}'", code="cds.unknown_service")


def _draft_orders(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    bundle = context.get("draftOrders") or {}
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidInput("context.draftOrders must be a FHIR Bundle", code="cds.hooks_bad_context")
    orders = [e.get("resource") for e in bundle.get("entry") or [] if isinstance(e, dict)]
    return [o for o in orders if isinstance(o, dict) and o.get("resourceType") == "MedicationRequest"]


def _source(language: str) -> dict[str, Any]:
    return {"label": translations(language).gettext(SOURCE_LABEL)}


def _card(
    hook_instance: str, order: Mapping[str, Any], rx: Prescription, finding: Finding, language: str
) -> dict[str, Any]:
    tr = translations(language)
    ref = f"MedicationRequest/{order.get('id')}"
    card_id = str(uuid.uuid5(ALERT_NAMESPACE, f"{hook_instance}|{ref}|{finding.rule}|{finding.implicated}"))
    summary = finding_text(finding, language)
    detail = advice_text(finding, language)
    if finding.source:
        detail = f"{detail}\n\n*{finding.source}*" if detail else f"*{finding.source}*"
    card: dict[str, Any] = {
        "uuid": card_id,
        "summary": summary if len(summary) <= 140 else summary[:139] + "…",
        "indicator": _INDICATOR[finding.severity],
        "detail": f"**{label(finding.severity, language)}** — {detail}"
        if detail
        else label(finding.severity, language),
        "source": {**_source(language), "topic": {"system": ISSUE_SYSTEM, "code": finding.code}},
    }
    if SEVERITY_RANK[finding.severity] >= SEVERITY_RANK["moderate"] and order.get("id"):
        drug = rx.drug.display or ", ".join(rx.drug.ingredients)
        card["suggestions"] = [
            {
                "label": tr.gettext(REMOVE) % {"drug": drug},
                "uuid": str(uuid.uuid5(ALERT_NAMESPACE, card_id + "|remove")),
                "isRecommended": SEVERITY_RANK[finding.severity] >= SEVERITY_RANK["major"],
                "actions": [
                    {
                        "type": "delete",
                        "description": tr.gettext(REMOVE) % {"drug": drug},
                        "resourceId": [ref],
                    }
                ],
            }
        ]
        card["selectionBehavior"] = "at-most-one"
        card["overrideReasons"] = [
            {"system": OVERRIDE_SYSTEM, "code": c, "display": tr.gettext(d)} for c, d in OVERRIDES
        ]
    return card


def _order_cards(
    auditor: PrescriptionAuditor, request: Mapping[str, Any], language: str, selected: set[str] | None
) -> list[dict[str, Any]]:
    context = request["context"]
    patient = f"Patient/{context.get('patientId')}" if context.get("patientId") else None
    orders = _draft_orders(context)
    kb = auditor.knowledge().prescribing
    parsed = [parse_medication_request(o, kb.drugs, kb.routes) for o in orders]
    cards: list[dict[str, Any]] = []
    for i, order in enumerate(orders):
        if selected is not None and f"MedicationRequest/{order.get('id')}" not in selected:
            continue
        others = tuple(p for j, p in enumerate(parsed) if j != i)
        rx, _, result = auditor.audit(order, extra_orders=others, patient=patient)
        cards += [_card(str(request["hookInstance"]), order, rx, f, language) for f in result.findings]
    cards.sort(key=lambda c: ("critical", "warning", "info").index(c["indicator"]))
    return cards


def _patient_cards(store: CdsStore, admin: AdminStore, patient: str, language: str) -> list[dict[str, Any]]:
    tr = translations(language)
    cards = []
    for status in ("open", "acknowledged"):
        for alert in store.alerts(status=status, patient=patient, limit=20):
            title = (alert["payload"].get("title") or {}).get(language) or alert["key"]
            cards.append(
                {
                    "uuid": alert["id"],
                    "summary": (tr.gettext(OPEN_ALERT) % {"title": title})[:140],
                    "indicator": "critical" if alert["priority"] == "critical" else "warning",
                    "source": _source(language),
                }
            )
    for review in admin.reviews(status="pending", limit=100):
        if review["patient"] == patient:
            summary = tr.gettext(PENDING_REVIEW) % {"severity": label(review["severity"] or "info", language)}
            cards.append(
                {
                    "uuid": str(uuid.uuid5(ALERT_NAMESPACE, review["id"])),
                    "summary": summary[:140],
                    "indicator": "warning",
                    "source": _source(language),
                }
            )
    return cards


def evaluate_hook(
    service_id: str,
    request: Mapping[str, Any],
    auditor: PrescriptionAuditor,
    store: CdsStore,
    admin: AdminStore,
    language: str,
) -> dict[str, Any]:
    """The CDS Hooks response (cards) of one service call."""
    service = _service(service_id)
    if request.get("hook") != service["hook"]:
        raise InvalidInput(f"this service answers the {service['hook']} hook", code="cds.hooks_wrong_hook")
    context = request.get("context")
    if not isinstance(context, dict) or not context.get("patientId"):
        raise InvalidInput("context.patientId is required", code="cds.hooks_bad_context")
    if service["hook"] == "patient-view":
        return {"cards": _patient_cards(store, admin, f"Patient/{context['patientId']}", language)}
    selected: set[str] | None = None
    if service["hook"] == "order-select":
        selections: Sequence[Any] = context.get("selections") or []
        selected = {str(s) for s in selections}
    return {"cards": _order_cards(auditor, request, language, selected)}
