"""Splink's historical_figures_with_errors_50k (50,578 records with true ids): ours beside Splink, same run.

Splink runs its own example for this data set (deduplicate_50k_synthetic: ten blocking rules;
forename-surname, date of birth, postcode, birth place and occupation comparisons; EM blocked on
first name + surname and on date of birth; clusters at 0.95). Ours runs the generic building
blocks on the same fields with the same ten blocking rules (`historical_settings`). To show how
the Chinese defaults degrade on English data (Latin names, impossible and pre-1850 dates, no
身份证 or phone), the default settings also run on the records mapped to FHIR Patients.
Accuracy is pairwise precision / recall / F1 of the final clusters (ours: auto-links only);
Splink is also scored at its best clustering threshold in hindsight, and on its pairwise
predictions at 0.5 (the figure its own evaluation chart gives). Times are medians over --runs,
from the DataFrame in memory to clusters.
Usage: python bench/mpi_historical.py [--runs 3] [--skip-splink] [--skip-chinese]
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from healthbrain.mpi.blocking import block_on
from healthbrain.mpi.chinese import chinese_settings
from healthbrain.mpi.cluster import connected_clusters
from healthbrain.mpi.comparisons import date_levels, exact_match, nested_levels, string_levels
from healthbrain.mpi.evaluation import pairwise_accuracy
from healthbrain.mpi.features import chinese_frame
from healthbrain.mpi.frame import RecordFrame, make_frame
from healthbrain.mpi.pipeline import LinkResult, LinkSettings, link_records
from healthbrain.mpi.records import patient_record
from healthbrain.mpi.training import TrainingSettings

from common import DATA, machine, median, save

THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99, 0.999)
PARQUET = DATA / "mpi" / "historical_figures_with_errors_50k.parquet"
FIELDS = ("first_name", "surname", "dob", "birth_place", "postcode_fake", "gender", "occupation")
_AREA = re.compile(r"^[a-z]+")


def load() -> pd.DataFrame:
    return pd.read_parquet(PARQUET)


def truth_of(df: pd.DataFrame) -> np.ndarray:
    return np.unique(df["cluster"].astype(str), return_inverse=True)[1]


def _clean(df: pd.DataFrame, column: str) -> list[str]:
    return ["" if pd.isna(v) else str(v).strip() for v in df[column].tolist()]


def _postcode_parts(code: str) -> tuple[str, str, str]:
    """(area, district, sector) of a UK postcode: 'tq13 8df' -> ('tq', 'tq13', 'tq13 8')."""
    if not code:
        return "", "", ""
    outward, _, inward = code.partition(" ")
    area = _AREA.match(outward)
    return (area.group(0) if area else ""), outward, (f"{outward} {inward[:1]}" if inward else "")


def _dob(text: str) -> tuple[str, int, int, int, int]:
    """'YYYYMMDD' digits and (y, m, d, days) of an ISO date as typed (impossible days/months kept)."""
    digits = text.replace("-", "")
    if len(digits) != 8 or not digits.isdigit():
        return "", 0, 0, 0, 0
    y, m, d = int(digits[:4]), int(digits[4:6]), int(digits[6:])
    try:
        days = date(y, m, d).toordinal()
    except ValueError:
        days = int(y * 365.25 + (m - 1) * 30.44 + d)
    return digits, y, m, d, days


def frame_of(df: pd.DataFrame) -> RecordFrame:
    """Our frame over the raw fields, with the derived columns the blocking rules use."""
    cols = {c: _clean(df, c) for c in FIELDS}
    first, surname, codes = cols["first_name"], cols["surname"], cols["postcode_fake"]
    parts = [_postcode_parts(p) for p in codes]
    dobs = [_dob(d) for d in cols["dob"]]
    text = {
        "first_name": first, "surname": surname, "birth_place": cols["birth_place"],
        "occupation": cols["occupation"], "gender": cols["gender"], "postcode": codes,
        "pc_area": [p[0] for p in parts], "pc_district": [p[1] for p in parts],
        "pc_sector": [p[2] for p in parts], "pc3": [p[:3] for p in codes],
        "fn3": [f[:3] for f in first], "fn2": [f[:2] for f in first],
        "sn4": [s[:4] for s in surname], "sn2": [s[:2] for s in surname],
        "dob": [d[0] for d in dobs], "dob_year": [d[0][:4] for d in dobs],
    }  # fmt: skip
    numbers = {f"dob_{p}": [d[k + 1] for d in dobs] for k, p in enumerate(("y", "m", "d", "days"))}
    return make_frame([str(u) for u in df["unique_id"]], text, numbers=numbers)


def historical_settings() -> LinkSettings:
    """Generic comparisons over the same fields as Splink's example, and its ten blocking rules."""
    comparisons = (
        string_levels("first_name", "jaro_winkler", (0.92, 0.88, 0.7), tf=True, swap_with="surname"),
        string_levels("surname", "jaro_winkler", (0.92, 0.88, 0.7), tf=True, swap_with="first_name"),
        date_levels("dob"),
        nested_levels("postcode", ("pc_area", "pc_district", "pc_sector", "postcode")),
        exact_match("birth_place", tf=True),
        exact_match("occupation", tf=True),
    )
    blocking = (
        block_on("fn3", "sn4"), block_on("surname", "dob"), block_on("first_name", "dob"),
        block_on("postcode", "first_name"), block_on("postcode", "surname"), block_on("dob", "birth_place"),
        block_on("pc3", "dob"), block_on("pc3", "first_name"), block_on("pc3", "surname"),
        block_on("fn2", "sn2", "dob_year"),
    )  # fmt: skip
    training = TrainingSettings(
        em_rules=(block_on("first_name", "surname"), block_on("dob")), u_sample_pairs=1_000_000
    )
    return LinkSettings(comparisons, blocking, training, "dedupe")


def chinese_frame_of(df: pd.DataFrame) -> RecordFrame:
    """The rows as FHIR Patients (name, sex, birth date, postcode as the address) through our defaults."""
    cols = {c: _clean(df, c) for c in FIELDS}
    records = []
    for k, uid in enumerate(df["unique_id"].astype(str)):
        patient: dict[str, Any] = {"resourceType": "Patient", "id": uid, "gender": cols["gender"][k]}
        if cols["first_name"][k] or cols["surname"][k]:
            given = [cols["first_name"][k]] if cols["first_name"][k] else []
            patient["name"] = [{"family": cols["surname"][k], "given": given}]
        if cols["dob"][k]:
            patient["birthDate"] = cols["dob"][k]
        if cols["postcode_fake"][k]:
            patient["address"] = [{"postalCode": cols["postcode_fake"][k], "text": cols["postcode_fake"][k]}]
        records.append(patient_record(patient))
    return chinese_frame(records)


def _ours(
    build: Callable[[], RecordFrame], settings: LinkSettings, truth: np.ndarray, runs: int
) -> dict[str, Any]:
    times: list[float] = []
    result: LinkResult | None = None
    for _ in range(runs):
        started = time.perf_counter()
        result = link_records(build(), settings)
        times.append(time.perf_counter() - started)
    assert result is not None
    scored = result.scored
    by_threshold = {}
    for t in THRESHOLDS:  # as Splink's, in hindsight (auto-links only: guarded pairs stay apart)
        keep = (scored.probability >= t) & (result.reasons == 0)
        labels = connected_clusters(len(result.labels), scored.left[keep], scored.right[keep])
        by_threshold[str(t)] = round(pairwise_accuracy(labels, truth).f1, 5)
    return {
        **pairwise_accuracy(result.labels, truth).to_json(),
        "byThreshold": by_threshold,
        "seconds": round(median(times), 2),
        "candidatePairs": len(result.pairs),
        "reviewPairs": int(result.review.sum()),
        "stages": {k: round(v, 2) for k, v in result.timings.items()},
    }


def _splink(df: pd.DataFrame, truth: np.ndarray, runs: int) -> dict[str, Any]:
    from mpi_splink import splink_historical

    times, labels, others, pairwise = [], None, {}, {}
    for _ in range(runs):
        labels, seconds, others, pairwise = splink_historical(df)
        times.append(seconds)
    by_threshold = {t: pairwise_accuracy(lab, truth) for t, lab in others.items()}
    best = max(by_threshold, key=lambda t: by_threshold[t].f1)
    return {
        **pairwise_accuracy(labels, truth).to_json(),
        "seconds": round(median(times), 2),
        "bestThreshold": best,
        "bestF1": round(by_threshold[best].f1, 5),
        "byThreshold": {str(t): round(a.f1, 5) for t, a in by_threshold.items()},
        "predictionsAt0.5": pairwise,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument("--skip-chinese", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    df = load()
    truth = truth_of(df)
    result: dict[str, Any] = {"machine": machine(), "records": len(df), "persons": int(truth.max()) + 1}
    result["ours"] = _ours(lambda: frame_of(df), historical_settings(), truth, args.runs)
    print("ours", result["ours"])
    if not args.skip_chinese:
        result["oursChineseDefaults"] = _ours(
            lambda: chinese_frame_of(df), chinese_settings("dedupe"), truth, max(1, args.runs // 2)
        )
        print("ours, Chinese defaults", result["oursChineseDefaults"])
    if not args.skip_splink:
        result["splink"] = _splink(df, truth, args.runs)
        print("splink", result["splink"])
    print(save("mpi-historical", result))


if __name__ == "__main__":
    main()
