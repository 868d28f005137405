"""The CDS service's tables (cds_*): tracked results, alerts and their closed loop, reviews, knowledge."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String, Table, Text

from healthbrain.core.db import AutoBigInt, table_metadata

metadata = table_metadata()

# Numeric results in canonical units (delta checks, latest weight/creatinine/eGFR): one row per Observation.
lab_result = Table(
    "cds_lab_result",
    metadata,
    Column("obs_id", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("patient", String(80), nullable=False),
    Column("analyte", String(40), nullable=False),
    Column("value", Float, nullable=False),
    Column("effective_at", Float, nullable=False),
    Index("ix_cds_lab_result_patient_analyte", "patient", "analyte", "effective_at"),
)

# Vital signs by parameter, to assemble complete sets for the early warning scores.
vital = Table(
    "cds_vital",
    metadata,
    Column("obs_id", String(64), primary_key=True),
    Column("param", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("patient", String(80), nullable=False),
    Column("encounter", String(80), nullable=True),
    Column("value", Float, nullable=True),
    Column("code", String(8), nullable=True),  # ACVPU letter
    Column("effective_at", Float, nullable=False),
    Index("ix_cds_vital_patient_time", "patient", "effective_at"),
)

# One alert per (source, rule): critical value, delta check, early warning trigger, prescription audit.
alert = Table(
    "cds_alert",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # critical | delta | ews | audit
    Column("priority", String(16), nullable=False),  # critical | urgent | routine
    Column("status", String(16), nullable=False),  # open | acknowledged | completed | cancelled
    Column("patient", String(80), nullable=False),
    Column("source", String(120), nullable=False),  # versioned reference of what raised it
    Column("encounter", String(80), nullable=True),
    Column("organization", String(80), nullable=True),
    Column("department", String(16), nullable=True),
    Column("ward", String(80), nullable=True),
    Column("ordering", String(80), nullable=True),
    Column("recipient", String(80), nullable=True),  # who must act now
    Column("level", Integer, nullable=False),  # escalation step (0 = first recipient)
    Column("created_at", Float, nullable=False),
    Column("due_at", Float, nullable=True),
    Column("acknowledged_at", Float, nullable=True),
    Column("acknowledged_by", String(80), nullable=True),
    Column("completed_at", Float, nullable=True),
    Column("completed_by", String(80), nullable=True),
    Column("payload", Text, nullable=False),  # JSON: what the alert says (codes, numbers, texts, FHIR ids)
    Index("ix_cds_alert_status_due", "status", "due_at"),
    Index("ix_cds_alert_patient", "patient", "created_at"),
)

# Every step of the closed loop, timed: created, notified, delivered, acknowledged, escalated, completed ...
alert_event = Table(
    "cds_alert_event",
    metadata,
    Column("seq", AutoBigInt, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), nullable=False),
    Column("step", String(24), nullable=False),
    Column("channel", String(16), nullable=False),  # system | sse | webhook | api
    Column("actor", String(80), nullable=True),
    Column("recipient", String(80), nullable=True),
    Column("at", Float, nullable=False),
    Column("detail", String(200), nullable=True),
    Index("ix_cds_alert_event_alert", "alert_id", "seq"),
)

# The notification outbox behind the SSE stream (Last-Event-ID replay) and the webhooks.
notification = Table(
    "cds_notification",
    metadata,
    Column("seq", AutoBigInt, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), nullable=False),
    Column("event", String(24), nullable=False),  # alert | escalation | acknowledged | completed | ...
    Column("recipients", Text, nullable=False),  # JSON list of references / role:<name>
    Column("payload", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

webhook = Table(
    "cds_webhook",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("url", String(500), nullable=False),
    Column("secret", String(200), nullable=True),
    Column("recipients", Text, nullable=False),  # JSON list; empty = every notification
    Column("active", Boolean, nullable=False),
    Column("created_at", Float, nullable=False),
)

delivery = Table(
    "cds_delivery",
    metadata,
    Column("notification_seq", BigInteger, primary_key=True),
    Column("webhook_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("next_at", Float, nullable=False),
    Column("last_error", String(200), nullable=True),
    Column("delivered_at", Float, nullable=True),
    Index("ix_cds_delivery_due", "status", "next_at"),
)

# Who is on duty (and who heads the department) per organisation and department: the escalation chain.
oncall = Table(
    "cds_oncall",
    metadata,
    Column("organization", String(80), primary_key=True),
    Column("department", String(16), primary_key=True),  # department code, or * for the whole organisation
    Column("role", String(16), primary_key=True),  # duty | head | pharmacist
    Column("practitioner", String(80), nullable=False),
    Column("updated_at", Float, nullable=False),
)

# The pharmacist review queue (处方审核): one row per audited MedicationRequest version.
review = Table(
    "cds_review",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("request_id", String(64), nullable=False),
    Column("request_version", Integer, nullable=False),
    Column("patient", String(80), nullable=False),
    Column("prescriber", String(80), nullable=True),
    Column("organization", String(80), nullable=True),
    # pending | auto_approved | approved | rejected | returned | superseded
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=True),
    Column("findings", Integer, nullable=False),
    Column("issues", Text, nullable=False),  # JSON list of DetectedIssue ids
    Column("created_at", Float, nullable=False),
    Column("decided_at", Float, nullable=True),
    Column("decided_by", String(80), nullable=True),
    Column("reason_code", String(40), nullable=True),
    Column("reason_text", Text, nullable=True),
    Index("ix_cds_review_status", "status", "created_at"),
    Index("ix_cds_review_request", "request_id", "request_version", unique=True),
)

# Results the service could not use: unknown units, implausible values (data quality, not alerts).
dq_issue = Table(
    "cds_dq_issue",
    metadata,
    Column("source", String(120), primary_key=True),
    Column("problem", String(32), primary_key=True),
    Column("patient", String(80), nullable=True),
    Column("analyte", String(40), nullable=True),
    Column("unit", String(40), nullable=True),
    Column("created_at", Float, nullable=False),
)

# Uploaded knowledge files; the newest active row per name replaces the packaged file.
kb_version = Table(
    "cds_kb_version",
    metadata,
    Column("id", AutoBigInt, primary_key=True, autoincrement=True),
    Column("name", String(40), nullable=False),
    Column("version", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", Text, nullable=False),
    Column("uploaded_by", String(80), nullable=False),
    Column("uploaded_at", Float, nullable=False),
    Column("active", Boolean, nullable=False),
    Index("ix_cds_kb_version_name", "name", "id"),
)

# CDS Hooks feedback (which cards were accepted or overridden, and why).
hook_feedback = Table(
    "cds_hook_feedback",
    metadata,
    Column("id", AutoBigInt, primary_key=True, autoincrement=True),
    Column("service", String(64), nullable=False),
    Column("card", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("override_reason", String(64), nullable=True),
    Column("at", Float, nullable=False),
)
