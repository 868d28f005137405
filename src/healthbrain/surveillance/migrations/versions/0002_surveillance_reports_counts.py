"""surveillance: reports per key (diagnoses and laboratory results), townships, counts by day and ISO week

Revision ID: 5e7a1c2d9b41
Revises: 5e7a1c2d9b40
Create Date: 2026-12-10

Cases gain their township and whether a laboratory result confirms them; a report may now count
towards several keys (a disease and syndromes), so `surv_case_source` becomes `surv_case_report`
keyed by (source, key); `surv_daily_count` becomes `surv_count` with daily and weekly periods at
county and township level. Existing rows are carried over (their townships are unknown).
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import sqlalchemy as sa
from alembic import op

revision = "5e7a1c2d9b41"
down_revision = "5e7a1c2d9b40"
branch_labels = None
depends_on = None


def _iso_week(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year:04d}-W{week:02d}"


def upgrade() -> None:
    with op.batch_alter_table("surv_case") as batch:
        batch.add_column(sa.Column("township", sa.String(40), nullable=True))
        batch.add_column(sa.Column("lab_confirmed", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "surv_case_report",
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("resident", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("onset", sa.String(10), nullable=False),
        sa.Column("township", sa.String(40), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.PrimaryKeyConstraint("source", "key", name=op.f("pk_surv_case_report")),
    )
    op.create_index("ix_surv_case_report_case", "surv_case_report", ["case_id"])
    op.create_index("ix_surv_case_report_held", "surv_case_report", ["resident", "key", "status"])
    op.create_table(
        "surv_count",
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("freq", sa.String(4), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("area", sa.String(64), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "freq", "level", "area", "period", name=op.f("pk_surv_count")),
    )
    op.create_index("ix_surv_count_period", "surv_count", ["freq", "level", "period"])
    _carry_over()
    op.drop_index("ix_surv_case_source_case", table_name="surv_case_source")
    op.drop_table("surv_case_source")
    op.drop_table("surv_daily_count")


def _carry_over() -> None:
    """Old reports become diagnosis reports of their case's disease; counts are rebuilt from cases."""
    conn = op.get_bind()
    meta = sa.MetaData()
    old = sa.Table("surv_case_source", meta, autoload_with=conn)
    case = sa.Table("surv_case", meta, autoload_with=conn)
    report = sa.Table("surv_case_report", meta, autoload_with=conn)
    count = sa.Table("surv_count", meta, autoload_with=conn)
    rows = conn.execute(
        sa.select(
            old.c.source,
            old.c.version,
            old.c.case_id,
            old.c.onset,
            old.c.status,
            case.c.disease,
            case.c.resident,
        ).join(case, case.c.id == old.c.case_id)
    ).all()
    if rows:
        conn.execute(
            sa.insert(report),
            [{"source": r.source, "key": r.disease, "version": r.version, "case_id": r.case_id,
              "resident": r.resident, "kind": "diagnosis", "onset": r.onset, "township": None,
              "status": r.status} for r in rows],
        )  # fmt: skip
    totals: Counter[tuple[str, str, str, str]] = Counter()
    active = sa.select(case.c.disease, case.c.area, case.c.onset).where(case.c.status == "active")
    for disease, area, onset in conn.execute(active):
        totals[(disease, "day", area, onset)] += 1
        totals[(disease, "week", area, _iso_week(onset))] += 1
    if totals:
        conn.execute(
            sa.insert(count),
            [{"key": k, "freq": f, "level": "county", "area": a, "period": p, "cases": n}
             for (k, f, a, p), n in totals.items()],
        )  # fmt: skip


def downgrade() -> None:
    op.create_table(
        "surv_daily_count",
        sa.Column("disease", sa.String(40), nullable=False),
        sa.Column("area", sa.String(12), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("disease", "area", "day", name=op.f("pk_surv_daily_count")),
    )
    op.create_table(
        "surv_case_source",
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("onset", sa.String(10), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_surv_case_source")),
    )
    op.create_index("ix_surv_case_source_case", "surv_case_source", ["case_id"])
    # Only the county-level daily counts and one report per source survive a downgrade.
    op.execute(
        "insert into surv_daily_count (disease, area, day, cases) select key, area, period, cases "
        "from surv_count where freq = 'day' and level = 'county' and length(area) <= 12"
    )
    op.execute(
        "insert into surv_case_source (source, version, case_id, onset, status) "
        "select source, max(version), min(case_id), min(onset), min(status) from surv_case_report "
        "where case_id <> '' group by source"
    )
    op.drop_table("surv_count")
    op.drop_index("ix_surv_case_report_held", table_name="surv_case_report")
    op.drop_index("ix_surv_case_report_case", table_name="surv_case_report")
    op.drop_table("surv_case_report")
    with op.batch_alter_table("surv_case") as batch:
        batch.drop_column("lab_confirmed")
        batch.drop_column("township")
