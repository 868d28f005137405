"""The SQL tables of the FHIR store: current resources, versions, search indexes, outbox, events, jobs."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from healthbrain.core.db import AutoBigInt, table_metadata

metadata = table_metadata()


resource = Table(
    "fhir_resource",
    metadata,
    Column("res_type", String(64), primary_key=True),
    Column("res_id", String(64), primary_key=True),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", Float, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("content", Text, nullable=True),
    Index("ix_fhir_resource_type_updated", "res_type", "last_updated"),
)

resource_version = Table(
    "fhir_resource_version",
    metadata,
    Column("res_type", String(64), primary_key=True),
    Column("res_id", String(64), primary_key=True),
    Column("version_id", Integer, primary_key=True),
    Column("last_updated", Float, nullable=False),
    Column("method", String(8), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("content", Text, nullable=True),
    Index("ix_fhir_resource_version_updated", "last_updated"),
    Index("ix_fhir_resource_version_type_updated", "res_type", "last_updated"),
)


def _index_table(name: str, *columns: Column[object], value_index: tuple[str, ...]) -> Table:
    return Table(
        name,
        metadata,
        Column("res_type", String(64), nullable=False),
        Column("res_id", String(64), nullable=False),
        Column("param", String(100), nullable=False),
        *columns,
        # (type, id, param): replacing a resource's rows, EXISTS checks and sort keys
        Index(f"ix_{name}_resource", "res_type", "res_id", "param"),
        Index(f"ix_{name}_value", "res_type", "param", *value_index),
    )


idx_token = _index_table(
    "fhir_idx_token",
    Column("system", String(256)),
    Column("code", String(256)),
    value_index=("code", "system"),
)
idx_string = _index_table(
    "fhir_idx_string",
    Column("norm", String(512), nullable=False),
    Column("exact", String(512), nullable=False),
    value_index=("norm",),
)
idx_date = _index_table(
    "fhir_idx_date",
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    value_index=("low", "high"),
)
idx_reference = _index_table(
    "fhir_idx_reference",
    Column("target_type", String(64)),
    Column("target_id", String(64)),
    Column("url", String(512)),
    value_index=("target_id", "target_type"),
)
Index("ix_fhir_idx_reference_target", idx_reference.c.target_id, idx_reference.c.target_type)
idx_quantity = _index_table(
    "fhir_idx_quantity",
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("system", String(256)),
    Column("code", String(256)),
    value_index=("low",),
)
idx_uri = _index_table(
    "fhir_idx_uri",
    Column("uri", String(512), nullable=False),
    value_index=("uri",),
)
idx_composite = _index_table(
    "fhir_idx_composite",
    Column("c1_system", String(256)),
    Column("c1_code", String(256)),
    Column("c2_system", String(256)),
    Column("c2_code", String(256)),
    Column("c2_low", Float),
    Column("c2_high", Float),
    Column("c2_string", String(512)),
    value_index=("c1_code",),
)

INDEX_TABLES: dict[str, Table] = {
    "token": idx_token,
    "string": idx_string,
    "date": idx_date,
    "reference": idx_reference,
    "quantity": idx_quantity,
    "uri": idx_uri,
    "composite": idx_composite,
}

# One row per (current Encounter / ServiceRequest ...) x patient x organisation: who was seen where,
# until when (`high`, the end of the date index's range). Derived from the index rows in the same
# write (see `storage.care`), so the access policy's care check is one probe of the patient index.
care_link = Table(
    "fhir_care_link",
    metadata,
    Column("source_type", String(64), primary_key=True),
    Column("source_id", String(64), primary_key=True),
    Column("patient_id", String(64), primary_key=True),
    Column("unit", String(64), primary_key=True),
    Column("high", Float, nullable=False),
    # "has this patient a link to one of these units ending after the cutoff": one seek to the
    # patient's links within the window, units checked in the index (no table lookup); unit before
    # high would take one seek per unit on SQLite and a scan of all the patient's links on PostgreSQL
    Index("ix_fhir_care_link_patient", "patient_id", "high", "unit"),
    # "which patients did these units see since the cutoff" (the criterion as a candidate set)
    Index("ix_fhir_care_link_unit", "unit", "high", "patient_id"),
)

outbox = Table(
    "fhir_outbox",
    metadata,
    Column("seq", AutoBigInt, primary_key=True, autoincrement=True),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("action", String(8), nullable=False),  # create | update | delete
    Column("occurred_at", Float, nullable=False),
    Index("ix_fhir_outbox_resource", "res_type", "res_id"),
)

event_cursor = Table(
    "fhir_event_cursor",
    metadata,
    Column("subscriber", String(200), primary_key=True),
    Column("position", BigInteger, nullable=False, default=0),
    Column("updated_at", Float, nullable=False),
)

event_failure = Table(
    "fhir_event_failure",
    metadata,
    Column("subscriber", String(200), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("res_type", String(64), nullable=False),
    Column("res_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", String(500)),
    Column("dead", Boolean, nullable=False, default=False),
    Index("ix_fhir_event_failure_due", "dead", "next_attempt_at"),
)

export_job = Table(
    "fhir_export_job",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # accepted | in-progress | completed | failed | cancelled
    Column("request_url", Text, nullable=False),
    Column("params", Text, nullable=False),
    Column("principal", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("completed_at", Float),
    Column("output", Text),
    Column("error", Text),
)

# One row per ingested unit (a bundle, or a chunk of NDJSON lines), written in the same transaction as
# its resources: re-running an ingest after a crash skips exactly what was committed.
ingest_journal = Table(
    "fhir_ingest_journal",
    metadata,
    Column("unit_key", String(128), primary_key=True),
    Column("source", String(512), nullable=False),
    Column("entries", Integer, nullable=False),
    Column("committed_at", Float, nullable=False),
)
