"""Conditions the overview counts for its "top conditions" chart (ICD-10), with names for the catalogs.

Counts are asked per code (`Condition?code=...&_summary=count`), so roles that may see only aggregates
get the same chart as clinicians, each within the reach the policy gives them.
"""

from __future__ import annotations

from healthbrain.api.ui.text import N_

__all__ = ["ICD10", "WATCHED_CONDITIONS"]

ICD10 = "http://hl7.org/fhir/sid/icd-10"

WATCHED_CONDITIONS: tuple[tuple[str, str], ...] = (
    ("I10", N_("Essential hypertension")),
    ("E11.9", N_("Type 2 diabetes")),
    ("J06.9", N_("Acute upper respiratory infection")),
    ("J20.9", N_("Acute bronchitis")),
    ("J11.1", N_("Influenza")),
    ("K29.7", N_("Gastritis")),
    ("I25.1", N_("Atherosclerotic heart disease")),
    ("J44.9", N_("Chronic obstructive pulmonary disease")),
    ("I63.9", N_("Cerebral infarction")),
    ("J18.9", N_("Pneumonia")),
    ("A09", N_("Infectious diarrhoea")),
    ("B08.4", N_("Hand, foot and mouth disease")),
    ("E78.5", N_("Hyperlipidaemia")),
    ("N39.0", N_("Urinary tract infection")),
)
