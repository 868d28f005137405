"""Catch-up after a bulk load: lagging subscribers delivered to by worker processes at the server's
start reach the same state as the one-thread dispatcher, and the server takes them back after."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, table

from healthbrain.api.app import create_app
from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.core.settings import ApiSettings, EventSettings, Settings
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest import ingest_path
from healthbrain.simulation import RegionConfig, write_region
from healthbrain.storage.migrate import upgrade_database

# who did what when: rows that differ between any two runs by their nature, not by their outcome
NOT_COMPARED = ("security_", "fhir_event_cursor")


@pytest.fixture(scope="module")
def region_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("catch-up") / "region"
    write_region(RegionConfig(patients=40, seed=11), out)
    return out


def loaded(url: str, region: Path) -> None:
    engine = create_db_engine(url)
    upgrade_database(engine)
    ingest_path(FhirRepository(engine, validate=False), system_context(), region)
    engine.dispose()


def settings_for(url: str, tmp: Path, workers: int) -> Settings:
    return Settings(
        database_url=url,
        export_dir=str(tmp / "export"),
        api=ApiSettings(base_url="http://testserver/fhir/R4"),
        events=EventSettings(catch_up_workers=workers, catch_up_min_events=100),
    )


def counts(url: str) -> dict[str, int]:
    engine = create_db_engine(url)
    names = [n for n in inspect(engine).get_table_names() if not n.startswith(NOT_COMPARED)]
    with engine.connect() as conn:
        found = {n: int(conn.execute(select(func.count()).select_from(table(n))).scalar_one()) for n in names}
    engine.dispose()
    return found


def caught_up_by_workers(url: str, tmp: Path) -> tuple[dict[str, dict[str, float]], list[int], int]:
    app = create_app(settings_for(url, tmp, workers=2))
    with TestClient(app) as client:
        catch_up = app.state.catch_up
        assert catch_up.done.wait(180), "the catch-up did not finish"
        dispatcher = app.state.dispatcher
        head = dispatcher.outbox_head()
        deadline = time.monotonic() + 30
        while any(dispatcher.position(n) < head for n in dispatcher.subscribers):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert not dispatcher.paused  # every subscriber is the server's own again
        assert client.get("/fhir/R4/metadata").status_code == 200
        return catch_up.figures, [dispatcher.position(n) for n in dispatcher.subscribers], head


def test_worker_processes_reach_the_state_of_the_one_thread_dispatcher(
    region_dir: Path, tmp_path: Path
) -> None:
    serial, parallel = f"sqlite:///{tmp_path / 'serial.db'}", f"sqlite:///{tmp_path / 'parallel.db'}"
    for url in (serial, parallel):
        loaded(url, region_dir)
    app = create_app(settings_for(serial, tmp_path, workers=0))
    app.state.dispatcher.drain(max_rounds=100_000)
    app.state.hb.security.audit.flush()
    figures, positions, head = caught_up_by_workers(parallel, tmp_path)
    # the services that start from the beginning of the outbox were handed out, and went through it
    assert {"mpi.patient-index", "quality.monitor", "surveillance:conditions"} <= set(figures)
    assert all(f["events"] >= head - 1000 for f in figures.values())
    assert set(positions) == {head}
    assert counts(parallel) == counts(serial)


def test_on_each_backend(db_url: str, region_dir: Path, tmp_path: Path) -> None:
    loaded(db_url, region_dir)
    figures, positions, head = caught_up_by_workers(db_url, tmp_path)
    assert figures and set(positions) == {head}


def test_a_server_not_far_behind_delivers_in_its_own_thread(region_dir: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hb.db'}"
    loaded(url, region_dir)
    settings = settings_for(url, tmp_path, workers=2).model_copy(
        update={"events": EventSettings(catch_up_workers=2, catch_up_min_events=10_000_000)}
    )
    app = create_app(settings)
    with TestClient(app):
        assert app.state.catch_up.done.is_set() and app.state.catch_up.figures == {}
