"""Drug-drug interaction checking over class- and ingredient-level rules (knowledge/interactions.json)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from healthbrain.cds.drugs import DrugDictionary, DrugRef
from healthbrain.cds.findings import SEVERITY_RANK, Finding

__all__ = [
    "InteractionRule",
    "RefProfile",
    "check_interactions",
    "compile_interaction_rules",
    "interacting_rules",
]


@dataclass(frozen=True, slots=True)
class InteractionRule:
    """A fires when one drug matches side `a` and the other side `b` (ingredients or `class:` refs)."""

    id: str
    a: frozenset[str]
    b: frozenset[str]
    severity: str
    effect: str
    source: str
    advice: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RefProfile:
    """A drug reference with its ingredients and classes precomputed (`class:` prefixed)."""

    ref: DrugRef
    keys: frozenset[str]

    @classmethod
    def of(cls, drugs: DrugDictionary, ref: DrugRef) -> RefProfile:
        keys = set(ref.ingredients) | {f"class:{c}" for c in drugs.ref_classes(ref)}
        return cls(ref, frozenset(keys))


def compile_interaction_rules(doc: Mapping[str, Any]) -> tuple[InteractionRule, ...]:
    """Build the rules from the `interactions` knowledge file, citations resolved."""
    sources = doc["sources"]
    return tuple(
        InteractionRule(
            str(r["id"]),
            frozenset(r["a"]),
            frozenset(r["b"]),
            str(r["severity"]),
            str(r["effect"]),
            str(sources[r["source"]]),
            dict(r["advice"]),
        )
        for r in doc["rules"]
    )


def interacting_rules(
    rules: Iterable[InteractionRule], first: RefProfile, second: RefProfile
) -> list[InteractionRule]:
    """The rules a pair of drugs triggers, the most severe per kind of harm (file order breaks ties)."""
    if set(first.ref.ingredients) & set(second.ref.ingredients):
        return []  # the same ingredient twice is a duplication, not an interaction
    best: dict[str, InteractionRule] = {}
    for rule in rules:
        forward = bool(rule.a & first.keys) and bool(rule.b & second.keys)
        backward = bool(rule.b & first.keys) and bool(rule.a & second.keys)
        if not (forward or backward):
            continue
        held = best.get(rule.effect)
        if held is None or SEVERITY_RANK[rule.severity] > SEVERITY_RANK[held.severity]:
            best[rule.effect] = rule
    return list(best.values())


def check_interactions(
    rules: Iterable[InteractionRule],
    new: RefProfile,
    others: Iterable[tuple[str | None, RefProfile]],
) -> list[Finding]:
    """Interaction findings between the new order and each (reference, profile) of the others."""
    rules = tuple(rules)
    found: list[Finding] = []
    for reference, other in others:
        for rule in interacting_rules(rules, new, other):
            found.append(
                Finding(
                    kind="interaction",
                    severity=rule.severity,
                    rule=rule.id,
                    code="interaction",
                    source=rule.source,
                    advice=rule.advice,
                    params={"other": other.ref.display or ", ".join(other.ref.ingredients)},
                    implicated=(reference,) if reference else (),
                    effect=rule.effect,
                )
            )
    return found
