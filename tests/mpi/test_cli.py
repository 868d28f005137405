"""`healthbrain mpi relink` and `healthbrain mpi stats` on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from healthbrain.cli.main import app
from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.fhir.repository import FhirRepository
from healthbrain.simulation import RegionConfig, simulate_region
from healthbrain.storage.migrate import upgrade_database


def test_batch_relink_from_the_fhir_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'hb.db'}"
    monkeypatch.setenv("HEALTHBRAIN_DATABASE_URL", url)
    engine = create_db_engine(url)
    upgrade_database(engine)
    repo = FhirRepository(engine, validate=False)
    region = simulate_region(RegionConfig(patients=120, seed=2, noise_rate=0.2, duplicate_rate=0.05))
    patients = [r for r in region.resources() if r["resourceType"] == "Patient"]
    ctx = system_context()
    for p in patients:
        repo.update(ctx, "Patient", p["id"], p)
    engine.dispose()
    runner = CliRunner()
    result = runner.invoke(app, ["mpi", "relink", "--no-train"])
    assert result.exit_code == 0, result.output
    residents = len(set(region.ground_truth.records[f"Patient/{p['id']}"] for p in patients))
    assert f"{len(patients):,} records" in result.output
    stats = runner.invoke(app, ["mpi", "stats"])
    assert stats.exit_code == 0 and "residents" in stats.output
    counted = int(
        next(line for line in stats.output.splitlines() if "residents" in line).split()[-2].replace(",", "")
    )
    assert residents <= counted <= residents + 3  # a few guarded records stay apart, for review


def test_reseal_after_a_data_key_rotation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'hb.db'}"
    monkeypatch.setenv("HEALTHBRAIN_DATABASE_URL", url)
    engine = create_db_engine(url)
    upgrade_database(engine)
    repo = FhirRepository(engine, validate=False)
    region = simulate_region(RegionConfig(patients=40, seed=3, noise_rate=0.2, duplicate_rate=0.05))
    ctx = system_context()
    patients = [r for r in region.resources() if r["resourceType"] == "Patient"]
    for p in patients:
        repo.update(ctx, "Patient", p["id"], p)
    engine.dispose()
    runner = CliRunner()
    assert runner.invoke(app, ["mpi", "relink", "--no-train"]).exit_code == 0
    nothing = runner.invoke(app, ["mpi", "reseal"])
    assert nothing.exit_code == 0 and "0 rows sealed" in nothing.output
    assert runner.invoke(app, ["admin", "rotate-keys", "--purpose", "data"]).exit_code == 0
    moved = runner.invoke(app, ["mpi", "reseal"])
    assert moved.exit_code == 0, moved.output
    assert f"{len(patients):,} records" in moved.output
    again = runner.invoke(app, ["mpi", "reseal"])
    assert "0 rows sealed" in again.output
    after = runner.invoke(app, ["mpi", "relink", "--no-train"])  # reads every stored record back
    assert after.exit_code == 0 and "0 moved" in after.output
