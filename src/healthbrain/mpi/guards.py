"""Reasons never to link two records automatically, however high their score (shown to reviewers).

Almost empty records (a name and little else), placeholder ID numbers, possible twins, family
members who share a phone or a home, conflicting valid ID numbers and conflicting sexes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from healthbrain.mpi.comparisons import similarity
from healthbrain.mpi.frame import IntArray, RecordFrame
from healthbrain.mpi.scoring import ScoredPairs

SPARSE = 1
PLACEHOLDER_ID = 2
POSSIBLE_TWIN = 4
SHARED_CONTACT = 8
CONFLICTING_ID = 16
CONFLICTING_SEX = 32
CONFLICTING_NAME = 64
REASONS = {
    SPARSE: "sparse_record",
    PLACEHOLDER_ID: "placeholder_id",
    POSSIBLE_TWIN: "possible_twin",
    SHARED_CONTACT: "family_shared_contact",
    CONFLICTING_ID: "conflicting_id",
    CONFLICTING_SEX: "conflicting_sex",
    CONFLICTING_NAME: "conflicting_name",
}
MIN_EVIDENCE = 2  # of: ID number, full birth date, phone, address
PLACEHOLDER_FLAG = 5  # index of "placeholder" in features.ID_FLAGS


def reason_names(mask: int) -> list[str]:
    """The reason codes set in `mask`, in a stable order."""
    return [name for bit, name in REASONS.items() if mask & bit]


def _same(frame: RecordFrame, column: str, i: IntArray, j: IntArray) -> NDArray[np.bool_]:
    codes = frame.code(column)
    return np.asarray((codes[i] == codes[j]) & (codes[i] >= 0), dtype=bool)


def _both(frame: RecordFrame, column: str, i: IntArray, j: IntArray) -> NDArray[np.bool_]:
    codes = frame.code(column)
    return (codes[i] >= 0) & (codes[j] >= 0)


def pair_reasons(frame: RecordFrame, i: IntArray, j: IntArray) -> NDArray[np.int32]:
    """Bit mask of reasons for each pair (i[k], j[k])."""
    out = np.zeros(len(i), dtype=np.int32)
    evidence = frame.number("evidence")
    out[(evidence[i] < MIN_EVIDENCE) | (evidence[j] < MIN_EVIDENCE)] |= SPARSE
    flag = frame.number("id_flag")
    # one placeholder is just a missing number; two records "agreeing" on one is what must not merge
    out[(flag[i] == PLACEHOLDER_FLAG) & (flag[j] == PLACEHOLDER_FLAG)] |= PLACEHOLDER_ID
    valid = frame.number("id_valid")
    ids = np.flatnonzero((valid[i] == 1) & (valid[j] == 1) & ~_same(frame, "id", i, j))
    far = similarity("damerau_levenshtein", frame.column("id")[i[ids]], frame.column("id")[j[ids]]) >= 2
    conflicting = np.zeros(len(i), dtype=bool)
    conflicting[ids[far]] = True
    out[conflicting] |= CONFLICTING_ID
    d = frame.number("birth_d")
    same_birth = _same(frame, "birth", i, j) & (d[i] > 0)
    # an ID number one edit away is the same person mistyped: two valid numbers never differ by one
    present = np.flatnonzero(_both(frame, "id", i, j))
    ids_agree = np.zeros(len(i), dtype=bool)
    close = (
        similarity("damerau_levenshtein", frame.column("id")[i[present]], frame.column("id")[j[present]]) <= 1
    )
    ids_agree[present[close]] = True
    other_name = _both(frame, "name", i, j) & ~_same(frame, "name", i, j)
    # a typo keeps the sound or the shape of the name; twins' given names differ in both
    other_sound = ~_same(frame, "name_py", i, j) & ~_same(frame, "name_shape", i, j)
    twin = same_birth & _same(frame, "surname_py", i, j) & other_name & other_sound & ~ids_agree
    out[twin] |= POSSIBLE_TWIN
    days = frame.number("birth_days")
    full = (d[i] > 0) & (d[j] > 0)
    other_person = (full & (np.abs(days[i] - days[j]) > 366)) | (
        _both(frame, "gender", i, j) & ~_same(frame, "gender", i, j)
    )
    shared = _same(frame, "phone1", i, j) | _same(frame, "detail", i, j)
    out[shared & other_person & other_name] |= SHARED_CONTACT
    out[_both(frame, "gender", i, j) & ~_same(frame, "gender", i, j)] |= CONFLICTING_SEX
    return out


def chinese_guard(frame: RecordFrame, scored: ScoredPairs, names: Sequence[str]) -> NDArray[np.int32]:
    """Guard reasons of every scored pair (a `pipeline.Guard`): `pair_reasons`, plus names that
    agree in nothing (not sound, shape or spelling), as when a mistyped ID number is another's."""
    out = pair_reasons(frame, scored.left, scored.right)
    if "name" in names:
        out[scored.levels[:, list(names).index("name")] == 0] |= CONFLICTING_NAME
    return out
