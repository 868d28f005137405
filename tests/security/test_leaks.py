"""The leak suite: a clinician of hospital A, without care relationship or consent, sees nothing of B's patients.

Every resource type and every path: read, vread, plain search, chained, `_has`, `_include`,
`_revinclude`, history (instance and type), `$everything`, `$export`, `_summary=count`.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from healthbrain.core.context import system_context
from healthbrain.core.errors import Forbidden, NotFound, PreconditionFailed
from healthbrain.fhir.export import ExportService
from healthbrain.fhir.reading import run_everything, run_history, run_search
from healthbrain.fhir.transaction import process_transaction

from regionkit import Region

SYSTEM = system_context()


def patients_of(region: Region, org: str) -> list[dict[str, Any]]:
    found = run_search(
        region.repo, SYSTEM, "Patient", [("organization", f"Organization/{org}"), ("_count", "500")]
    )
    return found.matches


def patient_refs(region: Region, resource: dict[str, Any]) -> set[str]:
    return set(region.repo.guard.subject(resource).patients)


@pytest.fixture(scope="module")
def b_patients(region: Region) -> set[str]:
    ids = {p["id"] for p in patients_of(region, region.hospital_b)}
    assert ids, "the simulated region must give hospital B patients"
    return ids


@pytest.fixture(scope="module")
def stored_types(region: Region) -> list[str]:
    with region.engine.connect() as conn:
        return sorted(region.repo.store.type_counts(conn))


def test_every_type_searches_show_nothing_of_b(
    region: Region, b_patients: set[str], stored_types: list[str]
) -> None:
    ctx = region.ctx({"clinician"}, region.hospital_a)
    seen_any = False
    for rt in stored_types:
        try:
            found = run_search(region.repo, ctx, rt, [("_count", "1000")])
        except Forbidden:
            continue
        counted = run_search(region.repo, ctx, rt, [("_summary", "count")]).total
        assert counted == len(found.matches) or found.has_next, rt
        for res in found.matches:
            assert not (patient_refs(region, res) & b_patients), f"{rt}/{res['id']} leaked"
        seen_any = seen_any or bool(found.matches)
    assert seen_any, "the clinician must see their own institution's records"


def test_reads_and_version_reads_of_b_are_not_found(
    region: Region, b_patients: set[str], stored_types: list[str]
) -> None:
    ctx = region.ctx({"clinician"}, region.hospital_a)
    pid = sorted(b_patients)[0]
    for rt in stored_types:
        owned = run_search(region.repo, SYSTEM, rt, [("_count", "200")]).matches
        mine = [r for r in owned if patient_refs(region, r) & {pid}]
        for res in mine[:3]:
            with pytest.raises((NotFound, Forbidden)):
                region.repo.read(ctx, rt, res["id"])
            with pytest.raises((NotFound, Forbidden)):
                region.repo.vread(ctx, rt, res["id"], 1)


def test_searches_by_id_identifier_name_chain_and_has(region: Region, b_patients: set[str]) -> None:
    ctx = region.ctx({"clinician"}, region.hospital_a)
    pid = sorted(b_patients)[0]
    patient = region.repo.read(SYSTEM, "Patient", pid).resource
    assert patient is not None
    ident = next(i for i in patient["identifier"] if i["system"] == "urn:oid:2.16.156.10011.1.1")
    family = patient["name"][0]["family"]
    obs = run_search(region.repo, SYSTEM, "Observation", [("subject", f"Patient/{pid}")]).matches
    assert obs
    probes: list[tuple[str, list[tuple[str, str]]]] = [
        ("Patient", [("_id", pid)]),
        ("Patient", [("identifier", f"{ident['system']}|{ident['value']}")]),
        ("Observation", [("subject", f"Patient/{pid}")]),
        ("Observation", [("subject:Patient.identifier", ident["value"])]),
        ("Observation", [("patient._id", pid)]),
        ("Patient", [("_has:Observation:subject:_id", obs[0]["id"])]),
        ("Encounter", [("subject", f"Patient/{pid}"), ("_revinclude", "Observation:encounter")]),
    ]
    for rt, params in probes:
        found = run_search(region.repo, ctx, rt, params)
        assert found.matches == [] and found.included == [], (rt, params)
        assert run_search(region.repo, ctx, rt, [*params, ("_summary", "count")]).total == 0, (rt, params)
    # a name shared with A's patients finds only A's
    for res in run_search(region.repo, ctx, "Patient", [("family", family)]).matches:
        assert res["id"] not in b_patients


def test_conditional_references_do_not_resolve_to_b(region: Region, b_patients: set[str]) -> None:
    """A transaction's lookups by identifier (answered together) find none of B's patients."""
    ctx = region.ctx({"clinician"}, region.hospital_a)
    refs = []
    for pid in sorted(b_patients)[:2]:
        patient = region.repo.read(SYSTEM, "Patient", pid).resource
        assert patient is not None
        ident = next(i for i in patient["identifier"] if i["system"] == "urn:oid:2.16.156.10011.1.1")
        refs.append(f"Patient?identifier={ident['system']}|{ident['value']}")
    entries = [
        {
            "fullUrl": f"urn:uuid:{n}",
            "request": {"method": "POST", "url": "Observation"},
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "probe"},
                "subject": {"reference": ref},
            },
        }
        for n, ref in enumerate(refs)
    ]
    before = run_search(region.repo, SYSTEM, "Observation", [("_summary", "count")]).total
    with pytest.raises(PreconditionFailed) as err:
        process_transaction(
            region.repo, ctx, {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        )
    assert "no Patient" in str(err.value.issues[0].diagnostics)
    assert run_search(region.repo, SYSTEM, "Observation", [("_summary", "count")]).total == before
    # the platform itself does find them (the same resident may be registered at several places)
    for ref in refs:
        assert run_search(region.repo, SYSTEM, "Patient", [("identifier", ref.split("=", 1)[1])]).matches


def test_includes_do_not_follow_references_into_b(region: Region, b_patients: set[str]) -> None:
    ctx = region.ctx({"clinician"}, region.hospital_a)
    mine = patients_of(region, region.hospital_a)[0]
    theirs = sorted(b_patients)[0]
    # the index links A's record to B's (as the patient index does): following the link must not leak
    linked = {**mine, "link": [{"other": {"reference": f"Patient/{theirs}"}, "type": "seealso"}]}
    region.repo.update(SYSTEM, "Patient", mine["id"], linked)
    found = run_search(region.repo, ctx, "Patient", [("_id", mine["id"]), ("_include", "Patient:link")])
    assert [m["id"] for m in found.matches] == [mine["id"]]
    assert found.included == []
    found = run_search(
        region.repo, ctx, "Patient", [("_id", mine["id"]), ("_revinclude:iterate", "Observation:subject")]
    )
    assert all(not (patient_refs(region, r) & b_patients) for r in found.included)
    # reverse includes from shared directory data (a practitioner of B) bring none of B's encounters
    prac = run_search(region.repo, SYSTEM, "Practitioner", [("_count", "500")]).matches
    b_prac = next(p for p in prac if p["id"].startswith(region.hospital_b))
    found = run_search(
        region.repo, ctx, "Practitioner", [("_id", b_prac["id"]), ("_revinclude", "Encounter:participant")]
    )
    assert [m["id"] for m in found.matches] == [b_prac["id"]] and found.included == []


def test_history_everything_and_export(region: Region, b_patients: set[str], tmp_path: Path) -> None:
    ctx = region.ctx({"clinician"}, region.hospital_a)
    pid = sorted(b_patients)[0]
    with pytest.raises(NotFound):
        run_history(region.repo, ctx, "Patient", pid, [])
    with pytest.raises(NotFound):
        run_everything(region.repo, ctx, pid, [])
    history = run_history(region.repo, ctx, "Observation", None, [("_count", "1000")])
    assert history.total is None  # a restricted principal is not told how much exists
    for v in history.versions:
        assert v.content is not None
        assert not (patient_refs(region, orjson.loads(v.content)) & b_patients)
    with pytest.raises(Forbidden):
        run_history(region.repo, ctx, None, None, [])  # system-wide history needs a system role
    mine = patients_of(region, region.hospital_a)[0]["id"]
    for res in run_everything(region.repo, ctx, mine, []):
        assert not (patient_refs(region, res) & b_patients)
    exports = ExportService(region.repo, tmp_path / "x", "http://test")
    manifest = exports.export_to_dir(
        ctx, "patient", tmp_path / "out", params=[("_type", "Patient,Observation")]
    )
    for item in manifest["output"]:
        for line in (tmp_path / "out" / Path(item["url"]).name).read_bytes().splitlines():
            assert not (patient_refs(region, orjson.loads(line)) & b_patients)
    assert sum(o["count"] for o in manifest["output"] if o["type"] == "Patient") >= 1
