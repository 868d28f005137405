"""`healthbrain ingest` holds what fails; `healthbrain quality ...` lists, releases, refreshes and scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from healthbrain.cli.main import app
from healthbrain.simulation import RegionConfig, write_region


def test_ingest_quarantines_and_the_operator_works_the_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTHBRAIN_DATABASE_URL", f"sqlite:///{tmp_path / 'hb.db'}")
    feed = tmp_path / "feed"
    write_region(RegionConfig(patients=40, seed=61, noise_rate=0.4), feed)
    runner = CliRunner()
    ingested = runner.invoke(app, ["ingest", str(feed), "--no-validate"])
    assert ingested.exit_code == 0, ingested.output
    assert "records quarantined by data-quality rules" in ingested.output
    listed = runner.invoke(app, ["quality", "quarantine", "list"])
    assert listed.exit_code == 0 and "entries" in listed.output
    rows = [json.loads(line) for line in runner.invoke(app, ["quality", "quarantine", "list", "--json",
                                                            "--limit", "500"]).output.splitlines()]  # fmt: skip
    qid = next(r["id"] for r in rows if r["resourceType"] == "Patient" and r["reason"] == "failed"
               and {f["rule"] for f in r["findings"]} & {"validity.id_card_check_digit", "consistency.birth_date_id_card"})  # fmt: skip
    shown = runner.invoke(app, ["quality", "quarantine", "show", qid])
    record = json.loads(shown.output)["resource"]
    refused = runner.invoke(app, ["quality", "quarantine", "release", qid])
    assert refused.exit_code == 1 and "quality.still_failing" in refused.output
    truth = json.loads((feed / "ground-truth.json").read_text("utf-8"))
    person = truth["persons"][truth["records"][f"Patient/{record['id']}"]]
    for ident in record["identifier"]:
        if ident["system"] == "urn:oid:2.16.156.10011.1.1":
            ident["value"] = person["idNumber"]  # the registration desk corrects the number
    record["birthDate"] = person["birthDate"]
    (tmp_path / "fixed.json").write_text(json.dumps(record, ensure_ascii=False), "utf-8")
    released = runner.invoke(
        app, ["quality", "quarantine", "release", qid, "--file", str(tmp_path / "fixed.json")]
    )
    assert released.exit_code == 0 and f"Patient/{record['id']}" in released.output
    refreshed = runner.invoke(app, ["quality", "refresh"])
    assert refreshed.exit_code == 0 and "events evaluated" in refreshed.output
    scores = [
        json.loads(line) for line in runner.invoke(app, ["quality", "scores", "--json"]).output.splitlines()
    ]
    assert any(s["institution"].endswith("-rmyy") and s["quarantined"] for s in scores)
    assert all(0 <= s["score"] <= 100 for s in scores)


def test_the_rules_can_be_measured_against_a_simulated_region() -> None:
    result = CliRunner().invoke(app, ["quality", "evaluate", "--patients", "200", "--rate", "0.004"])
    assert result.exit_code == 0, result.output
    assert "detection" in result.output and "false alarms" in result.output
