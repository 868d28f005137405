"""quality: daily tallies per institution, day, feed and type, kept with the record evaluations

Revision ID: 5d2b8e41c0a7
Revises: 9a17c3e5d201
Create Date: 2026-12-06

`quality_day` holds the sums of `quality_record` per (institution, day, feed, res_type); the quality store
keeps it in the transactions that change the records from now on, and scores read it. The upgrade
fills it from the records already evaluated.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5d2b8e41c0a7"
down_revision = "9a17c3e5d201"
branch_labels = None
depends_on = None

# The tallies as they were at this revision: column, and the sum over quality_record that fills it.
TALLIES = (
    ("records", "1"),
    ("expected", "expected"),
    ("present", "present"),
    ("valid", "CASE WHEN valid THEN 1 ELSE 0 END"),
    ("consistent", "CASE WHEN consistent THEN 1 ELSE 0 END"),
    ("unique_ok", "CASE WHEN unique_ok THEN 1 ELSE 0 END"),
    ("timed", "CASE WHEN timely IS NULL THEN 0 ELSE 1 END"),
    ("timely", "CASE WHEN timely THEN 1 ELSE 0 END"),
    ("quarantined", "CASE WHEN quarantined THEN 1 ELSE 0 END"),
    ("flagged", "CASE WHEN flagged THEN 1 ELSE 0 END"),
)


def upgrade() -> None:
    op.create_table(
        "quality_day",
        sa.Column("institution", sa.String(80), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("feed", sa.String(40), nullable=False),
        sa.Column("res_type", sa.String(64), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name, _ in TALLIES),
        sa.PrimaryKeyConstraint("institution", "day", "feed", "res_type", name=op.f("pk_quality_day")),
    )
    op.create_index("ix_quality_day_day", "quality_day", ["day"])
    op.execute(backfill_sql())


def backfill_sql() -> str:
    """INSERT ... SELECT of the sums of the records evaluated so far."""
    names = ", ".join(name for name, _ in TALLIES)
    sums = ", ".join(f"SUM({expr})" for _, expr in TALLIES)
    return (
        f"INSERT INTO quality_day (institution, day, feed, res_type, {names}) "
        f"SELECT institution, day, feed, res_type, {sums} FROM quality_record "
        "GROUP BY institution, day, feed, res_type"
    )


def downgrade() -> None:
    op.drop_index("ix_quality_day_day", table_name="quality_day")
    op.drop_table("quality_day")
