"""Case recording: each version of a Condition (diagnosis) or laboratory/vital-sign Observation that
counts towards a notifiable disease or a syndrome becomes (part of) a case of one resident, in the
county of the reporting institution and the township of the resident's address, on its day of
onset; withdrawn or corrected reports leave their case. Runs as event subscribers."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from healthbrain.core.context import PurposeOfUse, system_context
from healthbrain.core.db import begin_write
from healthbrain.core.errors import HealthBrainError
from healthbrain.fhir.events import ChangeEvent
from healthbrain.fhir.repository import FhirRepository
from healthbrain.surveillance.fhir_out import AREA_SYSTEM
from healthbrain.surveillance.labdef import LabTest, lab_tests
from healthbrain.surveillance.reports import Extract, condition_parts, observation_parts
from healthbrain.surveillance.store import Report, SurveillanceStore

log = logging.getLogger("healthbrain.surveillance")
UNKNOWN_AREA = "unknown"
ResidentOf = Callable[[str], str | None]  # Patient/<id> -> resident key of the patient index
_TOWNSHIP = re.compile(r"([\u4e00-\u9fff]{1,8}?(?:街道|镇|乡))")


def township_of(patient: Mapping[str, Any]) -> str | None:
    """The 街道/乡镇 of a Patient's first address: the first line naming one, else found in the text
    after the district. None when the record has no address (hospitals often skip it)."""
    for address in patient.get("address", []) or []:
        if not isinstance(address, dict):
            continue
        for line in address.get("line", []) or []:
            if isinstance(line, str) and line.endswith(("街道", "镇", "乡")) and len(line) <= 40:
                return line
        text = address.get("text")
        district = address.get("district")
        if isinstance(text, str):
            tail = text.split(district, 1)[1] if isinstance(district, str) and district in text else text
            found = _TOWNSHIP.search(tail)
            if found:
                return found.group(1)
    return None


class CaseRecorder:
    """The Condition and Observation subscriber: resolves resident, county and township, then records."""

    def __init__(
        self,
        repo: FhirRepository,
        store: SurveillanceStore,
        resident_of: ResidentOf | None = None,
        clock: Callable[[], float] = time.time,
        tests: Mapping[tuple[str, str], LabTest] | None = None,
    ) -> None:
        self.repo = repo
        self.store = store
        self.resident_of = resident_of
        self.clock = clock
        self.tests = lab_tests() if tests is None else tests
        self.ctx = system_context(PurposeOfUse.PUBLIC_HEALTH)
        self._area: dict[str, str] = {}

    def handle(self, event: ChangeEvent, resource: dict[str, Any] | None) -> None:
        """Record one Condition change (idempotent per resource version)."""
        live = resource if event.action != "delete" else None
        self._apply(f"Condition/{event.resource_id}", event.version_id, condition_parts(live))

    def handle_observation(self, event: ChangeEvent, resource: dict[str, Any] | None) -> None:
        """Record one Observation change: pathogen tests and body temperatures (idempotent)."""
        live = resource if event.action != "delete" else None
        self._apply(f"Observation/{event.resource_id}", event.version_id, observation_parts(live, self.tests))

    def _apply(self, source: str, version: int, extract: Extract) -> None:
        if not extract.relevant:
            return
        now = self.clock()
        if not extract.parts:
            withdrawal = Report(source, version, "", UNKNOWN_AREA, None, UNKNOWN_AREA, ())
            with begin_write(self.store.engine) as conn:
                self.store.record(conn, withdrawal, now)
            return
        if extract.patient is None:
            log.info("surveillance.report_without_patient", extra={"fields": {"source": source}})
            return
        unit, area, township = self._place(extract.patient)
        resident = (self.resident_of(extract.patient) if self.resident_of else None) or extract.patient
        report = Report(source, version, resident, area, township, unit, extract.parts)
        with begin_write(self.store.engine) as conn:
            if resident != extract.patient and self.store.has_cases(conn, extract.patient):
                self.store.rekey(conn, extract.patient, resident, now)  # the record was linked since
            cases = self.store.record(conn, report, now)
        log.debug(  # one per report: a bulk load would flood the log at INFO
            "surveillance.report_recorded",
            extra={"fields": {"source": source, "cases": len(cases), "keys": [p.key for p in extract.parts],
                              "area": area}},
        )  # fmt: skip

    def _place(self, patient: str) -> tuple[str, str, str | None]:
        """(reporting institution id, county code, township) of a Patient record."""
        try:
            record = self.repo.read(self.ctx, "Patient", patient.split("/", 1)[1]).resource or {}
        except HealthBrainError:
            return UNKNOWN_AREA, UNKNOWN_AREA, None
        township = township_of(record)
        org = _reference(record.get("managingOrganization"))
        if org is None or not org.startswith("Organization/"):
            return UNKNOWN_AREA, UNKNOWN_AREA, township
        org_id = org.split("/", 1)[1]
        if org_id not in self._area:
            self._area[org_id] = self._area_of(org_id)
        return org_id, self._area[org_id], township

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
                    return str(ident["value"])[:12]
            parent = _reference(org.get("partOf"))
            current = parent.split("/", 1)[1] if parent else None
        return UNKNOWN_AREA


def _reference(value: object) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return str(value["reference"])
    return None
