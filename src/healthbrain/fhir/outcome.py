"""OperationOutcome resources built from HealthBrain issues and errors.

Every error a client sees is an OperationOutcome: one issue per problem, with its location as a
FHIRPath expression, so a sender can fix all problems in one round trip.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from healthbrain.core.errors import HealthBrainError, Issue

__all__ = ["informational_outcome", "issue_json", "operation_outcome", "outcome_from_error"]


def issue_json(issue: Issue) -> dict[str, Any]:
    """One OperationOutcome.issue."""
    out: dict[str, Any] = {"severity": issue.severity, "code": issue.code, "diagnostics": issue.diagnostics}
    if issue.expression:
        out["expression"] = [issue.expression]
    return out


def operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """An OperationOutcome listing `issues` (at least one issue, as the spec requires)."""
    listed = [issue_json(i) for i in issues]
    if not listed:
        listed = [{"severity": "information", "code": "informational", "diagnostics": "ok"}]
    return {"resourceType": "OperationOutcome", "issue": listed}


def outcome_from_error(error: HealthBrainError, text: str | None = None) -> dict[str, Any]:
    """The OperationOutcome for an error, its machine-readable code kept in `details.coding`.

    `text` is the error explained in the user's language (zh_CN by default), as `details.text`;
    `diagnostics` stays the technical English message with its location.
    """
    outcome = operation_outcome(error.issues)
    for issue in outcome["issue"]:
        details: dict[str, Any] = {
            "coding": [{"system": "https://healthbrain.dev/fhir/CodeSystem/error", "code": error.code}]
        }
        if text:
            details["text"] = text
        issue["details"] = details
    return outcome


def informational_outcome(message: str) -> dict[str, Any]:
    """A success outcome (for deletes and `$validate` of a valid resource)."""
    return operation_outcome([Issue("information", "informational", message)])
