"""The knowledge base: versioned data files shipped in the package (or uploaded), validated and compiled."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from healthbrain.cds.allergy import compile_allergy_knowledge
from healthbrain.cds.audit import PrescriptionKnowledge
from healthbrain.cds.critical import CriticalTable, compile_critical_table
from healthbrain.cds.delta import DeltaRule, compile_delta_rules
from healthbrain.cds.dosing import compile_dose_rules
from healthbrain.cds.drugs import compile_drug_dictionary
from healthbrain.cds.duplication import compile_duplication_rules
from healthbrain.cds.ews import EwsTables, compile_ews_tables
from healthbrain.cds.interactions import compile_interaction_rules
from healthbrain.cds.kb_validate import validate_cross_references, validate_document
from healthbrain.cds.population import compile_population_rules
from healthbrain.cds.prescription import compile_route_vocabulary
from healthbrain.core.errors import InvalidInput, Unprocessable

__all__ = [
    "KNOWLEDGE_DIR",
    "KNOWLEDGE_NAMES",
    "KnowledgeBase",
    "KnowledgeFile",
    "build_knowledge_base",
    "default_knowledge_base",
    "packaged_files",
    "parse_knowledge_file",
]

KNOWLEDGE_DIR = Path(__file__).resolve().parent / "knowledge"
KNOWLEDGE_NAMES = (
    "critical_values",
    "delta_checks",
    "early_warning",
    "drugs",
    "interactions",
    "dosing",
    "contraindications",
    "allergy",
    "duplication",
    "routes",
)


@dataclass(frozen=True, slots=True)
class KnowledgeFile:
    """One knowledge file as loaded: its declared version, content hash and where it came from."""

    name: str
    version: str
    sha256: str
    document: Mapping[str, Any]
    origin: str  # "package" or "upload"


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    """All knowledge files compiled for the engines; immutable, swapped whole when a file changes."""

    files: Mapping[str, KnowledgeFile]
    critical: CriticalTable
    delta: tuple[DeltaRule, ...]
    ews: EwsTables
    prescribing: PrescriptionKnowledge

    def version_of(self, name: str) -> str:
        return self.files[name].version

    @property
    def fingerprint(self) -> str:
        """A short hash over every file's content: the identity of this knowledge base."""
        joined = "|".join(f"{n}:{self.files[n].sha256}" for n in KNOWLEDGE_NAMES)
        return hashlib.sha256(joined.encode()).hexdigest()[:12]


def parse_knowledge_file(name: str, raw: bytes | Mapping[str, Any], origin: str = "upload") -> KnowledgeFile:
    """Parse and validate one file; every problem is reported at once (400/422 with OperationOutcome)."""
    if name not in KNOWLEDGE_NAMES:
        raise InvalidInput(f"unknown knowledge file '{name}'", code="cds.unknown_knowledge_file")
    if isinstance(raw, bytes | bytearray):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(
                "the knowledge file is not valid JSON", code="cds.malformed_knowledge"
            ) from exc
        content = bytes(raw)
    else:
        doc = dict(raw)
        content = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    issues = validate_document(name, doc)
    if issues:
        raise Unprocessable(
            f"the {name} knowledge file is invalid", issues=issues, code="cds.invalid_knowledge"
        )
    return KnowledgeFile(name, str(doc["version"]), hashlib.sha256(content).hexdigest(), doc, origin)


def build_knowledge_base(files: Mapping[str, KnowledgeFile]) -> KnowledgeBase:
    """Compile a complete set of files; cross-file references must resolve."""
    missing = [n for n in KNOWLEDGE_NAMES if n not in files]
    if missing:
        raise Unprocessable(f"knowledge files missing: {', '.join(missing)}", code="cds.incomplete_knowledge")
    docs = {n: files[n].document for n in KNOWLEDGE_NAMES}
    issues = validate_cross_references(docs)
    if issues:
        raise Unprocessable(
            "knowledge files reference unknown drugs", issues=issues, code="cds.invalid_knowledge"
        )
    drugs = compile_drug_dictionary(docs["drugs"])
    prescribing = PrescriptionKnowledge(
        drugs=drugs,
        interactions=compile_interaction_rules(docs["interactions"]),
        doses=compile_dose_rules(docs["dosing"]),
        population=compile_population_rules(docs["contraindications"]),
        allergy=compile_allergy_knowledge(docs["allergy"]),
        duplication=compile_duplication_rules(docs["duplication"]),
        routes=compile_route_vocabulary(docs["routes"]),
        version="+".join(files[n].version for n in ("drugs", "interactions", "dosing")),
    )
    return KnowledgeBase(
        dict(files),
        compile_critical_table(docs["critical_values"]),
        compile_delta_rules(docs["delta_checks"]),
        compile_ews_tables(docs["early_warning"]),
        prescribing,
    )


def packaged_files() -> dict[str, KnowledgeFile]:
    """The knowledge files shipped with HealthBrain."""
    return {
        name: parse_knowledge_file(name, (KNOWLEDGE_DIR / f"{name}.json").read_bytes(), "package")
        for name in KNOWLEDGE_NAMES
    }


@cache
def default_knowledge_base() -> KnowledgeBase:
    """The shipped knowledge base (compiled once per process)."""
    return build_knowledge_base(packaged_files())
