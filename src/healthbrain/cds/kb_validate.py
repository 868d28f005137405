"""Validation of knowledge files: structure, cited sources and cross-file references, all problems listed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from healthbrain.core.errors import Issue

__all__ = ["validate_cross_references", "validate_document"]

SEVERITIES = {"contraindicated", "major", "moderate", "minor"}


class _Collector:
    def __init__(self, sources: Mapping[str, Any]) -> None:
        self.issues: list[Issue] = []
        self.sources = sources

    def add(self, where: str, message: str) -> None:
        self.issues.append(Issue("error", "invalid", message, where))

    def cites(self, row: Mapping[str, Any], where: str) -> None:
        key = row.get("source")
        if not isinstance(key, str) or key not in self.sources:
            self.add(
                f"{where}.source",
                f"cites an unknown source '{key}'; every rule must cite one listed in sources",
            )

    def has(self, row: Any, keys: Iterable[str], where: str) -> bool:
        if not isinstance(row, Mapping):
            self.add(where, "must be an object")
            return False
        missing = [k for k in keys if k not in row]
        for key in missing:
            self.add(f"{where}.{key}", "is required")
        return not missing


def _bands(c: _Collector, bands: Any, where: str) -> None:
    if not isinstance(bands, list) or not bands or bands[-1][0] is not None:
        c.add(where, "a band table must be a non-empty list closed by a [null, points] row")
        return
    uppers = [b[0] for b in bands[:-1]]
    if any(not isinstance(u, int | float) for u in uppers) or uppers != sorted(uppers):
        c.add(where, "band upper bounds must be numbers in ascending order")


def _critical(c: _Collector, doc: Mapping[str, Any]) -> None:
    for i, row in enumerate(doc.get("analytes", [])):
        where = f"analytes[{i}]"
        if not c.has(row, ("id", "display", "loinc", "unit", "units", "plausible", "limits"), where):
            continue
        if not isinstance(row["units"], Mapping) or row["unit"].lower() not in {
            str(u).lower() for u in row["units"]
        }:
            c.add(f"{where}.units", "must convert the canonical unit itself (factor 1)")
        low, high = (
            (row["plausible"] + [None, None])[:2] if isinstance(row["plausible"], list) else (None, None)
        )
        if not (isinstance(low, int | float) and isinstance(high, int | float) and low < high):
            c.add(f"{where}.plausible", "must be [low, high] with low < high")
        for j, limit in enumerate(row["limits"]):
            c.cites(limit, f"{where}.limits[{j}]")
            if limit.get("low") is None and limit.get("high") is None:
                c.add(f"{where}.limits[{j}]", "needs a low or a high limit")


def _delta(c: _Collector, doc: Mapping[str, Any]) -> None:
    for i, row in enumerate(doc.get("rules", [])):
        where = f"rules[{i}]"
        if c.has(
            row, ("id", "analyte", "direction", "baseline", "window_hours", "severity", "message"), where
        ):
            c.cites(row, where)
            if row.get("relative") is None and row.get("absolute") is None:
                c.add(where, "needs a relative or an absolute change")
            if row["direction"] not in ("rise", "fall") or row["baseline"] not in ("min", "max", "latest"):
                c.add(where, "direction must be rise|fall and baseline min|max|latest")


def _ews(c: _Collector, doc: Mapping[str, Any]) -> None:
    scores = doc.get("scores", {})
    for name in ("news2", "qsofa", "mews", "pews"):
        if name not in scores:
            c.add(f"scores.{name}", "is required")
            continue
        c.cites(scores[name], f"scores.{name}")
        for param, spec in scores[name].get("parameters", {}).items():
            _bands(c, spec.get("bands"), f"scores.{name}.parameters.{param}.bands")
        if not scores[name].get("triggers"):
            c.add(f"scores.{name}.triggers", "is required")


def _rules_with_sources(
    key: str, required: tuple[str, ...]
) -> Callable[[_Collector, Mapping[str, Any]], None]:
    def check(c: _Collector, doc: Mapping[str, Any]) -> None:
        for i, row in enumerate(doc.get(key, [])):
            where = f"{key}[{i}]"
            if c.has(row, required, where):
                c.cites(row, where)
                if "severity" in row and row["severity"] not in SEVERITIES:
                    c.add(f"{where}.severity", f"must be one of {sorted(SEVERITIES)}")

    return check


def _dosing(c: _Collector, doc: Mapping[str, Any]) -> None:
    _rules_with_sources("rules", ("unit",))(c, doc)
    for i, row in enumerate(doc.get("rules", [])):
        if not row.get("drug") and not row.get("products"):
            c.add(f"rules[{i}]", "needs a drug or products")
        for j, entry in enumerate(row.get("renal", [])):
            threshold = entry.get("egfr_below")
            if entry.get("severity") not in SEVERITIES or not isinstance(threshold, int | float):
                c.add(f"rules[{i}].renal[{j}]", f"needs egfr_below and a severity in {sorted(SEVERITIES)}")


def _contraindications(c: _Collector, doc: Mapping[str, Any]) -> None:
    for group in ("pregnancy", "lactation", "paediatric", "elderly"):
        _rules_with_sources(group, ("drugs", "severity", "advice"))(c, doc)


def _allergy(c: _Collector, doc: Mapping[str, Any]) -> None:
    for g, row in doc.get("groups", {}).items():
        c.has(row, ("class",), f"groups.{g}")
    _rules_with_sources("cross_reactions", ("id", "allergen", "drug", "severity", "advice"))(c, doc)


def _duplication(c: _Collector, doc: Mapping[str, Any]) -> None:
    _rules_with_sources("groups", ("id", "severity"))(c, doc)
    if c.has(doc, ("same_ingredient", "exempt"), "$"):
        c.cites(doc["same_ingredient"], "same_ingredient")


def _routes(c: _Collector, doc: Mapping[str, Any]) -> None:
    if c.has(doc, ("routes", "timing_codes", "supply", "max_per_day_any"), "$"):
        c.cites(doc["supply"], "supply")


def _drugs(c: _Collector, doc: Mapping[str, Any]) -> None:
    c.has(doc, ("ingredients", "classes", "products"), "$")
    known = set(doc.get("ingredients", {}))
    for cid, row in doc.get("classes", {}).items():
        if c.has(row, ("display", "atc", "members"), f"classes.{cid}"):
            for m in row["members"]:
                if m not in known:
                    c.add(f"classes.{cid}.members", f"'{m}' is not an ingredient")
    for code, row in doc.get("products", {}).items():
        if c.has(row, ("name", "ingredients"), f"products.{code}"):
            for m in row["ingredients"]:
                if m not in known:
                    c.add(f"products.{code}.ingredients", f"'{m}' is not an ingredient")


_CHECKS: dict[str, Callable[[_Collector, Mapping[str, Any]], None]] = {
    "critical_values": _critical,
    "delta_checks": _delta,
    "early_warning": _ews,
    "drugs": _drugs,
    "interactions": _rules_with_sources("rules", ("id", "a", "b", "severity", "effect", "advice")),
    "dosing": _dosing,
    "contraindications": _contraindications,
    "allergy": _allergy,
    "duplication": _duplication,
    "routes": _routes,
}


def validate_document(name: str, doc: Any) -> list[Issue]:
    """Every problem of one knowledge file (empty when valid)."""
    c = _Collector({})
    if not c.has(doc, ("name", "version", "sources"), "$"):
        return c.issues
    if doc["name"] != name:
        c.add("name", f"the file declares name '{doc['name']}' but was given as '{name}'")
    if not isinstance(doc["version"], str) or not doc["version"].strip():
        c.add("version", "must be a non-empty string")
    if not isinstance(doc["sources"], Mapping) or not doc["sources"]:
        c.add("sources", "must list the published sources the rules cite")
        return c.issues
    c.sources = doc["sources"]
    check = _CHECKS.get(name)
    if check is None:
        c.add("name", f"unknown knowledge file '{name}'")
    else:
        try:
            check(c, doc)
        except (TypeError, AttributeError, IndexError) as exc:
            c.add("$", f"malformed structure ({type(exc).__name__})")
    return c.issues


def _refs_exist(refs: Iterable[str], ingredients: set[str], classes: set[str]) -> list[str]:
    return [r for r in refs if (r[6:] not in classes) if r.startswith("class:")] + [
        r for r in refs if not r.startswith("class:") and r not in ingredients
    ]


def validate_cross_references(docs: Mapping[str, Mapping[str, Any]]) -> list[Issue]:
    """References from the rule files into the drug dictionary must resolve."""
    drugs = docs["drugs"]
    ingredients, classes = set(drugs["ingredients"]), set(drugs["classes"])
    issues: list[Issue] = []

    def check(file: str, where: str, refs: Iterable[str]) -> None:
        for bad in _refs_exist(refs, ingredients, classes):
            issues.append(Issue("error", "invalid", f"{file}: '{bad}' is not in the drug dictionary", where))

    for i, r in enumerate(docs["interactions"]["rules"]):
        check("interactions", f"rules[{i}]", [*r["a"], *r["b"]])
    for group in ("pregnancy", "lactation", "paediatric", "elderly"):
        for i, r in enumerate(docs["contraindications"].get(group, [])):
            check("contraindications", f"{group}[{i}]", r["drugs"])
    for i, r in enumerate(docs["dosing"]["rules"]):
        check("dosing", f"rules[{i}]", [r["drug"]] if r.get("drug") else [])
    for i, r in enumerate(docs["allergy"]["cross_reactions"]):
        check("allergy", f"cross_reactions[{i}]", [r["allergen"], r["drug"]])
    for i, g in enumerate(docs["duplication"]["groups"]):
        check(
            "duplication",
            f"groups[{i}]",
            [*(f"class:{c}" for c in g.get("classes", ())), *g.get("drugs", ())],
        )
    return issues
