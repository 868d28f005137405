"""Roles, what each may do to which resource types for which purposes, and SMART-style scopes.

Least privilege by default: a role may do only what is listed here. Actions are grouped as
`read` (read, vread, search, history, everything, export), `count` (aggregate counts only),
`write` (create, update, patch) and `delete`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from healthbrain.core.context import PurposeOfUse, RequestContext
from healthbrain.core.errors import Forbidden, InvalidInput

__all__ = [
    "CLINICAL",
    "DIRECTORY",
    "FINANCIAL",
    "ROLES",
    "RolePermissions",
    "Scope",
    "action_group",
    "parse_scopes",
    "require_role",
    "type_group",
]

P = PurposeOfUse

# Reference data any signed-in principal may read: no patient in it.
DIRECTORY = frozenset(
    {
        "Organization",
        "Location",
        "Practitioner",
        "PractitionerRole",
        "HealthcareService",
        "Endpoint",
        "CodeSystem",
        "ValueSet",
        "ConceptMap",
        "NamingSystem",
        "StructureDefinition",
        "SearchParameter",
        "OperationDefinition",
        "CapabilityStatement",
        "Medication",
        "MedicationKnowledge",
        "Substance",
        "ActivityDefinition",
        "PlanDefinition",
        "Questionnaire",
        "Library",
        "Measure",
        "ObservationDefinition",
        "SpecimenDefinition",
        "ChargeItemDefinition",
        "InsurancePlan",
        "Device",
        "DeviceDefinition",
    }
)
FINANCIAL = frozenset(
    {
        "Claim",
        "ClaimResponse",
        "ExplanationOfBenefit",
        "Coverage",
        "CoverageEligibilityRequest",
        "CoverageEligibilityResponse",
        "Account",
        "ChargeItem",
        "Invoice",
        "PaymentNotice",
        "PaymentReconciliation",
        "EnrollmentRequest",
        "EnrollmentResponse",
    }
)
PLATFORM = frozenset({"Subscription", "AuditEvent", "Binary", "Parameters", "Bundle", "MessageHeader"})


def type_group(resource_type: str) -> str:
    """directory | financial | platform | clinical (everything else holds patient data)."""
    if resource_type in DIRECTORY:
        return "directory"
    if resource_type in FINANCIAL:
        return "financial"
    if resource_type in PLATFORM:
        return "platform"
    return "clinical"


CLINICAL = "clinical"

_ACTION_GROUPS = {
    "read": "read",
    "vread": "read",
    "search": "read",
    "history": "read",
    "everything": "read",
    "export": "read",
    "count": "count",
    "create": "write",
    "update": "write",
    "patch": "write",
    "delete": "delete",
}


def action_group(action: str) -> str:
    return _ACTION_GROUPS.get(action, action)


@dataclass(frozen=True, slots=True)
class RolePermissions:
    """What one role may do: (action group, type group) pairs, for which purposes, how widely.

    `reach` is where the role sees patients: `care` (its institution's patients and those it has a
    care relationship or consent with), `region` (every patient of its region's organisations), or
    `none` (no patient data). `sensitive` says whether labelled data (HIV, mental health, genetic ...)
    is visible at all to this role.
    """

    grants: frozenset[tuple[str, str]]
    purposes: frozenset[PurposeOfUse]
    reach: str
    sensitive: bool = False
    write_types: frozenset[str] | None = None  # restricts `write` on clinical data to these types


def _g(*pairs: str) -> frozenset[tuple[str, str]]:
    return frozenset(tuple(p.split(":")) for p in pairs)  # type: ignore[misc]


_NURSE_WRITES = frozenset(
    {"Observation", "MedicationAdministration", "Task", "Communication", "CarePlan", "Flag", "Encounter"}
)
_PHARMACIST_WRITES = frozenset(
    {"DetectedIssue", "Task", "Communication", "MedicationDispense", "MedicationRequest"}
)

ROLES: dict[str, RolePermissions] = {
    # institution systems and HealthBrain's own services
    "system": RolePermissions(
        _g(
            *(
                f"{a}:{g}"
                for a in ("read", "count", "write", "delete")
                for g in ("directory", "clinical", "financial", "platform")
            )
        ),
        frozenset(P),
        "all",
        sensitive=True,
    ),
    "institution-system": RolePermissions(
        _g(
            "read:directory",
            "read:clinical",
            "write:clinical",
            "read:financial",
            "write:financial",
            "count:clinical",
            "write:directory",
        ),
        frozenset({P.TREATMENT, P.OPERATIONS, P.INSURANCE}),
        "care",
        sensitive=True,
    ),
    # people at an institution
    "clinician": RolePermissions(
        _g("read:directory", "read:clinical", "write:clinical", "count:clinical"),
        frozenset({P.TREATMENT, P.EMERGENCY}),
        "care",
        sensitive=True,
    ),
    "nurse": RolePermissions(
        _g("read:directory", "read:clinical", "write:clinical", "count:clinical"),
        frozenset({P.TREATMENT, P.EMERGENCY}),
        "care",
        write_types=_NURSE_WRITES,
    ),
    "pharmacist": RolePermissions(
        _g("read:directory", "read:clinical", "write:clinical", "count:clinical"),
        frozenset({P.TREATMENT}),
        "care",
        sensitive=True,
        write_types=_PHARMACIST_WRITES,
    ),
    "institution-admin": RolePermissions(
        _g("read:directory", "write:directory", "delete:directory", "count:clinical"),
        frozenset({P.OPERATIONS}),
        "care",
    ),
    # regional bodies: aggregates by default, identified data only for the purposes listed
    "regional-officer": RolePermissions(
        _g("read:directory", "count:clinical", "count:financial"),
        frozenset({P.OPERATIONS, P.QUALITY}),
        "region",
    ),
    "provincial-supervisor": RolePermissions(
        _g("read:directory", "count:clinical", "count:financial"),
        frozenset({P.OPERATIONS, P.QUALITY}),
        "region",
    ),
    "cdc-officer": RolePermissions(
        _g("read:directory", "read:clinical", "count:clinical", "write:clinical"),
        frozenset({P.PUBLIC_HEALTH}),
        "region",
        sensitive=True,
        write_types=frozenset({"Flag", "DetectedIssue", "Task", "Communication", "MeasureReport"}),
    ),
    "insurance-auditor": RolePermissions(
        _g("read:directory", "read:financial", "count:financial", "read:clinical", "count:clinical"),
        frozenset({P.INSURANCE}),
        "claims",
    ),
    "data-scientist": RolePermissions(
        _g("read:directory", "count:clinical"),
        frozenset({P.RESEARCH, P.MODEL_TRAINING, P.QUALITY}),
        "region",
    ),
    # the patient index's data steward (主索引管理员): reviews possible matches, merges and unmerges
    "index-steward": RolePermissions(
        _g("read:directory", "read:clinical", "count:clinical"),
        frozenset({P.OPERATIONS}),
        "region",
    ),
    "security-auditor": RolePermissions(
        _g("read:directory", "read:platform"),
        frozenset({P.OPERATIONS}),
        "none",
    ),
    "platform-admin": RolePermissions(
        _g("read:directory", "write:directory", "delete:directory", "read:platform", "write:platform"),
        frozenset({P.OPERATIONS}),
        "none",
    ),
}

PERSON_ROLES = frozenset(ROLES) - {"system", "institution-system"}


# ---- SMART scopes --------------------------------------------------------------------------------
_SCOPE_RE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|[cruds]+)$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}


@dataclass(frozen=True, slots=True)
class Scope:
    """One SMART scope: `context/Type.permissions` (v1 read/write/* or v2 letters c r u d s)."""

    context: str
    resource_type: str
    permissions: str

    def allows(self, action: str, resource_type: str) -> bool:
        if self.resource_type not in ("*", resource_type):
            return False
        group = action_group(action)
        if action in ("read", "vread"):
            needed = "r"
        elif group in ("read", "count"):
            needed = "s"
        elif group == "write":
            needed = "c" if action == "create" else "u"
        else:
            needed = "d"
        return needed in self.permissions


def parse_scopes(text: str | list[str] | frozenset[str]) -> list[Scope]:
    """Parse scopes; other OAuth scopes (openid, offline_access, launch ...) are ignored here."""
    items = text.split() if isinstance(text, str) else list(text)
    out = []
    for item in items:
        if "/" not in item:
            continue
        m = _SCOPE_RE.match(item)
        if m is None:
            raise InvalidInput("a scope is malformed", code="security.invalid_scope")
        context, rt, perms = m.groups()
        out.append(Scope(context, rt, _V1.get(perms, perms)))
    return out


def require_role(ctx: RequestContext, roles: frozenset[str] | set[str]) -> None:
    """Raise Forbidden unless the context is HealthBrain itself or holds one of `roles`."""
    if not ctx.is_system and not (ctx.principal.roles & roles):
        raise Forbidden("this action needs the role " + " or ".join(sorted(roles)), code="security.forbidden")
