"""Blocking keys as strings, for finding an arriving record's candidates by index (same rules as batch)."""

from __future__ import annotations

from collections.abc import Sequence

from healthbrain.mpi.blocking import BlockingRule
from healthbrain.mpi.frame import RecordFrame

SEP = "\x1f"


def _values(frame: RecordFrame, columns: Sequence[str], row: int) -> str | None:
    values = [str(frame.column(c)[row]) for c in columns]
    return None if any(not v for v in values) else SEP.join(values)


def stored_keys(frame: RecordFrame, rules: Sequence[BlockingRule], row: int) -> list[str]:
    """The keys a record is indexed under: `k:` per symmetric rule, `kL:`/`kR:` per cross rule."""
    out = []
    for k, rule in enumerate(rules):
        if rule.symmetric:
            value = _values(frame, rule.left, row)
            if value is not None:
                out.append(f"{k}:{value}"[:200])
            continue
        for side, columns in (("L", rule.left), ("R", rule.right)):
            value = _values(frame, columns, row)
            if value is not None:
                out.append(f"{k}{side}:{value}"[:200])
    return out


def probe_keys(frame: RecordFrame, rules: Sequence[BlockingRule], row: int) -> dict[str, int]:
    """Keys to look up for a record's candidates, each with its rule's `max_block`.

    A cross rule pairs this record's left values with others' right values and the reverse.
    """
    out: dict[str, int] = {}
    for k, rule in enumerate(rules):
        if rule.symmetric:
            value = _values(frame, rule.left, row)
            if value is not None:
                out[f"{k}:{value}"[:200]] = rule.max_block
            continue
        left, right = _values(frame, rule.left, row), _values(frame, rule.right, row)
        if left is not None:
            out[f"{k}R:{left}"[:200]] = rule.max_block
        if right is not None:
            out[f"{k}L:{right}"[:200]] = rule.max_block
    return out
