"""Institutions' local code tables: where their codes live (system URIs) and YAML maps to standard codes.

A local table is a ConceptMap (local system → standard system) plus a CodeSystem listing the local
codes with their names, both with fixed ids derived from the institution and the table, so that an
operator's resolution of a review item and a reload of the YAML file update the same resources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import yaml

from healthbrain.core.errors import InvalidInput, Issue

HB = "https://healthbrain.dev/fhir"
LOCAL_BASE = f"{HB}/CodeSystem/local"
HL7V2_LOCAL_BASE = f"{HB}/CodeSystem/hl7v2"
LOCAL_PREFIXES = (LOCAL_BASE + "/", HL7V2_LOCAL_BASE + "/")
EQUIVALENCES = frozenset(
    {
        "relatedto",
        "equivalent",
        "equal",
        "wider",
        "subsumes",
        "narrower",
        "specializes",
        "inexact",
        "unmatched",
        "disjoint",
    }
)
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-]{0,40}$")


def local_system(institution: str, table: str) -> str:
    """The system URI of an institution's local code table (e.g. its LIS test codes)."""
    return f"{LOCAL_BASE}/{quote(institution, safe='')}/{quote(table, safe='')}"


def is_local_system(system: str | None, prefixes: tuple[str, ...] = LOCAL_PREFIXES) -> bool:
    return bool(system) and any(str(system).startswith(p) for p in prefixes)


def institution_of(system: str) -> str | None:
    """The institution a local system belongs to (None when the URI does not say)."""
    for prefix in LOCAL_PREFIXES:
        if system.startswith(prefix):
            parts = system[len(prefix) :].split("/")
            return unquote(parts[0]) if len(parts) >= 2 and parts[0] else None
    return None


def map_ids(system: str) -> tuple[str, str]:
    """(ConceptMap id, CodeSystem id) of the local table of `system` — stable, valid FHIR ids."""
    tail = system
    for prefix in LOCAL_PREFIXES:
        if system.startswith(prefix):
            tail = ("v2-" if prefix.startswith(HL7V2_LOCAL_BASE) else "") + system[len(prefix) :]
    slug = re.sub(r"[^A-Za-z0-9]+", "-", unquote(tail)).strip("-").lower()
    if not slug or len(slug) > 50:
        import hashlib

        slug = (slug[:30] + "-" if slug else "") + hashlib.sha256(system.encode()).hexdigest()[:16]
    return f"local-{slug}", f"local-{slug}-codes"


@dataclass(frozen=True, slots=True)
class LocalEntry:
    """One local code, its name, and its standard code (None: not mapped yet)."""

    code: str
    display: str | None
    target: str | None
    target_display: str | None = None
    equivalence: str = "equivalent"


@dataclass(frozen=True, slots=True)
class LocalTable:
    """An institution's local code table and its map to one standard system."""

    institution: str
    table: str
    title: str
    system: str
    target_system: str
    entries: tuple[LocalEntry, ...]


def _bad(message: str, where: str) -> InvalidInput:
    return InvalidInput(
        message, issues=[Issue("error", "invalid", message, where)], code="terminology.invalid_local_map"
    )


def parse_local_table(data: Any, source: str = "local map") -> LocalTable:
    """A local table from its YAML form; every problem is located (`source`: key path)."""
    if not isinstance(data, dict):
        raise _bad(f"{source}: a local map must be a mapping", source)
    institution, table = str(data.get("institution") or ""), str(data.get("table") or "")
    if not _SLUG.match(institution):
        raise _bad(
            f"{source}: institution must be an organisation id (letters, digits, -)", f"{source}.institution"
        )
    if not _SLUG.match(table):
        raise _bad(f"{source}: table must be a short name (letters, digits, -)", f"{source}.table")
    target = data.get("target")
    if not isinstance(target, str) or ":" not in target:
        raise _bad(f"{source}: target must be the URI of the standard code system", f"{source}.target")
    codes = data.get("codes")
    if not isinstance(codes, dict) or not codes:
        raise _bad(f"{source}: codes must map local codes to standard codes", f"{source}.codes")
    entries = []
    for code, given in codes.items():
        where = f"{source}.codes.{code}"
        spec = {"target": given} if isinstance(given, str | int) or given is None else given
        if not isinstance(spec, dict):
            raise _bad(f"{where}: give target (and display)", where)
        equivalence = str(spec.get("equivalence") or "equivalent")
        if equivalence not in EQUIVALENCES:
            raise _bad(f"{where}: unknown equivalence '{equivalence}'", f"{where}.equivalence")
        tgt = spec.get("target")
        entries.append(
            LocalEntry(
                str(code), _opt(spec.get("display")), _opt(tgt), _opt(spec.get("target_display")), equivalence
            )
        )
    system = str(data.get("system") or local_system(institution, table))
    return LocalTable(
        institution, table, str(data.get("title") or f"{institution} {table}"), system, target, tuple(entries)
    )


def _opt(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def load_local_table(path: Path) -> LocalTable:
    """Read and parse one YAML local map file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _bad(f"{path.name}: not a readable YAML file ({type(exc).__name__})", path.name) from exc
    return parse_local_table(data, path.name)


def shipped_local_tables() -> list[LocalTable]:
    """The example local maps shipped with HealthBrain (for the demo institutions)."""
    folder = resources.files("healthbrain.terminology").joinpath("data/local-maps")
    tables = []
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".yaml"):
            tables.append(parse_local_table(yaml.safe_load(item.read_text(encoding="utf-8")), item.name))
    return tables


def local_resources(table: LocalTable) -> list[dict[str, Any]]:
    """The ConceptMap and the local CodeSystem of a local table."""
    cm_id, cs_id = map_ids(table.system)
    elements = []
    for e in table.entries:
        element: dict[str, Any] = {"code": e.code}
        if e.display:
            element["display"] = e.display
        if e.target:
            target: dict[str, Any] = {"code": e.target, "equivalence": e.equivalence}
            if e.target_display:
                target["display"] = e.target_display
            element["target"] = [target]
        else:
            element["target"] = [{"equivalence": "unmatched"}]
        elements.append(element)
    concept_map = {
        "resourceType": "ConceptMap",
        "id": cm_id,
        "url": f"{HB}/ConceptMap/{cm_id}",
        "name": cm_id.replace("-", "_"),
        "title": table.title,
        "status": "active",
        "useContext": [
            {
                "code": {
                    "system": "http://terminology.hl7.org/CodeSystem/usage-context-type",
                    "code": "venue",
                },
                "valueCodeableConcept": {
                    "coding": [{"system": f"{HB}/sid/organization", "code": table.institution}]
                },
            }
        ],
        "sourceUri": f"{table.system}?fhir_vs",
        "targetUri": f"{table.target_system}?fhir_vs",
        "group": [{"source": table.system, "target": table.target_system, "element": elements}],
    }
    code_system = {
        "resourceType": "CodeSystem",
        "id": cs_id,
        "url": table.system,
        "name": cs_id.replace("-", "_"),
        "title": f"{table.title}（本地编码）",
        "status": "active",
        "content": "fragment",
        "caseSensitive": True,
        "concept": [{"code": e.code, **({"display": e.display} if e.display else {})} for e in table.entries],
    }
    return [code_system, concept_map]
