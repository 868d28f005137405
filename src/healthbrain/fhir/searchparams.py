"""The registry of search parameters, compiled from the official R4 definitions."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import orjson

# Parameters that apply to every resource type (base Resource / DomainResource).
COMMON_BASES = ("Resource", "DomainResource")


@dataclass(frozen=True, slots=True)
class ComponentDef:
    """One component of a composite parameter; `expression` is relative to the composite's node."""

    code: str
    type: str
    expression: str


@dataclass(frozen=True, slots=True)
class SearchParamDef:
    """One search parameter as it applies to one resource type."""

    resource_type: str
    code: str
    type: str  # token | string | date | reference | quantity | number | uri | composite | special
    expression: str | None  # restricted to the terms that apply to resource_type
    targets: tuple[str, ...] = ()
    components: tuple[ComponentDef, ...] = ()
    url: str = ""


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath expression on top-level `|` (not inside parentheses or quotes)."""
    parts: list[str] = []
    depth = 0
    quote = False
    start = 0
    for i, ch in enumerate(expression):
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        elif not quote and depth == 0 and ch == "|":
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def _term_root(term: str) -> str:
    t = term.lstrip("(").strip()
    root = ""
    for ch in t:
        if ch.isalnum() or ch == "_":
            root += ch
        else:
            break
    return root


def restrict_expression(expression: str | None, resource_type: str) -> str | None:
    """Keep the union terms of a shared expression that start at `resource_type` (or a common base)."""
    if not expression:
        return None
    terms = [t for t in split_union(expression) if _term_root(t) in (resource_type, *COMMON_BASES)]
    return " | ".join(terms) if terms else None


class SearchParamRegistry:
    """Look up search parameters by resource type and code."""

    def __init__(self, definitions: list[dict[str, object]]) -> None:
        self._by_type: dict[str, dict[str, SearchParamDef]] = {}
        self._common: dict[str, SearchParamDef] = {}
        for d in definitions:
            bases = [str(b) for b in d["base"]]  # type: ignore[attr-defined]
            for base in bases:
                spd = SearchParamDef(
                    resource_type=base,
                    code=str(d["code"]),
                    type=str(d["type"]),
                    expression=restrict_expression(d.get("expression"), base),  # type: ignore[arg-type]
                    targets=tuple(d.get("target", ())),  # type: ignore[arg-type]
                    components=tuple(
                        ComponentDef(str(c["code"]), str(c["type"]), str(c["expression"]))
                        for c in d.get("component", ())  # type: ignore[attr-defined]
                    ),
                    url=str(d["url"]),
                )
                if base in COMMON_BASES:
                    self._common[spd.code] = spd
                else:
                    self._by_type.setdefault(base, {})[spd.code] = spd

    def get(self, resource_type: str, code: str) -> SearchParamDef | None:
        """The parameter `code` of `resource_type`, including the common ones (`_id`, `_lastUpdated` ...)."""
        found = self._by_type.get(resource_type, {}).get(code)
        if found is not None:
            return found
        common = self._common.get(code)
        if common is None:
            return None
        return SearchParamDef(resource_type, common.code, common.type, common.expression, url=common.url)

    def for_type(self, resource_type: str) -> list[SearchParamDef]:
        """Every type-specific parameter of `resource_type` (common ones excluded)."""
        return list(self._by_type.get(resource_type, {}).values())

    def resource_types(self) -> list[str]:
        return sorted(self._by_type)


@cache
def default_registry() -> SearchParamRegistry:
    """The registry of the official R4 search parameters plus HealthBrain's own, shipped with the package."""
    data = resources.files("healthbrain.fhir").joinpath("data")
    official = orjson.loads(data.joinpath("search_parameters.json").read_bytes())["parameters"]
    own = orjson.loads(data.joinpath("healthbrain_search_parameters.json").read_bytes())["parameters"]
    return SearchParamRegistry([*official, *own])
