"""A repository holding the shipped terminology, and the terminology service over it (on each backend)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import Engine

from healthbrain.cli.terminology_cmd import shipped_resources
from healthbrain.core.context import system_context
from healthbrain.fhir.ports import MemoryAuditSink
from healthbrain.fhir.repository import FhirRepository
from healthbrain.terminology import TerminologyService, load_content


@pytest.fixture(scope="session")
def terminology_content() -> list[dict[str, Any]]:
    return shipped_resources([])


@pytest.fixture
def coded_repo(engine: Engine, terminology_content: list[dict[str, Any]]) -> FhirRepository:
    load_content(FhirRepository(engine, validate=False), system_context(), copy.deepcopy(terminology_content))
    return FhirRepository(engine, audit=MemoryAuditSink(), base_url="http://test/fhir/R4")


@pytest.fixture
def terminology(coded_repo: FhirRepository) -> TerminologyService:
    service = TerminologyService(coded_repo, map_arriving_codes=False)
    service.load()
    return service
