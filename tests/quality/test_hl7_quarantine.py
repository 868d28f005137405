"""The quarantine on an HL7 v2 result message: Bundles with urn:uuid references and conditional
creates stay writable when one result is held, and the fixed result later finds its patient."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from qualitydata import copy

from healthbrain.core.context import system_context
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.fhir.transaction import process_transaction
from healthbrain.ingest.hl7v2.engine import map_message
from healthbrain.ingest.hl7v2.parser import decode, parse_text
from healthbrain.ingest.hl7v2.spec import default_catalog
from healthbrain.ingest.quarantine import HL7_FEED, open_quarantine
from healthbrain.quality import QuarantineDesk

MESSAGES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hl7v2" / "messages"
CTX = system_context()


def _bundle() -> dict[str, Any]:
    text, codec = decode((MESSAGES / "LAB-ORU-1.hl7").read_bytes())
    bundle: dict[str, Any] = map_message(parse_text(text, codec), default_catalog()).bundle
    return bundle


def test_a_future_dated_result_is_held_and_released_once_fixed(repo: FhirRepository) -> None:
    bundle = _bundle()
    platelets = next(e for e in bundle["entry"] if "PLATELETS" in str(e["resource"].get("code")))
    original = platelets["resource"]["effectiveDateTime"]
    platelets["resource"]["effectiveDateTime"] = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    screened = open_quarantine(repo).screen_unit(bundle, feed=HL7_FEED, source="MSH-10 LAB-ORU-1")
    process_transaction(repo, CTX, screened.bundle, also=screened.also())
    desk = QuarantineDesk(repo)
    held, _ = desk.entries(CTX)
    by_type = {r.res_type for r in held}
    assert by_type == {"Observation", "DiagnosticReport"}  # the result and the report listing it
    assert run_search(repo, CTX, "Patient", []).matches  # the patient and the orders were written
    assert len(run_search(repo, CTX, "ServiceRequest", []).matches) == 2
    result = next(r for r in held if r.own)
    assert [f.rule for f in result.findings] == ["validity.date_future"] and result.feed == "hl7v2"

    fixed = copy(desk.read(CTX, result.id)[1])
    fixed["effectiveDateTime"] = original
    outcome = desk.release(CTX, result.id, fixed)
    assert len(outcome.released) == 2  # the report went with its result
    refs = dict(outcome.released)
    stored = repo.read(CTX, *refs[result.id].split("/", 1)).resource or {}
    patient = run_search(repo, CTX, "Patient", []).matches[0]
    assert stored["subject"]["reference"] == f"Patient/{patient['id']}"
    assert stored["meta"]["source"] == "urn:healthbrain:feed:hl7v2"
    report = next(v for k, v in refs.items() if k != result.id)
    assert {"reference": refs[result.id]} in (repo.read(CTX, *report.split("/", 1)).resource or {})["result"]
