"""`healthbrain surveillance detect|forecast` on a real SQLite file: the nightly run and forecasts."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from healthbrain.cli.main import app
from healthbrain.core.context import system_context
from healthbrain.core.db import create_db_engine
from healthbrain.fhir.repository import FhirRepository
from healthbrain.storage.migrate import upgrade_database
from healthbrain.surveillance.fhir_out import AREA_SYSTEM

START = date(2025, 4, 1)


def _load(url: str) -> None:
    engine = create_db_engine(url)
    upgrade_database(engine)
    repo = FhirRepository(engine, validate=False)
    ctx = system_context()
    repo.update(ctx, "Organization", "cty", {"resourceType": "Organization", "id": "cty",
                "identifier": [{"system": AREA_SYSTEM, "value": "330802"}]})  # fmt: skip
    days = [START + timedelta(days=d) for d in range(0, 42, 3)] + [START + timedelta(days=42)] * 6
    for i, day in enumerate(days):
        repo.update(ctx, "Patient", f"p{i}", {"resourceType": "Patient", "id": f"p{i}",
                    "managingOrganization": {"reference": "Organization/cty"}})  # fmt: skip
        repo.update(ctx, "Condition", f"c{i}", {"resourceType": "Condition", "id": f"c{i}",
                    "subject": {"reference": f"Patient/p{i}"}, "onsetDateTime": day.isoformat(),
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "B08.4"}]}})  # fmt: skip
    engine.dispose()


def _row(output: str, name: str) -> int:
    line = next(x for x in output.splitlines() if name in x)
    return int(line.replace("│", " ").split()[-1].replace(",", ""))


def test_the_nightly_run_catches_up_and_detects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'hb.db'}"
    monkeypatch.setenv("HEALTHBRAIN_DATABASE_URL", url)
    _load(url)
    runner = CliRunner()
    last = START + timedelta(days=42)
    result = runner.invoke(app, ["surveillance", "detect", "--from", (last - timedelta(days=2)).isoformat(),
                                 "--to", last.isoformat()])  # fmt: skip
    assert result.exit_code == 0, result.output
    delivered = _row(result.output, "report events delivered")
    assert delivered > 40 and _row(result.output, "days") == 3
    assert _row(result.output, "signals") == 1  # the burst of six cases on the last day
    again = runner.invoke(app, ["surveillance", "detect", "--day", last.isoformat()])
    assert again.exit_code == 0
    # only the signal's own resources were written since; the rerun finds the same signal
    assert _row(again.output, "report events delivered") < 10 and _row(again.output, "signals") == 1
    fc = runner.invoke(app, ["surveillance", "forecast", "--disease", "hfmd", "--as-of", last.isoformat()])
    assert fc.exit_code == 0, fc.output
    assert "baseline model" in fc.output and fc.output.count("2025-W") >= 4


@pytest.mark.parametrize(
    "args",
    [["detect", "--from", "2025-01-01"], ["detect", "--day", "yesterday"], ["forecast"],
     ["forecast", "--disease", "ebola"]],
)  # fmt: skip
def test_bad_arguments_exit_with_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    monkeypatch.setenv("HEALTHBRAIN_DATABASE_URL", f"sqlite:///{tmp_path / 'hb.db'}")
    result = CliRunner().invoke(app, ["surveillance", *args])
    assert result.exit_code == 2, result.output
