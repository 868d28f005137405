"""The care relationship follows the current encounters and referrals: a clinician sees a patient
after a visit to (or a referral to) their institution within the care window, and stops seeing
them when that visit is moved elsewhere, out of the window, or deleted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select

from healthbrain.core.context import Principal, PurposeOfUse, RequestContext, system_context
from healthbrain.core.errors import HealthBrainError, NotFound
from healthbrain.core.settings import SecuritySettings
from healthbrain.fhir.ports import MemoryAuditSink
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.transaction import process_transaction
from healthbrain.security import OrgDirectory, RolePolicy
from healthbrain.storage import tables as t

from regionkit import encounter, iso

SYSTEM = system_context()
ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
WINDOW = SecuritySettings().care_window_days


@dataclass(slots=True)
class Clinic:
    """Hospital A (with a department) and hospital B; a patient registered at B; a clinician of A."""

    engine: Engine
    writer: FhirRepository
    reader: FhirRepository
    clinician: RequestContext
    patient: str
    observation: str

    def sees_patient(self) -> bool:
        try:
            self.reader.read(self.clinician, "Patient", self.patient)
        except NotFound:
            return False
        return True

    def sees_records(self) -> bool:
        """The patient's Observation, read by id and found by a search, as a user would look."""
        try:
            self.reader.read(self.clinician, "Observation", self.observation)
        except NotFound:
            found = run_search(self.reader, self.clinician, "Observation", [("_id", self.observation)])
            assert not found.matches
            return False
        found = run_search(self.reader, self.clinician, "Observation", [("_id", self.observation)])
        assert [o["id"] for o in found.matches] == [self.observation]
        return True

    def links(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.care_link)).scalar_one())


def _org(oid: str, parent: str | None = None) -> dict[str, Any]:
    code = "dept" if parent else "prov"
    res: dict[str, Any] = {
        "resourceType": "Organization",
        "id": oid,
        "name": oid,
        "type": [{"coding": [{"system": ORG_TYPE, "code": code}]}],
    }
    if parent:
        res["partOf"] = {"reference": f"Organization/{parent}"}
    return res


def referral(pid: str, performers: list[str], days_ago: float) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "performer": [{"reference": ref} for ref in performers],
        "authoredOn": iso(days_ago),
    }


@pytest.fixture
def clinic(engine: Engine) -> Clinic:
    writer = FhirRepository(engine, validate=False)
    for org in (_org("hosp-a"), _org("hosp-a-cardio", "hosp-a"), _org("hosp-b")):
        writer.update(SYSTEM, "Organization", org["id"], org)
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "managingOrganization": {"reference": "Organization/hosp-b"},
    }
    writer.update(SYSTEM, "Patient", "p1", patient)
    obs = writer.create(
        SYSTEM,
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": "Patient/p1"},
            "valueQuantity": {"value": 72, "unit": "/min"},
        },
    )
    settings = SecuritySettings()
    policy = RolePolicy(engine, settings, orgs=OrgDirectory(engine, ttl_seconds=0.0))
    reader = FhirRepository(engine, policy=policy, audit=MemoryAuditSink(), validate=False)
    principal = Principal("dr-a", "user", frozenset({"clinician"}), "hosp-a-cardio", frozenset({"user/*.*"}))
    ctx = RequestContext(principal, PurposeOfUse.TREATMENT)
    return Clinic(engine, writer, reader, ctx, "p1", obs.version.id)


def test_an_encounter_opens_the_record_until_it_is_moved_away_aged_or_deleted(clinic: Clinic) -> None:
    assert not clinic.sees_patient() and not clinic.sees_records()
    # a visit to hospital A (the clinician works in one of its departments)
    created = clinic.writer.create(SYSTEM, encounter(clinic.patient, "hosp-a", 3))
    eid = created.version.id
    assert clinic.sees_patient() and clinic.sees_records()

    def change(resource: dict[str, Any]) -> None:
        clinic.writer.update(SYSTEM, "Encounter", eid, {**resource, "id": eid})

    change(encounter(clinic.patient, "hosp-b", 3))  # corrected: it was at the other hospital
    assert not clinic.sees_patient() and not clinic.sees_records()
    change(encounter(clinic.patient, "hosp-a-cardio", 3))  # a department of A counts as A
    assert clinic.sees_patient()
    change(encounter(clinic.patient, "hosp-a", WINDOW + 30))  # long ago: outside the care window
    assert not clinic.sees_patient() and not clinic.sees_records()
    ongoing = encounter(clinic.patient, "hosp-a", WINDOW + 30)
    ongoing["status"], ongoing["period"] = "in-progress", {"start": iso(WINDOW + 30)}
    change(ongoing)  # admitted long ago and still there: an open period has not ended
    assert clinic.sees_patient()
    clinic.writer.delete(SYSTEM, "Encounter", eid)
    assert not clinic.sees_patient() and not clinic.sees_records()
    assert clinic.links() == 0
    # created again after the deletion (a PUT of the same id): the relationship is back
    change(encounter(clinic.patient, "hosp-a", 1))
    assert clinic.sees_patient()


def test_a_referral_opens_the_record_of_the_institution_asked_to_perform_it(clinic: Clinic) -> None:
    assert not clinic.sees_patient()
    sent = clinic.writer.create(
        SYSTEM, referral(clinic.patient, ["Practitioner/doc-b", "Organization/hosp-a"], 2)
    )
    sid = sent.version.id
    assert clinic.sees_patient() and clinic.sees_records()

    def change(resource: dict[str, Any]) -> None:
        clinic.writer.update(SYSTEM, "ServiceRequest", sid, {**resource, "id": sid})

    change(referral(clinic.patient, ["Organization/hosp-b"], 2))  # redirected to the other hospital
    assert not clinic.sees_patient()
    change(referral(clinic.patient, ["Organization/hosp-a"], WINDOW + 1))  # authored before the window
    assert not clinic.sees_patient()
    change(referral(clinic.patient, ["Organization/hosp-a"], 1))
    assert clinic.sees_patient()
    clinic.writer.delete(SYSTEM, "ServiceRequest", sid)
    assert not clinic.sees_patient() and clinic.links() == 0


def test_a_refusal_still_closes_a_record_that_a_visit_opened(clinic: Clinic) -> None:
    clinic.writer.create(SYSTEM, encounter(clinic.patient, "hosp-a", 3))
    assert clinic.sees_patient()
    clinic.writer.create(
        SYSTEM,
        {
            "resourceType": "Consent",
            "status": "active",
            "scope": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": "patient-privacy",
                    }
                ]
            },
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": f"Patient/{clinic.patient}"},
            "provision": {
                "type": "deny",
                "purpose": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}
                ],
            },
        },
    )
    assert not clinic.sees_patient()


def _bundle(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def test_a_failed_transaction_leaves_no_care_relationship(clinic: Clinic) -> None:
    visit = {
        "resource": encounter(clinic.patient, "hosp-a", 1),
        "request": {"method": "POST", "url": "Encounter"},
    }
    stale = {
        "resource": {"resourceType": "Patient", "id": clinic.patient},
        "request": {"method": "PUT", "url": f"Patient/{clinic.patient}", "ifMatch": 'W/"99"'},
    }
    with pytest.raises(HealthBrainError):
        process_transaction(clinic.writer, SYSTEM, _bundle(visit, stale))
    assert clinic.links() == 0 and not clinic.sees_patient()

    # a failure after every entry was written (the ingest journal's write, say) rolls them back too
    written: list[int] = []

    def fail_after_write(conn: Connection) -> None:
        written.append(int(conn.execute(select(func.count()).select_from(t.care_link)).scalar_one()))
        raise RuntimeError("journal unavailable")

    with pytest.raises(RuntimeError):
        process_transaction(clinic.writer, SYSTEM, _bundle(visit), also=fail_after_write)
    assert written == [1]  # the link was written in the transaction ...
    assert clinic.links() == 0 and not clinic.sees_patient()  # ... and went with it
    process_transaction(clinic.writer, SYSTEM, _bundle(visit))
    assert clinic.links() == 1 and clinic.sees_patient()
