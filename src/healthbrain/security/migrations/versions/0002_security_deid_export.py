"""security: de-identified export runs of approved data-use requests

Revision ID: 5ec0a1d1d701
Revises: 5ec0a1d1b001
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5ec0a1d1d701"
down_revision = "5ec0a1d1b001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_deid_export",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("released", sa.Integer(), nullable=False),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("files", sa.Text(), nullable=True),
        sa.Column("error", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_deid_export")),
    )
    op.create_index(
        "ix_security_deid_export_request", "security_deid_export", ["request_id", "started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_security_deid_export_request", table_name="security_deid_export")
    op.drop_table("security_deid_export")
