"""The audit chain: every interaction recorded, and any edit, deletion, insertion or reordering found."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import DBAPIError

from healthbrain.core.context import Principal, PurposeOfUse, RequestContext, system_context
from healthbrain.core.db import create_db_engine
from healthbrain.core.errors import NotFound
from healthbrain.core.settings import SecuritySettings
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.security import SecurityServices
from healthbrain.security import tables as t
from healthbrain.security.audit_writer import AuditWriterError

CLINICIAN = RequestContext(
    Principal("dr-1", "user", frozenset({"clinician"}), "hosp-a", frozenset({"user/*.*"}), mfa=True),
    PurposeOfUse.TREATMENT,
    source="10.0.0.7",
)


@pytest.fixture(params=[("sha256", "thread"), ("sm3", "thread"), ("sha256", "process")], ids=str)
def chain(
    request: pytest.FixtureRequest, db_url: str
) -> Iterator[tuple[Engine, FhirRepository, SecurityServices]]:
    """The chain written by a thread of this process, or by a writer process (a server's default)."""
    engine = create_db_engine(db_url)
    algorithm, writer = request.param
    settings = SecuritySettings(audit_hash=algorithm, audit_checkpoint_every=5, audit_writer=writer)
    security = SecurityServices.build(engine, settings)
    repo = FhirRepository(engine, policy=security.policy, audit=security.audit, labeler=security.labeler)
    yield engine, repo, security
    security.audit.stop()
    engine.dispose()


def fill(repo: FhirRepository, security: SecurityServices, n: int = 12) -> str:
    pid = repo.create(
        system_context(),
        {"resourceType": "Patient", "managingOrganization": {"reference": "Organization/hosp-a"}},
    ).version.id
    for _ in range(n):
        repo.read(CLINICIAN, "Patient", pid)
    with pytest.raises(NotFound):
        repo.read(CLINICIAN, "Patient", "nope")
    run_search(repo, CLINICIAN, "Patient", [("_id", pid)])
    security.audit.flush()
    return pid


def rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(t.audit).order_by(t.audit.c.seq)).all()


def test_every_interaction_is_recorded_with_who_what_patient_and_outcome(chain: Any) -> None:
    engine, repo, security = chain
    pid = fill(repo, security)
    recorded = rows(engine)
    reads = [r for r in recorded if r.action == "read" and r.principal == "dr-1"]
    assert len(reads) == 13
    ok = [r for r in reads if r.outcome == "success"]
    assert len(ok) == 12 and all(orjson.loads(r.patients) == [pid] for r in ok)
    failed = [r for r in reads if r.outcome == "failure"]
    assert [f.detail for f in failed] == ["fhir.not_found"]
    assert all(r.source == "10.0.0.7" and r.purpose == "TREAT" for r in reads)
    search = next(r for r in recorded if r.action == "search")
    assert orjson.loads(search.params) == ["_id"] and orjson.loads(search.patients) == [pid]
    # who looked at this patient?
    with engine.connect() as conn:
        seqs = conn.execute(select(t.audit_patient.c.seq).where(t.audit_patient.c.patient == pid)).all()
    assert len(seqs) >= 13
    report = security.verify_audit()
    assert report.ok and report.checked == len(recorded) and report.checkpoints >= 1


def test_an_edited_field_is_found(chain: Any) -> None:
    engine, repo, security = chain
    fill(repo, security)
    with engine.begin() as conn:
        conn.execute(update(t.audit).where(t.audit.c.seq == 4).values(principal="someone-else"))
    report = security.verify_audit()
    assert [(p.seq, p.kind) for p in report.problems if p.kind == "edited"] == [(4, "edited")]


def test_a_deleted_row_is_found(chain: Any) -> None:
    engine, repo, security = chain
    fill(repo, security)
    with engine.begin() as conn:
        conn.execute(delete(t.audit).where(t.audit.c.seq == 7))
    problems = security.verify_audit().problems
    assert any(p.kind == "missing" and p.seq == 7 for p in problems)


def test_an_inserted_row_is_found(chain: Any) -> None:
    engine, repo, security = chain
    fill(repo, security)
    with engine.begin() as conn:
        last = conn.execute(select(t.audit).order_by(t.audit.c.seq.desc()).limit(1)).first()
        assert last is not None
        forged = {
            **last._mapping,
            "seq": last.seq + 1,
            "prev_hash": last.hash,
            "principal": "intruder",
            "hash": "f" * 64,
        }
        conn.execute(insert(t.audit).values(**forged))
    problems = security.verify_audit().problems
    assert [(p.seq, p.kind) for p in problems] == [(last.seq + 1, "edited")]


def test_two_swapped_rows_are_found(chain: Any) -> None:
    engine, repo, security = chain
    fill(repo, security)
    with engine.begin() as conn:
        a, b = (conn.execute(select(t.audit).where(t.audit.c.seq == s)).first() for s in (5, 6))
        assert a is not None and b is not None
        fields = [c.name for c in t.audit.columns if c.name != "seq"]
        conn.execute(update(t.audit).where(t.audit.c.seq == 5).values(**{f: getattr(b, f) for f in fields}))
        conn.execute(update(t.audit).where(t.audit.c.seq == 6).values(**{f: getattr(a, f) for f in fields}))
    problems = security.verify_audit().problems
    assert {p.seq for p in problems} >= {5, 6}


def test_a_truncated_tail_is_found_by_the_signed_checkpoint(chain: Any) -> None:
    engine, repo, security = chain
    fill(repo, security)
    security.audit.checkpoint_now()
    with engine.begin() as conn:
        head = conn.execute(select(t.audit.c.seq).order_by(t.audit.c.seq.desc()).limit(1)).scalar_one()
        conn.execute(delete(t.audit).where(t.audit.c.seq > head - 2))
    problems = security.verify_audit().problems
    assert any(p.kind == "truncated" for p in problems)


def test_records_a_failed_write_kept_are_written_next_time_in_order(chain: Any) -> None:
    engine, repo, security = chain
    pid = fill(repo, security, n=2)
    before = len(rows(engine))
    # the database refuses the write (the patient index table is gone for a moment)
    with engine.begin() as conn:
        conn.exec_driver_sql("alter table security_audit_patient rename to security_audit_patient_away")
    try:
        for _ in range(3):
            repo.read(CLINICIAN, "Patient", pid)
        # the database's error, or the writer process's answer naming it
        with pytest.raises((DBAPIError, AuditWriterError)):
            security.audit.flush()
        assert len(rows(engine)) == before  # nothing half-written: no record without its patient link
        with pytest.raises(NotFound):
            repo.read(CLINICIAN, "Patient", "still-nope")
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("alter table security_audit_patient_away rename to security_audit_patient")
    assert security.audit.flush() == 4
    recorded = rows(engine)[before:]
    assert [(r.action, r.outcome) for r in recorded] == [("read", "success")] * 3 + [("read", "failure")]
    assert security.verify_audit().ok


def test_the_chain_stays_verifiable_across_an_audit_key_rotation(chain: Any) -> None:
    engine, repo, security = chain
    pid = fill(repo, security, n=3)
    security.keys.rotate("audit")
    for _ in range(3):
        repo.read(CLINICIAN, "Patient", pid)
    security.audit.flush()
    report = security.verify_audit()
    assert report.ok and report.checked == len(rows(engine))
    # and records written after the rotation are bound to the new key: editing one is still found
    with engine.begin() as conn:
        last = conn.execute(select(t.audit.c.seq).order_by(t.audit.c.seq.desc()).limit(1)).scalar_one()
        conn.execute(update(t.audit).where(t.audit.c.seq == last).values(detail="edited"))
    assert [p.kind for p in security.verify_audit().problems] == ["edited"]
