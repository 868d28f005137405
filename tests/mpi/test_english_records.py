"""English-language records (Splink's historical figures, with true ids) through the patient index:
Latin names, impossible and partial dates, no 身份证 or phone — the defaults stay safe, and the
generic building blocks (here the nested postcode levels) do the matching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from healthbrain.mpi import (
    chinese_frame,
    chinese_settings,
    link_records,
    make_frame,
    nested_levels,
    pairwise_accuracy,
    patient_record,
)
from healthbrain.mpi.names import name_keys

PARQUET = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "mpi"
    / "historical_figures_with_errors_50k.parquet"
)


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    if not PARQUET.exists():
        pytest.skip("the shared historical figures data set is not present")
    df = pd.read_parquet(PARQUET)
    first = sorted(df["cluster"].unique())[:300]  # whole persons, every record of each
    return df[df["cluster"].isin(first)].reset_index(drop=True)


def _patient(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Patient", "id": str(row["unique_id"])}
    if row["first_name"] or row["surname"]:
        out["name"] = [
            {"family": row["surname"] or "", "given": [row["first_name"]] if row["first_name"] else []}
        ]
    if row["dob"]:
        out["birthDate"] = row["dob"]  # as typed: '1844-18-22' and '1860-01-81' occur
    if row["gender"]:
        out["gender"] = row["gender"]
    if row["postcode_fake"]:
        out["address"] = [{"text": row["postcode_fake"], "postalCode": row["postcode_fake"]}]
    return out


def test_latin_names_give_order_free_keys() -> None:
    assert name_keys("chudleigh thomas").pinyin_bag == name_keys("thomas chudleigh").pinyin_bag
    assert name_keys("Chudleigh Thomas", "Chudleigh").family == "chudleigh"
    assert not name_keys("thomas chudleigh").is_han


def test_the_chinese_defaults_never_merge_two_historical_figures(people: pd.DataFrame) -> None:
    rows = people.astype(object).where(people.notna(), None).to_dict("records")
    frame = chinese_frame([patient_record(_patient(r)) for r in rows])
    result = link_records(frame, chinese_settings("dedupe"))
    truth = np.unique(people["cluster"].astype(str), return_inverse=True)[1]
    acc = pairwise_accuracy(result.labels, truth)
    # without an ID number or a phone most records are "sparse": safe, and held for review instead
    assert acc.precision >= 0.99 and acc.recall > 0
    assert result.review.sum() > len(people) // 2
    reviewed = result.scored.left[result.review], result.scored.right[result.review]
    assert (truth[reviewed[0]] == truth[reviewed[1]]).mean() > 0.5  # mostly the same person


def test_nested_postcode_levels_grade_the_finest_shared_part() -> None:
    codes = ["tq13 8df", "tq13 8hu", "tq13 7aa", "tq14 8df", "ex17 5ju", ""]

    def parts(code: str) -> tuple[str, str, str]:
        outward, _, inward = code.partition(" ")
        return outward[:2], outward, f"{outward} {inward[:1]}" if inward else ""

    cols = list(zip(*(parts(c) for c in codes), strict=True))
    frame = make_frame(
        [str(k) for k in range(len(codes))],
        {"area": list(cols[0]), "district": list(cols[1]), "sector": list(cols[2]), "postcode": codes},
    )
    comparison = nested_levels("postcode", ("area", "district", "sector", "postcode"))
    left = np.zeros(len(codes), dtype=np.int64)
    levels = comparison.compute(frame, left, np.arange(len(codes), dtype=np.int64)).tolist()
    assert levels == [4, 3, 2, 1, 0, -1]
    assert comparison.labels[levels[1]] == "same sector"
