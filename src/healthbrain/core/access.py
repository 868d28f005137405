"""Records shared by the FHIR layer and the security layer: the facts a policy decides on, audit entries."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AuditEntry", "Subject"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One interaction: who did what to which resource, and how it ended (ids only, no content).

    `patients` are the ids of the patients whose data the interaction touched (the patient read, the
    patients of the resources a search returned ...); `params` the names (never the values, which may
    be names or ID numbers) of the search parameters used.
    """

    action: str  # create | read | vread | update | patch | delete | search | history | transaction | ...
    resource_type: str | None
    resource_id: str | None
    outcome: str  # success | failure
    detail: str = ""  # an error code, never patient data
    count: int = 0
    patients: tuple[str, ...] = ()
    params: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Subject:
    """What the access policy needs to know of one resource, extracted by the FHIR layer.

    `patients`: the Patient ids the resource belongs to (its own id for a Patient); `labels`: its
    `meta.security` codes as (system, code); `organization`: the organisation it belongs to where the
    resource says (Patient.managingOrganization, Encounter.serviceProvider ...).
    """

    resource_type: str
    id: str | None
    patients: tuple[str, ...] = ()
    labels: frozenset[tuple[str, str]] = frozenset()
    organization: str | None = None
