"""Which entries of a Bundle are held with a failing one, and how both halves remain writable."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from healthbrain.fhir.resources import iter_references
from healthbrain.ingest.hl7v2.engine import map_message
from healthbrain.ingest.hl7v2.parser import decode, parse_text
from healthbrain.ingest.hl7v2.spec import default_catalog
from healthbrain.quality import plan_holds
from healthbrain.simulation import Region

HL7 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hl7v2" / "messages"


def _ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"pinned-{next(counter)}"


def _oru_entries() -> list[dict[str, Any]]:
    text, codec = decode((HL7 / "LAB-ORU-1.hl7").read_bytes())
    entries: list[dict[str, Any]] = map_message(parse_text(text, codec), default_catalog()).bundle["entry"]
    return entries


def _refs(entry: dict[str, Any]) -> list[str]:
    return [n["reference"] for n in iter_references(entry["resource"])]


def test_a_failing_result_holds_its_report_and_keeps_the_patient_and_order() -> None:
    entries = _oru_entries()
    obs = next(i for i, e in enumerate(entries) if e["resource"]["resourceType"] == "Observation")
    plan = plan_holds(entries, {obs}, _ids())
    held = {h.index: h for h in plan.held}
    kinds = {entries[i]["resource"]["resourceType"] for i in held}
    assert obs in held and held[obs].own
    assert kinds == {"Observation", "DiagnosticReport"}  # the report lists the held result
    report = next(h for h in plan.held if h.resource_type == "DiagnosticReport")
    assert not report.own and obs in report.holders
    # the loaded half never points at what was held
    held_urls = {entries[i]["fullUrl"] for i in held}
    assert not any(ref in held_urls for e in plan.load for ref in _refs(e))
    # the held result refers to the loaded patient and order the way they will be found after the write
    refs = _refs({"resource": held[obs].resource})
    assert any(r.startswith("Patient?identifier=") for r in refs)
    assert not any(r.startswith("urn:uuid:") and r not in held_urls for r in refs)
    assert entries[obs]["resource"] is not held[obs].resource  # the input was not modified


def _visit(region: Region) -> list[dict[str, Any]]:
    """One simulated visit with a diagnosis and a prescription, as transaction entries."""
    for resources in region.institutions.values():
        by_enc: dict[str, list[dict[str, Any]]] = {}
        for r in resources:
            enc = (r.get("encounter") or {}).get("reference")
            if enc:
                by_enc.setdefault(enc, []).append(r)
        for r in resources:
            if r["resourceType"] != "Encounter":
                continue
            children = by_enc.get(f"Encounter/{r['id']}", [])
            types = {c["resourceType"] for c in children}
            if {"Condition", "MedicationRequest"} <= types:
                patient = next(p for p in resources if f"Patient/{p['id']}" == r["subject"]["reference"])
                return [{"fullUrl": f"{x['resourceType']}/{x['id']}", "resource": x,
                         "request": {"method": "PUT", "url": f"{x['resourceType']}/{x['id']}"}}
                        for x in (patient, r, *children)]  # fmt: skip
    raise LookupError("no visit with a diagnosis and a prescription")


def test_a_failing_diagnosis_keeps_its_encounter_and_holds_its_prescriptions(region: Region) -> None:
    entries = _visit(region)
    cond = next(i for i, e in enumerate(entries) if e["resource"]["resourceType"] == "Condition")
    plan = plan_holds(entries, {cond}, _ids())
    held_types = {h.resource_type for h in plan.held}
    loaded_types = {e["resource"]["resourceType"] for e in plan.load}
    assert "Condition" in held_types and "Encounter" in loaded_types and "Patient" in loaded_types
    cid = entries[cond]["resource"]["id"]
    treating = [h for h in plan.held if h.resource_type == "MedicationRequest"]
    assert treating and all(
        f"Condition/{cid}" in _refs({"resource": h.resource}) for h in treating
    )  # prescriptions for the held diagnosis wait for it
    assert all(h.resource_id for h in plan.held)  # PUT entries keep their ids


def test_a_failing_patient_holds_everything_about_them(region: Region) -> None:
    entries = _visit(region)
    plan = plan_holds(entries, {0}, _ids())
    assert plan.load == [] and len(plan.held) == len(entries)
    assert [h.own for h in plan.held].count(True) == 1


def test_nothing_failing_loads_the_bundle_unchanged(region: Region) -> None:
    entries = _visit(region)
    plan = plan_holds(entries, set(), _ids())
    assert plan.held == [] and plan.load is entries
