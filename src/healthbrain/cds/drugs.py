"""The drug dictionary: ingredients, therapeutic classes and formulary products, and code/name resolution.

Orders are resolved by, in turn: the region's formulary code, ATC, RxNorm, DrugBank, then the
English or Chinese name in the text. Class membership comes from the class lists and from ATC
prefixes, so an order coded only with an ATC code still falls into its classes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ATC_SYSTEM",
    "DRUGBANK_MARK",
    "FORMULARY_SYSTEM",
    "RXNORM_SYSTEM",
    "DrugClass",
    "DrugDictionary",
    "DrugRef",
    "Ingredient",
    "compile_drug_dictionary",
]

FORMULARY_SYSTEM = "https://healthbrain.dev/fhir/CodeSystem/drug"
ATC_SYSTEM = "http://www.whocc.no/atc"
RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
DRUGBANK_MARK = "drugbank"

_TOKEN = re.compile(r"[a-z][a-z'.\-]*")
# Salts, hydrates and dosage-form words that do not change which ingredient is meant.
_NOISE_WORDS = (
    "hydrochloride hcl sodium calcium magnesium besylate besilate maleate mesylate mesilate succinate "
    "tartrate fumarate sulfate sulphate citrate acetate bromide hydrobromide phosphate disodium dihydrate "
    "monohydrate trihydrate xinafoate propionate furoate dipropionate bisulfate hyclate etexilate mofetil "
    "trometamol nitrate tablet tablets tab tabs capsule capsules cap caps injection inj oral solution "
    "suspension syrup drops cream gel extended release sustained controlled er sr xr cr mg g ug mcg ml "
    "for of and the enteric coated film chewable dispersible powder granules inhaler inhalation"
)
_NOISE = frozenset(_NOISE_WORDS.split())


@dataclass(frozen=True, slots=True)
class Ingredient:
    """An active ingredient; `id` is its English INN (lower case)."""

    id: str
    atc: tuple[str, ...] = ()
    zh: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    rxnorm: tuple[str, ...] = ()
    drugbank: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DrugClass:
    """A therapeutic class: explicit members plus every ATC code under its prefixes."""

    id: str
    display: Mapping[str, str]
    atc_prefixes: tuple[str, ...]
    members: frozenset[str]


@dataclass(frozen=True, slots=True)
class DrugRef:
    """What an order or an allergy record refers to, as far as the dictionary can tell."""

    ingredients: tuple[str, ...]
    product: str | None
    display: str
    atc: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        return bool(self.ingredients) or self.product is not None


@dataclass(frozen=True, slots=True)
class DrugDictionary:
    """Lookup tables over the `drugs` knowledge file."""

    version: str
    ingredients: Mapping[str, Ingredient]
    classes: Mapping[str, DrugClass]
    products: Mapping[str, tuple[str, tuple[str, ...]]]  # HB code -> (name, ingredients)
    by_name: Mapping[str, str]
    by_atc: Mapping[str, str]
    by_rxnorm: Mapping[str, str]
    by_drugbank: Mapping[str, str]
    zh_names: tuple[tuple[str, str], ...]  # (Chinese name, ingredient), longest first
    ingredient_classes: Mapping[str, frozenset[str]]

    def classes_of(self, ingredient: str) -> frozenset[str]:
        """Classes of an ingredient (by membership or by any of its ATC codes)."""
        return self.ingredient_classes.get(ingredient, frozenset())

    def atc_classes(self, code: str) -> frozenset[str]:
        """Classes whose ATC prefixes cover `code`."""
        return frozenset(
            c.id for c in self.classes.values() if any(code.startswith(p) for p in c.atc_prefixes)
        )

    def ref_classes(self, ref: DrugRef) -> frozenset[str]:
        """Classes of everything a reference contains, including ATC-only codes."""
        found: set[str] = set()
        for ing in ref.ingredients:
            found |= self.classes_of(ing)
        for code in ref.atc:
            found |= self.atc_classes(code)
        return frozenset(found)

    def matches(self, ref: DrugRef, target: str) -> bool:
        """Whether the reference is `target`: an ingredient id or `class:<id>`."""
        if target.startswith("class:"):
            return target[6:] in self.ref_classes(ref)
        return target in ref.ingredients

    def name_of(self, ingredient: str, language: str) -> str:
        ing = self.ingredients.get(ingredient)
        if language.startswith("zh") and ing is not None and ing.zh:
            return ing.zh[0]
        return ingredient

    # ---- resolution -------------------------------------------------------------------------
    def resolve_text(self, text: str) -> tuple[str, ...]:
        """Ingredients named in free text (English INN or synonym, or a Chinese name)."""
        low = text.strip().lower()
        if not low:
            return ()
        if low in self.by_name:
            return (self.by_name[low],)
        words = _TOKEN.findall(low)
        found: list[str] = []
        for tokens in (words, [t for t in words if t not in _NOISE]):
            for size in (3, 2, 1):
                for i in range(len(tokens) - size + 1):
                    gram = tokens[i : i + size]
                    hit = self.by_name.get(" ".join(gram))
                    if hit and hit not in found and not all(t in _NOISE for t in gram):
                        found.append(hit)
            if found:
                return tuple(found)
        remaining = text
        for name, ing in self.zh_names:
            if name in remaining:
                if ing not in found:
                    found.append(ing)
                remaining = remaining.replace(name, " ")
        return tuple(found)

    def resolve(self, codings: Iterable[Mapping[str, Any]], text: str | None = None) -> DrugRef:
        """Resolve a CodeableConcept's codings (and text) to ingredients and a formulary product."""
        product: str | None = None
        ingredients: list[str] = []
        atc: list[str] = []
        display = text or ""
        for coding in codings:
            system = str(coding.get("system") or "")
            code = str(coding.get("code") or "").strip()
            display = display or str(coding.get("display") or "")
            if system == FORMULARY_SYSTEM and code in self.products:
                product = code
                ingredients.extend(self.products[code][1])
            elif system == ATC_SYSTEM and code:
                atc.append(code.upper())
                hit = self.by_atc.get(code.upper())
                if hit:
                    ingredients.append(hit)
            elif system == RXNORM_SYSTEM and code in self.by_rxnorm:
                ingredients.append(self.by_rxnorm[code])
            elif DRUGBANK_MARK in system.lower() and code.upper() in self.by_drugbank:
                ingredients.append(self.by_drugbank[code.upper()])
        if not ingredients and product is None:
            for coding in codings:
                ingredients.extend(self.resolve_text(str(coding.get("display") or "")))
            ingredients.extend(self.resolve_text(text or ""))
        unique = tuple(dict.fromkeys(ingredients))
        return DrugRef(unique, product, display, tuple(dict.fromkeys(atc)))


def compile_drug_dictionary(doc: Mapping[str, Any]) -> DrugDictionary:
    """Build the dictionary from the `drugs` knowledge file."""
    ingredients: dict[str, Ingredient] = {}
    by_name: dict[str, str] = {}
    by_atc: dict[str, str] = {}
    by_rxnorm: dict[str, str] = {}
    by_drugbank: dict[str, str] = {}
    zh: list[tuple[str, str]] = []
    for name, row in doc["ingredients"].items():
        ing = Ingredient(
            name,
            tuple(row.get("atc", ())),
            tuple(row.get("zh", ())),
            tuple(row.get("synonyms", ())),
            tuple(row.get("rxnorm", ())),
            tuple(row.get("drugbank", ())),
        )
        ingredients[name] = ing
        by_name[name.lower()] = name
        for syn in ing.synonyms:
            by_name.setdefault(syn.lower(), name)
        for code in ing.atc:
            by_atc.setdefault(code.upper(), name)
        for code in ing.rxnorm:
            by_rxnorm[code] = name
        for code in ing.drugbank:
            by_drugbank[code.upper()] = name
        zh.extend((z, name) for z in ing.zh)
    classes = {
        cid: DrugClass(cid, dict(row["display"]), tuple(row["atc"]), frozenset(row["members"]))
        for cid, row in doc["classes"].items()
    }
    products = {code: (str(row["name"]), tuple(row["ingredients"])) for code, row in doc["products"].items()}
    zh.sort(key=lambda pair: -len(pair[0]))
    membership = {
        name: frozenset(
            c.id
            for c in classes.values()
            if name in c.members or any(code.startswith(p) for code in ing.atc for p in c.atc_prefixes)
        )
        for name, ing in ingredients.items()
    }
    return DrugDictionary(
        str(doc["version"]),
        ingredients,
        classes,
        products,
        by_name,
        by_atc,
        by_rxnorm,
        by_drugbank,
        tuple(zh),
        membership,
    )
