"""The golden record of a resident: the best value of each field across its institutions' records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from healthbrain.mpi import idcard
from healthbrain.mpi.features import parse_birth
from healthbrain.mpi.names import normalise_text
from healthbrain.mpi.records import PatientRecord


def _most_common(values: Sequence[str]) -> str:
    """The value most records agree on; ties go to the one seen last (the most recent record)."""
    present = [v for v in values if v]
    if not present:
        return ""
    counts = Counter(present)
    best = max(counts.values())
    return next(v for v in reversed(present) if counts[v] == best)


def golden_record(records: Sequence[PatientRecord]) -> dict[str, Any]:
    """Best name, sex, full birth date, valid ID number, phones and address of the records.

    A valid ID number beats an invalid one whatever the counts; a full birth date beats a partial
    one; phones are listed most frequent first.
    """
    ids = [idcard.normalise_id(r.id_number) for r in records]
    valid = [n for n, flag in ids if n and idcard.is_valid(n)]
    births = [r.birth_date for r in records if all(parse_birth(r.birth_date))]
    phones = Counter(p for r in records for p in r.phones if p)
    names = [normalise_text(r.name) and r.name for r in records]
    return {
        "name": _most_common(names),
        "gender": _most_common([r.gender for r in records if r.gender in ("male", "female")]),
        "birthDate": _most_common(births) or _most_common([r.birth_date for r in records]),
        "idNumber": _most_common(valid) or _most_common([n for n, _ in ids]),
        "phones": [p for p, _ in phones.most_common(3)],
        "address": _most_common([r.address.text for r in records]),
        "sources": sorted({r.source for r in records if r.source}),
        "records": len(records),
    }
