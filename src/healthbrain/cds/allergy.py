"""Allergy and cross-sensitivity checks (knowledge/allergy.json), and reading AllergyIntolerance records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healthbrain.cds.drugs import DrugDictionary
from healthbrain.cds.findings import SEVERITY_RANK, AllergyRecord, Finding
from healthbrain.cds.interactions import RefProfile

__all__ = ["AllergyKnowledge", "check_allergies", "compile_allergy_knowledge", "read_allergy"]

_DOWNGRADE = {
    "contraindicated": "major",
    "major": "moderate",
    "moderate": "minor",
    "minor": "minor",
    "info": "info",
}
_INACTIVE = {"inactive", "resolved"}
_REFUTED = {"refuted", "entered-in-error"}


@dataclass(frozen=True, slots=True)
class CrossRule:
    id: str
    allergen: str  # ingredient or class:<id>
    drug: str  # ingredient or class:<id>
    severity: str
    source: str
    advice: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AllergyKnowledge:
    """Allergen groups (group -> drug class, recognised names and SNOMED codes) and cross rules."""

    version: str
    group_class: Mapping[str, str]
    by_name: Mapping[str, str]
    by_snomed: Mapping[str, str]
    cross: tuple[CrossRule, ...]
    source: str


def compile_allergy_knowledge(doc: Mapping[str, Any]) -> AllergyKnowledge:
    """Build the allergy knowledge from the `allergy` knowledge file, citations resolved."""
    sources = doc["sources"]
    group_class = {g: str(row["class"]) for g, row in doc["groups"].items()}
    by_name = {str(n).lower(): g for g, row in doc["groups"].items() for n in row.get("names", ())}
    by_snomed = {str(c): g for g, row in doc["groups"].items() for c in row.get("snomed", ())}
    cross = tuple(
        CrossRule(
            str(r["id"]),
            str(r["allergen"]),
            str(r["drug"]),
            str(r["severity"]),
            str(sources[r["source"]]),
            dict(r["advice"]),
        )
        for r in doc["cross_reactions"]
    )
    return AllergyKnowledge(
        str(doc["version"]), group_class, by_name, by_snomed, cross, str(sources["jtf2022"])
    )


def _status(concept: Any) -> str:
    codings = (concept or {}).get("coding") or []
    return str(codings[0].get("code") or "") if codings else ""


def read_allergy(
    resource: Mapping[str, Any], drugs: DrugDictionary, knowledge: AllergyKnowledge
) -> AllergyRecord | None:
    """An AllergyIntolerance as an audit record, or None when inactive, refuted or not a medication."""
    if _status(resource.get("clinicalStatus")) in _INACTIVE:
        return None
    if _status(resource.get("verificationStatus")) in _REFUTED:
        return None
    categories = resource.get("category") or []
    if categories and "medication" not in categories:
        return None
    code = resource.get("code") or {}
    codings = code.get("coding") or []
    groups = {
        knowledge.by_snomed[str(c.get("code"))] for c in codings if str(c.get("code")) in knowledge.by_snomed
    }
    texts = [str(code.get("text") or ""), *(str(c.get("display") or "") for c in codings)]
    for text in texts:
        low = text.strip().lower()
        if low in knowledge.by_name:
            groups.add(knowledge.by_name[low])
    ref = drugs.resolve(codings, code.get("text"))
    if not ref.known and not groups:
        return None
    return AllergyRecord(
        resource.get("id"),
        ref,
        frozenset(groups),
        resource.get("criticality"),
        str(resource.get("type") or "allergy"),
    )


def _allergen_keys(
    drugs: DrugDictionary, knowledge: AllergyKnowledge, record: AllergyRecord
) -> frozenset[str]:
    keys = set(record.ref.ingredients)
    allergy_classes = set(knowledge.group_class.values())
    keys |= {f"class:{c}" for c in drugs.ref_classes(record.ref) if c in allergy_classes}
    keys |= {f"class:{knowledge.group_class[g]}" for g in record.groups}
    return frozenset(keys)


def _finding(
    record: AllergyRecord,
    severity: str,
    rule: str,
    code: str,
    source: str,
    advice: Mapping[str, str],
    allergen: str,
) -> Finding:
    if record.kind == "intolerance":
        severity = _DOWNGRADE[severity]
    implicated = (f"AllergyIntolerance/{record.id}",) if record.id else ()
    return Finding(
        "allergy",
        severity,
        rule,
        code,
        source,
        advice,
        {"allergen": allergen},
        implicated,
        "hypersensitivity",
    )


def check_allergies(
    drugs: DrugDictionary, knowledge: AllergyKnowledge, drug: RefProfile, allergies: tuple[AllergyRecord, ...]
) -> list[Finding]:
    """The same drug, the same allergen class, or a known cross-sensitivity, per allergy record."""
    found: list[Finding] = []
    allergy_classes = {f"class:{c}" for c in knowledge.group_class.values()}
    for record in allergies:
        allergen = record.ref.display or ", ".join(sorted(record.groups | set(record.ref.ingredients)))
        keys = _allergen_keys(drugs, knowledge, record)
        if set(record.ref.ingredients) & set(drug.ref.ingredients):
            severity = "contraindicated" if record.criticality == "high" else "major"
            found.append(
                _finding(
                    record, severity, "allergy:same-drug", "allergy.same_drug", knowledge.source, {}, allergen
                )
            )
            continue
        shared = keys & drug.keys & allergy_classes
        if shared:
            found.append(
                _finding(
                    record,
                    "major",
                    "allergy:same-class",
                    "allergy.same_class",
                    knowledge.source,
                    {},
                    allergen,
                )
            )
            continue
        best: CrossRule | None = None
        for rule in knowledge.cross:
            matched = rule.allergen in keys and rule.drug in drug.keys
            if matched and (best is None or SEVERITY_RANK[rule.severity] > SEVERITY_RANK[best.severity]):
                best = rule
        if best is not None:
            found.append(
                _finding(
                    record,
                    best.severity,
                    f"allergy:{best.id}",
                    "allergy.cross",
                    best.source,
                    best.advice,
                    allergen,
                )
            )
    return found
