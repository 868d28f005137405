"""The pharmacist review queue (云处方审核中心): approve, reject, or return to the prescriber."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from healthbrain.cds.alerts import AlertDraft, AlertService
from healthbrain.cds.context import Routing
from healthbrain.cds.messages import N_
from healthbrain.cds.prescribing import review_task
from healthbrain.cds.store_admin import AdminStore
from healthbrain.core.errors import Conflict, InvalidInput, NotFound
from healthbrain.core.i18n import LANGUAGES, translations

__all__ = ["DECISIONS", "ReviewQueue"]

DECISIONS = {"approve": "approved", "reject": "rejected", "return": "returned"}
RETURNED = N_("Prescription returned by the pharmacist: %(reason)s")
REJECTED = N_("Prescription rejected by the pharmacist: %(reason)s")


class ReviewQueue:
    """Decisions on audited orders; each is recorded on the review Task and the DetectedIssues."""

    def __init__(
        self, admin: AdminStore, alerts: AlertService, clock: Callable[[], float] = time.time
    ) -> None:
        self.admin = admin
        self.alerts = alerts
        self.clock = clock

    def decide(
        self,
        review_id: str,
        decision: str,
        pharmacist: str,
        reason_code: str | None = None,
        reason_text: str | None = None,
    ) -> dict[str, Any]:
        """Record the decision; returning or rejecting needs a reason and tells the prescriber."""
        if decision not in DECISIONS:
            raise InvalidInput("decision must be approve, reject or return", code="cds.bad_decision")
        if decision != "approve" and not (reason_code or reason_text):
            raise InvalidInput("a rejection or return needs a reason", code="cds.reason_required")
        review = self.admin.review(review_id)
        if review is None:
            raise NotFound("no such review", code="cds.review_not_found")
        now = self.clock()
        values = {
            "status": DECISIONS[decision],
            "decided_at": now,
            "decided_by": pharmacist,
            "reason_code": reason_code,
            "reason_text": reason_text,
        }
        if not self.admin.decide(review_id, values):
            raise Conflict(f"the review is already {review['status']}", code="cds.review_decided")
        decided = {**review, **values}
        repo, ctx = self.alerts.repo, self.alerts.ctx
        repo.update(ctx, "Task", f"cds-review-{review_id}", review_task(decided, now))
        for ref in review["issues"]:
            rt, rid = ref.split("/", 1)
            issue = repo.read(ctx, rt, rid).resource
            if issue is not None and issue.get("status") != "final":
                repo.update(ctx, rt, rid, {**issue, "status": "final"})
        if decision != "approve":
            self._tell_prescriber(decided, decision, reason_text or reason_code or "")
        return decided

    def _tell_prescriber(self, review: dict[str, Any], decision: str, reason: str) -> None:
        message = RETURNED if decision == "return" else REJECTED
        title = {lang: translations(lang).gettext(message) % {"reason": reason} for lang in LANGUAGES}
        source = f"MedicationRequest/{review['request_id']}/_history/{review['request_version']}"
        draft = AlertDraft(
            key=f"{source}#review:{decision}",
            kind="audit",
            priority="urgent",
            patient=review["patient"],
            source=source,
            routing=Routing(organization=review.get("organization"), ordering=review.get("prescriber")),
            title=title,
            data={"review": review["id"], "decision": decision, "reason_code": review.get("reason_code")},
        )
        self.alerts.raise_alert(draft)
