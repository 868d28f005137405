"""Where the batch re-link reads Patients from: the FHIR store's current resources."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import orjson
from sqlalchemy import Engine, select

from healthbrain.mpi.records import PatientRecord, patient_record
from healthbrain.storage import tables as st


def stored_patients(
    engine: Engine, batch: int = 5000, reveal: Callable[[str, str], str] | None = None
) -> Iterator[PatientRecord]:
    """Every live Patient in the FHIR store as a PatientRecord (with its version).

    `reveal` decrypts identifiers sealed at rest (the security package's protector); without it
    sealed values would be compared as ciphertext.
    """
    r = st.resource.c
    query = (
        select(r.res_id, r.version_id, r.content)
        .where(r.res_type == "Patient", r.deleted.is_(False))
        .order_by(r.res_id)
        .execution_options(yield_per=batch)
    )
    with engine.connect() as conn:
        for row in conn.execute(query):
            if row.content:
                content = reveal("Patient", row.content) if reveal is not None else row.content
                yield patient_record(orjson.loads(content), int(row.version_id))
