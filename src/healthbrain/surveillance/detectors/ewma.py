"""EWMA chart for counts: exponentially weighted mean against a Poisson (or overdispersed) baseline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from healthbrain.surveillance.detectors.result import Detection, evaluation_index, notes_from
from healthbrain.surveillance.options import check, is_int_at_least, is_number
from healthbrain.surveillance.series import CountSeries

MIN_TRAINING = 3


@dataclass(frozen=True, slots=True)
class EwmaOptions:
    """Options of `detect_ewma`.

    Attributes:
        lam: smoothing weight of the newest count, in (0, 1].
        L: control-limit width in standard deviations of the EWMA statistic.
        training: periods before the first evaluated one that estimate the mean and dispersion
            (None = all of them).
        overdispersion: estimate var/mean from the training data (else Poisson, var = mean).
    """

    lam: float = 0.3
    L: float = 3.0
    training: int | None = None
    overdispersion: bool = True

    def __post_init__(self) -> None:
        problems = []
        if not is_number(self.lam) or not 0.0 < self.lam <= 1.0:
            problems.append("lam must lie in (0, 1]")
        if not is_number(self.L) or self.L <= 0:
            problems.append("L must be a positive number")
        if self.training is not None and not is_int_at_least(self.training, MIN_TRAINING):
            problems.append("training must be an integer of at least 3")
        if not isinstance(self.overdispersion, bool):
            problems.append("overdispersion must be a boolean")
        check(problems, "EwmaOptions")


def detect_ewma(
    series: CountSeries, options: EwmaOptions | None = None, at: Sequence[int] | None = None
) -> Detection:
    """Run an EWMA chart from the first evaluated period on (consecutive positions).

    z_t = lam * x_t + (1 - lam) * z_{t-1}, z_0 = the training mean; alarm when z_t exceeds
    mean + L * sd * sqrt(lam / (2 - lam) * (1 - (1 - lam)^(2t))). The upper bound is the largest
    count that keeps z_t within the limit; the p-value is the normal tail of z_t.
    An unknown count carries z forward unchanged.
    """
    opts = options or EwmaOptions()
    index = evaluation_index(series, at, max(MIN_TRAINING, len(series) // 2))
    if index.size and (np.diff(index) != 1).any():
        index = np.arange(index[0], index[-1] + 1, dtype=np.int64)
    n = index.size
    first = int(index[0]) if n else len(series)
    start = 0 if opts.training is None else max(0, first - opts.training)
    train = series.counts[start:first]
    train = train[np.isfinite(train)]
    x = series.counts[index]
    if train.size < MIN_TRAINING or train.mean() <= 0:
        nan = np.full(n, np.nan)
        notes = notes_from(
            [("history.insufficient", "no positive baseline mean from the training periods", n)]
        )
        return Detection("ewma", index, x, nan, nan, nan, np.zeros(n, dtype=bool), notes)
    mean = float(train.mean())
    disp = max(1.0, float(train.var(ddof=1)) / mean) if opts.overdispersion else 1.0
    sd = math.sqrt(mean * disp)
    lam = opts.lam
    z = mean
    upper = np.empty(n)
    pvalue = np.empty(n)
    alarm = np.zeros(n, dtype=bool)
    for t in range(n):
        width = sd * math.sqrt(lam / (2.0 - lam) * (1.0 - (1.0 - lam) ** (2 * (t + 1))))
        limit = mean + opts.L * width
        upper[t] = max(0.0, (limit - (1.0 - lam) * z) / lam)
        if math.isnan(x[t]):
            pvalue[t] = math.nan
            continue
        z = lam * x[t] + (1.0 - lam) * z
        pvalue[t] = float(norm.sf((z - mean) / width))
        alarm[t] = z > limit
    notes = notes_from(
        [("ewma.unknown_count", "unknown counts carried the EWMA forward", int(np.isnan(x).sum()))]
    )
    return Detection("ewma", index, x, np.full(n, mean), upper, pvalue, alarm, notes)
