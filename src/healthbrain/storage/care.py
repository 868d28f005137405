"""Care links: which resource types tie a patient to an organisation until when, and their rows.

A care link says "patient P was seen at (or referred to) organisation U until `high`". It is derived
from the search index rows that a write computes anyway, and stored in `fhir_care_link` in the same
transaction, so that the access policy asks "does P have a link to one of my units ending after the
cutoff" with one probe of the (patient, high, unit) index, instead of walking every encounter of the
patient and probing its provider and date rows.

`CARE_LINK_SOURCES` is the one declaration of what makes a link; the access policy's `CareLink`
criterion (`storage.query`) means "a link of any of these sources". It lives here rather than with
the policy because the store derives the rows on every write and storage imports nothing above it.
"""

from __future__ import annotations

from dataclasses import dataclass

from healthbrain.storage.rows import IndexRows

__all__ = [
    "CARE_LINK_SOURCES",
    "PATIENT_TYPE",
    "UNIT_TYPE",
    "CareLinkRow",
    "CareLinkSource",
    "care_link_rows",
    "source_of",
]

PATIENT_TYPE = "Patient"
UNIT_TYPE = "Organization"

# (source_type, source_id, patient_id, unit, high)
CareLinkRow = tuple[str, str, str, str, float]


@dataclass(frozen=True, slots=True)
class CareLinkSource:
    """A resource type whose current versions link patients to organisations.

    Every Patient referenced through `patient_param` is linked to every Organization referenced
    through `unit_param`, until the latest end (`high`) of the `date_param` ranges. A version
    without a patient, an organisation or a date makes no link.
    """

    res_type: str
    patient_param: str
    unit_param: str
    date_param: str


CARE_LINK_SOURCES: tuple[CareLinkSource, ...] = (
    # an encounter at the organisation that provided it, until the period's end (open: no end)
    CareLinkSource("Encounter", "patient", "service-provider", "date"),
    # a referral to the organisation asked to perform it, until the day it was authored
    CareLinkSource("ServiceRequest", "patient", "performer", "authored"),
)

_BY_TYPE = {s.res_type: s for s in CARE_LINK_SOURCES}


def source_of(res_type: str) -> CareLinkSource | None:
    """The declaration for `res_type`, or None when its resources make no care links."""
    return _BY_TYPE.get(res_type)


def care_link_rows(source: CareLinkSource, res_id: str, index: IndexRows) -> list[CareLinkRow]:
    """The care links of one version of a `source` resource, from its search index rows.

    `high` is the largest end of the date parameter's ranges: a link is within a care window when
    any of its dates ends after the window's start, as the index's `high >= cutoff` check asks.
    """
    patients: set[str] = set()
    units: set[str] = set()
    for param, target_type, target_id, _url in index.references:
        if target_id is None:
            continue
        if param == source.patient_param and target_type == PATIENT_TYPE:
            patients.add(target_id)
        if param == source.unit_param and target_type == UNIT_TYPE:
            units.add(target_id)
    highs = [high for param, _low, high in index.dates if param == source.date_param]
    if not patients or not units or not highs:
        return []
    high = max(highs)
    return [(source.res_type, res_id, p, u, high) for p in sorted(patients) for u in sorted(units)]
