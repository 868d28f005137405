"""The clinical context of a result or an order, read through the repository: who the patient is, who
ordered and where they are (for routing alerts), and the facts the prescription audit needs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from healthbrain.cds.allergy import read_allergy
from healthbrain.cds.findings import AllergyRecord, PatientFacts
from healthbrain.cds.kb import KnowledgeBase
from healthbrain.cds.prescription import Prescription, parse_medication_request
from healthbrain.cds.renal import egfr_ckd_epi_2021
from healthbrain.cds.store import CdsStore
from healthbrain.core.context import PurposeOfUse, RequestContext, system_context
from healthbrain.core.errors import HealthBrainError
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.resources import split_reference

__all__ = ["ClinicalContext", "Routing", "age_in_days"]

PREGNANCY_ICD10 = ("O", "Z33", "Z34", "Z35", "Z36")
LACTATION_ICD10 = ("Z39.1",)
PREGNANT_SNOMED = "77386006"
PREGNANCY_STATUS_LOINC = "82810-3"
BREASTFEEDING_LOINC = "63895-7"
DEPARTMENT_SYSTEM = "https://healthbrain.dev/fhir/CodeSystem/department"
SCALE2_SYSTEM = "https://healthbrain.dev/fhir/CodeSystem/cds-alert"
SCALE2_CODE = "spo2-scale-2"


@dataclass(frozen=True, slots=True)
class Routing:
    """Where an alert goes: the ordering clinician, the ward, the organisation and department."""

    encounter: str | None = None
    organization: str | None = None
    department: str | None = None
    ward: str | None = None
    ordering: str | None = None


def age_in_days(birth_date: date | None, at: float) -> int | None:
    """Whole days between birth and `at` (epoch seconds), or None when the birth date is unknown."""
    if birth_date is None:
        return None
    return (datetime.fromtimestamp(at, UTC).date() - birth_date).days


def _birth_date(text: Any) -> date | None:
    if not isinstance(text, str):
        return None
    try:
        if len(text) == 4:
            return date(int(text), 7, 1)
        if len(text) == 7:
            return date(int(text[:4]), int(text[5:7]), 15)
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


class _TtlCache:
    """A small time-bounded cache (demographics and encounters change rarely)."""

    def __init__(self, seconds: float, size: int = 20000) -> None:
        self.seconds, self.size = seconds, size
        self._data: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and now - hit[0] < self.seconds:
                return hit[1]
        value = load()
        with self._lock:
            if len(self._data) >= self.size:
                self._data.clear()
            self._data[key] = (now, value)
        return value


class ClinicalContext:
    """Reads what CDS needs about a patient (as the system, for treatment: audited like any read)."""

    def __init__(
        self,
        repo: FhirRepository,
        store: CdsStore,
        kb: Callable[[], KnowledgeBase],
        cache_seconds: float = 60.0,
    ) -> None:
        self.repo = repo
        self.store = store
        self.kb = kb
        self.ctx: RequestContext = system_context(PurposeOfUse.TREATMENT)
        self._cache = _TtlCache(cache_seconds)

    # ---- reads ----------------------------------------------------------------------------------
    def read(self, reference: str | None) -> dict[str, Any] | None:
        parts = split_reference(reference) if reference else None
        if parts is None:
            return None
        try:
            return self.repo.read(self.ctx, parts[0], parts[1]).resource
        except HealthBrainError:
            return None

    def _cached(self, reference: str | None) -> dict[str, Any] | None:
        if not reference:
            return None
        value = self._cache.get(reference, lambda: self.read(reference))
        return value if isinstance(value, dict) else None

    def _search(self, rt: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        try:
            return run_search(self.repo, self.ctx, rt, params).matches
        except HealthBrainError:
            return []

    def demographics(self, patient: str | None) -> tuple[date | None, str | None]:
        """(birth date, administrative gender) of a Patient reference."""
        resource = self._cached(patient)
        if resource is None:
            return None, None
        return _birth_date(resource.get("birthDate")), resource.get("gender")

    # ---- routing --------------------------------------------------------------------------------
    def routing(self, resource: Mapping[str, Any]) -> Routing:
        """Ordering clinician (ServiceRequest requester, else the encounter's attender), ward and org."""
        encounter_ref = (resource.get("encounter") or {}).get("reference")
        encounter = self._cached(encounter_ref) or {}
        ordering = None
        for based in resource.get("basedOn") or []:
            request = self.read(based.get("reference"))
            if request and (request.get("requester") or {}).get("reference"):
                ordering = request["requester"]["reference"]
                break
        if ordering is None and (resource.get("requester") or {}).get("reference"):
            ordering = resource["requester"]["reference"]
        if ordering is None:
            for participant in encounter.get("participant") or []:
                ref = (participant.get("individual") or {}).get("reference")
                if ref and ref.startswith(("Practitioner/", "PractitionerRole/")):
                    ordering = ref
                    break
        locations = [(loc.get("location") or {}).get("reference") for loc in encounter.get("location") or []]
        department = next(
            (
                c.get("code")
                for c in (encounter.get("serviceType") or {}).get("coding") or []
                if c.get("system") == DEPARTMENT_SYSTEM
            ),
            None,
        )
        organization = (encounter.get("serviceProvider") or {}).get("reference")
        if organization is None:
            organization = next(
                (
                    p["reference"]
                    for p in resource.get("performer") or []
                    if str(p.get("reference", "")).startswith("Organization/")
                ),
                None,
            )
        ward = next((loc for loc in reversed(locations) if loc), None)
        return Routing(encounter_ref, organization, department, ward, ordering)

    # ---- prescription audit facts ---------------------------------------------------------------
    def _weight(self, patient: str) -> float | None:
        latest = self.store.latest_lab(patient, ["body_weight"])
        return latest[1] if latest else None

    def _egfr(self, patient: str, age_days: int | None, sex: str | None) -> float | None:
        latest = self.store.latest_lab(patient, ["egfr", "creatinine"])
        if latest is None:
            return None
        analyte, value, _ = latest
        if analyte == "egfr":
            return value
        return None if age_days is None else egfr_ckd_epi_2021(value, age_days / 365.25, sex)

    def _pregnancy(self, patient: str, sex: str | None) -> tuple[bool, bool]:
        if sex == "male":
            return False, False
        pregnant = lactating = False
        for cond in self._search(
            "Condition", [("subject", patient), ("clinical-status", "active"), ("_count", "200")]
        ):
            for coding in (cond.get("code") or {}).get("coding") or []:
                code = str(coding.get("code") or "")
                pregnant = pregnant or (code.startswith(PREGNANCY_ICD10) and not code.startswith("O80"))
                lactating = lactating or code.startswith(LACTATION_ICD10)
        status = self._search(
            "Observation",
            [
                ("subject", patient),
                ("code", f"http://loinc.org|{PREGNANCY_STATUS_LOINC}"),
                ("_sort", "-date"),
                ("_count", "1"),
            ],
        )
        for obs in status:
            codes = {c.get("code") for c in (obs.get("valueCodeableConcept") or {}).get("coding") or []}
            pregnant = PREGNANT_SNOMED in codes
        feeding = self._search(
            "Observation",
            [
                ("subject", patient),
                ("code", f"http://loinc.org|{BREASTFEEDING_LOINC}"),
                ("_sort", "-date"),
                ("_count", "1"),
            ],
        )
        for obs in feeding:
            lactating = bool(obs.get("valueBoolean")) or lactating
        return pregnant, lactating

    def is_pregnant(self, patient: str) -> bool:
        """Pregnancy status for the early warning scores (cached: NEWS2 is not used in pregnancy)."""
        _, sex = self.demographics(patient)
        return bool(self._cache.get(f"pregnant:{patient}", lambda: self._pregnancy(patient, sex)[0]))

    def spo2_scale(self, patient: str) -> int:
        """2 when an active Flag says the patient's target saturation is 88-92 % (NEWS2 SpO2 scale 2)."""

        def load() -> int:
            flags = self._search("Flag", [("subject", patient), ("status", "active"), ("_count", "50")])
            for item in flags:
                for coding in (item.get("code") or {}).get("coding") or []:
                    if coding.get("system") == SCALE2_SYSTEM and coding.get("code") == SCALE2_CODE:
                        return 2
            return 1

        return int(self._cache.get(f"scale:{patient}", load))

    def allergies(self, patient: str) -> tuple[AllergyRecord, ...]:
        kb = self.kb().prescribing
        records = (
            read_allergy(r, kb.drugs, kb.allergy)
            for r in self._search("AllergyIntolerance", [("patient", patient), ("_count", "200")])
        )
        return tuple(r for r in records if r is not None)

    def active_orders(self, patient: str, exclude: str | None) -> tuple[Prescription, ...]:
        kb = self.kb().prescribing
        found = self._search(
            "MedicationRequest", [("subject", patient), ("status", "active"), ("_count", "200")]
        )
        return tuple(
            parse_medication_request(r, kb.drugs, kb.routes) for r in found if r.get("id") != exclude
        )

    def patient_facts(
        self,
        patient: str | None,
        at: float,
        *,
        exclude_order: str | None = None,
        extra_orders: tuple[Prescription, ...] = (),
    ) -> PatientFacts:
        """Age, sex, weight, eGFR, pregnancy/lactation, allergies and other active orders at `at`."""
        if patient is None:
            return PatientFacts(other_orders=extra_orders)
        born, sex = self.demographics(patient)
        age = age_in_days(born, at)
        pregnant, lactating = self._pregnancy(patient, sex)
        return PatientFacts(
            age_days=age,
            sex=sex,
            weight_kg=self._weight(patient),
            egfr=self._egfr(patient, age, sex),
            pregnant=pregnant,
            lactating=lactating,
            allergies=self.allergies(patient),
            other_orders=(*self.active_orders(patient, exclude_order), *extra_orders),
        )
