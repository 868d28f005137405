"""The second surveillance migration carries the cases and counts of a running deployment over."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from healthbrain.core.db import create_db_engine
from healthbrain.storage.migrate import upgrade_database

FIRST = "5e7a1c2d9b40"  # 0001_surveillance_initial


def test_cases_and_daily_counts_survive_the_upgrade(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade_database(engine, FIRST)
    with engine.begin() as conn:
        for cid, onset, status in (("a", "2025-01-05", "active"), ("b", "2025-01-06", "active"),
                                   ("c", "2025-01-06", "withdrawn")):  # fmt: skip
            conn.execute(
                text(
                    "insert into surv_case values (:id, 'R1', 'hfmd', :onset, '330802', 'clinic', :st, 0, 0)"
                ),
                {"id": cid, "onset": onset, "st": status},
            )
            conn.execute(
                text("insert into surv_case_source values (:src, 1, :id, :onset, :st)"),
                {"src": f"Condition/{cid}", "id": cid, "onset": onset, "st": status},
            )
        conn.execute(text("insert into surv_daily_count values ('hfmd', '330802', '2025-01-05', 1)"))
        conn.execute(text("insert into surv_daily_count values ('hfmd', '330802', '2025-01-06', 1)"))
    upgrade_database(engine)
    with engine.connect() as conn:
        counts = conn.execute(text("select freq, period, cases from surv_count order by freq, period")).all()
        reports = conn.execute(
            text("select source, key, kind, status from surv_case_report order by source")
        ).all()
        tables = {r[0] for r in conn.execute(text("select name from sqlite_master where type = 'table'"))}
    # 5 January 2025 is the Sunday of ISO week 1, the 6th the Monday of week 2
    assert [tuple(c) for c in counts] == [("day", "2025-01-05", 1), ("day", "2025-01-06", 1),
                                          ("week", "2025-W01", 1), ("week", "2025-W02", 1)]  # fmt: skip
    assert [tuple(r) for r in reports] == [("Condition/a", "hfmd", "diagnosis", "active"),
                                           ("Condition/b", "hfmd", "diagnosis", "active"),
                                           ("Condition/c", "hfmd", "diagnosis", "withdrawn")]  # fmt: skip
    assert "surv_case_source" not in tables and "surv_daily_count" not in tables
    engine.dispose()
