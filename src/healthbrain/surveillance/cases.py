"""Case recording: each Condition version with a notifiable-disease code becomes (part of) a case of
one resident, in the county of the reporting institution, on its day of onset; withdrawn reports
(entered-in-error, refuted, deleted, recoded) leave their case. Runs as an event subscriber."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from healthbrain.core.context import PurposeOfUse, system_context
from healthbrain.core.db import begin_write
from healthbrain.core.errors import HealthBrainError
from healthbrain.fhir.events import ChangeEvent
from healthbrain.fhir.repository import FhirRepository
from healthbrain.surveillance.casedef import BY_KEY, disease_of, icd10_codes
from healthbrain.surveillance.fhir_out import AREA_SYSTEM
from healthbrain.surveillance.store import Report, SurveillanceStore

log = logging.getLogger("healthbrain.surveillance")
WITHDRAWN_STATUSES = frozenset({"entered-in-error", "refuted"})
UNKNOWN_AREA = "unknown"
ResidentOf = Callable[[str], str | None]  # Patient/<id> -> resident key of the patient index


def _day(value: object) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def report_onset(condition: dict[str, Any]) -> date | None:
    """Onset day: onsetDateTime (backdated reports count on that day), else the recorded day.
    An onset after the recorded day is a data error; the recorded day is used instead."""
    onset, recorded = _day(condition.get("onsetDateTime")), _day(condition.get("recordedDate"))
    if onset is not None and recorded is not None and onset > recorded:
        return recorded
    return onset or recorded


def is_withdrawn(condition: dict[str, Any]) -> bool:
    status = condition.get("verificationStatus", {})
    codings = status.get("coding", []) if isinstance(status, dict) else []
    return any(isinstance(c, dict) and c.get("code") in WITHDRAWN_STATUSES for c in codings)


class CaseRecorder:
    """The Condition subscriber: resolves resident and county, then records the report."""

    def __init__(
        self,
        repo: FhirRepository,
        store: SurveillanceStore,
        resident_of: ResidentOf | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.store = store
        self.resident_of = resident_of
        self.clock = clock
        self.ctx = system_context(PurposeOfUse.PUBLIC_HEALTH)
        self._area: dict[str, str] = {}

    def handle(self, event: ChangeEvent, resource: dict[str, Any] | None) -> None:
        """Record one Condition change (idempotent per resource version)."""
        source = f"Condition/{event.resource_id}"
        now = self.clock()
        disease = None
        if resource is not None and event.action != "delete":
            codes = icd10_codes(resource)
            disease = next((d for d in map(disease_of, codes) if d is not None), None)
        onset = report_onset(resource) if resource is not None else None
        active = disease is not None and onset is not None and not is_withdrawn(resource or {})
        if not active:
            withdrawal = Report(source, event.version_id, "", "", date.min, "", "", active=False)
            with begin_write(self.store.engine) as conn:
                self.store.record(conn, withdrawal, 0, now)
            return
        assert disease is not None and onset is not None and resource is not None
        patient = _reference(resource.get("subject"))
        if patient is None or not patient.startswith("Patient/"):
            log.info("surveillance.report_without_patient", extra={"fields": {"source": source}})
            return
        unit, area = self._place(patient)
        resident = (self.resident_of(patient) if self.resident_of else None) or patient
        report = Report(source, event.version_id, resident, disease.key, onset, area, unit, active=True)
        with begin_write(self.store.engine) as conn:
            case_id = self.store.record(conn, report, BY_KEY[disease.key].episode_days, now)
        log.info(
            "surveillance.case_recorded",
            extra={"fields": {"source": source, "case": case_id, "disease": disease.key, "area": area}},
        )

    def _place(self, patient: str) -> tuple[str, str]:
        """(reporting institution id, county code) of a Patient record's managing organisation."""
        try:
            record = self.repo.read(self.ctx, "Patient", patient.split("/", 1)[1]).resource
        except HealthBrainError:
            return UNKNOWN_AREA, UNKNOWN_AREA
        org = _reference((record or {}).get("managingOrganization"))
        if org is None:
            return UNKNOWN_AREA, UNKNOWN_AREA
        org_id = org.split("/", 1)[1]
        if org_id not in self._area:
            self._area[org_id] = self._area_of(org_id)
        return org_id, self._area[org_id]

    def _area_of(self, org_id: str) -> str:
        """The GB/T 2260 code of the first organisation up the `partOf` chain that has one."""
        current: str | None = org_id
        for _ in range(6):
            if current is None:
                break
            try:
                org = self.repo.read(self.ctx, "Organization", current).resource or {}
            except HealthBrainError:
                break
            for ident in org.get("identifier", []):
                if isinstance(ident, dict) and ident.get("system") == AREA_SYSTEM and ident.get("value"):
                    return str(ident["value"])
            parent = _reference(org.get("partOf"))
            current = parent.split("/", 1)[1] if parent else None
        return UNKNOWN_AREA


def _reference(value: object) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return str(value["reference"])
    return None
