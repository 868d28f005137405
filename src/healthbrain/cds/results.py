"""New Observations → critical values, delta checks, tracked weight/eGFR and early warning scores."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from healthbrain.cds import fhir_out
from healthbrain.cds.alerts import AlertDraft, AlertService
from healthbrain.cds.context import ClinicalContext, Routing, age_in_days
from healthbrain.cds.critical import LabEvaluation, LabResult, evaluate_lab
from healthbrain.cds.delta import DeltaFinding, evaluate_delta
from healthbrain.cds.escalation import cancel_for_source
from healthbrain.cds.ews import ScoreResult, required_parameters, score_vitals
from healthbrain.cds.kb import KnowledgeBase
from healthbrain.cds.messages import N_, label, localized, number
from healthbrain.cds.settings import CdsSettings
from healthbrain.cds.store import CdsStore
from healthbrain.cds.units import convert, normalise_unit
from healthbrain.cds.vitals import assemble_vital_set, read_vitals
from healthbrain.core.i18n import LANGUAGES, translations
from healthbrain.fhir.events import ChangeEvent
from healthbrain.fhir.resources import parse_instant

__all__ = ["ResultsHandler"]

log = logging.getLogger("healthbrain.cds.results")
LOINC = "http://loinc.org"
EVALUATED = frozenset({"preliminary", "final", "amended", "corrected"})
RETRACTED = frozenset({"entered-in-error", "cancelled"})
EGFR_LOINC = frozenset(
    {"33914-3", "62238-1", "98979-8", "48642-3", "48643-1", "50044-7", "88293-6", "88294-4"}
)
WEIGHT_LOINC = frozenset({"29463-7", "3141-9"})
WEIGHT_UNITS = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237}
CRITICAL_TITLE = N_(
    "Critical value: %(analyte)s %(value)s %(unit)s, %(direction)s (critical limit %(limit)s %(unit)s)"
)
DELTA_TITLE = N_("%(message)s: %(before)s → %(value)s %(unit)s")
EWS_TITLE = N_("Early warning: %(score)s %(total)s (%(level)s) — %(response)s")
OPTIONAL_PARAMS = ("oxygen_flow", "fio2", "capillary_refill", "gcs")
AUDIT_ANALYTES = frozenset({"creatinine"})  # eGFR for renal dose checks


def _effective(resource: Mapping[str, Any]) -> float | None:
    for value in (
        resource.get("effectiveDateTime"),
        (resource.get("effectivePeriod") or {}).get("start"),
        resource.get("effectiveInstant"),
        resource.get("issued"),
    ):
        if isinstance(value, str) and "T" in value:
            try:
                return parse_instant(value)
            except ValueError:
                continue
    return None


def _codes(resource: Mapping[str, Any]) -> list[str]:
    return [
        str(c.get("code"))
        for c in (resource.get("code") or {}).get("coding") or []
        if c.get("system") == LOINC
    ]


class ResultsHandler:
    """The Observation subscriber: idempotent per (id, version) through the alert keys and result rows."""

    def __init__(
        self,
        store: CdsStore,
        context: ClinicalContext,
        alerts: AlertService,
        knowledge: Callable[[], KnowledgeBase],
        settings: CdsSettings,
    ) -> None:
        self.store = store
        self.context = context
        self.alerts = alerts
        self.knowledge = knowledge
        self.settings = settings

    def handle(self, event: ChangeEvent, resource: dict[str, Any] | None) -> None:
        """Evaluate one committed Observation version (the dispatcher retries when this raises)."""
        if resource is None:
            cancel_for_source(self.alerts, f"Observation/{event.resource_id}", "deleted")
            return
        status = str(resource.get("status") or "")
        if status in RETRACTED:
            cancel_for_source(self.alerts, f"Observation/{event.resource_id}", status)
            return
        patient = (resource.get("subject") or {}).get("reference")
        if status not in EVALUATED or not isinstance(patient, str) or not patient.startswith("Patient/"):
            return
        at = _effective(resource) or event.occurred_at
        source = f"Observation/{event.resource_id}/_history/{event.version_id}"
        if event.version_id > 1:  # an amended or corrected result supersedes what its earlier versions raised
            cancel_for_source(self.alerts, f"Observation/{event.resource_id}", "superseded", keep=source)
        kb = self.knowledge()
        codes = _codes(resource)
        self._track(event, resource, codes, patient, at)
        readings = read_vitals(kb.ews, resource)
        if readings:
            self._vitals(kb, event, resource, readings, patient, at, source)
        if any(c in kb.critical.by_loinc for c in codes):
            self._lab(kb, event, resource, codes, patient, at, source)

    # ---- tracked values -------------------------------------------------------------------------
    def _track(
        self, event: ChangeEvent, resource: Mapping[str, Any], codes: list[str], patient: str, at: float
    ) -> None:
        qty = resource.get("valueQuantity") or {}
        if not isinstance(qty.get("value"), int | float):
            return
        unit = str(qty.get("code") or qty.get("unit") or "")
        if set(codes) & WEIGHT_LOINC:
            kg = convert(float(qty["value"]), unit, {normalise_unit(k): v for k, v in WEIGHT_UNITS.items()})
            if kg is not None and 0.3 <= kg <= 400:
                self.store.record_lab(event.resource_id, event.version_id, patient, "body_weight", kg, at)
        elif set(codes) & EGFR_LOINC and 0 < float(qty["value"]) < 250:
            self.store.record_lab(
                event.resource_id, event.version_id, patient, "egfr", float(qty["value"]), at
            )

    # ---- laboratory results ---------------------------------------------------------------------
    def _lab(
        self,
        kb: KnowledgeBase,
        event: ChangeEvent,
        resource: Mapping[str, Any],
        codes: list[str],
        patient: str,
        at: float,
        source: str,
    ) -> None:
        qty = resource.get("valueQuantity") or {}
        value = float(qty["value"]) if isinstance(qty.get("value"), int | float) else None
        unit = str(qty.get("code") or qty.get("unit") or "")
        born, sex = self.context.demographics(patient)
        result = evaluate_lab(kb.critical, LabResult(tuple(codes), value, unit, age_in_days(born, at), sex))
        if result.analyte is None:
            return
        if result.status == "data-quality":
            self.store.record_dq(source, str(result.problem), patient, result.analyte.id, unit)
            return
        assert result.value is not None
        analyte = result.analyte.id
        window = max((r.window_seconds for r in kb.delta if r.analyte == analyte), default=0.0)
        history = self.store.lab_history(patient, analyte, at - window, event.resource_id) if window else []
        if window or analyte in AUDIT_ANALYTES:  # only what delta checks and the prescription audit use
            self.store.record_lab(event.resource_id, event.version_id, patient, analyte, result.value, at)
        routing: Routing | None = None
        if result.is_critical:
            routing = self.context.routing(resource)
            self.alerts.raise_alert(
                self._critical_draft(kb, result, patient, source, routing, codes, value, unit)
            )
        for finding in evaluate_delta(kb.delta, analyte, result.value, at, history):
            routing = routing or self.context.routing(resource)
            self.alerts.raise_alert(self._delta_draft(kb, finding, result, patient, source, routing))

    def _critical_draft(
        self,
        kb: KnowledgeBase,
        result: LabEvaluation,
        patient: str,
        source: str,
        routing: Routing,
        codes: list[str],
        value: float | None,
        unit: str,
    ) -> AlertDraft:
        assert result.analyte is not None and result.limit is not None and result.value is not None
        analyte, limit = result.analyte, result.limit
        bound = limit.high if result.status == "critical-high" else limit.low
        title = {}
        for lang in LANGUAGES:
            params = {
                "analyte": localized(analyte.display, lang),
                "value": number(round(result.value, 3)),
                "unit": analyte.unit,
                "direction": label(result.status, lang),
                "limit": number(bound),
            }
            title[lang] = translations(lang).gettext(CRITICAL_TITLE) % params
        data = {
            "analyte": analyte.id,
            "value": round(result.value, 4),
            "unit": analyte.unit,
            "limit": bound,
            "direction": result.status,
            "reported": {"value": value, "unit": unit},
            "reference": kb.critical.sources.get(limit.source, limit.source),
            "knowledge_version": kb.version_of("critical_values"),
        }
        loinc = next((c for c in codes if c in analyte.loinc), analyte.loinc[0])
        return AlertDraft(
            key=f"{source}#critical:{analyte.id}",
            kind="critical",
            priority="critical",
            patient=patient,
            source=source,
            routing=routing,
            title=title,
            data=data,
            codings=({"system": LOINC, "code": loinc},),
        )

    def _delta_draft(
        self,
        kb: KnowledgeBase,
        finding: DeltaFinding,
        result: LabEvaluation,
        patient: str,
        source: str,
        routing: Routing,
    ) -> AlertDraft:
        assert result.analyte is not None
        title = {
            lang: translations(lang).gettext(DELTA_TITLE)
            % {
                "message": localized(finding.rule.message, lang),
                "before": number(round(finding.baseline, 3)),
                "value": number(round(finding.value, 3)),
                "unit": result.analyte.unit,
            }
            for lang in LANGUAGES
        }
        data = {
            "rule": finding.rule.id,
            "analyte": result.analyte.id,
            "baseline": finding.baseline,
            "baseline_at": finding.baseline_at,
            "value": finding.value,
            "unit": result.analyte.unit,
            "relative_change": finding.relative_change,
            "severity": finding.rule.severity,
            "knowledge_version": kb.version_of("delta_checks"),
        }
        return AlertDraft(
            key=f"{source}#delta:{finding.rule.id}",
            kind="delta",
            priority="urgent",
            patient=patient,
            source=source,
            routing=routing,
            title=title,
            data=data,
        )

    # ---- vital signs ----------------------------------------------------------------------------
    def _vitals(
        self,
        kb: KnowledgeBase,
        event: ChangeEvent,
        resource: Mapping[str, Any],
        readings: list[Any],
        patient: str,
        at: float,
        source: str,
    ) -> None:
        for bad in (r for r in readings if r.problem):
            self.store.record_dq(source, f"{bad.param}:{bad.problem}"[:32], patient, bad.param, bad.unit)
        good = [(r.param, r.value, r.code) for r in readings if r.problem is None]
        if not good:
            return
        encounter = (resource.get("encounter") or {}).get("reference")
        obs = f"Observation/{event.resource_id}"
        self.store.record_vitals(event.resource_id, event.version_id, patient, encounter, good, at)
        born, _ = self.context.demographics(patient)
        age = age_in_days(born, at)
        if age is None:
            return
        rows = self.store.vitals_near(patient, at, self.settings.vital_set_window_seconds)
        vs, used = assemble_vital_set(rows, at, self.context.spo2_scale(patient))
        scores = score_vitals(
            kb.ews,
            vs,
            age / 365.25,
            pregnant=self.context.is_pregnant(patient),
            assume_air=self.settings.assume_room_air,
        )
        for score in scores:
            basis = sorted(
                {used[p] for p in (*required_parameters(score.score), *OPTIONAL_PARAMS) if p in used}
            )
            if obs not in {b.split("/_history/")[0] for b in basis}:
                continue  # this reading is not part of the set: the score was made when the set was complete
            self._score(kb, score, patient, encounter, at, basis, resource)

    def _score(
        self,
        kb: KnowledgeBase,
        score: ScoreResult,
        patient: str,
        encounter: str | None,
        at: float,
        basis: list[str],
        resource: Mapping[str, Any],
    ) -> None:
        digest = hashlib.sha256("|".join(basis).encode()).hexdigest()[:20]
        rid = f"cds-{score.score}-{digest}"
        title = {}
        for lang in LANGUAGES:
            params = {
                "score": label(score.score, lang),
                "total": str(score.total),
                "level": label(score.level, lang),
                "response": localized(score.response, lang),
            }
            title[lang] = translations(lang).gettext(EWS_TITLE) % params
        assessment = fhir_out.risk_assessment(rid, score, patient, encounter, at, basis, title["zh_CN"])
        if score.priority is None:
            self.alerts.repo.update(self.alerts.ctx, "RiskAssessment", rid, assessment)
            return
        data = {
            "score": score.score,
            "total": score.total,
            "level": score.level,
            "components": dict(score.components),
            "assumptions": list(score.assumptions),
            "risk_assessment": f"RiskAssessment/{rid}",
            "knowledge_version": kb.version_of("early_warning"),
        }
        draft = AlertDraft(
            key=f"RiskAssessment/{rid}#{score.score}",
            kind="ews",
            priority=score.priority,
            patient=patient,
            source=f"RiskAssessment/{rid}/_history/1",
            routing=self.context.routing(resource),
            title=title,
            data=data,
            extra_resources=(assessment,),
        )
        self.alerts.raise_alert(draft)
