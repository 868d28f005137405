"""The data-quality tables (quality_*): quarantine and holds, evaluations, identity keys, recognitions."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from healthbrain.core.db import table_metadata

metadata = table_metadata()

# A record held back from the repository with its reasons, until it is released or discarded.
quarantine = Table(
    "quality_quarantine",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("institution", String(80), nullable=False),
    Column("feed", String(40), nullable=False),
    Column("source", String(500), nullable=False),  # file and entry, message control id ... (no patient data)
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=True),  # the id it will have, when fixed at hold time
    Column("full_url", String(500), nullable=True),
    Column("request", Text, nullable=False),  # JSON: the Bundle entry's request
    Column("content", Text, nullable=False),  # JSON: the resource, identifying values sealed
    Column("findings", Text, nullable=False),  # JSON: [{rule, severity, dimension, path}]
    Column("own", Boolean, nullable=False),  # failed a hard rule itself (else held with others)
    Column("status", String(12), nullable=False),  # held | released | discarded
    Column("received_at", Float, nullable=False),
    Column("day", String(10), nullable=False),  # platform-local day of arrival
    Column("decided_at", Float, nullable=True),
    Column("decided_by", String(80), nullable=True),
    Column("note", String(500), nullable=True),
    Column("released_ref", String(200), nullable=True),
    Index("ix_quality_quarantine_status", "status", "institution", "received_at"),
    Index("ix_quality_quarantine_key", "res_type", "res_id"),
)

# Held entries that wait for another held entry (same Bundle or an earlier one).
hold = Table(
    "quality_hold",
    metadata,
    Column("entry_id", String(36), primary_key=True),
    Column("holder_id", String(36), primary_key=True),
    Index("ix_quality_hold_holder", "holder_id"),
)

# The evaluation of each record as it arrived (latest version), or of each quarantined entry.
record = Table(
    "quality_record",
    metadata,
    Column("record_key", String(140), primary_key=True),  # Type/id, or quarantine/<id>
    Column("version", Integer, nullable=False),
    Column("res_type", String(64), nullable=False),
    Column("institution", String(80), nullable=False),
    Column("feed", String(40), nullable=False),
    Column("day", String(10), nullable=False),
    Column("arrived_at", Float, nullable=False),
    Column("expected", Integer, nullable=False),
    Column("present", Integer, nullable=False),
    Column("valid", Boolean, nullable=False),
    Column("consistent", Boolean, nullable=False),
    Column("unique_ok", Boolean, nullable=False),
    Column("timely", Boolean, nullable=True),
    Column("lag_seconds", Float, nullable=True),
    Column("flagged", Boolean, nullable=False),
    Column("quarantined", Boolean, nullable=False),
    Column("findings", Text, nullable=False),  # JSON: rule codes and paths only
    Index("ix_quality_record_institution_day", "institution", "day"),
    Index("ix_quality_record_day", "day"),
)

# The sums of quality_record per institution, day of arrival, feed and resource type, kept in the
# transaction that changes the records (store.QualityStore), so that scores over a period and the
# records received on a day read a few rows per day instead of every record of it.
TALLY_COLUMNS = (
    "records", "expected", "present", "valid", "consistent", "unique_ok", "timed", "timely",
    "quarantined", "flagged",
)  # fmt: skip
day_tally = Table(
    "quality_day",
    metadata,
    Column("institution", String(80), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("feed", String(40), primary_key=True),
    Column("res_type", String(64), primary_key=True),
    *(Column(name, Integer, nullable=False) for name in TALLY_COLUMNS),
    Index("ix_quality_day_day", "day"),
)

# Hashed identity keys of records, per institution, for the uniqueness check.
identity_key = Table(
    "quality_identity_key",
    metadata,
    Column("institution", String(80), primary_key=True),
    Column("key_hash", String(80), primary_key=True),
    Column("record_key", String(140), primary_key=True),
    Column("first_seen", Float, nullable=False),
    Index("ix_quality_identity_key_record", "record_key"),
)

# Prior results found for an order (results mutual recognition), with the DetectedIssue raised.
recognition = Table(
    "quality_recognition",
    metadata,
    Column("order_ref", String(140), primary_key=True),
    Column("test", String(40), primary_key=True),
    Column("result_ref", String(140), nullable=False),
    Column("result_institution", String(80), nullable=False),
    Column("result_time", String(40), nullable=False),
    Column("patient_ref", String(140), nullable=False),
    Column("order_institution", String(80), nullable=False),
    Column("same_institution", Boolean, nullable=False),
    Column("issue_ref", String(140), nullable=True),
    Column("created_at", Float, nullable=False),
    Index("ix_quality_recognition_patient", "patient_ref"),
)
