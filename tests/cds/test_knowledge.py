"""The knowledge base is data: every file versioned and cited, uploads validated with located problems."""

from __future__ import annotations

import copy

import orjson
import pytest

from healthbrain.cds.kb import KNOWLEDGE_NAMES, build_knowledge_base, packaged_files, parse_knowledge_file
from healthbrain.core.errors import InvalidInput, Unprocessable


def test_every_shipped_file_is_versioned_and_lists_its_sources() -> None:
    files = packaged_files()
    assert set(files) == set(KNOWLEDGE_NAMES)
    for name, f in files.items():
        assert f.version and f.origin == "package", name
        assert f.document["sources"], name
        assert len(f.sha256) == 64


def test_a_rule_citing_an_unknown_source_is_rejected_with_its_location() -> None:
    doc = copy.deepcopy(dict(packaged_files()["critical_values"].document))
    doc["analytes"][0]["limits"][0]["source"] = "my-memory"
    doc["analytes"][2]["plausible"] = [10, 1]
    with pytest.raises(Unprocessable) as err:
        parse_knowledge_file("critical_values", orjson.dumps(doc))
    where = {i.expression for i in err.value.issues}
    assert {"analytes[0].limits[0].source", "analytes[2].plausible"} <= where
    assert err.value.code == "cds.invalid_knowledge"


def test_malformed_json_and_wrong_names_are_bad_requests() -> None:
    with pytest.raises(InvalidInput):
        parse_knowledge_file("critical_values", b"{not json")
    with pytest.raises(InvalidInput):
        parse_knowledge_file("astrology", b"{}")
    doc = dict(packaged_files()["routes"].document)
    with pytest.raises(Unprocessable):
        parse_knowledge_file("dosing", orjson.dumps(doc))  # a routes file uploaded as dosing


def test_rules_referring_to_unknown_drugs_are_rejected() -> None:
    files = packaged_files()
    doc = copy.deepcopy(dict(files["interactions"].document))
    doc["rules"][0]["a"] = ["unobtainium"]
    files["interactions"] = parse_knowledge_file("interactions", orjson.dumps(doc))
    with pytest.raises(Unprocessable) as err:
        build_knowledge_base(files)
    assert any("unobtainium" in i.diagnostics for i in err.value.issues)


def test_a_new_version_changes_the_fingerprint_and_the_engine() -> None:
    files = packaged_files()
    before = build_knowledge_base(files)
    doc = copy.deepcopy(dict(files["critical_values"].document))
    doc["version"] = "2026.2-local"
    potassium = next(a for a in doc["analytes"] if a["id"] == "potassium")
    potassium["limits"][0]["high"] = 6.0  # a hospital that reports from 6.0
    files["critical_values"] = parse_knowledge_file("critical_values", orjson.dumps(doc))
    after = build_knowledge_base(files)
    assert after.fingerprint != before.fingerprint
    assert after.version_of("critical_values") == "2026.2-local"
    assert after.critical.analytes["potassium"].limits[0].high == 6.0
