"""The patient index's tables (mpi_*): residents, links, blocking keys, reviews, decisions, history."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from healthbrain.core.db import AutoBigInt, table_metadata

metadata = table_metadata()

# The golden record: one row per resident; a merged resident points at the one it went into.
resident = Table(
    "mpi_resident",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # active | merged
    Column("merged_into", String(64), nullable=True),
    Column("golden", Text, nullable=False),  # JSON: best name, sex, birth date, ID, phones, address
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# One row per institution Patient: which resident it belongs to and how that was decided.
link = Table(
    "mpi_link",
    metadata,
    Column("patient_ref", String(80), primary_key=True),
    Column("resident_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # auto | possible | manual | no_match
    Column("score", Float, nullable=True),
    Column("version", Integer, nullable=False),
    Column("source", String(64), nullable=False),
    Column("record", Text, nullable=False),  # JSON PatientRecord, for matching without re-reading
    Column("updated_at", Float, nullable=False),
    Index("ix_mpi_link_resident", "resident_id"),
)

# Blocking keys of each linked Patient, so that an arriving record finds its candidates by index.
block_key = Table(
    "mpi_block_key",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("patient_ref", String(80), primary_key=True),
    Index("ix_mpi_block_key_patient", "patient_ref"),
)

review = Table(
    "mpi_review",
    metadata,
    Column("id", AutoBigInt, primary_key=True, autoincrement=True),
    Column("patient_ref", String(80), nullable=False),
    Column("candidate_ref", String(80), nullable=False),
    Column("probability", Float, nullable=False),
    Column("weight", Float, nullable=False),
    Column("reasons", Text, nullable=False),  # JSON list of guard reason codes
    Column("detail", Text, nullable=False),  # JSON: per-field level, label and weight
    Column("status", String(16), nullable=False),  # open | linked | rejected | obsolete
    Column("created_at", Float, nullable=False),
    Column("decided_at", Float, nullable=True),
    Column("decided_by", String(200), nullable=True),
    Index("ix_mpi_review_status", "status", "probability"),
    Index("ix_mpi_review_pair", "patient_ref", "candidate_ref"),
)

# Reviewers' verdicts on pairs: kept for ever, honoured by every later run, and fed to the model.
decision = Table(
    "mpi_decision",
    metadata,
    Column("ref_a", String(80), primary_key=True),  # the smaller reference of the pair
    Column("ref_b", String(80), primary_key=True),
    Column("verdict", String(16), nullable=False),  # match | no_match
    Column("levels", Text, nullable=False),  # JSON comparison levels at decision time
    Column("decided_by", String(200), nullable=False),
    Column("decided_at", Float, nullable=False),
)

history = Table(
    "mpi_history",
    metadata,
    Column("id", AutoBigInt, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),  # link | unlink | merge | unmerge | relink | ...
    Column("resident_id", String(64), nullable=True),
    Column("patient_ref", String(80), nullable=True),
    Column("other_id", String(80), nullable=True),
    Column("detail", Text, nullable=False),
    Index("ix_mpi_history_resident", "resident_id", "id"),
    Index("ix_mpi_history_patient", "patient_ref", "id"),
)

model = Table(
    "mpi_model",
    metadata,
    Column("id", AutoBigInt, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("origin", String(32), nullable=False),  # trained | feedback
    Column("active", Boolean, nullable=False),
    Column("content", Text, nullable=False),
)
