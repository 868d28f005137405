"""The security package's data-governance tables beyond `tables.py`: de-identified export runs."""

from __future__ import annotations

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from healthbrain.security.tables import metadata

__all__ = ["deid_export"]

# One run of an approved data-use request's de-identified export, with its residual-risk report.
deid_export = Table(
    "security_deid_export",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("request_id", String(64), nullable=False),
    Column("principal", String(128), nullable=False),  # who ran it
    Column("status", String(16), nullable=False),  # running | completed | failed
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("released", Integer, nullable=False, default=0),  # patients released
    Column("report", Text),  # JSON: the k-anonymity risk report and the inclusion counts
    Column("files", Text),  # JSON: resource type → number of resources written
    Column("error", String(128)),  # an error code, never patient data
    Index("ix_security_deid_export_request", "request_id", "started_at"),
)
