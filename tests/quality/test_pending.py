"""A batch's pending evaluations answer reads as the database will once the batch is written."""

from __future__ import annotations

from healthbrain.quality.pending import PendingBatch, earlier_holders


def _key(record: str, key_hash: str, seen: float, institution: str = "h1") -> dict[str, object]:
    return {"institution": institution, "key_hash": key_hash, "record_key": record, "first_seen": seen}


def test_a_later_version_and_a_deletion_replace_what_the_batch_held_before() -> None:
    batch = PendingBatch()
    batch.put("Patient/a", {"version": 1}, [_key("Patient/a", "h-old", 10.0)])
    batch.put("Patient/a", {"version": 2}, [_key("Patient/a", "h-new", 10.0)])
    assert batch.row("Patient/a") == {"version": 2}
    assert batch.holders("h1", ["h-old", "h-new"], "Patient/b") == [("h-new", "Patient/a", 10.0)]
    batch.put("Patient/a", {"version": 3}, None)  # keys left as they were
    assert batch.first_seen("Patient/a") == 10.0
    batch.delete("Patient/a")
    assert batch.row("Patient/a") is None and batch.first_seen("Patient/a") is None
    assert batch.holders("h1", ["h-new"], "Patient/b") == []
    assert batch.knows_keys("Patient/a") and not batch.knows_keys("Patient/b")


def test_keys_are_held_per_institution_and_never_by_the_record_asking() -> None:
    batch = PendingBatch()
    batch.put("Patient/a", {"version": 1}, [_key("Patient/a", "h", 10.0)])
    batch.put("Patient/b", {"version": 1}, [_key("Patient/b", "h", 20.0, institution="h2")])
    assert batch.holders("h1", ["h"], "Patient/a") == []
    assert batch.holders("h2", ["h", "h"], "Patient/a") == [("h", "Patient/b", 20.0)]
    untouched = PendingBatch()
    untouched.put("Observation/o", {"version": 1}, None)
    assert untouched.knows("Observation/o") and not untouched.knows_keys("Observation/o")


def test_only_a_record_registered_earlier_is_the_first_holder() -> None:
    holders = [("h", "Patient/a", 10.0), ("g", "Patient/c", 30.0), ("k", "Patient/a", 20.0)]
    assert earlier_holders(holders, "Patient/b", 20.0) == {"h", "k"}  # same time: the record key decides
    assert earlier_holders(holders, "Patient/0", 20.0) == {"h"}
