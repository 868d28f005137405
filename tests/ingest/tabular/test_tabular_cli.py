"""`healthbrain ingest PATH --mapping SPEC` on a real database file: counts, row errors, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from healthbrain.cli.main import app
from healthbrain.ingest.tabular import example_path


def test_ingest_with_a_mapping(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEALTHBRAIN_DATABASE_URL", db_url)
    runner = CliRunner()
    loaded = runner.invoke(app, ["terminology", "load", "--no-validate"])
    assert loaded.exit_code == 0, loaded.output
    spec = str(example_path("lab-results.yaml"))
    ok = runner.invoke(app, ["ingest", str(example_path("lab-results.csv")), "--mapping", spec])
    assert ok.exit_code == 0, ok.output
    assert "18 rows, 18 loaded, 0 with errors" in ok.output and "Observation" in ok.output
    assert "年龄" in ok.output  # columns the mapping does not use are named
    queue = runner.invoke(app, ["terminology", "reviews"])
    assert "UA" in queue.output and "尿酸" in queue.output
    lines = example_path("lab-results.csv").read_text(encoding="utf-8-sig").splitlines()
    broken = tmp_path / "exports"
    broken.mkdir()
    (broken / "lab.csv").write_text("\n".join([lines[0], lines[1].replace("2025/3/3 8:40", "2025/3/3 28:40")]) + "\n",
                                    encoding="utf-8")  # fmt: skip
    bad = runner.invoke(app, ["ingest", str(broken), "--mapping", spec])
    assert bad.exit_code == 1
    assert "line 2, column 13 (采集时间)" in bad.output and "tabular.bad_time" in bad.output
    nospec = runner.invoke(app, ["ingest", str(broken), "--mapping", str(tmp_path / "none.yaml")])
    assert nospec.exit_code == 2
