"""The audit chain's writer process: records leave the serving process, and nothing is lost with it."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from healthbrain.core.context import Principal, PurposeOfUse, RequestContext, system_context
from healthbrain.core.db import create_db_engine
from healthbrain.core.settings import SecuritySettings, Settings
from healthbrain.fhir.repository import FhirRepository
from healthbrain.security import SecurityServices
from healthbrain.security import tables as t
from healthbrain.security.audit import ChainAppender
from healthbrain.security.audit_writer import ProcessChainWriter
from healthbrain.storage.migrate import upgrade_database

CLINICIAN = RequestContext(
    Principal("dr-2", "user", frozenset({"clinician"}), "hosp-a", frozenset({"user/*.*"}), mfa=True),
    PurposeOfUse.TREATMENT,
)


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[FhirRepository, SecurityServices, str]]:
    engine = create_db_engine(db_url)
    security = SecurityServices.build(engine, SecuritySettings(audit_writer="process"))
    repo = FhirRepository(engine, **security.repository_options(), validate=False)
    pid = repo.create(
        system_context(),
        {"resourceType": "Patient", "managingOrganization": {"reference": "Organization/hosp-a"}},
    ).version.id
    yield repo, security, pid
    security.audit.stop()
    engine.dispose()


def writer_of(security: SecurityServices) -> ProcessChainWriter:
    writer = security.audit.writer
    assert isinstance(writer, ProcessChainWriter)
    return writer


def audited(security: SecurityServices) -> int:
    with security.audit.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.audit)).scalar_one())


def reads(repo: FhirRepository, pid: str, n: int) -> None:
    for _ in range(n):
        repo.read(CLINICIAN, "Patient", pid)


def test_the_chain_is_hashed_and_written_by_a_process_of_its_own(served: Any) -> None:
    repo, security, pid = served
    reads(repo, pid, 20)
    assert security.audit.flush() == 21  # the create and the reads
    writer = writer_of(security)
    assert writer.pid is not None and writer.pid != os.getpid()
    assert audited(security) == 21
    report = security.verify_audit()
    assert report.ok and report.checked == 21


def test_a_killed_writer_process_loses_no_record(served: Any) -> None:
    repo, security, pid = served
    reads(repo, pid, 5)
    security.audit.flush()
    writer = writer_of(security)
    first = writer.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until the kernel has reaped it
        try:
            os.kill(first, 0)
        except OSError:
            break
        if os.waitpid(first, os.WNOHANG) != (0, 0):
            break
        time.sleep(0.05)
    reads(repo, pid, 7)
    assert security.audit.flush() == 7
    assert audited(security) == 13 and writer.restarts == 1
    reads(repo, pid, 3)  # and the next batch goes to a new writer process
    security.audit.flush()
    assert writer.pid not in (None, first, os.getpid())
    report = security.verify_audit()
    assert report.ok and report.checked == 16


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "not-committed"])
def test_a_batch_whose_writer_died_before_answering_is_written_exactly_once(
    served: Any, committed: bool
) -> None:
    repo, security, pid = served
    reads(repo, pid, 2)
    security.audit.flush()
    writer = writer_of(security)
    assert writer.pid is not None
    rows = _queued(security, repo, pid, 4)
    key = security.keys.active("audit")
    os.kill(writer.pid, signal.SIGSTOP)  # the writer takes the batch but never answers
    sending = threading.Thread(target=writer.append, args=(rows, key))
    sending.start()
    time.sleep(0.3)
    if committed:  # what the writer would have committed just before it died
        writer.fallback.append([dict(r) for r in rows], key)
    os.kill(writer.pid, signal.SIGKILL)
    sending.join(timeout=30)
    assert not sending.is_alive()
    assert audited(security) == 3 + 4  # the batch once: found in the chain, or written here
    assert writer.restarts == 1
    assert security.verify_audit().ok


def _queued(security: SecurityServices, repo: FhirRepository, pid: str, n: int) -> list[dict[str, Any]]:
    reads(repo, pid, n)
    queue = security.audit._queue
    taken = [queue.popleft() for _ in range(n)]
    assert not queue
    return taken


def test_a_server_writes_its_chain_in_a_writer_process_by_default(tmp_path: Path) -> None:
    deployment = Settings.model_fields["security"].default  # what `healthbrain serve` runs with
    assert deployment.audit_writer == "process" and SecuritySettings().audit_writer == "thread"
    engine = create_db_engine(f"sqlite:///{tmp_path / 'hb.db'}")
    upgrade_database(engine)
    assert isinstance(SecurityServices.build(engine, deployment).audit.writer, ProcessChainWriter)
    # a store that lives in this process alone cannot be shared with a writer process
    memory = create_db_engine("sqlite://")
    upgrade_database(memory)
    assert isinstance(SecurityServices.build(memory, deployment).audit.writer, ChainAppender)
    engine.dispose()
