"""Therapeutic duplication: the same ingredient twice, or two drugs of one therapeutic group."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from healthbrain.cds.findings import Finding
from healthbrain.cds.interactions import RefProfile

__all__ = ["DuplicationRules", "check_duplication", "compile_duplication_rules"]


@dataclass(frozen=True, slots=True)
class DuplicationGroup:
    id: str
    keys: frozenset[str]
    severity: str
    source: str


@dataclass(frozen=True, slots=True)
class DuplicationRules:
    """Groups, the same-ingredient rule and exempt ingredient pairs."""

    version: str
    groups: tuple[DuplicationGroup, ...]
    same_severity: str
    same_source: str
    exempt: frozenset[frozenset[str]]


def compile_duplication_rules(doc: Mapping[str, Any]) -> DuplicationRules:
    """Build the rules from the `duplication` knowledge file, citations resolved."""
    sources = doc["sources"]
    groups = tuple(
        DuplicationGroup(
            str(g["id"]),
            frozenset([*(f"class:{c}" for c in g.get("classes", ())), *g.get("drugs", ())]),
            str(g["severity"]),
            str(sources[g["source"]]),
        )
        for g in doc["groups"]
    )
    same = doc["same_ingredient"]
    exempt = frozenset(frozenset(pair) for pair in doc["exempt"])
    return DuplicationRules(
        str(doc["version"]), groups, str(same["severity"]), str(sources[same["source"]]), exempt
    )


def check_duplication(
    rules: DuplicationRules, new: RefProfile, others: Iterable[tuple[str | None, RefProfile]]
) -> list[Finding]:
    """Duplication findings between the new order and each (reference, profile) of the others."""
    found: list[Finding] = []
    for reference, other in others:
        implicated = (reference,) if reference else ()
        params: dict[str, str | float] = {"other": other.ref.display or ", ".join(other.ref.ingredients)}
        shared = set(new.ref.ingredients) & set(other.ref.ingredients)
        if shared:
            found.append(
                Finding(
                    "duplication",
                    rules.same_severity,
                    "duplication:same-ingredient",
                    "duplication.same_ingredient",
                    rules.same_source,
                    params={**params, "ingredient": ", ".join(sorted(shared))},
                    implicated=implicated,
                )
            )
            continue
        pairs = {frozenset((a, b)) for a in new.ref.ingredients for b in other.ref.ingredients}
        if pairs & rules.exempt:
            continue
        for group in rules.groups:
            if group.keys & new.keys and group.keys & other.keys:
                found.append(
                    Finding(
                        "duplication",
                        group.severity,
                        f"duplication:{group.id}",
                        "duplication.same_class",
                        group.source,
                        params=params,
                        implicated=implicated,
                    )
                )
                break
    return found
