"""security: accounts, clients, keys, sessions, break-glass, audit chain, anomalies, data-use approvals

Revision ID: 5ec0a1d1b001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5ec0a1d1b001"
down_revision = None
branch_labels = ("security",)
depends_on = "16afd6c77611"


def upgrade() -> None:

    op.create_table(
        "security_anomaly",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("detected_at", sa.Float(), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=True),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_anomaly")),
    )
    op.create_index("ix_security_anomaly_time", "security_anomaly", ["detected_at"], unique=False)
    op.create_table(
        "security_audit",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("recorded_at", sa.Float(), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("principal_kind", sa.String(length=16), nullable=False),
        sa.Column("organization", sa.String(length=64), nullable=True),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=True),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.Column("patients", sa.Text(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=128), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("break_glass", sa.Boolean(), nullable=False),
        sa.Column("prev_hash", sa.String(length=128), nullable=False),
        sa.Column("hash", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_security_audit")),
    )
    op.create_index(
        "ix_security_audit_principal", "security_audit", ["principal", "recorded_at"], unique=False
    )
    op.create_index("ix_security_audit_time", "security_audit", ["recorded_at"], unique=False)
    op.create_table(
        "security_audit_checkpoint",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=128), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_security_audit_checkpoint")),
    )
    op.create_table(
        "security_audit_patient",
        sa.Column("patient", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("patient", "seq", name=op.f("pk_security_audit_patient")),
    )
    op.create_table(
        "security_break_glass",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("principal", sa.String(length=128), nullable=False),
        sa.Column("organization", sa.String(length=64), nullable=True),
        sa.Column("patient", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_break_glass")),
    )
    op.create_index(
        "ix_security_break_glass_principal", "security_break_glass", ["principal", "expires_at"], unique=False
    )
    op.create_table(
        "security_client",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("organization", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_client")),
    )
    op.create_table(
        "security_data_use_decision",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("approver", sa.String(length=128), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "level", name=op.f("pk_security_data_use_decision")),
    )
    op.create_table(
        "security_data_use_request",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("requester", sa.String(length=128), nullable=False),
        sa.Column("organization", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_data_use_request")),
    )
    op.create_table(
        "security_key",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("wrapped", sa.Text(), nullable=False),
        sa.Column("public", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("retired_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_key")),
    )
    op.create_index("ix_security_key_purpose", "security_key", ["purpose", "retired_at"], unique=False)
    op.create_table(
        "security_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("refresh_hash", sa.String(length=128), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_session")),
        sa.UniqueConstraint("refresh_hash", name=op.f("uq_security_session_refresh_hash")),
    )
    op.create_index("ix_security_session_subject", "security_session", ["subject"], unique=False)
    op.create_table(
        "security_used_refresh",
        sa.Column("refresh_hash", sa.String(length=128), nullable=False),
        sa.Column("session", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("refresh_hash", name=op.f("pk_security_used_refresh")),
    )
    op.create_table(
        "security_user",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("roles", sa.Text(), nullable=False),
        sa.Column("organization", sa.String(length=64), nullable=False),
        sa.Column("practitioner", sa.String(length=64), nullable=True),
        sa.Column("totp_secret", sa.Text(), nullable=True),
        sa.Column("mfa_enrolled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.Float(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_totp_step", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_user")),
        sa.UniqueConstraint("username", name=op.f("uq_security_user_username")),
    )


def downgrade() -> None:

    op.drop_table("security_user")
    op.drop_table("security_used_refresh")
    op.drop_index("ix_security_session_subject", table_name="security_session")
    op.drop_table("security_session")
    op.drop_index("ix_security_key_purpose", table_name="security_key")
    op.drop_table("security_key")
    op.drop_table("security_data_use_request")
    op.drop_table("security_data_use_decision")
    op.drop_table("security_client")
    op.drop_index("ix_security_break_glass_principal", table_name="security_break_glass")
    op.drop_table("security_break_glass")
    op.drop_table("security_audit_patient")
    op.drop_table("security_audit_checkpoint")
    op.drop_index("ix_security_audit_time", table_name="security_audit")
    op.drop_index("ix_security_audit_principal", table_name="security_audit")
    op.drop_table("security_audit")
    op.drop_index("ix_security_anomaly_time", table_name="security_anomaly")
    op.drop_table("security_anomaly")
