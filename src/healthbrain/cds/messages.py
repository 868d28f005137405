"""User-facing texts of findings, alerts and cards, in the clinician's language (gettext catalogs)."""

from __future__ import annotations

from collections.abc import Mapping

from healthbrain.cds.findings import Finding
from healthbrain.core.i18n import translations

__all__ = ["advice_text", "finding_text", "label", "localized", "number"]


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for marking messages
    return message


# Message templates by finding code (msgids in English; zh_CN in the catalog).
TEMPLATES: dict[str, str] = {
    "interaction": N_("Interaction with %(other)s"),
    "duplication.same_ingredient": N_("Same ingredient (%(ingredient)s) already ordered: %(other)s"),
    "duplication.same_class": N_("Therapeutic duplication with %(other)s"),
    "allergy.same_drug": N_("Recorded allergy to %(allergen)s"),
    "allergy.same_class": N_("Recorded allergy to %(allergen)s (same drug class)"),
    "allergy.cross": N_("Possible cross-sensitivity with the recorded allergy to %(allergen)s"),
    "population.pregnancy": N_("Not recommended in pregnancy"),
    "population.lactation": N_("Not recommended during breastfeeding"),
    "population.paediatric": N_("Not recommended at this patient's age"),
    "population.elderly": N_("Potentially inappropriate in older adults"),
    "route.not_allowed": N_("Route %(route)s is not appropriate for this drug (allowed: %(allowed)s)"),
    "frequency.implausible": N_("Implausible frequency: %(per_day)s times a day"),
    "frequency.weekly_drug": N_("A once-weekly drug ordered %(per_week)s times a week"),
    "frequency.too_often": N_("Given %(per_day)s times a day; at most %(limit)s"),
    "dose.single_high": N_("Single dose %(dose)s %(unit)s exceeds the maximum of %(limit)s %(unit)s"),
    "dose.daily_high": N_("Daily dose %(dose)s %(unit)s exceeds the maximum of %(limit)s %(unit)s"),
    "dose.daily_low": N_("Daily dose %(dose)s %(unit)s is below the usual minimum of %(limit)s %(unit)s"),
    "dose.weight_missing": N_("No body weight recorded: the weight-based dose could not be checked"),
    "dose.unit_not_comparable": N_("Dose unit %(unit)s cannot be compared with %(expected)s"),
    "paediatric.not_established": N_("Dosing at this age is not established"),
    "renal.contraindicated": N_("Contraindicated at eGFR %(egfr)s"),
    "renal.dose_high": N_(
        "Daily dose %(daily)s %(unit)s is too high for eGFR %(egfr)s (maximum %(limit)s %(unit)s)"
    ),
    "renal.advice": N_("Renal function (eGFR %(egfr)s) calls for an adjustment"),
    "supply.too_long": N_("Supply of %(days)s days exceeds %(limit)s days"),
    "order.no_dose": N_("The order does not state a dose"),
    "order.no_frequency": N_("The order does not state how often"),
    "drug.unknown": N_("Drug not in the knowledge base: no automated check was made"),
}

LABEL_CONTEXT = "cds"  # short labels are scoped (msgctxt) so they cannot collide with other catalogs' entries
LABELS: dict[str, str] = {
    "contraindicated": N_("contraindicated"),
    "major": N_("major"),
    "moderate": N_("moderate"),
    "minor": N_("minor"),
    "info": N_("information"),
    "high": N_("high"),
    "medium": N_("medium"),
    "low-medium": N_("low-medium"),
    "low": N_("low"),
    "critical-low": N_("critically low"),
    "critical-high": N_("critically high"),
    "news2": N_("NEWS2"),
    "qsofa": N_("qSOFA"),
    "mews": N_("MEWS"),
    "pews": N_("PEWS"),
}


def number(value: object) -> str:
    """A compact number (no trailing zeros), or the value as text."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def label(key: str, language: str) -> str:
    """A translated label (severity, level, score name); unknown keys are returned as given."""
    text = LABELS.get(key)
    return translations(language).pgettext(LABEL_CONTEXT, text) if text else key


def localized(texts: Mapping[str, str], language: str) -> str:
    """Pick the language's text from a knowledge-base {language: text} mapping."""
    if not texts:
        return ""
    return texts.get(language) or texts.get("zh_CN") or next(iter(texts.values()))


def finding_text(finding: Finding, language: str) -> str:
    """The one-line statement of a finding."""
    template = TEMPLATES.get(finding.code, finding.code)
    params = {k: number(v) for k, v in finding.params.items()}
    return (
        translations(language).gettext(template) % params
        if params
        else translations(language).gettext(template)
    )


def advice_text(finding: Finding, language: str) -> str:
    """The knowledge base's advice for a finding, in the language (may be empty)."""
    return localized(finding.advice, language)
