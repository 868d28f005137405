"""The patient index on a real database (SQLite and PostgreSQL): arrival, batch, merges, reviews."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine

from healthbrain.core.context import system_context
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.mpi import decide_review, link_manually, open_index, register_subscriber, relink, unlink
from healthbrain.mpi.index import PatientIndex
from healthbrain.simulation import RegionConfig, make_id_card, simulate_region


@pytest.fixture(scope="module")
def patients() -> list[dict[str, Any]]:
    region = simulate_region(RegionConfig(patients=250, seed=21, noise_rate=0.3, duplicate_rate=0.05))
    return [r for r in region.resources() if r["resourceType"] == "Patient"]


def _partition(index: PatientIndex) -> list[list[str]]:
    with index.engine.connect() as conn:
        groups: dict[str, list[str]] = defaultdict(list)
        for row in index.store.all_links(conn):
            groups[row.resident_id].append(row.patient_ref)
    return sorted(sorted(g) for g in groups.values())


def _resident_of(index: PatientIndex, ref: str) -> str:
    with index.engine.connect() as conn:
        link = index.store.link_of(conn, ref)
    assert link is not None
    return link.resident_id


def test_arrivals_are_linked_in_milliseconds_and_agree_with_the_batch(
    engine: Engine, patients: list[dict[str, Any]]
) -> None:
    index = open_index(engine)
    took = []
    for p in patients:
        started = time.perf_counter()
        index.ingest(p, 1)
        took.append(time.perf_counter() - started)
    took.sort()
    assert took[len(took) // 2] < 0.05  # median well under 50 ms on either backend
    incremental = _partition(index)
    assert len(incremental) < len(patients)  # duplicates across institutions were joined
    ids_before = {p["id"]: _resident_of(index, f"Patient/{p['id']}") for p in patients}
    relink(index)
    assert _partition(index) == incremental
    # and the batch kept every resident id
    assert all(_resident_of(index, f"Patient/{pid}") == rid for pid, rid in ids_before.items())


def test_the_same_version_twice_changes_nothing(engine: Engine, patients: list[dict[str, Any]]) -> None:
    index = open_index(engine)
    first = index.ingest(patients[0], 3)
    again = index.ingest(patients[0], 3)
    assert again.resident_id == first.resident_id
    with engine.connect() as conn:
        assert len(index.store.history(conn, resident_id=first.resident_id)) == 1


def _two_people(index: PatientIndex) -> tuple[str, str]:
    born = date(1970, 3, 3)
    a = {"resourceType": "Patient", "id": "m1", "name": [{"text": "周明"}], "gender": "male",
         "birthDate": born.isoformat(), "identifier": [{"system": "urn:oid:2.16.156.10011.1.1",
                                                          "value": make_id_card("330802", born, 11)}]}  # fmt: skip
    b = {"resourceType": "Patient", "id": "m2", "name": [{"text": "吴芳"}], "gender": "female",
         "birthDate": "1981-09-09"}  # fmt: skip
    return index.ingest(a, 1).resident_id, index.ingest(b, 1).resident_id


def test_merge_and_unmerge_keep_full_history(engine: Engine) -> None:
    index = open_index(engine)
    ra, rb = _two_people(index)
    assert ra != rb
    entry = index.merge(ra, rb, "user/reviewer-1")
    assert _resident_of(index, "Patient/m2") == ra
    with engine.connect() as conn:
        assert index.store.resident(conn, rb).status == "merged"  # type: ignore[union-attr]
    restored = index.unmerge(entry, "user/reviewer-1")
    assert restored == rb and _resident_of(index, "Patient/m2") == rb
    with engine.connect() as conn:
        actions = [h["action"] for h in index.store.history(conn, resident_id=ra)]
    assert actions[-2:] == ["merge", "unmerge"]
    # the unmerge is remembered: a batch run does not join them again
    relink(index)
    assert _resident_of(index, "Patient/m1") != _resident_of(index, "Patient/m2")


def test_manual_links_and_unlinks_survive_a_batch_run(engine: Engine) -> None:
    index = open_index(engine)
    ra, _ = _two_people(index)
    link_manually(index, "Patient/m2", ra, "user/clerk")
    relink(index)
    assert _resident_of(index, "Patient/m1") == _resident_of(index, "Patient/m2")
    unlink(index, "Patient/m2", "user/clerk")
    relink(index)
    assert _resident_of(index, "Patient/m1") != _resident_of(index, "Patient/m2")


def test_reviews_are_decided_and_remembered(engine: Engine, patients: list[dict[str, Any]]) -> None:
    index = open_index(engine)
    born = date(2001, 5, 17)
    for pid, name, serial in (("tw1", "李子涵", 101), ("tw2", "李子轩", 103)):
        index.ingest({
            "resourceType": "Patient", "id": pid, "name": [{"text": name}], "gender": "male",
            "birthDate": born.isoformat(), "telecom": [{"system": "phone", "value": "13800001111"}],
            "identifier": [{"system": "urn:oid:2.16.156.10011.1.1", "value": make_id_card("330802", born, serial)}],
        }, 1)  # fmt: skip
    with engine.connect() as conn:
        open_reviews = index.store.reviews(conn, "open", 10, 0)
    assert len(open_reviews) == 1 and "possible_twin" in open_reviews[0].reasons
    assert {f["field"] for f in open_reviews[0].detail} >= {"name", "id_number", "birth_date"}
    decided = decide_review(index, open_reviews[0].id, "no_match", "user/reviewer-2")
    assert decided.status == "rejected"
    relink(index)
    assert _resident_of(index, "Patient/tw1") != _resident_of(index, "Patient/tw2")
    with engine.connect() as conn:
        assert not index.store.reviews(conn, "open", 10, 0)  # a decided pair is not asked again


def test_a_patient_written_to_the_repository_is_indexed_by_the_subscriber(repo: FhirRepository) -> None:
    dispatcher = EventDispatcher(repo.engine)
    index = open_index(repo.engine)
    register_subscriber(index, dispatcher)
    ctx = system_context()
    born = date(1988, 8, 8)
    body = {"resourceType": "Patient", "name": [{"text": "孙丽"}], "gender": "female", "birthDate": born.isoformat(),
            "identifier": [{"system": "urn:oid:2.16.156.10011.1.1", "value": make_id_card("330802", born, 20)}]}  # fmt: skip
    first = repo.create(ctx, body).version.id
    second = repo.create(ctx, {**body, "name": [{"text": "孫麗"}]}).version.id  # traditional characters
    dispatcher.drain()
    assert _resident_of(index, f"Patient/{first}") == _resident_of(index, f"Patient/{second}")
    repo.delete(ctx, "Patient", second)
    dispatcher.drain()
    with repo.engine.connect() as conn:
        assert index.store.link_of(conn, f"Patient/{second}") is None
