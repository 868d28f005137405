"""The monitor keeps each institution's daily score current from committed changes (and is idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from qualitydata import load_noisy_region
from sqlalchemy import Connection, delete, func, select

from healthbrain.core.context import system_context
from healthbrain.core.db import begin_write
from healthbrain.core.settings import EventSettings
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.quality import QualityMonitor, ScoreBoard
from healthbrain.quality import tables as qt
from healthbrain.quality.elements import LOCAL_ZONE
from healthbrain.quality.pending import PendingRecord

CTX = system_context()
SUBSCRIBER = "quality.monitor"


def _findings(repo: FhirRepository) -> dict[str, str]:
    with repo.engine.connect() as conn:
        return dict(conn.execute(select(qt.record.c.record_key, qt.record.c.findings)).all())


def test_scores_per_institution_and_day_with_their_components(repo: FhirRepository, tmp_path: Path) -> None:
    held, dups = load_noisy_region(repo, tmp_path)
    dispatcher = EventDispatcher(repo.engine)
    QualityMonitor(repo).register(dispatcher)
    dispatcher.drain()
    today = datetime.now(LOCAL_ZONE).date()
    board = ScoreBoard(repo.engine)
    rows = board.daily(today - timedelta(days=1), today + timedelta(days=1))
    assert rows and all(0 <= r["score"] <= 100 for r in rows)
    assert sum(r["quarantined"] for r in rows) == held > 0
    # last year's records arrive now: none is timely; the held ones count against validity or consistency
    assert all(
        r["components"]["timeliness"] == 0.0 for r in rows if r["components"]["timeliness"] is not None
    )
    with_held = [r for r in rows if r["quarantined"]]
    assert all(min(r["components"]["validity"], r["components"]["consistency"]) < 100 for r in with_held)
    # the second registration of a person is flagged, the first is not
    findings = _findings(repo)
    flagged = {k for k, v in findings.items() if "uniqueness." in v}
    assert flagged and flagged <= dups
    whole = board.by_institution(today - timedelta(days=1), today + timedelta(days=1))
    assert {r["institution"] for r in whole} == {r["institution"] for r in rows}


def test_redelivery_changes_nothing_and_deletes_are_forgotten(repo: FhirRepository, tmp_path: Path) -> None:
    load_noisy_region(repo, tmp_path)
    dispatcher = EventDispatcher(repo.engine)
    QualityMonitor(repo).register(dispatcher)
    dispatcher.drain()
    before = _findings(repo)
    dispatcher.replay("quality.monitor", 0)
    dispatcher.drain()
    assert _findings(repo) == before
    key = next(k for k in before if k.startswith("Observation/"))
    repo.delete(CTX, *key.split("/", 1))
    dispatcher.drain()
    with repo.engine.connect() as conn:
        left = conn.execute(select(func.count()).where(qt.record.c.record_key == key)).scalar_one()
    assert left == 0


def test_a_record_written_without_the_quarantine_is_still_scored(repo: FhirRepository) -> None:
    obs = {"resourceType": "Observation", "id": "t1", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
           "subject": {"reference": "Patient/nobody"},
           "effectiveDateTime": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
           "valueQuantity": {"value": 365, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"}}  # fmt: skip
    repo.update(CTX, "Observation", "t1", obs)  # e.g. through FHIR REST
    dispatcher = EventDispatcher(repo.engine)
    QualityMonitor(repo).register(dispatcher)
    dispatcher.drain()
    stored = _findings(repo)["Observation/t1"]
    assert "validity.date_future" in stored and "validity.value_impossible" in stored


def _observation(oid: str, code: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "urn:test:lab", "code": code}]},
            "subject": {"reference": "Patient/nobody"}, "effectiveDateTime": "2025-06-01T08:00:00+08:00",
            "valueQuantity": {"value": 5.1, "unit": "mmol/L"}}  # fmt: skip


def _tables(repo: FhirRepository) -> tuple[dict[str, dict[str, Any]], list[tuple[Any, ...]]]:
    """Every evaluation and identity key the monitor stored."""
    with repo.engine.connect() as conn:
        records = {r.record_key: dict(r._mapping) for r in conn.execute(select(qt.record))}
        keys = sorted(tuple(r) for r in conn.execute(select(qt.identity_key)))
    return records, keys


def _score_from_scratch(
    repo: FhirRepository, batch_size: int, monitor: QualityMonitor | None = None
) -> EventDispatcher:
    """Forget the monitor's evaluations and deliver the whole outbox again, `batch_size` at a time."""
    with begin_write(repo.engine) as conn:
        conn.execute(delete(qt.record).where(qt.record.c.record_key.not_like("quarantine/%")))
        conn.execute(delete(qt.identity_key))
    dispatcher = EventDispatcher(repo.engine, EventSettings(batch_size=batch_size))
    (monitor or QualityMonitor(repo)).register(dispatcher)
    dispatcher.replay(SUBSCRIBER, 0)
    return dispatcher


def _change_some(repo: FhirRepository) -> None:
    """Later versions and a deletion after the load (they land in the same batch as other records)."""
    with repo.engine.connect() as conn:
        keys = sorted(conn.execute(select(qt.record.c.record_key)).scalars())
    observations = [k.split("/", 1)[1] for k in keys if k.startswith("Observation/")]
    patient = next(k.split("/", 1)[1] for k in keys if k.startswith("Patient/"))
    changed = dict(repo.read(CTX, "Observation", observations[0]).resource or {})
    repo.update(CTX, "Observation", observations[0], {**changed, "status": "amended"})
    repo.delete(CTX, "Observation", observations[1])
    person = dict(repo.read(CTX, "Patient", patient).resource or {})
    repo.update(CTX, "Patient", patient, {**person, "birthDate": "1950-01-01"})  # new identity keys


def test_a_batch_is_scored_exactly_as_one_record_at_a_time(repo: FhirRepository, tmp_path: Path) -> None:
    _, dups = load_noisy_region(repo, tmp_path)
    first = EventDispatcher(repo.engine)
    QualityMonitor(repo).register(first)
    first.drain()
    _change_some(repo)
    _score_from_scratch(repo, batch_size=1).drain(max_rounds=100_000)
    one_by_one = _tables(repo)
    _score_from_scratch(repo, batch_size=500).drain()
    batched = _tables(repo)
    assert batched == one_by_one
    # the region's later registrations of a person are found although they share a batch with the first
    flagged = {k for k, r in batched[0].items() if "uniqueness." in r["findings"]}
    assert flagged and flagged <= dups


def test_a_record_that_cannot_be_checked_is_retried_alone_and_its_batch_is_scored(
    repo: FhirRepository,
) -> None:
    down = {"flaky"}

    def checker(system: str, code: str) -> bool | None:
        if code in down:
            raise RuntimeError("terminology service unavailable")
        return None

    for oid, code in (("o1", "ok"), ("o2", "flaky"), ("o3", "ok")):
        repo.update(CTX, "Observation", oid, _observation(oid, code))
    now = [1_000_000.0]
    dispatcher = EventDispatcher(repo.engine, EventSettings(backoff_base_seconds=10), clock=lambda: now[0])
    QualityMonitor(repo, checker=checker).register(dispatcher)
    dispatcher.drain()
    assert set(_findings(repo)) == {"Observation/o1", "Observation/o3"}
    down.clear()
    now[0] += 11
    dispatcher.drain()  # the retry alone: no later batch is needed to store it
    assert set(_findings(repo)) == {"Observation/o1", "Observation/o2", "Observation/o3"}


def test_a_batch_whose_write_fails_is_delivered_again_with_the_same_scores(
    repo: FhirRepository, tmp_path: Path
) -> None:
    load_noisy_region(repo, tmp_path)
    _score_from_scratch(repo, batch_size=100).drain()
    reference = _tables(repo)
    monitor = QualityMonitor(repo)
    write = monitor.store.write_batch
    attempts: list[int] = []

    def fails_once(conn: Connection, records: dict[str, PendingRecord]) -> None:
        attempts.append(len(records))
        if len(attempts) == 3:
            raise RuntimeError("disk full")
        write(conn, records)

    dispatcher = _score_from_scratch(repo, batch_size=100, monitor=monitor)
    monitor.store.write_batch = fails_once  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        dispatcher.drain()
    assert 0 < len(_tables(repo)[0]) < len(reference[0])  # the batches before were written
    dispatcher.drain()
    assert _tables(repo) == reference


def _person(pid: str, born: str, ident: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "male", "birthDate": born,
            "name": [{"family": "张", "given": ["三"]}], "managingOrganization": {"reference": "Organization/h1"},
            "identifier": [{"system": "urn:test:mrn", "value": ident}]}  # fmt: skip


@pytest.mark.parametrize("batch_size", [1, 500])
def test_duplicates_are_judged_against_the_records_before_them_in_the_batch(
    repo: FhirRepository, batch_size: int
) -> None:
    dispatcher = EventDispatcher(repo.engine, EventSettings(batch_size=batch_size))
    QualityMonitor(repo).register(dispatcher)
    repo.update(CTX, "Patient", "p1", _person("p1", "1980-01-01", "111"))
    dispatcher.drain()
    # one batch: p1's birth date is corrected, then two more registrations arrive
    repo.update(CTX, "Patient", "p1", _person("p1", "1981-02-02", "111"))
    repo.update(CTX, "Patient", "p2", _person("p2", "1980-01-01", "222"))  # p1 as it was: no longer held
    repo.update(CTX, "Patient", "p3", _person("p3", "1981-02-02", "333"))  # p1 as it is now
    dispatcher.drain()
    findings = _findings(repo)
    assert "uniqueness." not in findings["Patient/p1"] + findings["Patient/p2"]
    assert "uniqueness.possible_duplicate" in findings["Patient/p3"]
