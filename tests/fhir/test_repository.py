"""The repository: CRUD, versions, conditional operations, patch, outbox and audit, on every backend."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from healthbrain.core.context import system_context
from healthbrain.core.errors import Conflict, Gone, InvalidInput, NotFound, PreconditionFailed, Unprocessable
from healthbrain.fhir.ports import MemoryAuditSink
from healthbrain.fhir.reading import run_history
from healthbrain.fhir.repository import FhirRepository
from healthbrain.storage import tables as t

CTX = system_context()


def patient(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [
            {"system": "http://healthbrain.cn/fhir/sid/resident-id", "value": "110101199003071234"}
        ],
        "name": [{"family": "张", "given": ["伟"], "text": "张伟"}],
        "gender": "male",
        "birthDate": "1990-03-07",
        **extra,
    }


def count(repo: FhirRepository, table: Any) -> int:
    with repo.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_create_assigns_id_version_and_meta(repo: FhirRepository) -> None:
    w = repo.create(CTX, patient())
    assert w.status == "created"
    assert w.version.version_id == 1
    got = repo.read(CTX, "Patient", w.version.id)
    assert got.resource is not None
    assert got.resource["meta"]["versionId"] == "1"
    assert got.resource["name"][0]["text"] == "张伟"
    assert got.resource["meta"]["lastUpdated"].endswith("Z")


def test_update_makes_versions_and_vread_returns_each(repo: FhirRepository) -> None:
    rid = repo.create(CTX, patient()).version.id
    v2 = repo.update(CTX, "Patient", rid, {**patient(gender="female"), "id": rid})
    assert (v2.status, v2.version.version_id) == ("updated", 2)
    first = repo.vread(CTX, "Patient", rid, 1).resource
    second = repo.vread(CTX, "Patient", rid, 2).resource
    assert first is not None and second is not None
    assert (first["gender"], second["gender"]) == ("male", "female")
    with pytest.raises(NotFound):
        repo.vread(CTX, "Patient", rid, 3)


def test_update_with_identical_content_keeps_the_version(repo: FhirRepository) -> None:
    rid = repo.create(CTX, patient()).version.id
    again = repo.update(CTX, "Patient", rid, {**patient(), "id": rid})
    assert (again.status, again.version.version_id) == ("unchanged", 1)
    assert count(repo, t.resource_version) == 1


def test_update_creates_with_client_id(repo: FhirRepository) -> None:
    w = repo.update(CTX, "Patient", "p-001", {**patient(), "id": "p-001"})
    assert (w.status, w.version.version_id) == ("created", 1)
    assert repo.read(CTX, "Patient", "p-001").version_id == 1


def test_if_match_rejects_a_stale_version(repo: FhirRepository) -> None:
    rid = repo.create(CTX, patient()).version.id
    repo.update(CTX, "Patient", rid, {**patient(gender="female"), "id": rid}, if_match=1)
    with pytest.raises(PreconditionFailed):
        repo.update(CTX, "Patient", rid, {**patient(gender="other"), "id": rid}, if_match=1)
    got = repo.read(CTX, "Patient", rid).resource
    assert got is not None and got["gender"] == "female"


def test_update_id_must_match_url(repo: FhirRepository) -> None:
    with pytest.raises(InvalidInput):
        repo.update(CTX, "Patient", "a", {**patient(), "id": "b"})


def test_delete_writes_a_tombstone_and_read_says_gone(repo: FhirRepository) -> None:
    rid = repo.create(CTX, patient()).version.id
    d = repo.delete(CTX, "Patient", rid)
    assert (d.status, d.version.version_id) == ("deleted", 2)
    with pytest.raises(Gone):
        repo.read(CTX, "Patient", rid)
    hist = run_history(repo, CTX, "Patient", rid, [])
    assert [v.version_id for v in hist.versions] == [2, 1]
    assert hist.versions[0].deleted
    # deleting again is not an error and writes nothing
    assert repo.delete(CTX, "Patient", rid).status == "unchanged"
    # a deleted resource can come back with a new version
    back = repo.update(CTX, "Patient", rid, {**patient(), "id": rid})
    assert (back.status, back.version.version_id) == ("created", 3)


def test_read_unknown_is_404_and_unknown_type_is_404(repo: FhirRepository) -> None:
    with pytest.raises(NotFound):
        repo.read(CTX, "Patient", "nope")
    with pytest.raises(NotFound):
        repo.read(CTX, "Patien", "x")


def test_invalid_resource_writes_nothing(repo: FhirRepository) -> None:
    with pytest.raises(Unprocessable) as err:
        repo.create(CTX, patient(birthDate="1990-02-30", active="yes"))
    located = {i.expression for i in err.value.issues}
    assert any(e and "birthDate" in e for e in located)
    assert any(e and "active" in e for e in located)
    assert count(repo, t.resource) == 0
    assert count(repo, t.outbox) == 0


def test_wrong_resource_type_for_url_is_400(repo: FhirRepository) -> None:
    with pytest.raises(InvalidInput):
        repo.create(CTX, patient(), rt="Observation")
    with pytest.raises(InvalidInput):
        repo.create(CTX, ["not", "an", "object"])


def test_conditional_create_returns_the_existing_match(repo: FhirRepository) -> None:
    first = repo.create(CTX, patient())
    query = "identifier=http://healthbrain.cn/fhir/sid/resident-id|110101199003071234"
    again = repo.create(CTX, patient(), if_none_exist=query)
    assert again.status == "matched"
    assert again.version.id == first.version.id
    assert count(repo, t.resource) == 1
    repo.create(CTX, patient())
    with pytest.raises(PreconditionFailed):
        repo.create(CTX, patient(), if_none_exist=query)


def test_conditional_update_creates_then_updates(repo: FhirRepository) -> None:
    query = "identifier=http://healthbrain.cn/fhir/sid/resident-id|110101199003071234"
    created = repo.conditional_update(CTX, "Patient", query, patient())
    assert created.status == "created"
    updated = repo.conditional_update(CTX, "Patient", query, patient(gender="female"))
    assert (updated.status, updated.version.id, updated.version.version_id) == (
        "updated",
        created.version.id,
        2,
    )


def test_conditional_delete_deletes_every_match(repo: FhirRepository) -> None:
    for _ in range(3):
        repo.create(CTX, patient())
    repo.create(CTX, patient(gender="female"))
    deleted = repo.conditional_delete(CTX, "Patient", "gender=male")
    assert sum(1 for d in deleted if d.status == "deleted") == 3
    with repo.engine.connect() as conn:
        live = conn.execute(
            select(func.count()).select_from(t.resource).where(t.resource.c.deleted.is_(False))
        )
        assert live.scalar_one() == 1


def test_json_patch(repo: FhirRepository) -> None:
    rid = repo.create(CTX, patient()).version.id
    w = repo.patch(CTX, "Patient", rid, [{"op": "replace", "path": "/gender", "value": "female"}])
    assert w.version.version_id == 2
    got = repo.read(CTX, "Patient", rid).resource
    assert got is not None and got["gender"] == "female"
    with pytest.raises(Unprocessable):
        repo.patch(CTX, "Patient", rid, [{"op": "remove", "path": "/nothere"}])
    with pytest.raises(Unprocessable):
        repo.patch(CTX, "Patient", rid, [{"op": "replace", "path": "/id", "value": "other"}])
    with pytest.raises(Unprocessable):
        repo.patch(CTX, "Patient", rid, [{"op": "replace", "path": "/birthDate", "value": "1990-13-01"}])
    assert repo.read(CTX, "Patient", rid).version_id == 2


def test_every_change_writes_version_index_and_outbox_together(repo: FhirRepository) -> None:
    rid = repo.create(CTX, patient()).version.id
    repo.update(CTX, "Patient", rid, {**patient(gender="female"), "id": rid})
    repo.delete(CTX, "Patient", rid)
    with repo.engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(t.outbox.c.action).order_by(t.outbox.c.seq))]
        tokens = conn.execute(select(func.count()).select_from(t.idx_token)).scalar_one()
    assert actions == ["create", "update", "delete"]
    assert count(repo, t.resource_version) == 3
    assert tokens == 0  # a deleted resource leaves nothing to find


def test_audit_records_success_and_failure(repo: FhirRepository, audit: MemoryAuditSink) -> None:
    rid = repo.create(CTX, patient()).version.id
    repo.read(CTX, "Patient", rid)
    with pytest.raises(NotFound):
        repo.read(CTX, "Patient", "missing")
    outcomes = [(e.action, e.outcome) for _, e in audit.entries]
    assert ("create", "success") in outcomes
    assert ("read", "success") in outcomes
    assert ("read", "failure") in outcomes
    # audit carries ids and codes only, never content
    assert all("张" not in (e.detail or "") for _, e in audit.entries)


def test_concurrent_writers_cannot_both_win(repo: FhirRepository) -> None:
    rid = repo.create(CTX, patient()).version.id
    prev = None
    with repo.engine.connect() as conn:
        prev = repo.store.read_current(conn, "Patient", rid)
    assert prev is not None
    a = repo.plan("Patient", rid, {**patient(gender="female"), "id": rid}, prev, "PUT", 1.0)
    b = repo.plan("Patient", rid, {**patient(gender="other"), "id": rid}, prev, "PUT", 2.0)
    with repo.write_tx() as conn:
        repo.flush(conn, [a])
    with pytest.raises(Conflict), repo.write_tx() as conn:
        repo.flush(conn, [b])
    got = repo.read(CTX, "Patient", rid).resource
    assert got is not None and got["gender"] == "female"
