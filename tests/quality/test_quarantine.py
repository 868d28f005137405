"""Quarantine on the file ingest path, on SQLite and PostgreSQL: what fails hard rules is held with its
reasons (not loaded, not dropped), what depends on it waits with it, and operators fix and release."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from qualitydata import copy, write_region_files
from sqlalchemy import func, select

from healthbrain.core.context import system_context
from healthbrain.core.errors import Conflict, InvalidInput, NotFound, Unprocessable
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest import ingest_path
from healthbrain.ingest.quarantine import open_quarantine
from healthbrain.quality import QuarantineDesk, QuarantineRow
from healthbrain.quality import tables as qt
from healthbrain.quality.evaluation import EXPECTED_RULES
from healthbrain.quality.injection import InjectedAnomaly, inject_anomalies
from healthbrain.simulation import InjectedError, RegionConfig, simulate_region

CTX = system_context()
HARD_KINDS = {"id_digit_typo", "id_transposition", "birthdate_swap", "unit_mixup", "impossible_value",
              "future_date", "bp_swap", "sex_diagnosis", "period_reversed", "before_birth", "missing_code"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Feed:
    directory: Path
    errors: list[InjectedError]
    anomalies: list[InjectedAnomaly]
    resources: dict[str, dict[str, Any]]  # Type/id -> resource as sent
    originals: dict[str, dict[str, Any]]  # Type/id -> resource before the clinical anomaly
    shared: int  # region-wide resources (organisations, staff)

    def truth(self) -> dict[str, str]:
        return {**{e.record: e.kind for e in self.errors}, **{a.record: a.kind for a in self.anomalies}}


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Feed:
    config = RegionConfig(patients=50, seed=31, noise_rate=0.3, duplicate_rate=0.05)
    region = simulate_region(config)
    institutions = {k: list(v) for k, v in region.institutions.items()}
    originals = {f"{r['resourceType']}/{r['id']}": r for rs in institutions.values() for r in rs}
    errors = region.ground_truth.errors
    # the records arrive now: future dates are drawn after today
    anomalies = inject_anomalies(institutions, seed=32, rate=0.01, year=config.year, arrival=datetime.now(UTC),
                                 skip=frozenset(e.record for e in errors))  # fmt: skip
    directory = tmp_path_factory.mktemp("feed")
    write_region_files(directory, region.shared, institutions)
    resources = {f"{r['resourceType']}/{r['id']}": r for rs in institutions.values() for r in rs}
    return Feed(directory, errors, anomalies, resources, originals, len(region.shared))


def _held(repo: FhirRepository) -> list[QuarantineRow]:
    rows, _ = QuarantineDesk(repo).entries(CTX, status="held", limit=10_000)
    return rows


def _key(row: QuarantineRow) -> str:
    return f"{row.res_type}/{row.res_id}"


def _exists(repo: FhirRepository, ref: str) -> bool:
    try:
        repo.read(CTX, *ref.split("/", 1))
        return True
    except NotFound:
        return False


def test_hard_failures_are_held_with_their_reasons_and_the_rest_is_loaded(
    repo: FhirRepository, feed: Feed
) -> None:
    summary = ingest_path(repo, CTX, feed.directory, quarantine=open_quarantine(repo))
    assert summary.errors == []
    held = {_key(r): r for r in _held(repo)}
    assert summary.quarantined == len(held) > 0
    for record, kind in feed.truth().items():
        if kind in HARD_KINDS:
            row = held[record]
            assert row.own and {f.rule for f in row.findings} & EXPECTED_RULES[kind], (record, kind)
            assert not _exists(repo, record)
    # what waits with a held record refers to one and has no hard failure of its own
    for row in held.values():
        if not row.own:
            assert row.findings == () or all(f.severity == "soft" for f in row.findings)
    # everything else was written: nothing dropped, nothing twice
    assert sum(summary.resources.values()) + len(held) == feed.shared + len(feed.resources)
    soft = [
        r for r, k in feed.truth().items() if k in ("missing_id_number", "invalid_code", "duplicate_record")
    ]
    assert soft and all(_exists(repo, r) or r in held for r in soft)


def test_a_rerun_neither_loads_nor_holds_twice(repo: FhirRepository, feed: Feed) -> None:
    first = ingest_path(repo, CTX, feed.directory, quarantine=open_quarantine(repo))
    again = ingest_path(repo, CTX, feed.directory, quarantine=open_quarantine(repo))
    assert again.quarantined == 0 and again.skipped_units == first.units
    with repo.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(qt.quarantine)).scalar_one() == first.quarantined


def test_a_fixed_record_is_released_through_the_repository_with_what_waited_for_it(
    repo: FhirRepository, feed: Feed
) -> None:
    ingest_path(repo, CTX, feed.directory, quarantine=open_quarantine(repo))
    desk = QuarantineDesk(repo)
    held = {_key(r): r for r in _held(repo)}
    injected = {a.record for a in feed.anomalies}
    with repo.engine.connect() as conn:
        dependents = {r.id: desk.store.dependents(conn, r.id) for r in held.values()}
        free = {r.id for r in held.values() if not desk.store.holders(conn, r.id)}
    record = next(k for k, r in held.items() if r.own and k in injected and dependents[r.id] and r.id in free)
    row = held[record]
    with pytest.raises(Unprocessable) as still:
        desk.release(CTX, row.id)  # as it is: still failing
    assert still.value.code == "quality.still_failing"
    outcome = desk.release(CTX, row.id, copy(feed.originals[record]))  # the corrected record
    released = dict(outcome.released)
    assert released[row.id] == record and _exists(repo, record)
    assert set(dependents[row.id]) <= set(released)  # what waited only for it went with it
    assert all(_exists(repo, ref) for ref in released.values())
    with pytest.raises(Conflict):
        desk.release(CTX, row.id, copy(feed.originals[record]))


def test_overrides_need_a_note_and_discarded_records_stay_out(repo: FhirRepository, feed: Feed) -> None:
    ingest_path(repo, CTX, feed.directory, quarantine=open_quarantine(repo))
    desk = QuarantineDesk(repo)
    with repo.engine.connect() as conn:
        own = [r for r in _held(repo) if r.own and not desk.store.holders(conn, r.id)]
    first, second = own[0], own[1]
    with pytest.raises(InvalidInput) as err:
        desk.release(CTX, first.id, override=True)
    assert err.value.code == "quality.override_note"
    desk.release(CTX, first.id, override=True, note="confirmed with the sending laboratory")
    assert _exists(repo, _key(first)) or first.res_id is None
    desk.discard(CTX, second.id, note="duplicate send")
    assert desk.read(CTX, second.id)[0].status == "discarded"
    with pytest.raises(Conflict):
        desk.release(CTX, second.id, override=True, note="too late")


def test_a_record_waiting_for_another_cannot_jump_the_queue(repo: FhirRepository, feed: Feed) -> None:
    ingest_path(repo, CTX, feed.directory, quarantine=open_quarantine(repo))
    desk = QuarantineDesk(repo)
    dependent = next(r for r in _held(repo) if not r.own)
    with pytest.raises(Conflict) as err:
        desk.release(CTX, dependent.id)
    assert err.value.code == "quality.held_by_others"


def test_a_transaction_that_fails_holds_nothing(repo: FhirRepository, feed: Feed, tmp_path: Path) -> None:
    obs = copy(next(feed.resources[a.record] for a in feed.anomalies if a.kind == "impossible_value"))
    broken = {"resourceType": "Observation", "status": "final", "code": obs.get("code"),
              "subject": {"reference": "urn:uuid:0b8b3e9e-0000-4000-8000-000000000000"}}  # fmt: skip
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": obs, "request": {"method": "PUT", "url": f"Observation/{obs['id']}"}},
        {"resource": broken, "request": {"method": "POST", "url": "Observation"}},
    ]}  # fmt: skip
    import orjson

    (tmp_path / "bad.json").write_bytes(orjson.dumps(bundle))
    summary = ingest_path(repo, CTX, tmp_path / "bad.json", quarantine=open_quarantine(repo))
    assert [e.code for e in summary.errors] == ["fhir.transaction_entry"]
    assert _held(repo) == [] and summary.quarantined == 0
