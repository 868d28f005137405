"""The cockpit's pages and who may use them, derived from the platform's own role definitions.

A menu entry is shown only to roles that the API behind the page admits (the same role sets the
routes check), so a user never sees a door that would only open onto "forbidden". The API still
decides on every call: a page reached by URL without the role answers 403 with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass

from healthbrain.api.mpi_routes import STEWARDS
from healthbrain.api.quality_routes import SCORE_ROLES
from healthbrain.api.surveillance_routes import READ_ROLES
from healthbrain.api.ui.text import N_
from healthbrain.security import ROLES
from healthbrain.security.approvals import APPROVAL_LEVELS, OVERSEER_ROLES, REQUESTER_ROLES
from healthbrain.security.audit_events import AUDITOR_ROLES

__all__ = ["BY_KEY", "PAGES", "ROLE_NAMES", "Page", "may_use", "menu"]

_MACHINES = frozenset({"system", "institution-system"})


def _clinical_readers(reach: str | None = None) -> frozenset[str]:
    return (
        frozenset(
            name
            for name, perms in ROLES.items()
            if ("read", "clinical") in perms.grants and (reach is None or perms.reach == reach)
        )
        - _MACHINES
    )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the cockpit: its key, path, menu title and the roles that may open it (None: all)."""

    key: str
    path: str
    title: str
    roles: frozenset[str] | None


PAGES: tuple[Page, ...] = (
    Page("overview", "/ui/", N_("Region overview"), None),
    Page("patients", "/ui/patients", N_("Patient record"), _clinical_readers()),
    # the alerts of one's own patients: roles that see patients through a care relationship
    Page("alerts", "/ui/alerts", N_("Alerts inbox"), _clinical_readers("care")),
    Page("surveillance", "/ui/surveillance", N_("Surveillance"), frozenset({*READ_ROLES, "platform-admin"})),
    Page("datahub", "/ui/datahub", N_("Data hub"), (SCORE_ROLES | STEWARDS | {"platform-admin"}) - _MACHINES),
    Page(
        "audit",
        "/ui/audit",
        N_("Audit and security"),
        AUDITOR_ROLES | OVERSEER_ROLES | REQUESTER_ROLES | {role for role, _ in APPROVAL_LEVELS.values()},
    ),
)
BY_KEY = {p.key: p for p in PAGES}


def may_use(page: str, roles: frozenset[str]) -> bool:
    """Whether a user with `roles` sees the page in the menu (and may open it)."""
    allowed = BY_KEY[page].roles
    return allowed is None or bool(roles & allowed)


def menu(roles: frozenset[str]) -> list[Page]:
    """The pages of the menu for these roles, in order."""
    return [p for p in PAGES if may_use(p.key, roles)]


ROLE_NAMES: dict[str, str] = {
    "clinician": N_("Clinician"),
    "nurse": N_("Nurse"),
    "pharmacist": N_("Pharmacist"),
    "institution-admin": N_("Institution administrator"),
    "regional-officer": N_("Regional health officer"),
    "provincial-supervisor": N_("Provincial supervisor"),
    "cdc-officer": N_("CDC officer"),
    "insurance-auditor": N_("Insurance auditor"),
    "data-scientist": N_("Data scientist"),
    "index-steward": N_("Patient index steward"),
    "security-auditor": N_("Security auditor"),
    "platform-admin": N_("Platform operator"),
}
