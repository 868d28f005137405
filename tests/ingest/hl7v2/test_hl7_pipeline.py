"""Messages through the repository on SQLite and PostgreSQL: ACKs, re-sends, corrections, atomicity."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hl7samples import MAPPABLE, build, oru, sample, segment, set_field
from sqlalchemy import func, select

from healthbrain.core.context import system_context
from healthbrain.fhir.reading import run_search
from healthbrain.fhir.repository import FhirRepository
from healthbrain.ingest.hl7v2 import parse_message, split_batch
from healthbrain.ingest.hl7v2.pipeline import Hl7Ingestor, Outcome
from healthbrain.storage import tables as t

CTX = system_context()


def counts(repo: FhirRepository) -> Counter[str]:
    with repo.engine.connect() as conn:
        return Counter(repo.store.type_counts(conn))


def versions(repo: FhirRepository) -> int:
    with repo.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.resource_version)).scalar_one())


def search(repo: FhirRepository, rt: str, **params: str) -> list[dict[str, Any]]:
    return list(run_search(repo, CTX, rt, list(params.items())).matches)


def ack_segments(outcome: Outcome) -> list[list[str]]:
    assert outcome.ack is not None
    return [s.split("|") for s in outcome.ack.decode().split("\r") if s]


def test_every_sample_message_lands_through_the_repository(repo: FhirRepository) -> None:
    ingestor = Hl7Ingestor(repo)
    for n, name in enumerate(MAPPABLE):
        for raw in split_batch(sample(name)):
            # The samples reuse control ids (MSG00001); give each its own, as real senders must.
            outcome = ingestor.handle(set_field(raw, "MSH", 10, f"S{n}"))
            assert outcome.code in ("AA", "CA"), (name, [str(p) for p in outcome.problems])
            assert outcome.entries > 0
    stored = counts(repo)
    for rt in (
        "Patient",
        "Encounter",
        "Observation",
        "DiagnosticReport",
        "ServiceRequest",
        "MedicationRequest",
        "Immunization",
        "Appointment",
        "DocumentReference",
    ):
        assert stored[rt] > 0, rt


def test_an_ack_names_the_message_and_its_outcome(repo: FhirRepository) -> None:
    outcome = Hl7Ingestor(repo, application="HB", facility="REGION").handle(oru(control_id="CTRL-1"))
    msh, msa = ack_segments(outcome)
    assert msh[2:6] == ["HB", "REGION", "LIS", "COUNTY-HOSP"] and msh[8] == "ACK^R01^ACK"
    assert msa == ["MSA", "AA", "CTRL-1"]


def test_a_resent_message_is_acknowledged_again_and_not_processed_again(repo: FhirRepository) -> None:
    ingestor = Hl7Ingestor(repo)
    first = ingestor.handle(oru())
    before = (counts(repo), versions(repo))
    again = ingestor.handle(oru())
    assert (first.code, again.code, again.duplicate, again.entries) == ("AA", "AA", True, 0)
    assert (counts(repo), versions(repo)) == before


def test_the_same_content_with_a_new_control_id_updates_nothing_and_duplicates_nothing(
    repo: FhirRepository,
) -> None:
    ingestor = Hl7Ingestor(repo)
    ingestor.handle(oru(control_id="A1"))
    before = (counts(repo), versions(repo))
    outcome = ingestor.handle(oru(control_id="A2"))
    assert outcome.code == "AA" and not outcome.duplicate
    assert (counts(repo), versions(repo)) == before  # conditional writes matched; unchanged content


def test_a_corrected_result_updates_the_same_observation(repo: FhirRepository) -> None:
    ingestor = Hl7Ingestor(repo)
    ingestor.handle(oru(control_id="R1", value="5.6", status="F"))
    ingestor.handle(oru(control_id="R2", value="6.4", status="C"))
    glucose = search(repo, "Observation", code="http://loinc.org|2345-7")
    assert len(glucose) == 1
    assert glucose[0]["status"] == "corrected" and glucose[0]["valueQuantity"]["value"] == 6.4
    assert glucose[0]["meta"]["versionId"] == "2"
    assert counts(repo)["Patient"] == 1


def test_a_control_id_reused_for_other_content_is_refused(repo: FhirRepository) -> None:
    ingestor = Hl7Ingestor(repo)
    ingestor.handle(oru(control_id="X1", patient="P1"))
    outcome = ingestor.handle(oru(control_id="X1", patient="P2"))
    assert outcome.code == "AE" and [p.code for p in outcome.problems] == ["205"]
    assert counts(repo)["Patient"] == 1


def test_a_bad_value_is_refused_with_err_and_nothing_is_written(repo: FhirRepository) -> None:
    outcome = Hl7Ingestor(repo).handle(set_field(oru(), "OBX", 5, "not-a-number"))
    assert outcome.code == "AE"
    err = [s for s in ack_segments(outcome) if s[0] == "ERR"]
    assert [(e[2], e[3].split("^")[0], e[4]) for e in err] == [("OBX^1^5^1", "102", "E")]
    assert counts(repo) == Counter()


def test_content_the_fhir_validator_refuses_rolls_back_the_whole_message(repo: FhirRepository) -> None:
    # A code with two inner spaces is not a FHIR code: the Observation fails validation, and the
    # Patient and order of the same message must not be stored either.
    raw = set_field(oru(), "OBX", 8, "H  H")
    outcome = Hl7Ingestor(repo).handle(raw)
    assert outcome.code == "AE"
    assert outcome.problems[0].location is not None and outcome.problems[0].location.segment == "OBX"
    assert "interpretation" in outcome.problems[0].message
    assert counts(repo) == Counter()


def test_unsupported_message_types_are_rejected_with_ar(repo: FhirRepository) -> None:
    outcome = Hl7Ingestor(repo).handle(set_field(oru(), "MSH", 9, "ZZZ^Z01"))
    assert outcome.code == "AR" and outcome.problems[0].code == "200"


def test_enhanced_mode_gets_commit_acks_and_ne_gets_none(repo: FhirRepository) -> None:
    ingestor = Hl7Ingestor(repo)
    accepted = ingestor.handle(set_field(oru(control_id="E1"), "MSH", 15, "AL"))
    assert accepted.code == "CA" and accepted.ack is not None
    silent = ingestor.handle(set_field(oru(control_id="E2"), "MSH", 15, "NE"))
    assert silent.code == "CA" and silent.ack is None
    only_errors = ingestor.handle(set_field(set_field(oru(control_id="E3"), "MSH", 15, "ER"), "PID", 3, ""))
    assert only_errors.code == "CE" and only_errors.ack is not None


def test_an_order_and_its_results_share_one_service_request(repo: FhirRepository) -> None:
    ingestor = Hl7Ingestor(repo)
    order = build(
        "MSH|^~\\&|HIS|COUNTY-HOSP|LIS|COUNTY-HOSP|20250301070000+0800||ORM^O01^ORM_O01|O1|P|2.5.1",
        "PID|1||MRN001^^^COUNTY-HOSP^MR||Wang^Fang||19800512|F",
        "ORC|NW|ORD-9^HIS|||||||20250301070000+0800",
        "OBR|1|ORD-9^HIS||2345-7^Glucose^LN",
    )
    assert ingestor.handle(order).code == "AA"
    assert ingestor.handle(oru()).code == "AA"
    (request,) = search(repo, "ServiceRequest")
    (report,) = search(repo, "DiagnosticReport")
    assert report["basedOn"][0]["reference"] == f"ServiceRequest/{request['id']}"
    assert counts(repo)["Patient"] == 1


def test_admit_then_discharge_finishes_the_same_encounter(repo: FhirRepository) -> None:
    ingestor = Hl7Ingestor(repo)
    head = "MSH|^~\\&|HIS|COUNTY-HOSP|HB|REGION|{t}||ADT^{e}|{c}|P|2.4"
    pid = "PID|1||MRN7^^^COUNTY-HOSP^MR||Li^Na||19700101|F"
    admit = build(
        head.format(t="20250301", e="A01", c="D1"),
        "EVN|A01",
        pid,
        segment("PV1", {2: "I", 19: "V77^^^COUNTY-HOSP^VN", 44: "20250301090000+0800"}),
    )
    discharge = build(
        head.format(t="20250305", e="A03", c="D2"),
        "EVN|A03",
        pid,
        segment(
            "PV1", {2: "I", 19: "V77^^^COUNTY-HOSP^VN", 44: "20250301090000+0800", 45: "20250305100000+0800"}
        ),
    )
    assert ingestor.handle(admit).code == "AA"
    (encounter,) = search(repo, "Encounter")
    assert encounter["status"] == "in-progress"
    assert ingestor.handle(discharge).code == "AA"
    (finished,) = search(repo, "Encounter")
    assert finished["id"] == encounter["id"] and finished["status"] == "finished"
    assert finished["period"]["end"] == "2025-03-05T10:00:00+08:00"


def test_a40_merges_one_patient_into_another_without_losing_either(repo: FhirRepository) -> None:
    ingestor = Hl7Ingestor(repo)
    head = "MSH|^~\\&|HIS|COUNTY-HOSP|HB|REGION|20250301||ADT^{e}|{c}|P|2.5"
    for mrn, name, c in (("M1", "Zhang^Wei", "P1"), ("M2", "Zhang^W", "P2")):
        assert (
            ingestor.handle(
                build(head.format(e="A04", c=c), "EVN|A04", f"PID|1||{mrn}^^^COUNTY-HOSP^MR||{name}")
            ).code
            == "AA"
        )
    merge = build(
        head.format(e="A40", c="P3"),
        "EVN|A40",
        "PID|1||M1^^^COUNTY-HOSP^MR||Zhang^Wei",
        "MRG|M2^^^COUNTY-HOSP^MR",
    )
    outcome = ingestor.handle(merge)
    assert outcome.code == "AA", [str(p) for p in outcome.problems]
    patients = {p["identifier"][0]["value"]: p for p in search(repo, "Patient")}
    survivor, merged = patients["M1"], patients["M2"]
    assert survivor["name"][0]["family"] == "Zhang" and merged["name"][0]["given"] == ["W"]
    assert survivor["link"] == [{"other": {"reference": f"Patient/{merged['id']}"}, "type": "replaces"}]
    assert merged["active"] is False
    assert merged["link"] == [{"other": {"reference": f"Patient/{survivor['id']}"}, "type": "replaced-by"}]


@pytest.mark.parametrize("name", ["LAB-ORU-1.hl7", "VXU-V04-01.hl7"])
def test_references_inside_a_message_resolve_to_stored_resources(repo: FhirRepository, name: str) -> None:
    assert Hl7Ingestor(repo).handle(sample(name)).code in ("AA", "CA")
    (patient,) = search(repo, "Patient")
    for rt, field in (("Observation", "subject"), ("Immunization", "patient")):
        for res in search(repo, rt):
            assert res[field]["reference"] == f"Patient/{patient['id']}"
    assert parse_message(sample(name)).control_id
