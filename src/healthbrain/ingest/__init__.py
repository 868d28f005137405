"""Loading FHIR data from files into the repository: bundles, single resources, NDJSON, directories."""

from healthbrain.ingest.files import IngestSummary, UnitError, ingest_path, plan_units

__all__ = ["IngestSummary", "UnitError", "ingest_path", "plan_units"]
