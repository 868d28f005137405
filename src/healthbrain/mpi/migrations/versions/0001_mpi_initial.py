"""mpi: residents (golden records), links, blocking keys, reviews, decisions, history, models

Revision ID: 3a1c0e5d7b01
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "3a1c0e5d7b01"
down_revision = None
branch_labels = ("mpi",)
depends_on = "16afd6c77611"


def upgrade() -> None:
    op.create_table(
        "mpi_block_key",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("patient_ref", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("key", "patient_ref", name=op.f("pk_mpi_block_key")),
    )
    op.create_index("ix_mpi_block_key_patient", "mpi_block_key", ["patient_ref"], unique=False)
    op.create_table(
        "mpi_decision",
        sa.Column("ref_a", sa.String(length=80), nullable=False),
        sa.Column("ref_b", sa.String(length=80), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("levels", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("decided_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("ref_a", "ref_b", name=op.f("pk_mpi_decision")),
    )
    op.create_table(
        "mpi_history",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("resident_id", sa.String(length=64), nullable=True),
        sa.Column("patient_ref", sa.String(length=80), nullable=True),
        sa.Column("other_id", sa.String(length=80), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mpi_history")),
    )
    op.create_index("ix_mpi_history_patient", "mpi_history", ["patient_ref", "id"], unique=False)
    op.create_index("ix_mpi_history_resident", "mpi_history", ["resident_id", "id"], unique=False)
    op.create_table(
        "mpi_link",
        sa.Column("patient_ref", sa.String(length=80), nullable=False),
        sa.Column("resident_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("patient_ref", name=op.f("pk_mpi_link")),
    )
    op.create_index("ix_mpi_link_resident", "mpi_link", ["resident_id"], unique=False)
    op.create_table(
        "mpi_model",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mpi_model")),
    )
    op.create_table(
        "mpi_resident",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("merged_into", sa.String(length=64), nullable=True),
        sa.Column("golden", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mpi_resident")),
    )
    op.create_table(
        "mpi_review",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("patient_ref", sa.String(length=80), nullable=False),
        sa.Column("candidate_ref", sa.String(length=80), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("decided_at", sa.Float(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mpi_review")),
    )
    op.create_index("ix_mpi_review_pair", "mpi_review", ["patient_ref", "candidate_ref"], unique=False)
    op.create_index("ix_mpi_review_status", "mpi_review", ["status", "probability"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_mpi_review_status", table_name="mpi_review")
    op.drop_index("ix_mpi_review_pair", table_name="mpi_review")
    op.drop_table("mpi_review")
    op.drop_table("mpi_resident")
    op.drop_table("mpi_model")
    op.drop_index("ix_mpi_link_resident", table_name="mpi_link")
    op.drop_table("mpi_link")
    op.drop_index("ix_mpi_history_resident", table_name="mpi_history")
    op.drop_index("ix_mpi_history_patient", table_name="mpi_history")
    op.drop_table("mpi_history")
    op.drop_table("mpi_decision")
    op.drop_index("ix_mpi_block_key_patient", table_name="mpi_block_key")
    op.drop_table("mpi_block_key")
