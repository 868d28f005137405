"""Transaction and batch Bundles: order, reference resolution, atomicity, real Synthea data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from healthbrain.core.context import system_context
from healthbrain.core.errors import HealthBrainError, InvalidInput, PreconditionFailed, Unprocessable
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.transaction import process_batch, process_transaction
from healthbrain.storage import tables as t

CTX = system_context()
SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir" / "synthea-r4-bundles"


def live_count(repo: FhirRepository, rt: str | None = None) -> int:
    stmt = select(func.count()).select_from(t.resource).where(t.resource.c.deleted.is_(False))
    if rt:
        stmt = stmt.where(t.resource.c.res_type == rt)
    with repo.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def tx(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post(full_url: str, resource: dict[str, Any], **request: str) -> dict[str, Any]:
    return {"fullUrl": full_url, "resource": resource,
            "request": {"method": "POST", "url": resource["resourceType"], **request}}


PATIENT = {"resourceType": "Patient", "name": [{"family": "李", "given": ["娜"]}],
           "identifier": [{"system": "urn:mrn", "value": "A1"}]}


def observation(subject: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": subject}, "valueQuantity": {"value": 72, "unit": "/min"}}



@pytest.mark.parametrize("name", sorted(p.name for p in SYNTHEA.glob("*.json"))[:3])
def test_synthea_bundles_ingest_as_transactions(repo: FhirRepository, name: str) -> None:
    bundle = orjson.loads((SYNTHEA / name).read_bytes())
    expected = Counter(e["resource"]["resourceType"] for e in bundle["entry"])
    results = process_transaction(repo, CTX, bundle)
    assert all(r.status.startswith("201") for r in results)
    for rt, n in expected.items():
        assert live_count(repo, rt) == n, rt
    # every urn:uuid was rewritten to a stored resource
    with repo.engine.connect() as conn:
        dangling = conn.execute(select(func.count()).select_from(t.idx_reference)
                                .where(t.idx_reference.c.url.like("urn:uuid:%"))).scalar_one()
    assert dangling == 0
    patient_id = next(r.versioned.id for r in results if r.versioned and r.versioned.resource_type == "Patient")
    found = run_search(repo, CTX, "Observation", [("subject", f"Patient/{patient_id}"), ("_summary", "count")])
    assert found.total == expected["Observation"]


def test_urn_references_resolve_to_new_ids(repo: FhirRepository) -> None:
    results = process_transaction(repo, CTX, tx(
        post("urn:uuid:11111111-1111-1111-1111-111111111111", PATIENT),
        post("urn:uuid:22222222-2222-2222-2222-222222222222",
             observation("urn:uuid:11111111-1111-1111-1111-111111111111")),
    ))
    pid = results[0].versioned.id if results[0].versioned else ""
    obs = repo.read(CTX, "Observation", results[1].versioned.id if results[1].versioned else "").resource
    assert obs is not None and obs["subject"]["reference"] == f"Patient/{pid}"


def test_a_failing_entry_rolls_back_the_whole_transaction(repo: FhirRepository) -> None:
    bad = observation("urn:uuid:11111111-1111-1111-1111-111111111111")
    bad["status"] = "not-a-status"
    with pytest.raises(Unprocessable) as err:
        process_transaction(repo, CTX, tx(post("urn:uuid:11111111-1111-1111-1111-111111111111", PATIENT),
                                          post("urn:uuid:3", bad)))
    assert any("Bundle.entry[1]" in (i.expression or "") for i in err.value.issues)
    assert live_count(repo) == 0


def test_unresolvable_urn_reference_is_rejected_and_nothing_written(repo: FhirRepository) -> None:
    with pytest.raises(InvalidInput) as err:
        process_transaction(repo, CTX, tx(post("urn:uuid:1", PATIENT), post("urn:uuid:2", observation("urn:uuid:9"))))
    assert "Bundle.entry[1]" in (err.value.issues[0].expression or "")
    assert live_count(repo) == 0


def test_conditional_reference_and_if_none_exist(repo: FhirRepository) -> None:
    process_transaction(repo, CTX, tx(post("urn:uuid:1", PATIENT)))
    results = process_transaction(repo, CTX, tx(
        post("urn:uuid:1", PATIENT, ifNoneExist="identifier=urn:mrn|A1"),
        post("urn:uuid:2", observation("Patient?identifier=urn:mrn|A1")),
    ))
    assert results[0].status == "200 OK"
    assert live_count(repo, "Patient") == 1
    obs = repo.read(CTX, "Observation", results[1].versioned.id if results[1].versioned else "").resource
    assert obs is not None and obs["subject"]["reference"] == f"Patient/{results[0].versioned.id}"  # type: ignore[union-attr]
    with pytest.raises(PreconditionFailed):
        process_transaction(repo, CTX, tx(post("urn:uuid:3", observation("Patient?identifier=urn:mrn|NOPE"))))


def test_delete_is_processed_before_put_of_the_same_type(repo: FhirRepository) -> None:
    repo.update(CTX, "Patient", "a", {**PATIENT, "id": "a"})
    results = process_transaction(repo, CTX, tx(
        {"resource": {**PATIENT, "id": "b"}, "request": {"method": "PUT", "url": "Patient/b"}},
        {"request": {"method": "DELETE", "url": "Patient/a"}},
        {"request": {"method": "GET", "url": "Patient?_id=a,b"}},
    ))
    assert [r.status for r in results[:2]] == ["201 Created", "204 No Content"]
    assert results[2].resource is not None and results[2].resource["total"] == 1


def test_same_resource_twice_is_rejected(repo: FhirRepository) -> None:
    put = {"resource": {**PATIENT, "id": "x"}, "request": {"method": "PUT", "url": "Patient/x"}}
    with pytest.raises(InvalidInput):
        process_transaction(repo, CTX, tx(put, put))
    assert live_count(repo) == 0


def test_malformed_bundles_report_every_bad_entry(repo: FhirRepository) -> None:
    with pytest.raises(InvalidInput) as err:
        process_transaction(repo, CTX, tx({"resource": PATIENT}, {"request": {"method": "PUT", "url": "Nope/1"}}))
    where = [i.expression for i in err.value.issues]
    assert where == ["Bundle.entry[0].request", "Bundle.entry[1].request.url"]
    with pytest.raises(HealthBrainError):
        process_transaction(repo, CTX, {"resourceType": "Bundle", "type": "batch", "entry": []})


def test_batch_entries_succeed_or_fail_alone(repo: FhirRepository) -> None:
    bad = {**PATIENT, "gender": "unknown-gender"}
    results = process_batch(repo, CTX, {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": PATIENT, "request": {"method": "POST", "url": "Patient"}},
        {"resource": bad, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/missing"}},
    ]})
    assert [r.status.split()[0] for r in results] == ["201", "422", "404"]
    assert results[1].outcome
    assert live_count(repo, "Patient") == 1
