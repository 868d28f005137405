"""Shipped terminology content, an index over it, and a repository holding it (on each backend)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import Engine

from healthbrain.cli.terminology_cmd import shipped_resources
from healthbrain.core.context import system_context
from healthbrain.fhir.ports import MemoryAuditSink
from healthbrain.fhir.repository import FhirRepository
from healthbrain.terminology import TerminologyIndex, load_content
from healthbrain.terminology.index import Snapshot


@pytest.fixture(scope="session")
def shipped() -> list[dict[str, Any]]:
    return shipped_resources([])


@pytest.fixture(scope="session")
def snapshot(shipped: list[dict[str, Any]]) -> Snapshot:
    index = TerminologyIndex()
    index.put_many(copy.deepcopy(shipped))
    return index.snapshot


@pytest.fixture
def loaded_repo(engine: Engine, shipped: list[dict[str, Any]]) -> FhirRepository:
    """A repository holding the shipped content (written unvalidated: test_content checks validity once)."""
    repo = FhirRepository(engine, audit=MemoryAuditSink(), base_url="http://test/fhir/R4", validate=False)
    load_content(repo, system_context(), copy.deepcopy(shipped))
    return FhirRepository(engine, audit=MemoryAuditSink(), base_url="http://test/fhir/R4")
