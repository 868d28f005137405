"""The record evaluations and identity keys of one dispatcher batch, held until the batch is written.

The monitor reads through `PendingBatch` before the database, so that each record of a batch sees
the records before it exactly as if each had been written on its own (a later version of the same
record, an Encounter's institution, a duplicate of a record registered earlier in the batch).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

KeyHolder = tuple[str, str, float]  # key hash, record key, first seen


@dataclass(slots=True)
class PendingRecord:
    """The state a record will have once the batch is written.

    Attributes:
        row: its quality_record row; None when the record is deleted.
        keys: its identity key rows, which replace the stored ones; None when they stay as stored.
    """

    row: dict[str, Any] | None
    keys: list[dict[str, Any]] | None


class PendingBatch:
    """What a batch evaluated, in order, and the reads of it the database would answer after writing."""

    def __init__(self) -> None:
        self.records: dict[str, PendingRecord] = {}
        # (institution, key hash) -> {record key: first seen} of the pending identity keys
        self._holders: dict[tuple[str, str], dict[str, float]] = {}

    def __len__(self) -> int:
        return len(self.records)

    def put(self, key: str, row: dict[str, Any], keys: Sequence[dict[str, Any]] | None) -> None:
        """Store a record's evaluation; `keys` replace its identity keys (None: they are left alone)."""
        previous = self.records.get(key)
        if keys is None:
            kept = previous.keys if previous is not None else None
            self.records[key] = PendingRecord(row, kept)
            return
        self._set_keys(key, previous, list(keys))
        self.records[key] = PendingRecord(row, list(keys))

    def delete(self, key: str) -> None:
        """Forget a record and its identity keys."""
        self._set_keys(key, self.records.get(key), [])
        self.records[key] = PendingRecord(None, [])

    def _set_keys(self, key: str, previous: PendingRecord | None, keys: list[dict[str, Any]]) -> None:
        replaced = previous.keys if previous is not None and previous.keys is not None else []
        for old in replaced:
            slot = self._holders.get((old["institution"], old["key_hash"]))
            if slot is not None:
                slot.pop(key, None)
        for new in keys:
            self._holders.setdefault((new["institution"], new["key_hash"]), {})[key] = new["first_seen"]

    # ---- reads ----------------------------------------------------------------------------------
    def knows(self, key: str) -> bool:
        """Whether the batch changed the record (its row then answers instead of the database's)."""
        return key in self.records

    def row(self, key: str) -> dict[str, Any] | None:
        return self.records[key].row

    def knows_keys(self, key: str) -> bool:
        """Whether the batch replaced the record's identity keys."""
        pending = self.records.get(key)
        return pending is not None and pending.keys is not None

    def first_seen(self, key: str) -> float | None:
        """The earliest first-seen time of the record's pending identity keys (None: it has none)."""
        keys = self.records[key].keys or []
        return min((k["first_seen"] for k in keys), default=None)

    def holders(self, institution: str, hashes: Iterable[str], exclude: str) -> list[KeyHolder]:
        """Pending (key hash, record key, first seen) of the institution's records other than `exclude`."""
        out = []
        for h in dict.fromkeys(hashes):
            for record, seen in self._holders.get((institution, h), {}).items():
                if record != exclude:
                    out.append((h, record, seen))
        return out


def earlier_holders(holders: Iterable[KeyHolder], key: str, first_seen: float) -> set[str]:
    """Hashes held by a record registered before `key` (first seen earlier, ties by record key)."""
    return {h for h, record, seen in holders if (seen, record) < (first_seen, key)}
