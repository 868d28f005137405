"""Fixtures of the CDS tests: the shipped knowledge base, and an application with fast escalation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from healthbrain.api.app import create_app
from healthbrain.cds.kb import KnowledgeBase, default_knowledge_base
from healthbrain.core.settings import ApiSettings, Settings


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return default_knowledge_base()


# ---- an application per test (both backends), with short escalation timeouts -------------------
AUTH = {"Authorization": "Bearer dev-token"}
FAST_CHAIN = '[{"role":"ordering","timeout_seconds":1.0},{"role":"duty","timeout_seconds":1.0},{"role":"head","timeout_seconds":1.0}]'


@pytest.fixture
def cds_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test settings of the CDS service: 1-second escalation steps, a fast background loop."""
    monkeypatch.setenv("HEALTHBRAIN_CDS__ESCALATION", FAST_CHAIN)
    monkeypatch.setenv("HEALTHBRAIN_CDS__TICK_SECONDS", "0.05")
    monkeypatch.setenv("HEALTHBRAIN_CDS__SSE_HEARTBEAT_SECONDS", "0.5")
    monkeypatch.setenv("HEALTHBRAIN_CDS__WEBHOOK_BACKOFF_SECONDS", "0.1")


@pytest.fixture
def app_settings(db_url: str, tmp_path: Path, cds_env: None) -> Settings:
    api = ApiSettings(base_url="http://testserver/fhir/R4")
    return Settings(database_url=db_url, export_dir=str(tmp_path / "export"), api=api)


@pytest.fixture
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as c:
        c.headers.update(AUTH)
        yield c
