"""cds: tracked results, vital signs, alerts and their closed loop, notifications, webhooks, on-call roster,
pharmacist review queue, data-quality issues, uploaded knowledge files, CDS Hooks feedback

Revision ID: 6c0d5a1e9b26
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "6c0d5a1e9b26"
down_revision = None
branch_labels = ("cds",)
depends_on = "16afd6c77611"


def upgrade() -> None:
    op.create_table(
        "cds_alert",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("patient", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("encounter", sa.String(length=80), nullable=True),
        sa.Column("organization", sa.String(length=80), nullable=True),
        sa.Column("department", sa.String(length=16), nullable=True),
        sa.Column("ward", sa.String(length=80), nullable=True),
        sa.Column("ordering", sa.String(length=80), nullable=True),
        sa.Column("recipient", sa.String(length=80), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("due_at", sa.Float(), nullable=True),
        sa.Column("acknowledged_at", sa.Float(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=80), nullable=True),
        sa.Column("completed_at", sa.Float(), nullable=True),
        sa.Column("completed_by", sa.String(length=80), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_alert")),
        sa.UniqueConstraint("key", name=op.f("uq_cds_alert_key")),
    )
    op.create_index("ix_cds_alert_status_due", "cds_alert", ["status", "due_at"], unique=False)
    op.create_index("ix_cds_alert_patient", "cds_alert", ["patient", "created_at"], unique=False)
    op.create_table(
        "cds_alert_event",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False, autoincrement=True
        ),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=True),
        sa.Column("recipient", sa.String(length=80), nullable=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_cds_alert_event")),
    )
    op.create_index("ix_cds_alert_event_alert", "cds_alert_event", ["alert_id", "seq"], unique=False)
    op.create_table(
        "cds_delivery",
        sa.Column("notification_seq", sa.BigInteger(), nullable=False),
        sa.Column("webhook_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("notification_seq", "webhook_id", name=op.f("pk_cds_delivery")),
    )
    op.create_index("ix_cds_delivery_due", "cds_delivery", ["status", "next_at"], unique=False)
    op.create_table(
        "cds_dq_issue",
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("problem", sa.String(length=32), nullable=False),
        sa.Column("patient", sa.String(length=80), nullable=True),
        sa.Column("analyte", sa.String(length=40), nullable=True),
        sa.Column("unit", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("source", "problem", name=op.f("pk_cds_dq_issue")),
    )
    op.create_table(
        "cds_hook_feedback",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False, autoincrement=True
        ),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("card", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("override_reason", sa.String(length=64), nullable=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_hook_feedback")),
    )
    op.create_table(
        "cds_kb_version",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False, autoincrement=True
        ),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=80), nullable=False),
        sa.Column("uploaded_at", sa.Float(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_kb_version")),
    )
    op.create_index("ix_cds_kb_version_name", "cds_kb_version", ["name", "id"], unique=False)
    op.create_table(
        "cds_lab_result",
        sa.Column("obs_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("patient", sa.String(length=80), nullable=False),
        sa.Column("analyte", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("effective_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("obs_id", name=op.f("pk_cds_lab_result")),
    )
    op.create_index(
        "ix_cds_lab_result_patient_analyte",
        "cds_lab_result",
        ["patient", "analyte", "effective_at"],
        unique=False,
    )
    op.create_table(
        "cds_notification",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False, autoincrement=True
        ),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=24), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_cds_notification")),
    )
    op.create_table(
        "cds_oncall",
        sa.Column("organization", sa.String(length=80), nullable=False),
        sa.Column("department", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("practitioner", sa.String(length=80), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("organization", "department", "role", name=op.f("pk_cds_oncall")),
    )
    op.create_table(
        "cds_review",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("request_version", sa.Integer(), nullable=False),
        sa.Column("patient", sa.String(length=80), nullable=False),
        sa.Column("prescriber", sa.String(length=80), nullable=True),
        sa.Column("organization", sa.String(length=80), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("issues", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("decided_at", sa.Float(), nullable=True),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("reason_code", sa.String(length=40), nullable=True),
        sa.Column("reason_text", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_review")),
    )
    op.create_index("ix_cds_review_status", "cds_review", ["status", "created_at"], unique=False)
    op.create_index("ix_cds_review_request", "cds_review", ["request_id", "request_version"], unique=True)
    op.create_table(
        "cds_vital",
        sa.Column("obs_id", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("patient", sa.String(length=80), nullable=False),
        sa.Column("encounter", sa.String(length=80), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("code", sa.String(length=8), nullable=True),
        sa.Column("effective_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("obs_id", "param", name=op.f("pk_cds_vital")),
    )
    op.create_index("ix_cds_vital_patient_time", "cds_vital", ["patient", "effective_at"], unique=False)
    op.create_table(
        "cds_webhook",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_webhook")),
    )


def downgrade() -> None:
    op.drop_table("cds_webhook")
    op.drop_table("cds_vital")
    op.drop_table("cds_review")
    op.drop_table("cds_oncall")
    op.drop_table("cds_notification")
    op.drop_table("cds_lab_result")
    op.drop_table("cds_kb_version")
    op.drop_table("cds_hook_feedback")
    op.drop_table("cds_dq_issue")
    op.drop_table("cds_delivery")
    op.drop_table("cds_alert_event")
    op.drop_table("cds_alert")
