"""Fixed thresholds: an alarm as soon as the cases in a window reach a set number (1 case of plague)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from healthbrain.surveillance.detectors.result import Detection, evaluation_index, notes_from
from healthbrain.surveillance.options import check, is_int_at_least, is_number
from healthbrain.surveillance.series import CountSeries


@dataclass(frozen=True, slots=True)
class ThresholdOptions:
    """Options of `detect_threshold`.

    Attributes:
        cases: alarm when the window holds at least this many cases (1 for 甲类 diseases such as
            plague and cholera, which are reported singly).
        window: periods summed, ending at the evaluated one (1 = that period alone).
    """

    cases: float = 1.0
    window: int = 1

    def __post_init__(self) -> None:
        problems = []
        if not is_number(self.cases) or self.cases <= 0:
            problems.append("cases must be a positive number")
        if not is_int_at_least(self.window, 1):
            problems.append("window must be an integer of at least 1")
        check(problems, "ThresholdOptions")


def detect_threshold(
    series: CountSeries, options: ThresholdOptions | None = None, at: Sequence[int] | None = None
) -> Detection:
    """Flag every period whose window total reaches `cases`.

    Unknown counts in the window count as zero cases (a fixed-threshold rule must still fire on
    the cases that were reported); the upper bound is the largest count of the evaluated period
    that would not reach the threshold given the rest of the window.
    """
    opts = options or ThresholdOptions()
    index = evaluation_index(series, at, 0)
    known = np.nan_to_num(series.counts, nan=0.0)
    csum = np.concatenate([[0.0], np.cumsum(known)])
    lo = np.maximum(index - opts.window + 1, 0)
    total = csum[index + 1] - csum[lo]
    current = known[index]
    upper = np.maximum(opts.cases - (total - current) - 1.0, 0.0)
    alarm = total >= opts.cases
    unknown = int(np.isnan(series.counts[index]).sum())
    notes = notes_from([("threshold.unknown_count", "unknown counts were taken as no cases", unknown)])
    obs = series.counts[index]
    return Detection(
        "threshold", index, obs, np.zeros(index.size), upper, np.full(index.size, np.nan), alarm, notes
    )
