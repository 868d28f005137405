"""Uniqueness: the keys that must not repeat within an institution, and an in-memory index over them.

Only the later of two records sharing a key is flagged: the first registration is not the defect.
Keys are hashed (by the deployment's blind-index key when one is configured) before they are kept,
so no identifier or name is stored in the clear.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from healthbrain.quality.catalog import RuleSet
from healthbrain.quality.model import Finding

KeyHasher = Callable[[str], str]
ID_KEY = "id"
DEMOGRAPHIC_KEY = "demo"


def sha256_hasher(key: str) -> str:
    """The fallback hasher (development): unkeyed, so deployments pass the blind-index HMAC instead."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def _name(resource: dict[str, Any]) -> str | None:
    for name in resource.get("name") or ():
        if not isinstance(name, dict):
            continue
        text = name.get("text") or (str(name.get("family") or "") + "".join(name.get("given") or ()))
        if text:
            return "".join(str(text).split())
    return None


def _phones(resource: dict[str, Any]) -> list[str]:
    return [
        "".join(ch for ch in str(t["value"]) if ch.isdigit())
        for t in resource.get("telecom") or ()
        if isinstance(t, dict) and t.get("system") == "phone" and t.get("value")
    ]


def identity_keys(resource: dict[str, Any], rules: RuleSet) -> list[tuple[str, str]]:
    """(kind, key) pairs: every identifier system|value of the types listed, and for Patients the
    name + birth date + sex when all three are present."""
    rt = str(resource.get("resourceType"))
    keys: list[tuple[str, str]] = []
    if rt in rules.identifier_types:
        for ident in resource.get("identifier") or ():
            if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
                keys.append((ID_KEY, f"{rt}|{ident['system']}|{ident['value']}"))
    if rt == "Patient" and rules.patient_demographics:
        name, born, sex = _name(resource), resource.get("birthDate"), resource.get("gender")
        if isinstance(born, str) and isinstance(sex, str):
            if name:
                keys.append((DEMOGRAPHIC_KEY, f"Patient|{name}|{born}|{sex}"))
            # one phone, one birthday, one sex: a re-registration under a mistyped name
            for phone in _phones(resource):
                keys.append((DEMOGRAPHIC_KEY, f"Patient|tel|{phone}|{born}|{sex}"))
    return list(dict.fromkeys(keys))


def duplicate_finding(rules: RuleSet, kind: str, resource_type: str) -> Finding:
    """The finding for a key that an earlier record of the institution already holds."""
    rule = "uniqueness.duplicate_identifier" if kind == ID_KEY else "uniqueness.possible_duplicate"
    path = "identifier" if kind == ID_KEY else "name"
    return Finding(rule, rules.severity(rule), f"{resource_type}.{path}")


class UniquenessIndex:
    """First holder of each (institution, key), in arrival order; for evaluating a batch in memory."""

    def __init__(self, rules: RuleSet, hasher: KeyHasher = sha256_hasher) -> None:
        self.rules = rules
        self.hasher = hasher
        self._first: dict[tuple[str, str], str] = {}

    def observe(self, institution: str, record: str, resource: dict[str, Any]) -> tuple[Finding, ...]:
        """Register the record's keys; findings for keys another earlier record already holds."""
        found: list[Finding] = []
        for kind, key in identity_keys(resource, self.rules):
            slot = (institution, self.hasher(key))
            first = self._first.setdefault(slot, record)
            if first != record:
                found.append(duplicate_finding(self.rules, kind, str(resource.get("resourceType"))))
        return tuple(dict.fromkeys(found))
