"""De-identification on simulated residents: nothing identifying survives, pseudonyms and dates stay
consistent, k-anonymity holds on the released data, and only consented patients are chosen."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
import pytest

from healthbrain.core.context import PurposeOfUse
from healthbrain.core.errors import InvalidInput
from healthbrain.security.deid import (
    AGE_BAND_URL,
    Pseudonymizer,
    deidentify_patient,
    deidentify_resource,
    id_card_number,
    patient_of,
    quasi_values,
    shift_date,
)
from healthbrain.security.deid_export import consented_patients
from healthbrain.security.deid_kanon import anonymize
from healthbrain.security.deid_spec import parse_spec
from healthbrain.simulation import RegionConfig, simulate_region

KEY = Pseudonymizer(b"\x01" * 32, max_shift_days=120)
P = PurposeOfUse


@cache
def region_resources() -> tuple[dict[str, Any], ...]:
    return tuple(simulate_region(RegionConfig(patients=400, seed=11)).resources())


def of_type(rt: str) -> list[dict[str, Any]]:
    return [r for r in region_resources() if r["resourceType"] == rt]


def identifying_strings(patient: dict[str, Any]) -> set[str]:
    """Every value of the record a re-identifier could look up: names, numbers, phones, address lines."""
    out = {n.get("text", "") for n in patient.get("name", [])}
    out |= {i["value"] for i in patient.get("identifier", [])}
    out |= {t["value"] for t in patient.get("telecom", [])}
    for a in patient.get("address", []):
        out |= {a.get("text", ""), *a.get("line", []), a.get("postalCode", "")}
    out.add(patient["id"])
    return {s for s in out if s and len(s) >= 4}


def test_direct_identifiers_and_free_text_are_gone() -> None:
    patients = of_type("Patient")[:120]
    ids = {p["id"] for p in patients}
    released = {"birth_year": 1980, "gender": "male", "region": ("浙江省",)}
    clinical = [r for r in region_resources() if patient_of(r) in ids]
    assert len(clinical) > 200
    for p in patients:
        text = orjson.dumps(deidentify_patient(p, released, KEY)).decode()
        assert not any(s in text for s in identifying_strings(p))
    secrets = set().union(*(identifying_strings(p) for p in patients))
    practitioners = {n["text"] for r in of_type("Practitioner") for n in r.get("name", [])}
    for res in clinical:
        out = deidentify_resource(res, patient_of(res), KEY)
        text = orjson.dumps(out).decode()
        leaked = [s for s in secrets | practitioners if s in text]
        assert not leaked, (res["resourceType"], leaked)
        assert "identifier" not in out and "note" not in out and "text" not in out
        # the original ids of the resource and its references are not there either
        assert res["id"] not in text


def test_the_patient_keeps_only_its_generalised_quasi_identifiers() -> None:
    p = next(p for p in of_type("Patient") if p.get("address") and id_card_number(p))
    q = quasi_values(p)
    assert q.id_area == id_card_number(p)[:6] and q.region is not None and q.birth_year is not None
    banded = deidentify_patient(
        p, {"age_band": (40, 44), "region": q.region[:2], "id_area": q.id_area[:4]}, KEY
    )
    assert set(banded) <= {"resourceType", "id", "meta", "address", "extension"}
    assert banded["address"] == [{"use": "home", "state": q.region[0], "city": q.region[1], "country": "CN"}]
    urls = {e["url"] for e in banded["extension"]}
    assert AGE_BAND_URL in urls and "birthDate" not in banded and "gender" not in banded


def test_pseudonyms_are_stable_per_key_and_references_stay_consistent() -> None:
    encounter = of_type("Encounter")[0]
    patient = next(p for p in of_type("Patient") if p["id"] == patient_of(encounter))
    observation = next(
        o
        for o in of_type("Observation")
        if o.get("encounter", {}).get("reference") == f"Encounter/{encounter['id']}"
    )
    e1 = deidentify_resource(encounter, patient["id"], KEY)
    o1 = deidentify_resource(observation, patient["id"], KEY)
    p1 = deidentify_patient(patient, {}, KEY)
    assert e1["subject"]["reference"] == f"Patient/{p1['id']}" == o1["subject"]["reference"]
    assert o1["encounter"]["reference"] == f"Encounter/{e1['id']}"
    assert deidentify_resource(encounter, patient["id"], KEY) == e1  # stable
    other = Pseudonymizer(b"\x02" * 32, max_shift_days=120)
    e2 = deidentify_resource(encounter, patient["id"], other)
    assert e2["id"] != e1["id"] and e2["subject"]["reference"] != e1["subject"]["reference"]


def _period(res: dict[str, Any]) -> tuple[datetime, datetime]:
    p = res["period"]
    return datetime.fromisoformat(p["start"]), datetime.fromisoformat(p["end"])


def test_dates_move_by_one_offset_per_patient_and_intervals_survive() -> None:
    by_patient: dict[str, list[dict[str, Any]]] = {}
    for e in of_type("Encounter"):
        if "end" in e.get("period", {}):
            by_patient.setdefault(patient_of(e) or "", []).append(e)
    offsets = set()
    for pid, encounters in list(by_patient.items())[:60]:
        shifts = set()
        for e in encounters:
            start, end = _period(e)
            new_start, new_end = _period(deidentify_resource(e, pid, KEY))
            assert new_end - new_start == end - start
            shifts.add(new_start - start)
        assert len(shifts) == 1  # one offset for all of a patient's data
        (shift,) = shifts
        assert shift.total_seconds() != 0 and abs(shift.days) <= 120
        offsets.add(shift.days)
    assert len(offsets) > 20  # patients get different offsets


def test_shift_date_keeps_precision_and_zone() -> None:
    assert shift_date("2025-01-31", 1, partial=False) == "2025-02-01"
    assert shift_date("2025-01-13T15:50:00+08:00", -14, partial=False) == "2024-12-30T15:50:00+08:00"
    assert shift_date("2025-03-01T00:00:00Z", 1, partial=False) == "2025-03-02T00:00:00Z"
    assert shift_date("2025-06", 3, partial=True) == "2025-06"
    assert shift_date("2025", -200, partial=True) == "2024"
    assert shift_date("2025", 5, partial=False) is None  # a 4-digit code is not a date
    assert shift_date("8480-6", 5, partial=True) is None


def released_classes(patients: list[dict[str, Any]]) -> Counter[str]:
    """Equivalence classes recomputed from the released Patients themselves (not from the report)."""
    keys: Counter[str] = Counter()
    for p in patients:
        band = [e.get("valueRange") for e in p.get("extension", []) if e["url"] == AGE_BAND_URL]
        keys[orjson.dumps([p.get("gender"), p.get("birthDate"), band, p.get("address")]).decode()] += 1
    return keys


@pytest.mark.parametrize("k", [2, 5, 11])
def test_released_patients_are_k_anonymous_within_the_suppression_budget(k: int) -> None:
    patients = of_type("Patient")
    result = anonymize(
        [quasi_values(p) for p in patients],
        ("age", "gender", "region"),
        k=k,
        max_suppression=0.05,
        reference_year=2026,
    )
    out = [deidentify_patient(patients[i], frag, KEY) for i, frag in result.released.items()]
    classes = released_classes(out)
    assert min(classes.values()) >= k
    assert len(result.suppressed) <= 0.05 * len(patients)
    assert len(out) + len(result.suppressed) == len(patients)
    report = result.report
    assert report.smallest_class == min(classes.values()) and report.classes == len(classes)
    assert report.max_risk <= 1 / k
    if k >= 5:
        assert report.share_above["0.2"] == 0


def test_a_larger_k_costs_precision_or_records() -> None:
    records = [quasi_values(p) for p in of_type("Patient")]
    loose = anonymize(records, ("age", "gender", "region"), k=2, max_suppression=0.02, reference_year=2026)
    strict = anonymize(records, ("age", "gender", "region"), k=25, max_suppression=0.02, reference_year=2026)
    assert strict.report.classes < loose.report.classes
    assert sum(strict.levels) > sum(loose.levels) or strict.report.suppressed > loose.report.suppressed


def test_undeclared_quasi_identifiers_are_not_released_and_too_few_records_release_nothing() -> None:
    patients = of_type("Patient")
    result = anonymize(
        [quasi_values(p) for p in patients], ("gender",), k=5, max_suppression=0.0, reference_year=2026
    )
    out = deidentify_patient(patients[0], result.released[0], KEY)
    assert "birthDate" not in out and "address" not in out and "extension" not in out and out.get("gender")
    tiny = anonymize(
        [quasi_values(p) for p in patients[:3]], ("age",), k=5, max_suppression=0.1, reference_year=2026
    )
    assert tiny.released == {} and len(tiny.suppressed) == 3 and tiny.report.released == 0


def test_bad_specifications_list_every_problem() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_spec(
            {
                "k": 1,
                "quasi_identifiers": ["age", "名字"],
                "resource_types": ["Patient", "Binary"],
                "colour": "red",
                "max_suppression": 0.9,
            }
        )
    paths = [i.expression for i in err.value.issues]
    assert {
        "spec.k",
        "spec.quasi_identifiers",
        "spec.resource_types",
        "spec.colour",
        "spec.max_suppression",
    } <= set(paths)
    with pytest.raises(InvalidInput):
        parse_spec({}, cross_border=True)  # no destination
    assert parse_spec({"destination": "SG"}, cross_border=True).destination == "SG"


def consent(
    pid: str,
    kind: str,
    purpose: str,
    *,
    actors: tuple[str, ...] = (),
    status: str = "active",
    period: dict[str, str] | None = None,
) -> dict[str, Any]:
    provision: dict[str, Any] = {"type": kind, "purpose": [{"code": purpose}]}
    if actors:
        provision["actor"] = [{"reference": {"reference": f"Organization/{a}"}} for a in actors]
    if period:
        provision["period"] = period
    return {
        "resourceType": "Consent",
        "status": status,
        "patient": {"reference": f"Patient/{pid}"},
        "provision": provision,
    }


def test_only_active_current_permits_for_the_purpose_count_and_a_deny_wins() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
    consents = [
        consent("a", "permit", "HRESCH"),
        consent("b", "permit", "MLTRAINING"),  # another purpose
        consent("c", "permit", "HRESCH", status="inactive"),  # revoked
        consent("d", "permit", "HRESCH"),
        consent("d", "deny", "HRESCH"),  # refused later
        consent("e", "permit", "HRESCH", period={"end": "2026-01-01"}),  # expired
        consent("f", "permit", "HRESCH", period={"start": "2026-01-01", "end": "2027-01-01"}),
        consent("g", "permit", "HRESCH", actors=("other-institute",)),  # for someone else
        consent("h", "permit", "HRESCH", actors=("adm-330800",)),  # for the requester's city
    ]
    chosen = consented_patients(consents, P.RESEARCH, {"my-hospital", "adm-330802", "adm-330800"}, now)
    assert chosen == {"a", "f", "h"}
    assert consented_patients(consents, P.MODEL_TRAINING, {"my-hospital"}, now) == {"b"}
