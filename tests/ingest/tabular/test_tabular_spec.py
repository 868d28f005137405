"""Mapping specs: the shipped examples are valid, and a broken spec says where it is broken."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from healthbrain.ingest.tabular import SpecError, example_path, load_spec, parse_spec


def _example() -> dict[str, Any]:
    data = yaml.safe_load(example_path("lab-results.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_shipped_examples_parse() -> None:
    for name in ("outpatient-visits.yaml", "lab-results.yaml"):
        spec = load_spec(example_path(name))
        assert spec.institution == "kecheng-rmyy" and spec.resources and spec.group_by
    lab = load_spec(example_path("lab-results.yaml"))
    assert lab.vars["lab_codes"] == "https://healthbrain.dev/fhir/CodeSystem/local/kecheng-rmyy/lab"
    assert lab.columns["mrn"].headers == ("门诊号", "住院号", "门诊/住院号", "病案号")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["resources"][1]["template"].update(note=[{"text": {"$col": "remark"}}]), "resources[1].template.note[0].text.$col"),
        (lambda d: d["resources"][1]["template"].update(subject={"$ref": "doctor"}), "resources[1].template.subject.$ref"),
        (lambda d: d["resources"][0]["template"].update(language="{locale}"), "resources[0].template"),
        (lambda d: d["columns"]["result"].update(type="number"), "columns.result.type"),
        (lambda d: d["columns"].update(flag={"header": "结果标志", "type": "code"}), "columns.flag.map"),
        (lambda d: d["resources"][2].update(type="Report"), "resources[2].type"),
        (lambda d: d.update(institution=""), "institution"),
        (lambda d: d.update(group_by=["sample"]), "group_by"),
        (lambda d: d["source"].update(encoding="big5"), "source.encoding"),
        (lambda d: d["resources"][1]["identity"].pop("system"), "resources[1].identity"),
    ],
)  # fmt: skip
def test_a_broken_spec_names_the_broken_key(change: Any, where: str) -> None:
    data = _example()
    change(data)
    with pytest.raises(SpecError) as err:
        parse_spec(data)
    assert err.value.issues[0].expression == where


def test_yaml_syntax_errors_have_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncolumns:\n  a: {header: [A, B}\n", encoding="utf-8")
    with pytest.raises(SpecError) as err:
        load_spec(bad)
    assert "line 3" in err.value.message
