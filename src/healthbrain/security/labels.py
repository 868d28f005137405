"""Classification and sensitivity labels: every stored resource gets its GB/T 39725 level's labels.

Sensitive content (HIV, mental health, sexual violence, STD, substance use, genetic ...) is found by
its codes and marked in `meta.security` with HL7 v3 sensitivity codes and the confidentiality code R;
the policy then requires a role and purpose fit for level-4 data. Rules are data
(`data/classification.json`), each citing its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson

__all__ = ["SENSITIVE_LABELS", "ClassificationLabeler", "level_of", "sensitive_labels"]


@dataclass(frozen=True, slots=True)
class _Rule:
    label: str
    system: str
    prefixes: tuple[str, ...]
    codes: frozenset[str]

    def matches(self, system: str, code: str) -> bool:
        return system == self.system and (
            code in self.codes or any(code.startswith(p) for p in self.prefixes)
        )


@cache
def _config() -> dict[str, Any]:
    raw = resources.files("healthbrain.security").joinpath("data/classification.json").read_bytes()
    config: dict[str, Any] = orjson.loads(raw)
    return config


@cache
def _rules() -> tuple[_Rule, ...]:
    return tuple(
        _Rule(r["label"], r["system"], tuple(r.get("prefixes", ())), frozenset(r.get("codes", ())))
        for r in _config()["rules"]
    )


def sensitive_labels() -> frozenset[str]:
    return frozenset(_config()["sensitiveLabels"])


SENSITIVE_LABELS = sensitive_labels()


def _codings(node: Any) -> list[tuple[str, str]]:
    """Every (system, code) of the resource's codings (contained resources excluded)."""
    out: list[tuple[str, str]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            system, code = item.get("system"), item.get("code")
            if isinstance(system, str) and isinstance(code, str):
                out.append((system, code))
            stack.extend(
                v
                for k, v in item.items()
                if k not in ("contained", "meta", "text") and isinstance(v, dict | list)
            )
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))
    return out


def level_of(resource_type: str, labels: frozenset[str], group: str) -> int:
    """The GB/T 39725 level of a resource: 4 for labelled sensitive data, else by type group."""
    levels: dict[str, int] = _config()["levels"]
    if labels & SENSITIVE_LABELS:
        return levels["sensitive"]
    return levels.get(group, levels["clinical"])


class ClassificationLabeler:
    """Adds sensitivity and confidentiality labels; labels already present are kept."""

    def label(self, resource: dict[str, Any]) -> dict[str, Any]:
        found = sorted({r.label for s, c in _codings(resource) for r in _rules() if r.matches(s, c)})
        if not found:
            return resource
        config = _config()
        meta = dict(resource.get("meta") or {})
        security = list(meta.get("security") or [])
        present = {(str(x.get("system")), str(x.get("code"))) for x in security if isinstance(x, dict)}
        for label in found:
            if (config["labelSystem"], label) not in present:
                security.append({"system": config["labelSystem"], "code": label})
        if (config["confidentialitySystem"], "R") not in present:
            security.append({"system": config["confidentialitySystem"], "code": "R"})
        meta["security"] = security
        return {**resource, "meta": meta}
