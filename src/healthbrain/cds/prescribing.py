"""New MedicationRequests → pre-audit: DetectedIssues, the pharmacist review queue, the prescriber told."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection

from healthbrain.cds import fhir_out
from healthbrain.cds.alerts import AlertDraft, AlertService
from healthbrain.cds.audit import AuditResult, audit_prescription
from healthbrain.cds.context import ClinicalContext, Routing
from healthbrain.cds.findings import SEVERITY_RANK, PatientFacts
from healthbrain.cds.kb import KnowledgeBase
from healthbrain.cds.messages import N_, advice_text, finding_text, label
from healthbrain.cds.prescription import Prescription, parse_medication_request
from healthbrain.cds.settings import CdsSettings
from healthbrain.cds.store import insert_ignore, json_dumps
from healthbrain.cds.store_admin import AdminStore
from healthbrain.cds.tables import review as review_table
from healthbrain.core.i18n import LANGUAGES, translations
from healthbrain.fhir.events import ChangeEvent
from healthbrain.fhir.resources import parse_instant
from healthbrain.fhir.transaction import process_transaction

__all__ = ["AUDITED_STATUSES", "PrescriptionAuditor", "issue_text", "review_task"]

log = logging.getLogger("healthbrain.cds.prescribing")
AUDITED_STATUSES = frozenset({"active", "draft", "on-hold"})
AUDIT_TITLE = N_("Prescription audit: %(count)s problem(s), most severe %(severity)s — %(first)s")
TASK_SYSTEM = "https://healthbrain.dev/fhir/CodeSystem/cds-task"


def issue_text(result: AuditResult, index: int, language: str) -> str:
    """The DetectedIssue.detail of one finding: statement, then the knowledge base's advice."""
    finding = result.findings[index]
    advice = advice_text(finding, language)
    return f"{finding_text(finding, language)}。{advice}" if advice else finding_text(finding, language)


def review_task(review: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The pharmacist's work item for one audited order (requested → completed with the decision)."""
    from healthbrain.fhir.resources import instant

    done = review["status"] not in ("pending",)
    body: dict[str, Any] = {
        "resourceType": "Task",
        "id": f"cds-review-{review['id']}",
        "status": "completed" if done else "requested",
        "intent": "order",
        "code": {"coding": [{"system": TASK_SYSTEM, "code": "prescription-review"}], "text": "处方审核"},
        "businessStatus": {"coding": [{"system": TASK_SYSTEM, "code": review["status"]}]},
        "focus": {
            "reference": f"MedicationRequest/{review['request_id']}/_history/{review['request_version']}"
        },
        "for": {"reference": review["patient"]},
        "authoredOn": instant(review["created_at"]),
        "lastModified": instant(now),
    }
    if review.get("decided_by"):
        body["owner"] = {"reference": review["decided_by"]}
    if review.get("reason_text") or review.get("reason_code"):
        body["statusReason"] = {"text": review.get("reason_text") or review.get("reason_code")}
    return body


class PrescriptionAuditor:
    """The MedicationRequest subscriber and the audit used by CDS Hooks (same checks, same knowledge)."""

    def __init__(
        self,
        context: ClinicalContext,
        alerts: AlertService,
        admin: AdminStore,
        knowledge: Callable[[], KnowledgeBase],
        settings: CdsSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.context = context
        self.alerts = alerts
        self.admin = admin
        self.knowledge = knowledge
        self.settings = settings
        self.clock = clock

    def audit(
        self,
        order: Mapping[str, Any],
        *,
        extra_orders: tuple[Prescription, ...] = (),
        patient: str | None = None,
    ) -> tuple[Prescription, PatientFacts, AuditResult]:
        """Audit one MedicationRequest against the patient's record (plus not-yet-saved draft orders)."""
        kb = self.knowledge().prescribing
        rx = parse_medication_request(order, kb.drugs, kb.routes)
        when = order.get("authoredOn")
        at = self.clock()
        if isinstance(when, str) and "T" in when:
            with contextlib.suppress(ValueError):
                at = parse_instant(when)
        facts = self.context.patient_facts(
            patient or rx.patient, at, exclude_order=rx.id, extra_orders=extra_orders
        )
        return rx, facts, audit_prescription(kb, rx, facts)

    def handle(self, event: ChangeEvent, resource: dict[str, Any] | None) -> None:
        """Audit one committed MedicationRequest version; idempotent through the review row's key."""
        if resource is None or resource.get("status") not in AUDITED_STATUSES:
            return
        rx, _, result = self.audit(resource)
        if rx.patient is None:
            return
        review_id = f"{event.resource_id}-{event.version_id}"
        if self.admin.review(review_id) is not None:
            return
        self._record(event, resource, rx, result, review_id)

    def _record(
        self,
        event: ChangeEvent,
        resource: Mapping[str, Any],
        rx: Prescription,
        result: AuditResult,
        review_id: str,
    ) -> None:
        kb = self.knowledge()
        now = self.clock()
        request_ref = f"MedicationRequest/{event.resource_id}/_history/{event.version_id}"
        issues = [
            fhir_out.detected_issue(
                f"cds-{review_id}-{i}",
                f,
                request_ref,
                rx.patient,
                now,
                issue_text(result, i, "zh_CN"),
                kb.prescribing.version,
            )
            for i, f in enumerate(result.findings)
        ]
        severity = result.severity
        needs_review = (
            severity is not None
            and SEVERITY_RANK[severity] >= SEVERITY_RANK[self.settings.review_min_severity]
        )
        routing = self.context.routing(resource)
        review = {
            "id": review_id,
            "request_id": event.resource_id,
            "request_version": event.version_id,
            "patient": rx.patient,
            "prescriber": rx.prescriber,
            "organization": routing.organization,
            "status": "pending" if needs_review else "auto_approved",
            "severity": severity,
            "findings": len(result.findings),
            "issues": [f"DetectedIssue/{d['id']}" for d in issues],
            "created_at": now,
            "decided_at": None if needs_review else now,
            "decided_by": None,
            "reason_code": None,
            "reason_text": None,
        }
        resources = [*issues, review_task(review, now)]
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                for r in resources
            ],
        }

        def work(conn: Connection) -> None:
            insert_ignore(conn, review_table, {**review, "issues": json_dumps(review["issues"])}, ["id"])

        process_transaction(self.alerts.repo, self.alerts.ctx, bundle, also=work)
        self.admin.supersede(event.resource_id, event.version_id, now)
        if (
            severity is not None
            and SEVERITY_RANK[severity] >= SEVERITY_RANK[self.settings.notify_min_severity]
        ):
            self._notify(result, rx, request_ref, routing, review_id)

    def _notify(
        self, result: AuditResult, rx: Prescription, request_ref: str, routing: Routing, review_id: str
    ) -> None:
        severity = result.severity or "info"
        title = {}
        for lang in LANGUAGES:
            params = {
                "count": str(len(result.findings)),
                "severity": label(severity, lang),
                "first": finding_text(result.findings[0], lang),
            }
            title[lang] = translations(lang).gettext(AUDIT_TITLE) % params
        data = {
            "review": review_id,
            "severity": severity,
            "findings": [f.code for f in result.findings],
            "drug": list(rx.drug.ingredients),
        }
        routed = Routing(
            routing.encounter,
            routing.organization,
            routing.department,
            routing.ward,
            rx.prescriber or routing.ordering,
        )
        draft = AlertDraft(
            key=f"{request_ref}#audit",
            kind="audit",
            priority="urgent",
            patient=str(rx.patient),
            source=request_ref,
            routing=routed,
            title=title,
            data=data,
            extra_recipients=("role:pharmacist",),
        )
        self.alerts.raise_alert(draft)
