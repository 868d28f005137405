"""CUSUM detectors: R's standardised CUSUM (`surveillance::cusum`) and Poisson / negative-binomial
likelihood-ratio CUSUMs (Lucas 1985) against a baseline estimated from earlier periods."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from healthbrain.surveillance.detectors.result import Detection, FloatArray, evaluation_index, notes_from
from healthbrain.surveillance.options import check, is_int_at_least, is_number
from healthbrain.surveillance.series import CountSeries

CusumKind = Literal["standard", "poisson", "negbin"]
MIN_TRAINING = 3


@dataclass(frozen=True, slots=True)
class CusumOptions:
    """Options of `detect_cusum`.

    Attributes:
        kind: `standard` = R's `cusum(trans = "standard")` on (x - m) / sqrt(m) with reference
            value `k`; `poisson` / `negbin` = likelihood-ratio CUSUM for a rise of the mean by
            the factor `ratio` (negbin with the dispersion `size` estimated from the training data
            unless given).
        k: reference value of the standard CUSUM.
        h: decision interval: an alarm when the CUSUM reaches it.
        ratio: out-of-control mean / in-control mean of the likelihood-ratio CUSUMs.
        size: negative-binomial size (None = moment estimate from the training data).
        training: periods before the first evaluated one that estimate the in-control mean
            (None = all of them, as R does).
        reset: restart the CUSUM at 0 after an alarm (not in R's standard CUSUM).
    """

    kind: CusumKind = "standard"
    k: float = 1.04
    h: float = 2.26
    ratio: float = 2.0
    size: float | None = None
    training: int | None = None
    reset: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.kind not in ("standard", "poisson", "negbin"):
            problems.append("kind must be standard, poisson or negbin")
        if not is_number(self.k):
            problems.append("k must be a number")
        if not is_number(self.h) or self.h <= 0:
            problems.append("h must be a positive number")
        if not is_number(self.ratio) or self.ratio <= 1:
            problems.append("ratio must be a number above 1")
        if self.size is not None and (not is_number(self.size) or self.size <= 0):
            problems.append("size must be a positive number")
        if self.training is not None and not is_int_at_least(self.training, MIN_TRAINING):
            problems.append("training must be an integer of at least 3")
        if not isinstance(self.reset, bool):
            problems.append("reset must be a boolean")
        check(problems, "CusumOptions")


def _training_mean(counts: FloatArray, first: int, training: int | None) -> tuple[float, float, int]:
    """Mean, variance and number of known values of the training periods before `first`."""
    start = 0 if training is None else max(0, first - training)
    values = counts[start:first]
    values = values[np.isfinite(values)]
    if values.size < MIN_TRAINING:
        return math.nan, math.nan, int(values.size)
    return float(values.mean()), float(values.var(ddof=1)), int(values.size)


def _increments(x: FloatArray, m: float, opts: CusumOptions, size: float) -> tuple[FloatArray, float, float]:
    """Per-period CUSUM increments, and the (slope, offset) turning a CUSUM level into a count bound."""
    if opts.kind == "standard":
        sd = math.sqrt(m)
        return (x - m) / sd - opts.k, sd, m + opts.k * sd
    m1 = m * opts.ratio
    if opts.kind == "poisson":
        slope = math.log(opts.ratio)
        offset = m1 - m
    else:
        slope = math.log(m1 * (m + size) / (m * (m1 + size)))
        offset = size * math.log((m1 + size) / (m + size))
    return x * slope - offset, 1.0 / slope, offset / slope


def detect_cusum(
    series: CountSeries, options: CusumOptions | None = None, at: Sequence[int] | None = None
) -> Detection:
    """Run a CUSUM from the first evaluated period on (evaluated positions must be consecutive).

    The in-control mean comes from the training periods before the first evaluated one. The
    upper bound is the largest count that would not raise an alarm given the CUSUM so far (R's
    standard CUSUM rounds it up, as R does). An unknown count leaves the CUSUM unchanged.

    Args:
        series: the counts.
        options: see `CusumOptions`.
        at: consecutive positions to monitor (default: everything after the first half of the series).
    """
    opts = options or CusumOptions()
    index = evaluation_index(series, at, max(MIN_TRAINING, len(series) // 2))
    if index.size and (np.diff(index) != 1).any():
        index = np.arange(index[0], index[-1] + 1, dtype=np.int64)
    first = int(index[0]) if index.size else len(series)
    m, var, _known = _training_mean(series.counts, first, opts.training)
    size = opts.size or (m * m / (var - m) if var > m > 0 else 1e6)
    x = series.counts[index]
    n = index.size
    if not (m > 0):
        nan = np.full(n, np.nan)
        notes = notes_from(
            [("history.insufficient", "no positive in-control mean from the training periods", n)]
        )
        return Detection(f"cusum_{opts.kind}", index, x, nan, nan, nan, np.zeros(n, dtype=bool), notes)
    inc, scale, offset = _increments(x, m, opts, size)
    level = np.zeros(n + 1)
    alarm = np.zeros(n, dtype=bool)
    for t in range(n):
        step = 0.0 if math.isnan(inc[t]) else inc[t]
        level[t + 1] = max(0.0, level[t] + step)
        alarm[t] = not math.isnan(inc[t]) and level[t + 1] >= opts.h
        if alarm[t] and opts.reset:
            level[t + 1] = 0.0
    before = level[:-1]
    upper = scale * (opts.h - before) + offset
    if opts.kind == "standard":
        upper = np.ceil(upper)
    upper = np.maximum(upper, 0.0)
    notes = notes_from(
        [("cusum.unknown_count", "unknown counts left the CUSUM unchanged", int(np.isnan(x).sum()))]
    )
    return Detection(f"cusum_{opts.kind}", index, x, np.full(n, m), upper, np.full(n, np.nan), alarm, notes)
