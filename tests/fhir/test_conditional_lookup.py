"""Conditional lookups of integrations (`identifier=system|value`) take a short path past the search
parser; it must read every query exactly as the parser does, or hand it to the parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from healthbrain.core.db import create_db_engine
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest.hl7v2 import Hl7Rejected, default_catalog, map_message, parse_message

HL7 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hl7v2" / "messages"


def _queries(node: Any, out: set[tuple[str, str]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("url", "reference") and isinstance(value, str) and "?" in value:
                rt, query = value.split("?", 1)
                out.add((rt, query))
            elif key == "ifNoneExist" and isinstance(value, str):
                out.add(("", value))
            else:
                _queries(value, out)
    elif isinstance(node, list):
        for item in node:
            _queries(item, out)


def hl7_lookups() -> list[tuple[str, str]]:
    """Every conditional URL and reference the shipped mappings make of the sample messages."""
    catalog = default_catalog()
    found: set[tuple[str, str]] = set()
    for path in sorted(HL7.glob("*.hl7")):
        try:
            mapped = map_message(parse_message(path.read_bytes()), catalog)
        except Hl7Rejected:  # a sample the mappings refuse (tests/ingest/hl7v2 say why)
            continue
        for entry in mapped.bundle["entry"]:
            rt = entry["resource"]["resourceType"]
            local: set[tuple[str, str]] = set()
            _queries(entry, local)
            found |= {(t or rt, q) for t, q in local}
    return sorted(found)


EDGES = [
    ("Patient", "identifier=urn%3Aoid%3A2.16.840.1.113883.19.5%7C12345"),
    ("Patient", "identifier=|12345"),  # no system: "is null", not a plain equality
    ("Patient", "identifier=urn:sys|"),  # any code of a system
    ("Patient", "identifier=abc"),
    ("Patient", "identifier=a\\|b|c"),  # escaped separator: the parser's business
    ("Patient", "identifier=a,b"),  # two values
    ("Patient", "identifier:not=abc"),
    ("Patient", "identifier="),
    ("Patient", "_id=abc"),
    ("Patient", "name=abc"),  # not a token
    ("Observation", "code=http://loinc.org|718-7"),
    ("Observation", "nonsense=1"),
    ("Encounter", "identifier=x&status=finished"),
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> FhirRepository:
    return FhirRepository(create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'x.db'}"))


def test_the_hl7_mappings_make_conditional_lookups_to_check() -> None:
    lookups = hl7_lookups()
    assert len(lookups) >= 20 and {rt for rt, _ in lookups} >= {"Patient", "Encounter", "Observation"}


@pytest.mark.parametrize(("rt", "query"), [*hl7_lookups(), *EDGES])
def test_the_short_path_reads_a_lookup_as_the_parser_does(repo: FhirRepository, rt: str, query: str) -> None:
    parsed = parse_qsl(query, keep_blank_values=True)
    expected = repo._parsed_single_token(rt, parsed) if len(parsed) == 1 else None
    assert repo._single_token(rt, query) == expected
