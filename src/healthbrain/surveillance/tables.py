"""The surveillance service's tables (surv_*): cases, their reports, counts by area and period, signals."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from healthbrain.core.db import AutoBigInt, table_metadata

metadata = table_metadata()

# One case per resident, disease (or syndrome) and episode; withdrawn when all its reports are withdrawn.
case = Table(
    "surv_case",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("resident", String(80), nullable=False),  # resident key (patient index) or Patient reference
    Column("disease", String(40), nullable=False),  # disease or syndrome key
    Column("onset", String(10), nullable=False),  # ISO date of onset (earliest report of the episode)
    Column("area", String(12), nullable=False),  # county code (GB/T 2260)
    Column("unit", String(80), nullable=False),  # reporting institution (Organization id)
    Column("status", String(12), nullable=False),  # active | withdrawn
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("township", String(40), nullable=True),  # 街道/乡镇 of the resident's address, when known
    Column("lab_confirmed", Integer, nullable=False, server_default="0"),  # an active positive lab report
    Index("ix_surv_case_resident_disease", "resident", "disease", "onset"),
)

# Each report (a Condition or a laboratory Observation) attributed to a case, per key, at its latest version.
case_report = Table(
    "surv_case_report",
    metadata,
    Column("source", String(80), primary_key=True),  # Condition/<id> | Observation/<id>
    Column("key", String(40), primary_key=True),  # disease or syndrome key
    Column("version", Integer, nullable=False),
    Column("case_id", String(64), nullable=False),  # "" while held (a confirming result without a case)
    Column("resident", String(80), nullable=False),
    # diagnosis | lab (a case by itself) | confirm (a lab result that only confirms a case) | vital
    Column("kind", String(12), nullable=False),
    Column("onset", String(10), nullable=False),
    Column("township", String(40), nullable=True),
    Column("status", String(12), nullable=False),  # active | held | withdrawn
    Index("ix_surv_case_report_case", "case_id"),
    Index("ix_surv_case_report_held", "resident", "key", "status"),
)

# Active cases by key, frequency (day | week), level (county | township), area and period (ISO date or
# ISO week 2025-W07), maintained with every case change. Township areas are "<county>/<township>".
count = Table(
    "surv_count",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("freq", String(4), primary_key=True),
    Column("level", String(8), primary_key=True),
    Column("area", String(64), primary_key=True),
    Column("period", String(10), primary_key=True),
    Column("cases", Integer, nullable=False),
    Index("ix_surv_count_period", "freq", "level", "period"),
)

# A signal and its CIDARS workflow: new -> assigned -> verifying -> confirmed | excluded -> responded.
signal = Table(
    "surv_signal",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("key", String(160), nullable=False, unique=True),  # disease|area|day|method
    Column("disease", String(40), nullable=False),
    Column("area", String(12), nullable=False),
    Column("day", String(10), nullable=False),
    Column("method", String(24), nullable=False),
    Column("observed", Float, nullable=False),
    Column("expected", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("pvalue", Float, nullable=True),
    Column("status", String(12), nullable=False),
    Column("assignee", String(80), nullable=True),
    Column("outcome", String(16), nullable=True),  # outbreak | not_outbreak
    Column("issue_ref", String(80), nullable=True),  # DetectedIssue/<id>
    Column("created_at", Float, nullable=False),
    Column("assigned_at", Float, nullable=True),
    Column("verified_at", Float, nullable=True),
    Column("responded_at", Float, nullable=True),
    Column("evidence", Text, nullable=False),  # JSON: notes and the chart series
    Index("ix_surv_signal_status", "status", "created_at"),
    Index("ix_surv_signal_area", "area", "day"),
)

signal_event = Table(
    "surv_signal_event",
    metadata,
    Column("seq", AutoBigInt, primary_key=True, autoincrement=True),
    Column("signal_id", String(64), nullable=False),
    Column("step", String(16), nullable=False),
    Column("actor", String(80), nullable=True),
    Column("at", Float, nullable=False),
    Column("note", String(500), nullable=True),
    Index("ix_surv_signal_event_signal", "signal_id", "seq"),
)

# The responsible county CDC officer per area (pushed every new signal of that area).
officer = Table(
    "surv_officer",
    metadata,
    Column("area", String(12), primary_key=True),
    Column("practitioner", String(80), nullable=False),
)
