"""terminology: the review queue of unmapped local codes and where they were seen

Revision ID: 7c4e2b9d1a30
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "7c4e2b9d1a30"
down_revision = None
branch_labels = ("terminology",)
depends_on = "16afd6c77611"

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "terminology_review",
        sa.Column("id", _BIGINT, autoincrement=True, nullable=False),
        sa.Column("system", sa.String(length=500), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("display", sa.Text(), nullable=True),
        sa.Column("institution", sa.String(length=100), nullable=True),
        sa.Column("element", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("target_system", sa.String(length=500), nullable=True),
        sa.Column("target_code", sa.String(length=200), nullable=True),
        sa.Column("target_display", sa.Text(), nullable=True),
        sa.Column("equivalence", sa.String(length=20), nullable=True),
        sa.Column("concept_map", sa.String(length=100), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.Float(), nullable=True),
        sa.Column("applied", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminology_review")),
        sa.UniqueConstraint("system", "code", name="uq_terminology_review_code"),
    )
    op.create_index(
        "ix_terminology_review_status", "terminology_review", ["status", "last_seen"], unique=False
    )
    op.create_table(
        "terminology_review_occurrence",
        sa.Column("review_id", _BIGINT, nullable=False),
        sa.Column("res_type", sa.String(length=64), nullable=False),
        sa.Column("res_id", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "review_id", "res_type", "res_id", name=op.f("pk_terminology_review_occurrence")
        ),
    )


def downgrade() -> None:
    op.drop_table("terminology_review_occurrence")
    op.drop_index("ix_terminology_review_status", table_name="terminology_review")
    op.drop_table("terminology_review")
