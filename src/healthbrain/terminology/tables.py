"""The terminology service's tables (terminology_*): the review queue of unmapped local codes."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from healthbrain.core.db import AutoBigInt, table_metadata

metadata = table_metadata()

# One row per local code seen without a standard code: open until an operator maps or dismisses it.
review = Table(
    "terminology_review",
    metadata,
    Column("id", AutoBigInt, primary_key=True, autoincrement=True),
    Column("system", String(500), nullable=False),
    Column("code", String(200), nullable=False),
    Column("display", Text, nullable=True),  # the local name the sender gave (a test or drug name)
    Column("institution", String(100), nullable=True),
    Column("element", String(80), nullable=False),  # where it was seen first, e.g. Observation.code
    Column("status", String(16), nullable=False),  # open | resolved | dismissed
    Column("occurrences", Integer, nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("target_system", String(500), nullable=True),
    Column("target_code", String(200), nullable=True),
    Column("target_display", Text, nullable=True),
    Column("equivalence", String(20), nullable=True),
    Column("concept_map", String(100), nullable=True),  # ConceptMap/<id> that gained the mapping
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", Float, nullable=True),
    Column("applied", Integer, nullable=False),  # stored resources rewritten with the standard code
    UniqueConstraint("system", "code", name="uq_terminology_review_code"),
    Index("ix_terminology_review_status", "status", "last_seen"),
)

# Which resources carried an unmapped code (idempotent under redelivery: one row per resource).
occurrence = Table(
    "terminology_review_occurrence",
    metadata,
    Column("review_id", AutoBigInt, primary_key=True),
    Column("res_type", String(64), primary_key=True),
    Column("res_id", String(64), primary_key=True),
    Column("seen_at", Float, nullable=False),
)
