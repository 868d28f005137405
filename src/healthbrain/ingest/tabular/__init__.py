"""CSV and Excel exports of HIS/LIS systems, mapped to FHIR by YAML specs and loaded via the repository."""

from pathlib import Path

from healthbrain.ingest.tabular.codes import TerminologyCodes, review_sightings
from healthbrain.ingest.tabular.loader import TabularSummary, describe, ingest_table
from healthbrain.ingest.tabular.mapper import CodeLookup, RowError
from healthbrain.ingest.tabular.reader import FileProblem, read_sheet
from healthbrain.ingest.tabular.spec import MappingSpec, SpecError, load_spec, parse_spec

__all__ = [
    "CodeLookup",
    "FileProblem",
    "MappingSpec",
    "RowError",
    "SpecError",
    "TabularSummary",
    "TerminologyCodes",
    "describe",
    "example_path",
    "ingest_table",
    "load_spec",
    "parse_spec",
    "read_sheet",
    "review_sightings",
]


def example_path(name: str) -> Path:
    """A shipped example (spec or export file) by file name."""
    return Path(__file__).resolve().parent / "examples" / name
