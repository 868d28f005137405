"""The stored region the security tests act in, and contexts of principals in it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from healthbrain.core.context import Principal, PurposeOfUse, RequestContext
from healthbrain.fhir.repository import FhirRepository
from healthbrain.security import SecurityServices


@dataclass(slots=True)
class Region:
    """A stored region and the services to act in it."""

    engine: Engine
    repo: FhirRepository
    security: SecurityServices
    hospital_a: str
    hospital_b: str

    def ctx(
        self,
        roles: set[str],
        organization: str | None,
        purpose: PurposeOfUse = PurposeOfUse.TREATMENT,
        *,
        principal: str = "user-1",
        break_glass: str | None = None,
        scopes: frozenset[str] = frozenset({"user/*.*"}),
    ) -> RequestContext:
        p = Principal(principal, "user", frozenset(roles), organization, scopes, mfa=True)
        return RequestContext(p, purpose, break_glass=break_glass)


def iso(days_ago: float) -> str:
    """A dateTime `days_ago` days before now (UTC, whole seconds)."""
    return (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(timespec="seconds")


def encounter(pid: str, provider: str, days_ago: float) -> dict[str, Any]:
    """An ambulatory Encounter of the patient at `provider`, `days_ago` days ago."""
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{pid}"},
        "serviceProvider": {"reference": f"Organization/{provider}"},
        "period": {"start": iso(days_ago), "end": iso(days_ago - 0.01)},
    }
