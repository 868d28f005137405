"""An app per test on each backend, for the patient index's HTTP routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from healthbrain.api.app import create_app
from healthbrain.core.settings import ApiSettings, Settings


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=db_url,
        export_dir=str(tmp_path / "export"),
        api=ApiSettings(base_url="http://testserver/fhir/R4", max_body_bytes=200_000),
    )
    with TestClient(create_app(settings)) as c:
        c.headers.update({"Authorization": "Bearer dev-token"})
        yield c
