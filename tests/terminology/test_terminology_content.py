"""The shipped content: valid FHIR R4, complete for the region's codes, loadable by the CLI and idempotent."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from healthbrain.cli.main import app
from healthbrain.core.db import create_db_engine
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.validation import validate_resource
from healthbrain.simulation import codes as sim
from healthbrain.terminology import ICD10, LOINC, TerminologyService, parse_local_table


def test_every_shipped_resource_is_valid_fhir(shipped: list[dict[str, Any]]) -> None:
    for resource in copy.deepcopy(shipped):  # the validator may reshape what it is given
        errors = [i for i in validate_resource(resource, expected_type=resource["resourceType"])
                  if i.severity in ("error", "fatal")]  # fmt: skip
        assert not errors, (resource["id"], errors[:3])


def test_every_code_the_simulator_writes_is_known(shipped: list[dict[str, Any]]) -> None:
    by_id = {r["id"]: r for r in shipped if r["resourceType"] == "CodeSystem"}
    icd = {c["code"]: c for c in by_id["icd-10"]["concept"]}
    for diagnosis in (v for v in vars(sim).values() if isinstance(v, sim.Diagnosis)):
        zh = [d["value"] for d in icd[diagnosis.code].get("designation", []) if d["language"] == "zh-CN"]
        assert zh == [diagnosis.display]
    loinc = {c["code"] for c in by_id["loinc-region"]["concept"]}
    assert {q.loinc for q in vars(sim).values() if isinstance(q, sim.Quantity)} <= loinc
    assert by_id["loinc-region"]["url"] == LOINC and by_id["icd-10"]["url"] == ICD10
    drugs = {c["code"] for c in by_id["hb-drug"]["concept"]}
    assert drugs == set(sim.DRUGS)


def test_local_map_files_are_checked_with_locations() -> None:
    with pytest.raises(Exception) as err:
        parse_local_table({"institution": "x-hosp", "table": "lab", "target": LOINC,
                           "codes": {"GLU": {"target": "14749-6", "equivalence": "same"}}}, "x.yaml")  # fmt: skip
    assert "x.yaml.codes.GLU" in str(err.value)


def test_cli_loads_content_and_a_reload_changes_nothing(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTHBRAIN_DATABASE_URL", db_url)
    own = tmp_path / "jiangshan-lab.yaml"
    own.write_text("institution: jiangshan-rmyy\ntable: lab\ntarget: http://loinc.org\n"
                   "codes:\n  XT: {display: 血糖, target: 14749-6}\n", encoding="utf-8")  # fmt: skip
    runner = CliRunner()
    first = runner.invoke(app, ["terminology", "load", "--no-validate", "--local-map", str(own)])
    assert first.exit_code == 0, first.output
    assert "20 created" in first.output and "12,542" in first.output
    again = runner.invoke(app, ["terminology", "load", "--no-validate", "--local-map", str(own)])
    assert again.exit_code == 0 and "20 unchanged" in again.output
    engine = create_db_engine(db_url)
    service = TerminologyService(FhirRepository(engine))
    assert service.load() == 20
    assert (
        service.translate_coding("https://healthbrain.dev/fhir/CodeSystem/local/jiangshan-rmyy/lab", "XT")[0][
            "code"
        ]
        == "14749-6"
    )
    engine.dispose()
    missing = runner.invoke(app, ["terminology", "load", "--local-map", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 2
