"""care links: who was seen where until when, for the access policy's care relationship

Revision ID: 3c1e0f5a7b20
Revises: 16afd6c77611
Create Date: 2026-12-04

`fhir_care_link` holds one row per current Encounter / ServiceRequest x patient x organisation with
the end of its date range (see `storage.care`); the store keeps it in the write transaction from
now on. The upgrade fills it from the index tables of the live resources, as those writes would
have. The sources are spelled out here as they were at this revision, so that the migration means
the same thing whatever `storage.care` declares later (a change there comes with a migration that
rebuilds the table).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "3c1e0f5a7b20"
down_revision = "16afd6c77611"
branch_labels = None
depends_on = None

# (resource type, patient parameter, organisation parameter, date parameter)
SOURCES = (
    ("Encounter", "patient", "service-provider", "date"),
    ("ServiceRequest", "patient", "performer", "authored"),
)


def upgrade() -> None:
    op.create_table(
        "fhir_care_link",
        sa.Column("source_type", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("high", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "source_type", "source_id", "patient_id", "unit", name=op.f("pk_fhir_care_link")
        ),
    )
    op.create_index("ix_fhir_care_link_patient", "fhir_care_link", ["patient_id", "high", "unit"])
    op.create_index("ix_fhir_care_link_unit", "fhir_care_link", ["unit", "high", "patient_id"])
    conn = op.get_bind()
    for statement in backfill_statements():
        conn.execute(statement)


def backfill_statements() -> list[sa.Insert]:
    """One INSERT ... SELECT per source: its live resources' patient x organisation reference
    rows, with the largest end of their date rows (no date, no link)."""
    ref_cols = ("res_type", "res_id", "param", "target_type", "target_id")
    patient = sa.table("fhir_idx_reference", *(sa.column(c) for c in ref_cols)).alias("patient")
    unit = sa.table("fhir_idx_reference", *(sa.column(c) for c in ref_cols)).alias("unit")
    when = sa.table(
        "fhir_idx_date", sa.column("res_type"), sa.column("res_id"), sa.column("param"), sa.column("high")
    ).alias("d")
    res = sa.table(
        "fhir_resource", sa.column("res_type"), sa.column("res_id"), sa.column("deleted", sa.Boolean)
    )
    link = sa.table(
        "fhir_care_link",
        sa.column("source_type"),
        sa.column("source_id"),
        sa.column("patient_id"),
        sa.column("unit"),
        sa.column("high"),
    )
    columns = ["source_type", "source_id", "patient_id", "unit", "high"]
    out = []
    for res_type, patient_param, unit_param, date_param in SOURCES:
        select = (
            sa.select(
                patient.c.res_type,
                patient.c.res_id,
                patient.c.target_id,
                unit.c.target_id,
                sa.func.max(when.c.high),
            )
            .select_from(patient)
            .join(unit, sa.and_(_same(patient, unit), unit.c.param == unit_param))
            .join(when, sa.and_(_same(patient, when), when.c.param == date_param))
            .join(res, sa.and_(_same(patient, res), res.c.deleted == sa.false()))
            .where(
                patient.c.res_type == res_type,
                patient.c.param == patient_param,
                patient.c.target_type == "Patient",
                patient.c.target_id.is_not(None),
                unit.c.target_type == "Organization",
                unit.c.target_id.is_not(None),
            )
            .group_by(patient.c.res_type, patient.c.res_id, patient.c.target_id, unit.c.target_id)
        )
        out.append(sa.insert(link).from_select(columns, select))
    return out


def _same(row: sa.FromClause, other: sa.FromClause) -> sa.ColumnElement[bool]:
    """`other` is a row of the same resource as `row`."""
    return sa.and_(other.c.res_type == row.c.res_type, other.c.res_id == row.c.res_id)


def downgrade() -> None:
    op.drop_index("ix_fhir_care_link_unit", table_name="fhir_care_link")
    op.drop_index("ix_fhir_care_link_patient", table_name="fhir_care_link")
    op.drop_table("fhir_care_link")
