"""Region-wide figures of the overview are kept: once counted, a page shows them at once, and when
they expire the last figures are shown while they are counted again behind the answer, so a manager
never waits for a count twice; the new figures appear on the next load."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from healthbrain.api.app import create_app
from healthbrain.core.context import system_context
from healthbrain.core.settings import Settings
from healthbrain.security import totp

PASSWORD = "Cockpit#2026pw"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
LIFETIME = 1.0  # seconds the cockpit keeps an aggregate fresh in this test


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("HEALTHBRAIN_UI__CACHE_SECONDS", str(LIFETIME))
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'hb.db'}", export_dir=str(tmp_path / "x")))
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def _put(client: TestClient, resource: dict[str, Any]) -> None:
    repo = client.app.state.hb.repo  # type: ignore[attr-defined]
    repo.update(system_context(), resource["resourceType"], resource["id"], resource)


def _hypertension(cid: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p1"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": ICD10, "code": "I10"}]}}  # fmt: skip


def _shown(client: TestClient) -> list[int]:
    """The bar values of the top-conditions chart."""
    page = client.get("/ui/overview/conditions")
    assert page.status_code == 200
    found = re.search(
        r'<script type="application/json" id="top-conditions-data">(.*?)</script>', page.text, re.S
    )
    assert found is not None, page.text[:500]
    option = json.loads(found.group(1))
    return [int(v) for v in option["series"][0]["data"]]


def test_expired_figures_are_shown_at_once_and_counted_again_behind(client: TestClient) -> None:
    _put(client, {"resourceType": "Organization", "id": "h1", "name": "第一人民医院"})
    _put(
        client,
        {"resourceType": "Patient", "id": "p1", "managingOrganization": {"reference": "Organization/h1"}},
    )
    start = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    _put(client, {"resourceType": "Encounter", "id": "e1", "status": "finished",
                  "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                  "subject": {"reference": "Patient/p1"}, "serviceProvider": {"reference": "Organization/h1"},
                  "period": {"start": start, "end": start}})  # fmt: skip
    _put(client, _hypertension("c1"))
    identity = client.app.state.hb.security.identity  # type: ignore[attr-defined]
    enrol = identity.create_user("dr-wang", PASSWORD, ["clinician"], "h1", None)
    form = client.get("/ui/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    signed = client.post("/ui/login", data={"csrf": csrf.group(1), "username": "dr-wang", "password": PASSWORD,
                                            "totp": totp(enrol.totp_secret)}, follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303

    assert _shown(client) == [1]  # counted on the first load
    _put(client, _hypertension("c2"))
    assert _shown(client) == [1]  # still fresh: kept
    time.sleep(LIFETIME + 0.2)
    assert _shown(client) == [1]  # expired: the last figures at once, a count starts behind them
    deadline = time.monotonic() + 10
    while (shown := _shown(client)) == [1] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert shown == [2]
