"""Templates compiled once per spec: what a message maps to must not depend on what was mapped before."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hl7samples import build, oru, set_field

from healthbrain.ingest.hl7v2 import Hl7Rejected, default_catalog, load_catalog, map_message, parse_message
from healthbrain.ingest.hl7v2.engine import identifier_query, name_uuid


def mapped(raw: bytes, catalog: Any = None) -> dict[str, Any]:
    return map_message(parse_message(raw), catalog or default_catalog()).bundle


def resources(bundle: dict[str, Any], rt: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rt]


def test_constant_elements_are_fresh_for_every_resource() -> None:
    first = resources(mapped(oru()), "Observation")
    first[0]["category"][0]["coding"][0]["code"] = "changed downstream"
    first[0]["category"].append({"text": "added downstream"})
    again = resources(mapped(oru()), "Observation")
    for obs in (first[1], *again):
        assert obs["category"] == [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ]


def test_a_date_repeated_in_a_message_is_reported_wherever_it_is_wrong() -> None:
    raw = set_field(set_field(oru(), "OBX", 14, "20251399"), "OBX", 14, "20251399", occurrence=2)
    with pytest.raises(Hl7Rejected) as err:
        mapped(raw)
    assert [(p.code, str(p.location)) for p in err.value.problems] == [
        ("102", "OBX-14"),
        ("102", "OBX[2]-14"),
    ]


def test_the_authority_in_msh_follows_each_message() -> None:
    raw = set_field(oru(), "OBR", 3, "LAB-77")  # no namespace of its own: the sender's MSH-4 applies
    systems = [
        resources(mapped(set_field(raw, "MSH", 4, sender)), "Observation")[0]["identifier"][0]["system"]
        for sender in ("COUNTY-HOSP", "CITY-HOSP", "")
    ]
    assert [s.rsplit("/", 1)[1] for s in systems] == ["COUNTY-HOSP", "CITY-HOSP", "LIS"]  # MSH-3 last


def test_repetitions_group_paths_and_the_delimiters_read_as_the_template_says(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "patient.yaml").write_text(
        "resourceType: Patient\n"
        "identifier:\n"
        "  - {$cx: PID-3(2)}\n"
        "  - $each: PID-3\n"
        "    $where: {PID-3.5: [MR]}\n"
        "    value: {$str: PID-3.1}\n"
        "    system: {$fmt: 'urn:{PID-3.4}:{MSH-2}'}\n"
        "    id: {$fmt: '{$position}'}\n"
        "name: [{text: {$str: PATIENT_RESULT/PID-5.2}}]\n",
        encoding="utf-8",
    )
    raw = set_field(oru(), "PID", 3, "A1^^^H1^MR~ B2^^^H2^PI ~~C3^^^H3^MR")
    (patient,) = resources(mapped(raw, load_catalog(tmp_path)), "Patient")
    assert patient["identifier"] == [
        {
            "value": "B2",
            "system": "https://healthbrain.dev/fhir/sid/hl7v2/H2",
            "type": patient["identifier"][0]["type"],
        },
        {"value": "A1", "system": "urn:H1:^~\\&", "id": "1"},
        {"value": "C3", "system": "urn:H3:^~\\&", "id": "3"},  # $position counts the items walked
    ]
    assert patient["name"] == [{"text": "Fang"}]


def test_escaped_and_repeated_values_are_decoded() -> None:
    raw = build(
        "MSH|^~\\&|LIS|COUNTY-HOSP|HB|REGION|20250301101500+0800||ORU^R01|C9|P|2.5.1",
        "PID|1||MRN9^^^COUNTY-HOSP^MR||Li\\T\\Wei^Ming",
        "OBR|1|ORD-1^HIS|LAB-1^LIS|2345-7^Glucose^LN",
        "OBX|1|ST|8251-1^Comment^LN||line one~line \\S\\ two||||||F",
    )
    bundle = mapped(raw)
    (patient,) = resources(bundle, "Patient")
    (obs,) = resources(bundle, "Observation")
    assert patient["name"][0]["family"] == "Li&Wei"
    assert obs["valueString"] == "line one\nline ^ two"


@pytest.mark.parametrize(
    "name", ["", "LIS|COUNTY-HOSP|C1|result|3", "检验科|医院|C2|order|1", "a\u00e9\u2603"]
)
def test_full_urls_are_the_rfc_4122_name_based_uuids(name: str) -> None:
    namespace = uuid.UUID("6f1d3c1e-52a4-4c53-9b0e-6c2f3f0a7d11")
    assert name_uuid(name) == str(uuid.uuid5(namespace, name))


@pytest.mark.parametrize(
    ("system", "value"),
    [
        ("https://healthbrain.dev/fhir/sid/hl7v2/LIS", "LAB-77/1"),
        ("urn:oid:2.16.156.10011.1.1", "110101199003077777"),
        ("", "a|b,c$d\\e ~_.-"),
        ("https://例子.cn/病历号", "编号 42"),
    ],
)
def test_conditional_urls_are_escaped_then_percent_encoded(system: str, value: str) -> None:
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace(",", "\\,").replace("$", "\\$")

    expected = "identifier=" + quote(f"{escape(system)}|{escape(value)}", safe="")
    assert identifier_query({"system": system, "value": value}) == expected


def test_entry_full_urls_are_named_by_sender_control_id_rule_and_position() -> None:
    namespace = uuid.UUID("6f1d3c1e-52a4-4c53-9b0e-6c2f3f0a7d11")
    bundle = mapped(oru())
    results = [e["fullUrl"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    msh = oru().split(b"\r")[0].decode().split("|")
    sender, facility, control = msh[2], msh[3], msh[9]
    assert results == [
        f"urn:uuid:{uuid.uuid5(namespace, f'{sender}|{facility}|{control}|result|{n}')}"
        for n in range(1, len(results) + 1)
    ]


def test_one_element_lists_keep_what_the_message_sent_and_drop_the_rest(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "patient.yaml").write_text(
        "resourceType: Patient\n"
        "identifier: [{$cx: PID-3, $all: true}]\n"  # a list from the element: its items, flattened
        "name: [{$xpn: PID-5}]\n"  # one value: listed
        "telecom: [{$xtn: PID-13}]\n"  # not sent: no element at all
        "contact:\n"
        "  - $when: PID-2\n"  # an object whose condition fails: no element
        "    name: {text: {$str: PID-5.1}}\n"
        "address:\n"
        "  - $when: PID-3\n"
        "    $merge: {$fmt: '{PID-5.1}'}\n"  # a merge that gives no mapping adds nothing
        "    text: {$str: PID-5.2}\n",
        encoding="utf-8",
    )
    raw = set_field(set_field(oru(), "PID", 3, "A1^^^H1^MR~~B2^^^H2^PI"), "PID", 13, "")
    (patient,) = resources(mapped(raw, load_catalog(tmp_path)), "Patient")
    assert [i["value"] for i in patient["identifier"]] == ["A1", "B2"]
    assert patient["name"] == [{"family": "Wang", "given": ["Fang"]}]
    assert patient["address"] == [{"text": "Fang"}]
    assert "telecom" not in patient and "contact" not in patient
