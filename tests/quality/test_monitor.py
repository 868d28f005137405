"""The monitor keeps each institution's daily score current from committed changes (and is idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from qualitydata import write_region_files
from sqlalchemy import func, select

from healthbrain.core.context import system_context
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest import ingest_path
from healthbrain.ingest.quarantine import open_quarantine
from healthbrain.quality import QualityMonitor, ScoreBoard
from healthbrain.quality import tables as qt
from healthbrain.quality.elements import LOCAL_ZONE
from healthbrain.simulation import RegionConfig, simulate_region

CTX = system_context()


def _load(repo: FhirRepository, tmp_path: Path) -> tuple[int, set[str]]:
    region = simulate_region(RegionConfig(patients=40, seed=41, noise_rate=0.3, duplicate_rate=0.2))
    write_region_files(tmp_path, region.shared, {k: list(v) for k, v in region.institutions.items()})
    summary = ingest_path(repo, CTX, tmp_path, quarantine=open_quarantine(repo))
    dups = {e.record for e in region.ground_truth.errors if e.kind == "duplicate_record"}
    return summary.quarantined, dups


def _findings(repo: FhirRepository) -> dict[str, str]:
    with repo.engine.connect() as conn:
        return dict(conn.execute(select(qt.record.c.record_key, qt.record.c.findings)).all())


def test_scores_per_institution_and_day_with_their_components(repo: FhirRepository, tmp_path: Path) -> None:
    held, dups = _load(repo, tmp_path)
    dispatcher = EventDispatcher(repo.engine)
    QualityMonitor(repo).register(dispatcher)
    dispatcher.drain()
    today = datetime.now(LOCAL_ZONE).date()
    board = ScoreBoard(repo.engine)
    rows = board.daily(today - timedelta(days=1), today + timedelta(days=1))
    assert rows and all(0 <= r["score"] <= 100 for r in rows)
    assert sum(r["quarantined"] for r in rows) == held > 0
    # last year's records arrive now: none is timely; the held ones count against validity or consistency
    assert all(r["components"]["timeliness"] == 0.0 for r in rows if r["components"]["timeliness"] is not None)
    with_held = [r for r in rows if r["quarantined"]]
    assert all(min(r["components"]["validity"], r["components"]["consistency"]) < 100 for r in with_held)
    # the second registration of a person is flagged, the first is not
    findings = _findings(repo)
    flagged = {k for k, v in findings.items() if "uniqueness." in v}
    assert flagged and flagged <= dups
    whole = board.by_institution(today - timedelta(days=1), today + timedelta(days=1))
    assert {r["institution"] for r in whole} == {r["institution"] for r in rows}


def test_redelivery_changes_nothing_and_deletes_are_forgotten(repo: FhirRepository, tmp_path: Path) -> None:
    _load(repo, tmp_path)
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
