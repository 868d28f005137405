"""surveillance: cases, their source reports, daily counts, signals and their workflow, officers

Revision ID: 5e7a1c2d9b40
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5e7a1c2d9b40"
down_revision = None
branch_labels = ("surveillance",)
depends_on = "16afd6c77611"

AutoBigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "surv_case",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("resident", sa.String(80), nullable=False),
        sa.Column("disease", sa.String(40), nullable=False),
        sa.Column("onset", sa.String(10), nullable=False),
        sa.Column("area", sa.String(12), nullable=False),
        sa.Column("unit", sa.String(80), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surv_case")),
    )
    op.create_index("ix_surv_case_resident_disease", "surv_case", ["resident", "disease", "onset"])
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
    op.create_table(
        "surv_daily_count",
        sa.Column("disease", sa.String(40), nullable=False),
        sa.Column("area", sa.String(12), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("disease", "area", "day", name=op.f("pk_surv_daily_count")),
    )
    op.create_table(
        "surv_signal",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("disease", sa.String(40), nullable=False),
        sa.Column("area", sa.String(12), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("method", sa.String(24), nullable=False),
        sa.Column("observed", sa.Float(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("pvalue", sa.Float(), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("assignee", sa.String(80), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("issue_ref", sa.String(80), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("assigned_at", sa.Float(), nullable=True),
        sa.Column("verified_at", sa.Float(), nullable=True),
        sa.Column("responded_at", sa.Float(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surv_signal")),
        sa.UniqueConstraint("key", name=op.f("uq_surv_signal_key")),
    )
    op.create_index("ix_surv_signal_status", "surv_signal", ["status", "created_at"])
    op.create_index("ix_surv_signal_area", "surv_signal", ["area", "day"])
    op.create_table(
        "surv_signal_event",
        sa.Column("seq", AutoBigInt, nullable=False, autoincrement=True),
        sa.Column("signal_id", sa.String(64), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(80), nullable=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_surv_signal_event")),
    )
    op.create_index("ix_surv_signal_event_signal", "surv_signal_event", ["signal_id", "seq"])
    op.create_table(
        "surv_officer",
        sa.Column("area", sa.String(12), nullable=False),
        sa.Column("practitioner", sa.String(80), nullable=False),
        sa.PrimaryKeyConstraint("area", name=op.f("pk_surv_officer")),
    )


def downgrade() -> None:
    for name in ("surv_officer", "surv_signal_event", "surv_signal", "surv_daily_count", "surv_case_source",
                 "surv_case"):  # fmt: skip
        op.drop_table(name)
