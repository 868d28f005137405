"""Splink runs for the patient-index benchmark: its tutorial settings on FEBRL, equivalent ones on Chinese data.

Each runner takes the data already in memory and returns (cluster labels per record at the
tutorial threshold, seconds, {other threshold: labels}), timing everything from registering the
data to the tutorial clusters, as our side is timed; the other thresholds are clustered afterwards
so that Splink can also be scored at its best threshold in hindsight.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

logging.getLogger("splink").setLevel(logging.ERROR)


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    out = df.reset_index()
    for c in out.columns:
        out[c] = out[c].astype("string").str.strip()
    return out


THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99, 0.999)
Result = tuple[np.ndarray, float, dict[float, np.ndarray]]


def _others(linker: Linker, predictions: object, ids: Sequence[str]) -> dict[float, np.ndarray]:
    out = {}
    for t in THRESHOLDS:
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, t)
        out[t] = _labels(clusters.as_pandas_dataframe(), ids)
    return out


def _labels(clusters: pd.DataFrame, ids: Sequence[str]) -> np.ndarray:
    by_id = dict(zip(clusters["rec_id"].astype(str), clusters["cluster_id"].astype(str), strict=True))
    return np.unique([by_id.get(i, f"single-{i}") for i in ids], return_inverse=True)[1]


def splink_febrl3(df: pd.DataFrame, threshold: float = 0.99) -> Result:
    """Splink's FEBRL3 tutorial (DuckDB): its comparisons, blocking, training and clustering."""
    data = _prepare(df)
    started = time.perf_counter()
    db_api = DuckDBAPI(connection=duckdb.connect())
    rules = [block_on(c) for c in ("soc_sec_id", "given_name", "surname", "date_of_birth", "postcode")]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=rules,
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ],
        retain_intermediate_calculation_columns=True,
    )
    linker = Linker(db_api.register(data), settings)
    deterministic = [
        block_on("soc_sec_id"),
        block_on("given_name", "surname", "date_of_birth"),
        "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth",
    ]
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    predictions = linker.inference.predict(threshold_match_probability=0.2)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    frame = clusters.as_pandas_dataframe()
    elapsed = time.perf_counter() - started
    ids = list(data["rec_id"])
    return _labels(frame, ids), elapsed, _others(linker, predictions, ids)


def splink_febrl4(a: pd.DataFrame, b: pd.DataFrame, threshold: float = 0.99) -> Result:
    """Splink's FEBRL4 tutorial (detailed model, DuckDB), clustered at 0.99 as the tutorial does."""
    data = [_prepare(a), _prepare(b)]
    started = time.perf_counter()
    db_api = DuckDBAPI(connection=duckdb.connect())
    rules = [
        block_on("given_name", "surname"),
        "l.given_name = r.surname and l.surname = r.given_name",
        block_on("date_of_birth"),
        block_on("soc_sec_id"),
        block_on("state", "address_1"),
        block_on("street_number", "address_1"),
        block_on("postcode"),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only",
        blocking_rules_to_generate_predictions=rules,
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison(
                "date_of_birth", input_is_string=True, datetime_format="%Y%m%d", invalid_dates_as_null=True
            ),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("postcode", [1, 2]).configure(term_frequency_adjustments=True),
        ],
        retain_intermediate_calculation_columns=True,
    )
    linker = Linker([db_api.register(d) for d in data], settings)
    deterministic = [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")]
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    for rule in (block_on("date_of_birth"), block_on("postcode")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True
        )
    predictions = linker.inference.predict(threshold_match_probability=0.2)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    frame = clusters.as_pandas_dataframe()
    elapsed = time.perf_counter() - started
    ids = [*data[0]["rec_id"], *data[1]["rec_id"]]
    return _labels(frame, ids), elapsed, _others(linker, predictions, ids)


def splink_chinese(df: pd.DataFrame, threshold: float = 0.95) -> Result:
    """Splink on the Chinese records with its standard comparisons over the same raw fields.

    `df` has rec_id, name, gender, birth_date (YYYY-MM-DD or partial), id_number, phone, address.
    Splink has no Chinese name or address handling; it gets the values as the institutions sent them.
    """
    data = df.copy()
    started = time.perf_counter()
    con = duckdb.connect()
    db_api = DuckDBAPI(connection=con)
    rules = [
        block_on("id_number"),
        block_on("substr(id_number, 1, 14)"),
        block_on("substr(id_number, 7, 12)"),
        block_on("name", "substr(birth_date, 1, 4)"),
        block_on("substr(name, 1, 1)", "birth_date"),
        block_on("phone"),
        block_on("name", "substr(address, 1, 9)"),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=rules,
        comparisons=[
            cl.NameComparison("name").configure(term_frequency_adjustments=True),
            cl.DamerauLevenshteinAtThresholds("id_number", [1, 2]),
            cl.DateOfBirthComparison("birth_date", input_is_string=True, invalid_dates_as_null=True),
            cl.ExactMatch("gender"),
            cl.DamerauLevenshteinAtThresholds("phone", [1]),
            cl.JaroWinklerAtThresholds("address", [0.95, 0.85]),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(db_api.register(data), settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("id_number"), block_on("name", "birth_date", "phone")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    for rule in (block_on("id_number"), block_on("name", "birth_date"), block_on("phone")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    predictions = linker.inference.predict(threshold_match_probability=0.2)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    frame = clusters.as_pandas_dataframe()
    elapsed = time.perf_counter() - started
    ids = list(data["rec_id"])
    return _labels(frame, ids), elapsed, _others(linker, predictions, ids)


def _pairwise_at(predictions: object, df: pd.DataFrame, threshold: float) -> dict[str, float]:
    """Precision / recall / F1 of Splink's pairwise predictions at `threshold` (its evaluation's view)."""
    pred = predictions.as_pandas_dataframe()  # type: ignore[attr-defined]
    cluster = dict(zip(df["unique_id"].astype(str), df["cluster"].astype(str), strict=True))
    hits = pred[pred["match_probability"] >= threshold]
    same = [
        cluster[a] == cluster[b]
        for a, b in zip(hits["unique_id_l"].astype(str), hits["unique_id_r"].astype(str), strict=True)
    ]
    tp, predicted = int(sum(same)), len(same)
    sizes = df["cluster"].value_counts().to_numpy()
    true_pairs = int((sizes * (sizes - 1) // 2).sum())
    p, r = (tp / predicted if predicted else 1.0), tp / true_pairs
    return {
        "precision": round(p, 5),
        "recall": round(r, 5),
        "f1": round(2 * p * r / (p + r) if p + r else 0.0, 5),
    }


def splink_historical(
    df: pd.DataFrame, threshold: float = 0.95
) -> tuple[np.ndarray, float, dict[float, np.ndarray], dict[str, float]]:
    """Splink's own example for historical_figures_with_errors_50k (DuckDB), clustered at 0.95 as it does.

    Returns what the other runners do, plus the accuracy of its pairwise predictions at 0.5.
    """
    started = time.perf_counter()
    db_api = DuckDBAPI(connection=duckdb.connect())
    rules = [
        block_on("substr(first_name,1,3)", "substr(surname,1,4)"),
        block_on("surname", "dob"),
        block_on("first_name", "dob"),
        block_on("postcode_fake", "first_name"),
        block_on("postcode_fake", "surname"),
        block_on("dob", "birth_place"),
        block_on("substr(postcode_fake,1,3)", "dob"),
        block_on("substr(postcode_fake,1,3)", "first_name"),
        block_on("substr(postcode_fake,1,3)", "surname"),
        block_on("substr(first_name,1,2)", "substr(surname,1,2)", "substr(dob,1,4)"),
    ]
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=rules,
        comparisons=[
            cl.ForenameSurnameComparison(
                "first_name", "surname", forename_surname_concat_col_name="first_name_surname_concat"
            ),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.PostcodeComparison("postcode_fake"),
            cl.ExactMatch("birth_place").configure(term_frequency_adjustments=True),
            cl.ExactMatch("occupation").configure(term_frequency_adjustments=True),
        ],
        retain_intermediate_calculation_columns=True,
    )
    con = db_api.duckdb_con
    con.register("hist_input", df)
    data = con.sql("select *, first_name || ' ' || surname as first_name_surname_concat from hist_input")
    linker = Linker(db_api.register(data), settings)
    linker.training.estimate_probability_two_random_records_match(
        [
            block_on("first_name", "surname", "dob"),
            block_on("substr(first_name,1,2)", "surname", "substr(postcode_fake,1,2)"),
            block_on("dob", "postcode_fake"),
        ],
        recall=0.6,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7)
    for rule in (block_on("first_name", "surname"), block_on("dob")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True
        )
    predictions = linker.inference.predict()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold)
    frame = clusters.as_pandas_dataframe()
    elapsed = time.perf_counter() - started
    ids = [str(u) for u in df["unique_id"]]
    frame["rec_id"] = frame["unique_id"]
    return (
        _labels(frame, ids),
        elapsed,
        _others_by_uid(linker, predictions, ids),
        _pairwise_at(predictions, df, 0.5),
    )


def _others_by_uid(linker: Linker, predictions: object, ids: Sequence[str]) -> dict[float, np.ndarray]:
    out = {}
    for t in THRESHOLDS:
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, t
        ).as_pandas_dataframe()
        clusters["rec_id"] = clusters["unique_id"]
        out[t] = _labels(clusters, ids)
    return out
