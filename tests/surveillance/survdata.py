"""Real surveillance series of R `surveillance` (shared data) and R's stored reference outputs."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np

from healthbrain.surveillance.series import CountSeries, series_from_counts

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "surveillance"
RDATA = SHARED / "r-surveillance-data"
HERE = Path(__file__).resolve().parent / "data"
INDEXED = ["k1", "m1", "m2", "m3", "m4", "m5", "n1", "n2", "q1_nrwh", "s1", "s3", "h1_nrwrp", "shadar",
           "salmonella.agona", "hepatitisA"]  # fmt: skip


def value(text: str) -> float:
    return float("nan") if text in ("NA", "") else float(text)


@cache
def indexed(name: str) -> CountSeries:
    """A position-indexed weekly series (R disProg -> sts without dates)."""
    with (RDATA / f"{name}.csv").open() as fh:
        return series_from_counts([float(r["observed"]) for r in csv.DictReader(fh)], 52)


@cache
def labelled_state(name: str) -> np.ndarray:
    """The outbreak labels (`state`) of an RKI series."""
    with (RDATA / f"{name}.csv").open() as fh:
        return np.array([r["state"] == "1" for r in csv.DictReader(fh)])


def _dated(name: str, date_col: str, value_cols: list[str] | None) -> CountSeries:
    with (RDATA / f"{name}.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    cols = value_cols or [c for c in rows[0] if c != date_col]
    counts = np.array([sum(float(r[c]) for c in cols) for r in rows])
    return CountSeries(counts, 52, tuple(date.fromisoformat(r[date_col]) for r in rows))


@cache
def series(name: str) -> CountSeries:
    """Any series used by the reference outputs, by the name R's scripts gave it."""
    if name == "salmNewportGermany_2011":
        return _dated("salmNewport", "epoch", None)  # aggregated over the 16 federal states
    if name == "shadar_2006":
        return indexed("shadar")
    if name == "campyDE":
        return _dated("campyDE", "date", ["case"])
    if name == "salmHospitalized":
        return _dated("salmHospitalized", "epoch", ["Yes"])
    return indexed(name)


def golden(path: Path, config_key: str = "config") -> dict[tuple[str, str], list[dict[str, str]]]:
    """Reference rows grouped by (dataset, config)."""
    out: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    with path.open() as fh:
        for row in csv.DictReader(fh):
            out[(row["dataset"], row[config_key])].append(row)
    return dict(out)


SHARED_GOLDEN = SHARED / "golden" / "golden_upperbounds.csv"
EXTENDED_GOLDEN = HERE / "r_golden_extended.csv"
