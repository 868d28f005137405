"""The care-link migration fills the table of a running deployment with the links its writes would
have made: the same rows as writing the resources afresh, on each backend."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, inspect, select

from healthbrain.core.context import system_context
from healthbrain.fhir.indexing import DATE_MAX, date_range
from healthbrain.fhir.repository import FhirRepository
from healthbrain.storage import tables as t
from healthbrain.storage.migrate import upgrade_database
from migrating import downgrade

SYSTEM = system_context()


def _encounter(pid: str, provider: str | None, period: dict[str, str] | None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": pid},
    }
    if provider:
        res["serviceProvider"] = {"reference": f"Organization/{provider}"}
    if period:
        res["period"] = period
    return res


def _referral(pid: str, performers: list[str], authored: str | None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": pid},
        "performer": [{"reference": p} for p in performers],
    }
    if authored:
        res["authoredOn"] = authored
    return res


def _links(engine: Engine) -> list[tuple[Any, ...]]:
    c = t.care_link.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.source_type, c.source_id, c.patient_id, c.unit, c.high)).all()
    return sorted(tuple(r) for r in rows)


def _write_region(repo: FhirRepository) -> None:
    for oid in ("A", "B"):
        repo.update(SYSTEM, "Organization", oid, {"resourceType": "Organization", "id": oid, "name": oid})
    for pid in ("p1", "p2", "p3"):
        repo.update(SYSTEM, "Patient", pid, {"resourceType": "Patient", "id": pid})
    visit = {"start": "2025-03-01T08:00:00Z", "end": "2025-03-01T09:30:00Z"}

    def put(rid: str, res: dict[str, Any]) -> None:
        repo.update(SYSTEM, res["resourceType"], rid, {**res, "id": rid})

    put("e1", _encounter("Patient/p1", "A", visit))
    put("e2", _encounter("Patient/p2", "B", {"start": "2025-04-02"}))  # still open
    put("e3", _encounter("Patient/p1", "A", None))  # no period: no link
    put("e4", _encounter("Patient/p3", None, visit))  # no provider: no link
    put("e5", _encounter("Patient/p2", "A", visit))
    put("e5", _encounter("Patient/p2", "B", visit))  # corrected: only B remains
    put("e6", _encounter("Patient/p3", "A", visit))
    repo.delete(SYSTEM, "Encounter", "e6")  # deleted: no link
    put("e7", _encounter("Group/g1", "A", visit))  # not a patient
    put("s1", _referral("Patient/p1", ["Organization/A", "Organization/B", "Practitioner/x"], "2025-05"))
    put("s2", _referral("Patient/p2", ["Organization/A"], None))  # not authored: no link
    repo.update(
        SYSTEM,
        "Observation",
        "o1",
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "code": {"text": "pulse"},
            "subject": {"reference": "Patient/p1"},
            "performer": [{"reference": "Organization/A"}],
        },
    )


def test_the_backfill_gives_the_links_that_writing_afresh_gives(fresh_engine: Engine) -> None:
    _write_region(FhirRepository(fresh_engine, validate=False))
    written = _links(fresh_engine)
    visit_end = date_range("2025-03-01T09:30:00Z")[1]
    may_end = date_range("2025-05")[1]
    assert written == [
        ("Encounter", "e1", "p1", "A", visit_end),
        ("Encounter", "e2", "p2", "B", DATE_MAX),
        ("Encounter", "e5", "p2", "B", visit_end),
        ("ServiceRequest", "s1", "p1", "A", may_end),
        ("ServiceRequest", "s1", "p1", "B", may_end),
    ]

    # the schema as it was before the migration, then the migration over the stored resources
    downgrade(fresh_engine, "fhir@-1")
    assert t.care_link.name not in inspect(fresh_engine).get_table_names()
    upgrade_database(fresh_engine)
    assert _links(fresh_engine) == written
