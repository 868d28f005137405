"""The matcher on data with known truth: simulated residents (Chinese identity) and FEBRL (public)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import numpy as np
import pytest

from healthbrain.mpi import chinese_frame, chinese_settings, link_records, pairwise_accuracy, patient_record
from healthbrain.mpi.guards import REASONS
from healthbrain.mpi.pipeline import LinkResult
from healthbrain.simulation import Region, RegionConfig, make_id_card, simulate_region


@pytest.fixture(scope="module")
def region() -> Region:
    return simulate_region(RegionConfig(patients=3000, seed=3, noise_rate=0.25, duplicate_rate=0.05))


@pytest.fixture(scope="module")
def linked(region: Region) -> tuple[LinkResult, list[str]]:
    patients = [r for r in region.resources() if r["resourceType"] == "Patient"]
    frame = chinese_frame([patient_record(p) for p in patients])
    return link_records(frame, chinese_settings()), list(frame.ids)


def _truth(region: Region, ids: list[str]) -> np.ndarray:
    return np.unique([region.ground_truth.records[i] for i in ids], return_inverse=True)[1]


def test_records_of_one_resident_become_one_resident(
    region: Region, linked: tuple[LinkResult, list[str]]
) -> None:
    result, ids = linked
    acc = pairwise_accuracy(result.labels, _truth(region, ids))
    assert acc.precision >= 0.999 and acc.recall >= 0.97 and acc.f1 >= 0.985


def test_each_kind_of_injected_error_is_seen_through(
    region: Region, linked: tuple[LinkResult, list[str]]
) -> None:
    result, ids = linked
    label = dict(zip(ids, result.labels.tolist(), strict=True))
    by_person: dict[str, list[str]] = {}
    for ref, person in region.ground_truth.records.items():
        by_person.setdefault(person, []).append(ref)
    found, total = Counter[str](), Counter[str]()
    for error in region.ground_truth.errors:
        others = [r for r in by_person[error.person] if r != error.record]
        if not others:
            continue
        total[error.kind] += 1
        found[error.kind] += any(label[r] == label[error.record] for r in others)
    assert set(total) >= {
        "id_digit_typo",
        "id_transposition",
        "name_confusable",
        "birthdate_swap",
        "missing_id_number",
    }
    for kind, n in total.items():
        assert found[kind] / n >= 0.9, kind


def _patient(
    pid: str, name: str, gender: str, born: date, id_number: str | None, phone: str, org: str
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient", "id": pid, "name": [{"text": name}], "gender": gender,
        "birthDate": born.isoformat(), "telecom": [{"system": "phone", "value": phone}],
        "address": [{"text": "浙江省衢州市柯城区府山街道云峰社区荷花路321号22幢1单元1304室"}],
        "managingOrganization": {"reference": f"Organization/{org}"},
    }  # fmt: skip
    if id_number:
        resource["identifier"] = [{"system": "urn:oid:2.16.156.10011.1.1", "value": id_number}]
    return resource


def _link_with_background(region: Region, extra: list[dict[str, Any]]) -> tuple[LinkResult, list[str]]:
    patients = [r for r in region.resources() if r["resourceType"] == "Patient"][:1500] + extra
    frame = chinese_frame([patient_record(p) for p in patients])
    return link_records(frame, chinese_settings()), list(frame.ids)


def _pair(result: LinkResult, ids: list[str], a: str, b: str) -> tuple[bool, bool, list[str]]:
    i, j = sorted((ids.index(f"Patient/{a}"), ids.index(f"Patient/{b}")))
    k = np.flatnonzero((result.scored.left == i) & (result.scored.right == j))
    assert len(k) == 1, "the pair was not even compared"
    reasons = [name for bit, name in REASONS.items() if int(result.reasons[k[0]]) & bit]
    return bool(result.linked[k[0]]), bool(result.review[k[0]]), reasons


def test_twins_are_never_merged_but_shown_for_review(region: Region) -> None:
    born = date(2001, 5, 17)
    one, two = make_id_card("330802", born, 101), make_id_card("330802", born, 103)
    twins = [
        _patient("twin-a", "李子涵", "male", born, one, "13800001111", "a"),
        _patient("twin-b", "李子轩", "male", born, two, "13800001111", "a"),
    ]
    result, ids = _link_with_background(region, twins)
    linked, review, reasons = _pair(result, ids, "twin-a", "twin-b")
    assert not linked and "conflicting_id" in reasons and "possible_twin" in reasons
    assert review  # a reviewer sees them


def test_twins_without_id_numbers_are_still_held_back(region: Region) -> None:
    born = date(2003, 2, 2)
    twins = [
        _patient("t1", "王一鸣", "male", born, None, "13900002222", "a"),
        _patient("t2", "王一诺", "female", born, None, "13900002222", "b"),
    ]
    result, ids = _link_with_background(region, twins)
    linked, review, reasons = _pair(result, ids, "t1", "t2")
    assert not linked and review and "possible_twin" in reasons


def test_family_sharing_phone_and_home_is_not_one_person(region: Region) -> None:
    family = [
        _patient("f1", "陈建国", "male", date(1962, 1, 5), None, "13700003333", "a"),
        _patient("f2", "陈浩然", "male", date(1990, 8, 9), None, "13700003333", "b"),
    ]
    result, ids = _link_with_background(region, family)
    linked, _, reasons = _pair(result, ids, "f1", "f2")
    assert not linked and "family_shared_contact" in reasons


def test_a_record_with_only_a_name_is_never_merged(region: Region) -> None:
    person = next(r for r in region.resources() if r["resourceType"] == "Patient")
    bare = {"resourceType": "Patient", "id": "bare", "name": person["name"]}
    result, ids = _link_with_background(region, [bare])
    k = ids.index("Patient/bare")
    touching = (result.scored.left == k) | (result.scored.right == k)
    assert not result.linked[touching].any()
    assert (touching & result.review).any()  # shown for review
    assert (result.reasons[touching & result.review] & 1).all()  # sparse_record


def test_shared_placeholder_ids_do_not_join_strangers(region: Region) -> None:
    strangers = [
        _patient("x1", "赵敏", "female", date(1980, 1, 1), "000000000000000000", "13600000001", "a"),
        _patient("x2", "钱芳", "female", date(1975, 6, 1), "000000000000000000", "13600000002", "b"),
    ]
    result, ids = _link_with_background(region, strangers)
    a, b = ids.index("Patient/x1"), ids.index("Patient/x2")
    assert result.labels[a] != result.labels[b]


def test_siblings_sharing_phone_and_home_go_to_a_reviewer_with_the_reason(region: Region) -> None:
    """Siblings whose names differ by one character and who share the family phone and home look
    like one person typed twice: never linked automatically, shown for review, and why."""
    siblings = [
        _patient("s1", "陈浩然", "male", date(1990, 8, 9), None, "13700004444", "a"),
        _patient("s2", "陈浩宇", "male", date(1993, 3, 21), None, "13700004444", "b"),
    ]
    result, ids = _link_with_background(region, siblings)
    linked, review, reasons = _pair(result, ids, "s1", "s2")
    assert not linked and review and "family_shared_contact" in reasons
