"""quality: quarantine and holds, record evaluations, identity keys, results recognition

Revision ID: 9a17c3e5d201
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "9a17c3e5d201"
down_revision = None
branch_labels = ("quality",)
depends_on = "16afd6c77611"


def upgrade() -> None:
    op.create_table(
        "quality_quarantine",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("institution", sa.String(80), nullable=False),
        sa.Column("feed", sa.String(40), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("res_id", sa.String(64), nullable=True),
        sa.Column("full_url", sa.String(500), nullable=True),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("own", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("decided_at", sa.Float(), nullable=True),
        sa.Column("decided_by", sa.String(80), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("released_ref", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_quarantine")),
    )
    op.create_index(
        "ix_quality_quarantine_status", "quality_quarantine", ["status", "institution", "received_at"]
    )
    op.create_index("ix_quality_quarantine_key", "quality_quarantine", ["res_type", "res_id"])
    op.create_table(
        "quality_hold",
        sa.Column("entry_id", sa.String(36), nullable=False),
        sa.Column("holder_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("entry_id", "holder_id", name=op.f("pk_quality_hold")),
    )
    op.create_index("ix_quality_hold_holder", "quality_hold", ["holder_id"])
    op.create_table(
        "quality_record",
        sa.Column("record_key", sa.String(140), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("institution", sa.String(80), nullable=False),
        sa.Column("feed", sa.String(40), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("arrived_at", sa.Float(), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("present", sa.Integer(), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("consistent", sa.Boolean(), nullable=False),
        sa.Column("unique_ok", sa.Boolean(), nullable=False),
        sa.Column("timely", sa.Boolean(), nullable=True),
        sa.Column("lag_seconds", sa.Float(), nullable=True),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("quarantined", sa.Boolean(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("record_key", name=op.f("pk_quality_record")),
    )
    op.create_index("ix_quality_record_institution_day", "quality_record", ["institution", "day"])
    op.create_index("ix_quality_record_day", "quality_record", ["day"])
    op.create_table(
        "quality_identity_key",
        sa.Column("institution", sa.String(80), nullable=False),
        sa.Column("key_hash", sa.String(80), nullable=False),
        sa.Column("record_key", sa.String(140), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "institution", "key_hash", "record_key", name=op.f("pk_quality_identity_key")
        ),
    )
    op.create_index("ix_quality_identity_key_record", "quality_identity_key", ["record_key"])
    op.create_table(
        "quality_recognition",
        sa.Column("order_ref", sa.String(140), nullable=False),
        sa.Column("test", sa.String(40), nullable=False),
        sa.Column("result_ref", sa.String(140), nullable=False),
        sa.Column("result_institution", sa.String(80), nullable=False),
        sa.Column("result_time", sa.String(40), nullable=False),
        sa.Column("patient_ref", sa.String(140), nullable=False),
        sa.Column("order_institution", sa.String(80), nullable=False),
        sa.Column("same_institution", sa.Boolean(), nullable=False),
        sa.Column("issue_ref", sa.String(140), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("order_ref", "test", name=op.f("pk_quality_recognition")),
    )
    op.create_index("ix_quality_recognition_patient", "quality_recognition", ["patient_ref"])


def downgrade() -> None:
    for name in ("quality_recognition", "quality_identity_key", "quality_record", "quality_hold",
                 "quality_quarantine"):  # fmt: skip
        op.drop_table(name)
