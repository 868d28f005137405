"""CRESCENDDI evaluation of the prescription-audit interaction checker.

For every positive control (a drug pair with an adverse event that BNF/Micromedex list as an
interaction) and negative control (a pair judged not to interact for that event), restricted to the
pairs where the checker knows both drugs: how many positives it flags, and how many negatives it
wrongly flags. Two levels: the pair is flagged at all, and flagged with a matching kind of harm
(MedDRA event mapped to the rule's `effect`). Also reports coverage of the ONC high-priority list.
Usage: python bench/cds_crescenddi.py
"""

from __future__ import annotations

import csv
import time

from healthbrain.cds.drugs import DrugRef
from healthbrain.cds.interactions import RefProfile, interacting_rules
from healthbrain.cds.kb import default_knowledge_base

from common import DATA, machine, save

CRESCENDDI = DATA / "cds" / "crescenddi"
ONC = DATA / "cds" / "onc_high_priority"

# MedDRA preferred terms of CRESCENDDI -> the checker's kinds of harm. Evaluation glue only.
EVENT_EFFECTS: dict[str, set[str]] = {
    "bleeding": {
        "Haemorrhage",
        "Gastrointestinal haemorrhage",
        "Cerebral haemorrhage",
        "Haematoma",
        "Prothrombin time prolonged",
        "International normalised ratio increased",
        "Epistaxis",
    },
    "qt": {
        "Electrocardiogram QT prolonged",
        "Torsade de pointes",
        "Ventricular arrhythmia",
        "Cardiac arrest",
        "Arrhythmia",
        "Ventricular tachycardia",
        "Sudden death",
    },
    "hyperkalaemia": {"Hyperkalaemia"},
    "nephrotoxicity": {
        "Nephropathy toxic",
        "Renal impairment",
        "Acute kidney injury",
        "Renal failure",
        "Blood creatinine increased",
    },
    "hypotension": {"Hypotension", "Blood pressure decreased", "Orthostatic hypotension", "Syncope"},
    "cns_depression": {
        "Respiratory depression",
        "Depressed level of consciousness",
        "Sedation",
        "Somnolence",
        "Coma",
    },
    "serotonin": {
        "Serotonin syndrome",
        "Hyperthermia",
        "Myoclonus",
        "Mental status changes",
        "Hyperreflexia",
        "Tremor",
        "Agitation",
    },
    "myopathy": {"Myopathy", "Rhabdomyolysis", "Myalgia", "Blood creatine phosphokinase increased"},
    "bradycardia": {
        "Bradycardia",
        "Atrioventricular block",
        "Sinus arrest",
        "Cardiac failure",
        "Myocardial depression",
        "Syncope",
    },
    "hypertensive_crisis": {"Hypertensive crisis", "Hypertension", "Blood pressure increased"},
    "bone_marrow": {
        "Bone marrow failure",
        "Leukopenia",
        "Neutropenia",
        "Thrombocytopenia",
        "Anaemia",
        "Pancytopenia",
        "Agranulocytosis",
    },
    "hypoglycaemia": {"Hypoglycaemia"},
    "hyponatraemia": {"Hyponatraemia"},
    "drug_toxicity": {
        "Toxicity to various agents",
        "Neurotoxicity",
        "Cardiotoxicity",
        "Seizure",
        "Arrhythmia",
        "Nausea",
        "Vomiting",
        "Bradycardia",
    },
    "gi_ulcer": {
        "Gastrointestinal ulcer",
        "Gastrointestinal haemorrhage",
        "Gastrointestinal toxicity",
        "Mucosal ulceration",
    },
    "ototoxicity": {"Ototoxicity", "Deafness"},
    "neuromuscular": {"Neuromuscular block prolonged", "Paralysis", "Muscular weakness"},
    "reduced_efficacy": {"Drug ineffective", "Therapeutic response decreased"},
    "ischaemia": {"Ischaemia", "Peripheral ischaemia"},
    "tendon": {"Tendon rupture", "Tendonitis"},
}


def _profile(kb_drugs: object, cache: dict[str, RefProfile | None], name: str) -> RefProfile | None:
    from healthbrain.cds.drugs import DrugDictionary

    assert isinstance(kb_drugs, DrugDictionary)
    if name not in cache:
        ingredients = kb_drugs.resolve_text(name)
        cache[name] = RefProfile.of(kb_drugs, DrugRef(ingredients, None, name)) if ingredients else None
    return cache[name]


def evaluate(path_name: str) -> dict[str, object]:
    kb = default_knowledge_base().prescribing
    cache: dict[str, RefProfile | None] = {}
    with (CRESCENDDI / path_name).open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    known = flagged = flagged_event = 0
    unknown_names: set[str] = set()
    pairs_known: set[frozenset[str]] = set()
    pairs_flagged: set[frozenset[str]] = set()
    for row in rows:
        a = _profile(kb.drugs, cache, row["DRUG_1_CONCEPT_NAME"])
        b = _profile(kb.drugs, cache, row["DRUG_2_CONCEPT_NAME"])
        for p, name in ((a, row["DRUG_1_CONCEPT_NAME"]), (b, row["DRUG_2_CONCEPT_NAME"])):
            if p is None:
                unknown_names.add(name.lower())
        if a is None or b is None:
            continue
        known += 1
        pair = frozenset((row["DRUG_1_CONCEPT_NAME"].lower(), row["DRUG_2_CONCEPT_NAME"].lower()))
        pairs_known.add(pair)
        rules = interacting_rules(kb.interactions, a, b)
        if rules:
            flagged += 1
            pairs_flagged.add(pair)
            event = row["EVENT_CONCEPT_NAME"]
            if any(event in EVENT_EFFECTS.get(r.effect, set()) for r in rules):
                flagged_event += 1
    return {
        "rows": len(rows),
        "rows_both_drugs_known": known,
        "rows_flagged": flagged,
        "rows_flagged_matching_event": flagged_event,
        "unique_pairs_known": len(pairs_known),
        "unique_pairs_flagged": len(pairs_flagged),
        "drug_names": len({n for n in cache}),
        "drug_names_unknown": len(unknown_names),
    }


def onc_coverage() -> dict[str, object]:
    kb = default_knowledge_base().prescribing
    cache: dict[str, RefProfile | None] = {}
    pairs = set()
    with (ONC / "onc_high_priority_pairs_drugbank4.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            pairs.add((row["object_drug"], row["precipitant_drug"]))
    flagged = 0
    for a_name, b_name in pairs:
        a, b = _profile(kb.drugs, cache, a_name), _profile(kb.drugs, cache, b_name)
        if a is not None and b is not None and interacting_rules(kb.interactions, a, b):
            flagged += 1
    return {"pairs": len(pairs), "flagged": flagged}


def main() -> None:
    started = time.perf_counter()
    pos = evaluate("crescenddi_positive_controls.csv")
    neg = evaluate("crescenddi_negative_controls.csv")
    onc = onc_coverage()
    result = {
        "machine": machine(),
        "positive_controls": pos,
        "negative_controls": neg,
        "onc_high_priority": onc,
        "seconds": round(time.perf_counter() - started, 2),
    }
    for label, r in (("positive", pos), ("negative", neg)):
        k = r["rows_both_drugs_known"]
        assert isinstance(k, int)
        print(
            f"{label} controls: {r['rows']} rows, both drugs known in {k}; flagged {r['rows_flagged']} "
            f"({100 * int(r['rows_flagged']) / max(k, 1):.1f} %), flagged with matching harm "
            f"{r['rows_flagged_matching_event']} ({100 * int(r['rows_flagged_matching_event']) / max(k, 1):.1f} %)"
        )
    print(f"ONC high-priority pairs flagged: {onc['flagged']}/{onc['pairs']}")
    print(f"saved {save('cds_crescenddi', result)}")


if __name__ == "__main__":
    main()
