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
    return {
        "fullUrl": full_url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }


PATIENT = {
    "resourceType": "Patient",
    "name": [{"family": "李", "given": ["娜"]}],
    "identifier": [{"system": "urn:mrn", "value": "A1"}],
}


def observation(subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": subject},
        "valueQuantity": {"value": 72, "unit": "/min"},
    }


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
        dangling = conn.execute(
            select(func.count()).select_from(t.idx_reference).where(t.idx_reference.c.url.like("urn:uuid:%"))
        ).scalar_one()
    assert dangling == 0
    patient_id = next(
        r.versioned.id for r in results if r.versioned and r.versioned.resource_type == "Patient"
    )
    found = run_search(
        repo, CTX, "Observation", [("subject", f"Patient/{patient_id}"), ("_summary", "count")]
    )
    assert found.total == expected["Observation"]


def test_urn_references_resolve_to_new_ids(repo: FhirRepository) -> None:
    results = process_transaction(
        repo,
        CTX,
        tx(
            post("urn:uuid:11111111-1111-1111-1111-111111111111", PATIENT),
            post(
                "urn:uuid:22222222-2222-2222-2222-222222222222",
                observation("urn:uuid:11111111-1111-1111-1111-111111111111"),
            ),
        ),
    )
    pid = results[0].versioned.id if results[0].versioned else ""
    obs = repo.read(CTX, "Observation", results[1].versioned.id if results[1].versioned else "").resource
    assert obs is not None and obs["subject"]["reference"] == f"Patient/{pid}"


def test_a_failing_entry_rolls_back_the_whole_transaction(repo: FhirRepository) -> None:
    bad = observation("urn:uuid:11111111-1111-1111-1111-111111111111")
    bad["status"] = "not-a-status"
    with pytest.raises(Unprocessable) as err:
        process_transaction(
            repo,
            CTX,
            tx(post("urn:uuid:11111111-1111-1111-1111-111111111111", PATIENT), post("urn:uuid:3", bad)),
        )
    assert any("Bundle.entry[1]" in (i.expression or "") for i in err.value.issues)
    assert live_count(repo) == 0


def test_unresolvable_urn_reference_is_rejected_and_nothing_written(repo: FhirRepository) -> None:
    with pytest.raises(InvalidInput) as err:
        process_transaction(
            repo, CTX, tx(post("urn:uuid:1", PATIENT), post("urn:uuid:2", observation("urn:uuid:9")))
        )
    assert "Bundle.entry[1]" in (err.value.issues[0].expression or "")
    assert live_count(repo) == 0


def test_conditional_reference_and_if_none_exist(repo: FhirRepository) -> None:
    process_transaction(repo, CTX, tx(post("urn:uuid:1", PATIENT)))
    results = process_transaction(
        repo,
        CTX,
        tx(
            post("urn:uuid:1", PATIENT, ifNoneExist="identifier=urn:mrn|A1"),
            post("urn:uuid:2", observation("Patient?identifier=urn:mrn|A1")),
        ),
    )
    assert results[0].status == "200 OK"
    assert live_count(repo, "Patient") == 1
    obs = repo.read(CTX, "Observation", results[1].versioned.id if results[1].versioned else "").resource
    assert obs is not None and obs["subject"]["reference"] == f"Patient/{results[0].versioned.id}"  # type: ignore[union-attr]
    with pytest.raises(PreconditionFailed):
        process_transaction(repo, CTX, tx(post("urn:uuid:3", observation("Patient?identifier=urn:mrn|NOPE"))))


def test_many_conditional_lookups_in_one_transaction_answer_as_one_by_one(repo: FhirRepository) -> None:
    """An HL7 feed's bundle looks up its patient and every result by identifier: those lookups share
    one statement, and each answers what a search of its own would (the match, several, or none)."""

    def patient(mrn: str, system: str = "urn:mrn") -> dict[str, Any]:
        return {**PATIENT, "identifier": [{"system": system, "value": mrn}]}

    for mrn in ("M1", "M2", "M3", "TWIN", "TWIN", "GONE"):
        repo.create(CTX, patient(mrn))
    repo.create(CTX, patient("M1", system="urn:other"))  # same value, another system
    gone = run_search(repo, CTX, "Patient", [("identifier", "urn:mrn|GONE")]).matches[0]["id"]
    repo.delete(CTX, "Patient", gone)
    expected = {
        mrn: [p["id"] for p in run_search(repo, CTX, "Patient", [("identifier", f"urn:mrn|{mrn}")]).matches]
        for mrn in ("M1", "M2", "M3")
    }

    results = process_transaction(
        repo,
        CTX,
        tx(
            post("urn:uuid:1", patient("M1"), ifNoneExist="identifier=urn:mrn|M1"),
            post("urn:uuid:2", observation("Patient?identifier=urn:mrn|M2")),
            post("urn:uuid:3", observation("Patient?identifier=urn:mrn%7CM3")),
            post("urn:uuid:4", patient("NEW"), ifNoneExist="identifier=urn:mrn|NEW"),
            post("urn:uuid:5", observation("Patient?identifier=urn:mrn|M1")),
        ),
    )
    assert (
        results[0].status == "200 OK" and results[0].versioned and [results[0].versioned.id] == expected["M1"]
    )
    assert results[3].status == "201 Created"
    subjects = [
        repo.read(CTX, "Observation", r.versioned.id).resource["subject"]["reference"]  # type: ignore[index]
        for r in (results[1], results[2], results[4])
        if r.versioned
    ]
    assert subjects == [
        f"Patient/{expected['M2'][0]}",
        f"Patient/{expected['M3'][0]}",
        f"Patient/{expected['M1'][0]}",
    ]

    before = live_count(repo)
    for ref, wanted in (
        ("Patient?identifier=urn:mrn|TWIN", "more than one"),
        ("Patient?identifier=urn:mrn|GONE", "no Patient"),
    ):
        with pytest.raises(PreconditionFailed) as err:
            process_transaction(
                repo,
                CTX,
                tx(
                    post("urn:uuid:6", observation("Patient?identifier=urn:mrn|M2")),
                    post("urn:uuid:7", observation(ref)),
                ),
            )
        assert wanted in str(err.value.issues[0].diagnostics) and "Bundle.entry[1]" in str(
            err.value.issues[0].expression
        )
    with pytest.raises(PreconditionFailed):
        process_transaction(
            repo,
            CTX,
            tx(
                post("urn:uuid:8", patient("TWIN"), ifNoneExist="identifier=urn:mrn|TWIN"),
                post("urn:uuid:9", patient("M2"), ifNoneExist="identifier=urn:mrn|M2"),
            ),
        )
    assert live_count(repo) == before  # nothing of the failed transactions was written


def test_delete_is_processed_before_put_of_the_same_type(repo: FhirRepository) -> None:
    repo.update(CTX, "Patient", "a", {**PATIENT, "id": "a"})
    results = process_transaction(
        repo,
        CTX,
        tx(
            {"resource": {**PATIENT, "id": "b"}, "request": {"method": "PUT", "url": "Patient/b"}},
            {"request": {"method": "DELETE", "url": "Patient/a"}},
            {"request": {"method": "GET", "url": "Patient?_id=a,b"}},
        ),
    )
    assert [r.status for r in results[:2]] == ["201 Created", "204 No Content"]
    assert results[2].resource is not None and results[2].resource["total"] == 1


def test_same_resource_twice_is_rejected(repo: FhirRepository) -> None:
    put = {"resource": {**PATIENT, "id": "x"}, "request": {"method": "PUT", "url": "Patient/x"}}
    with pytest.raises(InvalidInput):
        process_transaction(repo, CTX, tx(put, put))
    assert live_count(repo) == 0


def test_malformed_bundles_report_every_bad_entry(repo: FhirRepository) -> None:
    with pytest.raises(InvalidInput) as err:
        process_transaction(
            repo, CTX, tx({"resource": PATIENT}, {"request": {"method": "PUT", "url": "Nope/1"}})
        )
    where = [i.expression for i in err.value.issues]
    assert where == ["Bundle.entry[0].request", "Bundle.entry[1].request.url"]
    with pytest.raises(HealthBrainError):
        process_transaction(repo, CTX, {"resourceType": "Bundle", "type": "batch", "entry": []})


def test_batch_entries_succeed_or_fail_alone(repo: FhirRepository) -> None:
    bad = {**PATIENT, "gender": "unknown-gender"}
    results = process_batch(
        repo,
        CTX,
        {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [
                {"resource": PATIENT, "request": {"method": "POST", "url": "Patient"}},
                {"resource": bad, "request": {"method": "POST", "url": "Patient"}},
                {"request": {"method": "GET", "url": "Patient/missing"}},
            ],
        },
    )
    assert [r.status.split()[0] for r in results] == ["201", "422", "404"]
    assert results[1].outcome
    assert live_count(repo, "Patient") == 1
