"""Mapping messages to FHIR transaction Bundles: validity, identity, refusals, vendor variants."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hl7samples import MAPPABLE, build, oru, sample, segment, set_field

from healthbrain.fhir.validation import validate_resource
from healthbrain.ingest.hl7v2 import (
    Hl7Rejected,
    SpecError,
    default_catalog,
    load_catalog,
    map_message,
    parse_message,
    split_batch,
)

ID_CARD = "urn:oid:2.16.156.10011.1.1"


def mapped(raw: bytes, catalog: Any = None) -> dict[str, Any]:
    return map_message(parse_message(raw), catalog or default_catalog()).bundle


def resources(bundle: dict[str, Any], rt: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rt]


def refused(raw: bytes) -> list[tuple[str, str]]:
    with pytest.raises(Hl7Rejected) as err:
        mapped(raw)
    return [(p.code, str(p.location)) for p in err.value.problems]


@pytest.mark.parametrize("name", MAPPABLE)
def test_every_sample_maps_to_a_transaction_whose_resources_are_valid(name: str) -> None:
    for raw in split_batch(sample(name)):
        bundle = mapped(raw)
        assert bundle["type"] == "transaction" and bundle["entry"]
        for entry in bundle["entry"]:
            assert validate_resource(entry["resource"]) == [], entry["resource"]["resourceType"]
            assert entry["fullUrl"].startswith("urn:uuid:")
        assert len(resources(bundle, "Patient")) == 1


def test_the_required_resource_types_are_produced_by_their_messages() -> None:
    expected = {
        "ADT-A01-01.hl7": {"Patient", "Encounter"},
        "LAB-ORU-1.hl7": {"Observation", "DiagnosticReport", "ServiceRequest"},
        "ORM-O01-01.hl7": {"ServiceRequest"},
        "RDE-O11-01.hl7": {"MedicationRequest"},
        "VXU-V04-01.hl7": {"Immunization"},
        "SIU-S12-01.hl7": {"Appointment"},
        "MDM-T02-01.hl7": {"DocumentReference"},
    }
    for name, types in expected.items():
        got = {e["resource"]["resourceType"] for e in mapped(sample(name))["entry"]}
        assert types <= got, name


def test_sender_identifiers_become_identifier_systems_and_conditional_requests() -> None:
    bundle = mapped(oru())
    (patient,) = resources(bundle, "Patient")
    assert patient["identifier"][0]["value"] == "MRN001"
    assert patient["identifier"][0]["system"].endswith("/COUNTY-HOSP")
    requests = {e["resource"]["resourceType"]: e["request"] for e in bundle["entry"]}
    # The lab does not own demographics: create the patient only when missing; results are upserts.
    assert requests["Patient"]["method"] == "POST" and "identifier=" in requests["Patient"]["ifNoneExist"]
    assert requests["Observation"]["method"] == "PUT" and requests["Observation"]["url"].startswith(
        "Observation?identifier="
    )
    (report,) = resources(bundle, "DiagnosticReport")
    observations = [e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert [r["reference"] for r in report["result"]] == observations
    glucose = next(o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == "2345-7")
    assert glucose["valueQuantity"] == {
        "value": 5.6,
        "unit": "mmol/L",
        "system": "http://unitsofmeasure.org",
        "code": "mmol/L",
    }
    assert (
        glucose["referenceRange"][0]["low"]["value"] == 3.9
        and glucose["referenceRange"][0]["high"]["value"] == 6.1
    )
    assert glucose["effectiveDateTime"] == "2025-03-01T09:30:00+08:00"
    assert glucose["subject"]["reference"] == bundle["entry"][0]["fullUrl"]


def test_a_chinese_adt_keeps_names_addresses_and_the_national_id() -> None:
    raw = build(
        "MSH|^~\\&|HIS|xian-yiyuan|HB|REGION|20250301083000||ADT^A01^ADT_A01|CN1|P|2.4|||||CHN|GB 18030-2000",
        "EVN|A01|20250301083000",
        "PID|1||ZY2025001^^^xian-yiyuan^MR~330106198001011234^^^^NNCHN||张^億||19800101|M|||"
        "幸福路1号^^杭州市^浙江省^310000^CHN^H^^西湖區||^PRN^CP^^^^^^^^^13800000000",
        segment(
            "PV1",
            {
                1: "1",
                2: "I",
                3: "内科^301^2^^^^住院部",
                7: "D001^李^娜",
                19: "V2025001^^^xian-yiyuan^VN",
                44: "20250301080000",
            },
        ),
        encoding="gb18030",
    )
    bundle = mapped(raw)
    (patient,) = resources(bundle, "Patient")
    assert patient["name"][0]["text"] == "张億" and patient["gender"] == "male"
    assert {k: v for k, v in patient["identifier"][1].items() if k in ("system", "value")} == {
        "system": ID_CARD,
        "value": "330106198001011234",
    }
    assert patient["address"][0]["text"] == "浙江省杭州市西湖區幸福路1号"
    assert patient["telecom"][0] == {"system": "phone", "value": "13800000000", "use": "mobile"}
    (encounter,) = resources(bundle, "Encounter")
    # No UTC offset in PV1-44: the configured default zone (+08:00) is applied.
    assert encounter["period"]["start"] == "2025-03-01T08:00:00+08:00"
    assert encounter["class"]["code"] == "IMP"
    assert encounter["participant"][0]["individual"]["display"] == "李娜"
    # Upsert keyed on the MRN (type MR), not the national id: institutions keep their own records.
    assert "ZY2025001" in bundle["entry"][0]["request"]["url"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("MSH", 9, "QRY^A19"), [("200", "MSH-9")]),
        (("MSH", 9, "ORU^R99"), [("201", "MSH-9.2")]),
        (("MSH", 12, "2.2"), [("203", "MSH-12")]),
        (("MSH", 11, "X"), [("202", "MSH-11")]),
        (("PID", 3, ""), [("101", "PID-3")]),
        (("OBX", 5, "five point six"), [("102", "OBX-5")]),
        (("OBX", 14, "20251399"), [("102", "OBX-14")]),
        (("OBR", 4, ""), [("101", "OBR-4")]),
    ],
)
def test_bad_messages_are_refused_with_the_field_at_fault(
    change: tuple[str, int, str], expected: list[tuple[str, str]]
) -> None:
    assert refused(set_field(oru(), *change)) == expected


def test_a_message_cut_off_before_its_order_is_refused_for_the_missing_segment() -> None:
    truncated = b"\r".join(oru().split(b"\r")[:3]) + b"\r"
    assert refused(truncated) == [("100", "OBR")]


def test_a_real_message_with_an_impossible_birth_date_is_refused_at_pid7() -> None:
    assert refused(sample("python-hl7_sample_ORU-R01_GHH-LAB.hl7")) == [("102", "PID-7")]


def test_every_problem_is_listed_at_once() -> None:
    raw = set_field(set_field(oru(), "OBX", 5, "abc"), "PID", 7, "19801399")
    assert sorted(refused(raw)) == [("102", "OBX-5"), ("102", "PID-7")]


def test_the_same_order_twice_in_one_message_becomes_one_service_request() -> None:
    raw = oru().replace(
        b"OBX|2|ST|", b"ORC|RE|ORD-9^HIS|LAB-77^LIS\rOBR|2|ORD-9^HIS|LAB-77^LIS|2345-7^Glucose^LN\rOBX|2|ST|"
    )
    bundle = mapped(raw)
    assert len(resources(bundle, "ServiceRequest")) == 1
    assert Counter(e["resource"]["resourceType"] for e in bundle["entry"])["DiagnosticReport"] == 1


def test_a_vendor_variant_is_adapted_with_a_spec_file_and_no_code(tmp_path: Path) -> None:
    raw = split_batch(sample("python-hl7_sample_batch_ADT-A04.hl7"))[0]
    (patient,) = resources(mapped(raw), "Patient")
    assert patient["gender"] == "unknown"  # PID-8 "1" is not HL7 table 0001
    (tmp_path / "settings.yaml").write_text(
        "maps:\n  administrative-gender:\n    values: {'1': male, '2': female}\n"
        "identifier_systems:\n  '100': https://healthbrain.dev/fhir/sid/inst-100/mrn\n",
        encoding="utf-8",
    )
    (patient,) = resources(mapped(raw, load_catalog(tmp_path)), "Patient")
    assert patient["gender"] == "male"
    assert patient["identifier"][0]["system"] == "https://healthbrain.dev/fhir/sid/inst-100/mrn"


def test_a_new_event_can_be_added_by_a_message_spec_file(tmp_path: Path) -> None:
    (tmp_path / "messages").mkdir()
    (tmp_path / "messages" / "oru-r30.yaml").write_text(
        "events: [ORU^R30]\nstructure: ORU_R01\nrequired_fields: [PID-3]\n"
        "resources:\n  patient: {for: PID, template: patient, write: create}\n"
        "  result: {for_each: OBSERVATION, template: observation, write: upsert}\n",
        encoding="utf-8",
    )
    bundle = mapped(set_field(oru(), "MSH", 9, "ORU^R30"), load_catalog(tmp_path))
    assert len(resources(bundle, "Observation")) == 2


@pytest.mark.parametrize(
    ("file", "text", "where"),
    [
        (
            "templates/patient.yaml",
            "resourceType: Patient\nname: {$xpn: PID-5, $bogus: 1}\n",
            "templates/patient.yaml",
        ),
        (
            "templates/patient.yaml",
            "resourceType: Patient\nname: {$xpn: NAME}\n",
            "templates/patient.yaml.name.$xpn",
        ),
        ("messages/oru.yaml", "events: [ORU^R01]\nstructure: NOPE\nresources: {}\n", "messages/oru.yaml"),
        ("settings.yaml", "default_timezone: Beijing\n", "settings.yaml"),
    ],
)
def test_unusable_specs_are_reported_with_file_and_element(
    tmp_path: Path, file: str, text: str, where: str
) -> None:
    (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / file).write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as err:
        load_catalog(tmp_path)
    assert err.value.where.startswith(where)
