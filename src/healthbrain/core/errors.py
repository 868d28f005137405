"""The HealthBrain error hierarchy: each error has a stable code, an HTTP status and located issues."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem, located by a FHIRPath expression where it has a location."""

    severity: str  # fatal | error | warning | information
    code: str  # FHIR IssueType: invalid, structure, required, value, not-found, conflict, ...
    diagnostics: str
    expression: str | None = None


class HealthBrainError(Exception):
    """Base error. Messages never carry patient data."""

    status: int = 500
    code: str = "healthbrain.error"
    issue_type: str = "exception"

    def __init__(self, message: str, *, issues: list[Issue] | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.issues: list[Issue] = issues or [Issue("error", self.issue_type, message)]


class InvalidInput(HealthBrainError):
    """Malformed request: bad JSON, unknown parameter, invalid value."""

    status = 400
    code = "request.invalid"
    issue_type = "invalid"


class Unauthorized(HealthBrainError):
    status = 401
    code = "security.unauthenticated"
    issue_type = "login"


class Forbidden(HealthBrainError):
    status = 403
    code = "security.forbidden"
    issue_type = "forbidden"


class NotFound(HealthBrainError):
    status = 404
    code = "fhir.not_found"
    issue_type = "not-found"


class Gone(HealthBrainError):
    status = 410
    code = "fhir.deleted"
    issue_type = "deleted"


class Conflict(HealthBrainError):
    status = 409
    code = "fhir.conflict"
    issue_type = "conflict"


class PreconditionFailed(HealthBrainError):
    status = 412
    code = "fhir.precondition_failed"
    issue_type = "conflict"


class TooLarge(HealthBrainError):
    status = 413
    code = "request.too_large"
    issue_type = "too-costly"


class Unprocessable(HealthBrainError):
    """Well-formed but semantically invalid content (FHIR validation failures)."""

    status = 422
    code = "fhir.invalid_resource"
    issue_type = "processing"
