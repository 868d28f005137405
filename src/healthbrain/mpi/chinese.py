"""Comparisons, blocking rules and training rules for Chinese identity data (the default settings)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from healthbrain.mpi.blocking import BlockingRule, block_on
from healthbrain.mpi.comparisons import EPS, NULL, Comparison, Levels, date_levels, missing, similarity
from healthbrain.mpi.frame import IntArray, RecordFrame
from healthbrain.mpi.guards import chinese_guard
from healthbrain.mpi.pipeline import LinkSettings
from healthbrain.mpi.sql import levels as sql_levels
from healthbrain.mpi.training import TrainingSettings

NAME_LABELS = (
    "different", "similar pinyin", "one character differs", "dialect-equal pinyin",
    "look-alike characters", "same pinyin (homophone)", "exact",
)  # fmt: skip
ID_LABELS = ("different", "two digits differ, check fails", "one digit or swap", "exact")
PHONE_LABELS = ("different", "one digit differs", "same local number", "exact")
ADDRESS_LABELS = ("different", "same district", "same township", "same community", "same home")


def _same(frame: RecordFrame, column: str, i: IntArray, j: IntArray) -> NDArray[np.bool_]:
    codes = frame.code(column)
    return np.asarray((codes[i] == codes[j]) & (codes[i] >= 0), dtype=bool)


def _name_levels(frame: RecordFrame, i: IntArray, j: IntArray) -> Levels:
    out = np.zeros(len(i), dtype=np.int8)
    rest = np.flatnonzero(~_same(frame, "name", i, j))
    py, py_codes = frame.column("name_py"), frame.code("name_py")
    spoken = rest[(py_codes[i[rest]] >= 0) & (py_codes[j[rest]] >= 0)]
    jw = similarity("jaro_winkler", py[i[spoken]], py[j[spoken]])
    out[spoken[jw >= 0.88 - EPS]] = 1
    full = frame.column("name")
    han = frame.number("name_han")
    both_han = rest[(han[i[rest]] == 1) & (han[j[rest]] == 1)]
    edits = similarity("levenshtein", full[i[both_han]], full[j[both_han]])
    out[both_han[edits <= 1]] = 2
    out[_same(frame, "name_fz", i, j)] = 3
    out[_same(frame, "name_shape", i, j)] = 4
    out[_same(frame, "name_py", i, j) | _same(frame, "name_bag", i, j)] = 5
    out[_same(frame, "name", i, j)] = 6
    out[missing(frame, ("name",), i, j)] = NULL
    return out


def name_comparison() -> Comparison:
    """Full name: exact, homophone, look-alike, dialect pinyin, one character, similar pinyin."""
    columns = ("name", "name_py", "name_bag", "name_fz", "name_shape", "surname_py", "given_py")
    return Comparison("name", NAME_LABELS, _name_levels, columns, "name", "name", sql_levels.chinese_name_sql)


def _id_levels(frame: RecordFrame, i: IntArray, j: IntArray) -> Levels:
    out = np.zeros(len(i), dtype=np.int8)
    exact = _same(frame, "id", i, j)
    rest = np.flatnonzero(~exact)
    ids = frame.column("id")
    dist = similarity("damerau_levenshtein", ids[i[rest]], ids[j[rest]])
    valid = frame.number("id_valid")
    both_valid = (valid[i[rest]] == 1) & (valid[j[rest]] == 1)
    # two valid numbers that differ are two people (twins differ only in the serial): "different"
    out[rest[(dist == 2) & ~both_valid]] = 1
    out[rest[dist == 1]] = 2
    out[exact] = 3
    out[missing(frame, ("id",), i, j)] = NULL
    return out


def id_comparison() -> Comparison:
    """身份证: exact; one digit or a transposition; two digits with a failing check character;
    different (including two valid numbers, as twins have)."""
    columns = ("id", "id_head", "id_tail")
    return Comparison("id_number", ID_LABELS, _id_levels, columns, None, "id", sql_levels.id_card_sql)


def _sex_levels(frame: RecordFrame, i: IntArray, j: IntArray) -> Levels:
    out = _same(frame, "gender", i, j).astype(np.int8)
    out[missing(frame, ("gender",), i, j)] = NULL
    return out


def sex_comparison() -> Comparison:
    return Comparison(
        "sex", ("different", "same"), _sex_levels, ("gender",), None, "gender", sql_levels.sex_sql
    )


def _phone_levels(frame: RecordFrame, i: IntArray, j: IntArray) -> Levels:
    out = np.zeros(len(i), dtype=np.int8)
    pairs = (("phone1", "phone1"), ("phone1", "phone2"), ("phone2", "phone1"), ("phone2", "phone2"))
    for a, b in pairs:
        ca, cb = frame.code(a), frame.code(b)
        ok = np.flatnonzero((ca[i] >= 0) & (cb[j] >= 0) & (out < 3))
        if len(ok) == 0:
            continue
        va, vb = frame.column(a)[i[ok]], frame.column(b)[j[ok]]
        typo = similarity("damerau_levenshtein", va, vb) <= 1
        out[ok[typo]] = np.maximum(out[ok[typo]], 1)
        la, lb = frame.code(a.replace("phone", "local")), frame.code(b.replace("phone", "local"))
        local = la[i[ok]] == lb[j[ok]]
        out[ok[local]] = np.maximum(out[ok[local]], 2)
        out[ok[ca[i[ok]] == cb[j[ok]]]] = 3
    out[missing(frame, ("phone1",), i, j)] = NULL
    return out


def phone_comparison() -> Comparison:
    """Any number in common; the same subscriber number with or without area code; one digit off."""
    columns = ("phone1", "phone2", "local1", "local2")
    return Comparison("phone", PHONE_LABELS, _phone_levels, columns, sql=sql_levels.phone_sql)


def _address_levels(frame: RecordFrame, i: IntArray, j: IntArray) -> Levels:
    out = np.zeros(len(i), dtype=np.int8)
    for level, column in ((1, "district"), (2, "township"), (3, "community")):
        out[_same(frame, column, i, j)] = level
    detail = frame.column("detail")
    candidates = np.flatnonzero((out >= 1) | missing(frame, ("district",), i, j))
    has = frame.code("detail")
    candidates = candidates[(has[i[candidates]] >= 0) & (has[j[candidates]] >= 0)]
    close = similarity("jaro_winkler", detail[i[candidates]], detail[j[candidates]]) >= 0.92 - EPS
    out[candidates[close]] = 4
    district, det = frame.code("district"), frame.code("detail")
    empty = ((district[i] < 0) & (det[i] < 0)) | ((district[j] < 0) & (det[j] < 0))
    out[empty] = NULL
    return out


def address_comparison() -> Comparison:
    """Home address level by level: same home, community (社区/村), township (街道/乡镇), district."""
    columns = ("district", "township", "community", "detail")
    return Comparison("address", ADDRESS_LABELS, _address_levels, columns, sql=sql_levels.address_sql)


def chinese_comparisons() -> tuple[Comparison, ...]:
    return (
        name_comparison(),
        id_comparison(),
        date_levels("birth", name="birth_date"),
        sex_comparison(),
        phone_comparison(),
        address_comparison(),
    )


def chinese_blocking(max_block: int = 1000) -> tuple[BlockingRule, ...]:
    """Candidate pairs: any of these agreeing is enough to be compared."""
    return (
        block_on("id", max_block=max_block),
        block_on("id_head", max_block=max_block),  # typo in the serial or check character
        block_on("id_tail", max_block=max_block),  # typo in the area code
        block_on("name_py", "birth_year", max_block=max_block),
        block_on("surname_py", "birth", max_block=max_block),
        block_on("given_py", "birth", max_block=max_block),
        block_on("phone1", max_block=max_block),
        BlockingRule(("phone1",), ("phone2",), max_block),
        block_on("name", "district", max_block=max_block),
        BlockingRule(("sparse_name",), ("name",), max_block=100),
    )


def chinese_training() -> TrainingSettings:
    """EM sessions blocked on the ID number, on name and birth date, and on the phone."""
    return TrainingSettings(
        em_rules=(block_on("id"), block_on("name_py", "birth"), block_on("phone1")),
        u_sample_pairs=300_000,
    )


def chinese_settings(link_type: str = "link_and_dedupe") -> LinkSettings:
    """The default settings of the patient index."""
    return LinkSettings(
        chinese_comparisons(), chinese_blocking(), chinese_training(), link_type, guard=chinese_guard
    )
