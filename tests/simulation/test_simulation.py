"""The synthetic region: valid identity numbers, valid FHIR, resolvable references, honest ground truth."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from healthbrain import simulation
from healthbrain.core.errors import InvalidInput
from healthbrain.simulation import (
    ID_CARD_SYSTEM,
    Region,
    RegionConfig,
    id_card_birth_date,
    id_card_check_char,
    id_card_sex,
    is_valid_id_card,
    make_id_card,
    simulate_region,
    write_region,
)

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MOBILE = re.compile(r"^1[3-9]\d{9}$")
ID_ERROR_KINDS = {"id_digit_typo", "id_transposition"}


@pytest.fixture(scope="module")
def region() -> Region:
    return simulate_region(RegionConfig(patients=300, seed=11))


@pytest.fixture(scope="module")
def big_region() -> Region:
    """Large enough for the outbreak and the noise rates to show."""
    return simulate_region(RegionConfig(patients=2500, seed=5))


def _by_type(region: Region, rtype: str) -> list[dict[str, Any]]:
    return [r for r in region.resources() if r["resourceType"] == rtype]


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _id_number(patient: dict[str, Any]) -> str | None:
    values = [i["value"] for i in patient.get("identifier", []) if i["system"] == ID_CARD_SYSTEM]
    return values[0] if values else None


def test_public_surface() -> None:
    assert sorted(simulation.__all__) == sorted(
        [
            "GROUND_TRUTH_FILE", "ID_CARD_SYSTEM", "REGION_FILE", "GroundTruth", "InjectedError", "Outbreak",
            "Person", "Region", "RegionConfig", "RegionSummary", "id_card_birth_date", "id_card_check_char",
            "id_card_sex", "is_valid_id_card", "make_id_card", "mrn_system", "simulate_region", "write_region",
        ]
    )  # fmt: skip


def test_id_card_check_character_follows_gb11643() -> None:
    # The worked example of GB 11643-1999 (Beijing 朝阳区, born 1949-12-31, male sequence 001).
    assert id_card_check_char("11010519491231002") == "X"
    number = make_id_card("330802", date(1990, 3, 7), 123)
    assert is_valid_id_card(number)
    assert id_card_sex(number) == "male"
    assert id_card_birth_date(number) == date(1990, 3, 7)
    assert not is_valid_id_card(number[:17] + ("0" if number[17] != "0" else "1"))
    assert not is_valid_id_card("33080219900230123" + id_card_check_char("33080219900230123"))


def test_config_rejects_nonsense() -> None:
    with pytest.raises(InvalidInput) as info:
        RegionConfig(patients=0, noise_rate=2.0)
    assert info.value.code == "simulation.invalid_config"


def test_every_true_person_has_a_consistent_id_number(big_region: Region) -> None:
    numbers = [p.id_number for p in big_region.persons.values()]
    assert len(set(numbers)) == len(numbers)
    for person in big_region.persons.values():
        assert is_valid_id_card(person.id_number)
        assert id_card_sex(person.id_number) == person.gender
        assert id_card_birth_date(person.id_number) == person.birth_date
        assert MOBILE.match(person.phone) and MOBILE.match(person.old_phone)


def test_patient_records_carry_valid_id_numbers_unless_an_error_was_injected(big_region: Region) -> None:
    truth = big_region.ground_truth
    damaged = {e.record for e in truth.errors if e.kind in ID_ERROR_KINDS}
    swapped = {e.record for e in truth.errors if e.kind == "birthdate_swap"}
    checked = 0
    for patient in _by_type(big_region, "Patient"):
        ref = f"Patient/{patient['id']}"
        number = _id_number(patient)
        if number is None or ref in damaged:
            continue
        person = big_region.persons[truth.records[ref]]
        assert number == person.id_number
        assert is_valid_id_card(number), ref
        assert id_card_sex(number) == patient["gender"]
        if ref not in swapped:
            assert id_card_birth_date(number).isoformat() == patient["birthDate"]
        checked += 1
    assert checked > 0.85 * len(truth.records)


def test_names_addresses_and_phones_look_chinese(big_region: Region) -> None:
    persons = list(big_region.persons.values())
    families = Counter(p.family for p in persons)
    assert {"王", "李", "张"} <= {f for f, _ in families.most_common(6)}
    assert any(len(p.family) == 2 for p in persons), "compound surnames such as 欧阳 must occur"
    assert all(1 <= len(p.given) <= 2 for p in persons)
    assert all(p.address.text.startswith("浙江省") and p.address.postal_code.isdigit() for p in persons)
    patient = next(p for p in _by_type(big_region, "Patient") if "address" in p)
    address = patient["address"][0]
    assert {"text", "line", "city", "district", "state", "postalCode"} <= address.keys()


def test_every_resource_is_valid_fhir_r4(region: Region) -> None:
    for resource in region.resources():
        assert FHIR_ID.match(resource["id"]), resource["id"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_every_reference_resolves(region: Region) -> None:
    known = {f"{r['resourceType']}/{r['id']}" for r in region.resources()}
    for resource in region.resources():
        for ref in _references(resource):
            assert ref in known, f"{resource['resourceType']}/{resource['id']} -> {ref}"


def test_layout_has_hierarchy_hospitals_and_clinics(region: Region) -> None:
    orgs = {o["id"]: o for o in _by_type(region, "Organization")}
    kinds = Counter(c["code"] for o in orgs.values() for t in o["type"] for c in t["coding"])
    assert kinds["province"] == 1 and 1 <= kinds["city"] <= 2 and kinds["county"] >= 3
    assert kinds["A1"] + kinds["A21"] + kinds["G1"] >= 3 and kinds["G1"] >= 1
    assert kinds["B1"] + kinds["C2"] >= 10
    for start in orgs.values():  # every chain of partOf ends at the province
        org, seen = start, 0
        while "partOf" in org:
            org = orgs[org["partOf"]["reference"].split("/")[1]]
            seen += 1
        assert seen <= 3 and any(c["code"] == "province" for t in org["type"] for c in t["coding"])
    roles = _by_type(region, "PractitionerRole")
    assert len(roles) == len(_by_type(region, "Practitioner")) and len(roles) > 100


def test_clinical_content_uses_standard_codes(big_region: Region) -> None:
    observations = _by_type(big_region, "Observation")
    codes = Counter(o["code"]["coding"][0]["code"] for o in observations)
    for loinc in ("85354-9", "8867-4", "8310-5", "29463-7", "8302-2", "39156-5", "4548-4", "718-7", "6690-2"):
        assert codes[loinc] > 0, loinc
    bp = next(o for o in observations if o["code"]["coding"][0]["code"] == "85354-9")
    assert [c["code"]["coding"][0]["code"] for c in bp["component"]] == ["8480-6", "8462-4"]
    labs = [o for o in observations if o["category"][0]["coding"][0]["code"] == "laboratory"]
    assert all("referenceRange" in o and "interpretation" in o for o in labs)
    conditions = Counter(c["code"]["coding"][0]["code"] for c in _by_type(big_region, "Condition"))
    for icd in ("I10", "E11.9", "J06.9", "J11.1"):
        assert conditions[icd] > 0, icd
    encounters = Counter(e["class"]["code"] for e in _by_type(big_region, "Encounter"))
    assert encounters.keys() == {"AMB", "EMER", "IMP"}
    assert _by_type(big_region, "DiagnosticReport") and _by_type(big_region, "MedicationRequest")


def test_chronic_patients_have_blood_pressure_series(big_region: Region) -> None:
    hypertensive = {
        c["subject"]["reference"]
        for c in _by_type(big_region, "Condition")
        if c["code"]["coding"][0]["code"] == "I10"
    }
    readings = Counter(
        o["subject"]["reference"]
        for o in _by_type(big_region, "Observation")
        if o["code"]["coding"][0]["code"] == "85354-9" and o["subject"]["reference"] in hypertensive
    )
    assert sum(1 for n in readings.values() if n >= 3) > 0.5 * len(hypertensive)


def test_ground_truth_errors_really_differ_from_the_person(big_region: Region) -> None:
    truth = big_region.ground_truth
    patients = {f"Patient/{p['id']}": p for p in _by_type(big_region, "Patient")}
    assert set(truth.records) == set(patients)
    kinds = Counter(e.kind for e in truth.errors)
    assert {"id_digit_typo", "name_confusable", "missing_id_number", "duplicate_record"} <= kinds.keys()
    noisy = sum(n for k, n in kinds.items() if k != "duplicate_record")
    assert 0.02 < noisy / len(patients) < 0.07
    for error in truth.errors:
        person = big_region.persons[error.person]
        record = patients[error.record]
        assert truth.records[error.record] == person.key
        if error.kind in ID_ERROR_KINDS:
            assert _id_number(record) == error.recorded != person.id_number
        elif error.kind == "missing_id_number":
            assert _id_number(record) is None
        elif error.kind == "name_confusable":
            assert record["name"][0]["text"] == error.recorded != person.name
            assert len(error.recorded) == len(person.name)
        elif error.kind == "phone_outdated":
            assert record["telecom"][0]["value"] == error.recorded != person.phone
        elif error.kind == "birthdate_swap":
            assert record["birthDate"] == error.recorded != person.birth_date.isoformat()
        elif error.kind == "duplicate_record":
            assert error.true_value in patients and error.true_value != error.record
            assert patients[error.true_value]["managingOrganization"] == record["managingOrganization"]
        else:
            pytest.fail(f"unknown error kind {error.kind}")


def test_institutions_keep_their_own_ids_for_the_same_person(big_region: Region) -> None:
    by_person: dict[str, list[str]] = {}
    for record, person in big_region.ground_truth.records.items():
        by_person.setdefault(person, []).append(record)
    assert set(by_person) == set(big_region.persons)
    shared = [records for records in by_person.values() if len(records) > 1]
    assert len(shared) > 0.25 * len(by_person)
    # Local numbers are each institution's own sequence, not a hidden person key.
    same_number = sum(1 for records in shared if len({r.rsplit("-", 1)[1] for r in records}) == 1)
    assert same_number < 0.05 * len(shared)


def test_outbreak_stands_out_above_the_baseline(big_region: Region) -> None:
    (outbreak,) = big_region.ground_truth.outbreaks
    conditions = {c["id"]: c for c in _by_type(big_region, "Condition")}
    assert len(outbreak.conditions) >= 5
    for ref in outbreak.conditions:
        condition = conditions[ref.split("/")[1]]
        assert condition["code"]["coding"][0]["code"] == outbreak.disease == "J11.1"
        onset = date.fromisoformat(condition["onsetDateTime"][:10])
        assert outbreak.start <= onset <= outbreak.end
        assert any(c["code"] == "notifiable" for cat in condition["category"] for c in cat["coding"])
    # Influenza elsewhere in the same weeks is rare: the cluster is what surveillance should find.
    in_window = [
        c
        for c in conditions.values()
        if c["code"]["coding"][0]["code"] == "J11.1"
        and outbreak.start <= date.fromisoformat(c["onsetDateTime"][:10]) <= outbreak.end
    ]
    assert len(outbreak.conditions) > 0.6 * len(in_window)


def test_write_region_is_deterministic_and_consistent(tmp_path: Path) -> None:
    config = RegionConfig(patients=250, seed=3, chunk_size=500)
    calls: list[tuple[int, int]] = []
    first = write_region(config, tmp_path / "a", progress=lambda done, total: calls.append((done, total)))
    second = write_region(config, tmp_path / "b")
    write_region(RegionConfig(patients=250, seed=4, chunk_size=500), tmp_path / "c")
    names = [p.name for p in first.files]
    assert names[0] == "00-region.json" and names == sorted(names)
    assert names == [p.name for p in second.files]
    for a in (*first.files, first.ground_truth):
        assert a.read_bytes() == (tmp_path / "b" / a.name).read_bytes(), a.name
    assert (tmp_path / "a" / "00-region.json").read_bytes() != (
        tmp_path / "c" / "00-region.json"
    ).read_bytes()
    assert calls[-1] == (250, 250)

    counts: Counter[str] = Counter()
    for path in first.files:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        assert bundle["type"] == "transaction"
        assert len(bundle["entry"]) <= 500 or path.name == "00-region.json"
        in_file = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
        for entry in bundle["entry"]:
            resource = entry["resource"]
            assert entry["request"] == {
                "method": "PUT",
                "url": f"{resource['resourceType']}/{resource['id']}",
            }
            counts[resource["resourceType"]] += 1
            # A chunk carries the Patient records its clinical resources cite.
            assert all(ref in in_file for ref in _references(resource) if ref.startswith("Patient/"))
    assert dict(counts) == first.counts
    # A whole chunk is a valid R4 transaction Bundle, as ingest will see it.
    get_fhir_model_class("Bundle").model_validate(json.loads(first.files[1].read_text(encoding="utf-8")))
    assert first.counts["Patient"] == len(
        json.loads(first.ground_truth.read_text(encoding="utf-8"))["records"]
    )
    assert first.persons == 250


def test_rewriting_a_smaller_region_leaves_no_stale_chunks(tmp_path: Path) -> None:
    write_region(RegionConfig(patients=400, seed=1, chunk_size=200), tmp_path)
    summary = write_region(RegionConfig(patients=50, seed=1, chunk_size=200), tmp_path)
    on_disk = sorted(p.name for p in tmp_path.iterdir() if p.name != "ground-truth.json")
    assert on_disk == [p.name for p in summary.files]
