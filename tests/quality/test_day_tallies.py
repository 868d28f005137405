"""Scores read daily tallies kept beside the record evaluations: after loads, held entries,
corrections, releases, deletes and redelivery the tallies are the sums of the records themselves,
and the migration fills them for a deployment that evaluated records before they existed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qualitydata import load_noisy_region
from sqlalchemy import Engine, inspect, select

from healthbrain.core.context import system_context
from healthbrain.fhir.events import EventDispatcher
from healthbrain.fhir.repository import FhirRepository
from healthbrain.quality import QualityMonitor, QuarantineDesk
from healthbrain.quality import tables as qt
from healthbrain.storage.migrate import upgrade_database
from migrating import downgrade

CTX = system_context()
Tallies = dict[tuple[str, str, str, str], tuple[int, ...]]


def _kept(engine: Engine) -> Tallies:
    d = qt.day_tally.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(d.institution, d.day, d.feed, d.res_type, *(d[c] for c in qt.TALLY_COLUMNS))
        )
        return {(r[0], r[1], r[2], r[3]): tuple(r[4:]) for r in rows if r.records}


def _summed(engine: Engine) -> Tallies:
    """The tallies worked out here from every stored evaluation."""
    out: dict[tuple[str, str, str, str], list[int]] = {}
    with engine.connect() as conn:
        for r in conn.execute(select(qt.record)).mappings():
            acc = out.setdefault((r["institution"], r["day"], r["feed"], r["res_type"]), [0] * 10)
            measures = (1, r["expected"], r["present"], r["valid"], r["consistent"], r["unique_ok"],
                        r["timely"] is not None, bool(r["timely"]), r["quarantined"], r["flagged"])  # fmt: skip
            for i, v in enumerate(measures):
                acc[i] += int(v)
    return {k: tuple(v) for k, v in out.items()}


def _evaluated(repo: FhirRepository, tmp_path: Path) -> EventDispatcher:
    held, _ = load_noisy_region(repo, tmp_path)
    assert held > 0
    dispatcher = EventDispatcher(repo.engine)
    QualityMonitor(repo).register(dispatcher)
    dispatcher.drain()
    return dispatcher


def _observation(repo: FhirRepository, n: int) -> dict[str, Any]:
    with repo.engine.connect() as conn:
        keys = conn.execute(
            select(qt.record.c.record_key).where(qt.record.c.res_type == "Observation").order_by("record_key")
        ).scalars()
        key = list(keys)[n]
    return repo.read(CTX, *key.split("/", 1)).resource


def test_the_tallies_are_the_sums_of_the_records_through_every_change(
    repo: FhirRepository, tmp_path: Path
) -> None:
    dispatcher = _evaluated(repo, tmp_path)
    kept = _kept(repo.engine)
    assert kept == _summed(repo.engine)
    assert sum(v[0] for v in kept.values()) > 500
    assert sum(v[qt.TALLY_COLUMNS.index("quarantined")] for v in kept.values()) > 0

    # a correction that makes a record fail, a delete, and a held entry released as it is
    wrong = _observation(repo, 0)
    wrong["status"] = "final"
    wrong["effectiveDateTime"] = "2999-01-01T00:00:00+08:00"
    repo.update(CTX, "Observation", wrong["id"], wrong)
    gone = _observation(repo, 1)
    repo.delete(CTX, "Observation", gone["id"])
    desk = QuarantineDesk(repo)
    held, _ = desk.entries(CTX, status="held", limit=1000)
    with repo.engine.connect() as conn:
        free = next(r for r in held if r.own and not desk.store.holders(conn, r.id))
    desk.release(CTX, free.id, note="checked by phone", override=True)
    dispatcher.drain()
    after = _kept(repo.engine)
    assert after == _summed(repo.engine)
    assert after != kept
    flagged = qt.TALLY_COLUMNS.index("flagged")
    assert sum(v[flagged] for v in after.values()) >= sum(v[flagged] for v in kept.values())

    # delivering everything again changes no sum
    dispatcher.replay("quality.monitor", 0)
    dispatcher.drain()
    assert _kept(repo.engine) == after


def test_the_migration_fills_the_tallies_of_records_evaluated_before_it(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    _evaluated(FhirRepository(fresh_engine, validate=False), tmp_path)
    kept = _kept(fresh_engine)
    assert kept

    downgrade(fresh_engine, "quality@-1")
    assert qt.day_tally.name not in inspect(fresh_engine).get_table_names()
    upgrade_database(fresh_engine)
    assert _kept(fresh_engine) == kept
