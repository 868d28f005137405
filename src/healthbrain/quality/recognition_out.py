"""What results mutual recognition writes and answers: the DetectedIssue suggesting reuse, CDS Hooks cards."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from healthbrain.core.i18n import translations
from healthbrain.quality.recognition import Recognised

ISSUE_SYSTEM = "https://healthbrain.dev/fhir/CodeSystem/quality-issue"
REUSABLE_CODE = "reusable-result"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
LOINC = "http://loinc.org"


def issue_id(order: str, test: str) -> str:
    """A stable id per order and test, so that a redelivered event rewrites the same DetectedIssue."""
    return "reuse-" + hashlib.sha256(f"{order}|{test}".encode()).hexdigest()[:32]


def _text(rec: Recognised, ordered: datetime, language: str, institution_name: str | None) -> str:
    tr = translations(language)
    days = max(0, int((ordered - rec.result.taken).total_seconds() // 86400))
    where = institution_name or rec.result.institution or "?"
    return tr.pgettext("quality", "%(test)s was done %(days)s days ago at %(where)s (valid for %(window)s "
                       "days); the result can be reused instead of repeating the test.") % {
        "test": tr.pgettext("quality", rec.test.name), "days": days, "where": where,
        "window": rec.test.window_days,
    }  # fmt: skip


def reuse_issue(
    rec: Recognised, patient: str, ordered: datetime, institution_name: str | None, language: str = "zh_CN"
) -> dict[str, Any]:
    """A DetectedIssue telling the ordering clinician that a recent equivalent result exists.

    See: https://hl7.org/fhir/R4/detectedissue-example-dup.json.html (a repeat order with a recent result).
    """
    tr = translations(language)
    return {
        "resourceType": "DetectedIssue",
        "id": issue_id(rec.order, rec.test.key),
        "status": "preliminary",
        "code": {
            "coding": [
                {"system": ISSUE_SYSTEM, "code": REUSABLE_CODE, "display": "Reusable prior result"},
                {"system": ACT_CODE, "code": "DUPTHPY", "display": "Duplicate Therapy Alert"},
            ],
            "text": tr.pgettext("quality", "Reusable prior result"),
        },
        "severity": "low",
        "patient": {"reference": patient},
        "identifiedDateTime": ordered.isoformat(),
        "implicated": [{"reference": rec.order}, {"reference": rec.result.ref}],
        "evidence": [
            {
                "code": [{"coding": [{"system": LOINC, "code": rec.result.code}]}],
                "detail": [{"reference": rec.result.ref}],
            }
        ],
        "detail": _text(rec, ordered, language, institution_name),
    }


def reuse_card(
    rec: Recognised, ordered: datetime, institution_name: str | None, draft_id: str | None, language: str
) -> dict[str, Any]:
    """A CDS Hooks card for `order-select`: the prior result, its source, and a suggestion to drop the order.

    See: https://cds-hooks.hl7.org/2.0/#card-attributes
    """
    tr = translations(language)
    card: dict[str, Any] = {
        "uuid": issue_id(rec.order, rec.test.key),
        "summary": tr.pgettext("quality", "A recent result can be reused (mutual recognition)"),
        "detail": _text(rec, ordered, language, institution_name),
        "indicator": "info",
        "source": {"label": tr.pgettext("quality", "HealthBrain results mutual recognition")},
        "selectionBehavior": "at-most-one",
    }
    if draft_id:
        card["suggestions"] = [
            {
                "label": tr.pgettext("quality", "Use the prior result and cancel this order"),
                "actions": [
                    {
                        "type": "delete",
                        "description": tr.pgettext("quality", "Cancel the repeated order"),
                        "resourceId": [draft_id],
                    }
                ],
            }
        ]
    return card
