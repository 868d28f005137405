"""What a de-identified export releases: types, quasi-identifiers, k, suppression, date shift, scope."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from healthbrain.core.errors import InvalidInput, Issue
from healthbrain.security.deid_kanon import QUASI_IDENTIFIERS

__all__ = ["EXPORTABLE_TYPES", "ExportSpec", "parse_spec"]

# Clinical types a de-identified export may hold, and the search parameter naming their patient.
EXPORTABLE_TYPES: dict[str, str] = {
    "Encounter": "patient",
    "Condition": "patient",
    "Observation": "patient",
    "MedicationRequest": "patient",
    "MedicationAdministration": "patient",
    "MedicationDispense": "patient",
    "DiagnosticReport": "patient",
    "Procedure": "patient",
    "Immunization": "patient",
    "AllergyIntolerance": "patient",
    "CarePlan": "patient",
    "Claim": "patient",
}
DEFAULT_TYPES = ("Encounter", "Condition", "Observation", "MedicationRequest", "DiagnosticReport")
_ORG_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """A data-use request's export, fixed when it is submitted so that approvers approve exactly it.

    `scope` lists organisations whose subtrees' patients (by managing organisation) may be included
    (empty: the requester's province); `pseudonym_domain` makes pseudonyms stable across requests that
    share it (default: the request's own id, so two projects cannot link their data sets);
    `destination` is the ISO 3166 country of a cross-border transfer.
    """

    resource_types: tuple[str, ...] = DEFAULT_TYPES
    quasi_identifiers: tuple[str, ...] = ("age", "gender", "region")
    k: int = 5
    max_suppression: float = 0.05
    date_shift_days: int = 180
    scope: tuple[str, ...] = ()
    pseudonym_domain: str | None = None
    include_sensitive: bool = False
    destination: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "resource_types": list(self.resource_types),
            "quasi_identifiers": list(self.quasi_identifiers),
            "k": self.k,
            "max_suppression": self.max_suppression,
            "date_shift_days": self.date_shift_days,
            "scope": list(self.scope),
            "pseudonym_domain": self.pseudonym_domain,
            "include_sensitive": self.include_sensitive,
            "destination": self.destination,
        }


def _strings(
    raw: dict[str, Any], name: str, default: tuple[str, ...], problems: list[Issue]
) -> tuple[str, ...]:
    value = raw.get(name, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(Issue("error", "value", f"'{name}' must be a list of strings", f"spec.{name}"))
        return default
    return tuple(dict.fromkeys(value))


def _number(
    raw: dict[str, Any], name: str, default: float, low: float, high: float, problems: list[Issue]
) -> float:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        problems.append(
            Issue("error", "value", f"'{name}' must be a number in [{low}, {high}]", f"spec.{name}")
        )
        return default
    return float(value)


def parse_spec(raw: Any, *, cross_border: bool = False) -> ExportSpec:
    """Validate a request's export specification; every problem is reported at once (400)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput("the export specification must be an object", code="deid.invalid_spec")
    problems: list[Issue] = []
    known = set(ExportSpec.__dataclass_fields__)
    problems += [
        Issue("error", "value", f"'{k}' is not a specification field", f"spec.{k}")
        for k in raw
        if k not in known
    ]
    types = _strings(raw, "resource_types", DEFAULT_TYPES, problems)
    problems += [
        Issue("error", "value", f"'{t}' cannot be exported de-identified", "spec.resource_types")
        for t in types
        if t not in EXPORTABLE_TYPES
    ]
    quasi = _strings(raw, "quasi_identifiers", ("age", "gender", "region"), problems)
    problems += [
        Issue("error", "value", f"'{q}' is not a known quasi-identifier", "spec.quasi_identifiers")
        for q in quasi
        if q not in QUASI_IDENTIFIERS
    ]
    k = _number(raw, "k", 5, 2, 1000, problems)
    if k != int(k):
        problems.append(Issue("error", "value", "'k' must be an integer", "spec.k"))
    suppression = _number(raw, "max_suppression", 0.05, 0.0, 0.5, problems)
    shift = _number(raw, "date_shift_days", 180, 0, 3650, problems)
    scope = _strings(raw, "scope", (), problems)
    problems += [
        Issue("error", "value", "an organisation id is malformed", "spec.scope")
        for s in scope
        if not _ORG_RE.match(s)
    ]
    domain, sensitive, destination = _options(raw, cross_border, problems)
    if problems:
        raise InvalidInput(problems[0].diagnostics, issues=problems, code="deid.invalid_spec")
    return ExportSpec(
        resource_types=types,
        quasi_identifiers=quasi,
        k=int(k),
        max_suppression=suppression,
        date_shift_days=int(shift),
        scope=scope,
        pseudonym_domain=domain,
        include_sensitive=sensitive,
        destination=destination,
    )


def _options(
    raw: dict[str, Any], cross_border: bool, problems: list[Issue]
) -> tuple[str | None, bool, str | None]:
    """The pseudonym domain, the sensitive-data flag and a cross-border destination."""
    domain = raw.get("pseudonym_domain")
    if domain is not None and (not isinstance(domain, str) or not 1 <= len(domain) <= 64):
        problems.append(
            Issue("error", "value", "'pseudonym_domain' must be 1-64 characters", "spec.pseudonym_domain")
        )
    sensitive = raw.get("include_sensitive", False)
    if not isinstance(sensitive, bool):
        problems.append(
            Issue("error", "value", "'include_sensitive' must be true or false", "spec.include_sensitive")
        )
    destination = raw.get("destination")
    if cross_border and (not isinstance(destination, str) or not _COUNTRY_RE.match(destination)):
        msg = "a cross-border request names its destination country (ISO 3166 alpha-2)"
        problems.append(Issue("error", "required", msg, "spec.destination"))
    return (
        domain if isinstance(domain, str) else None,
        sensitive is True,
        destination if cross_border and isinstance(destination, str) else None,
    )
