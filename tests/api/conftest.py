"""An app per test, on each backend, driven through real HTTP semantics (TestClient)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from healthbrain.api.app import create_app
from healthbrain.core.settings import ApiSettings, Settings

AUTH = {"Authorization": "Bearer dev-token"}


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        export_dir=str(tmp_path / "export"),
        api=ApiSettings(base_url="http://testserver/fhir/R4", max_body_bytes=200_000),
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        c.headers.update(AUTH)
        yield c
