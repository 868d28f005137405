"""What every detector returns: per-period observed, expected, threshold, p-value, alarm, and notes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from healthbrain.core.errors import InvalidInput
from healthbrain.surveillance.series import CountSeries

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Note:
    """Something the caller must know about a result: a fallback, a skipped period, a data problem.

    Attributes:
        code: stable machine code, e.g. `farrington.fewer_years`.
        message: what happened, in English, free of patient data.
        periods: how many evaluated periods it concerns.
    """

    code: str
    message: str
    periods: int


@dataclass(frozen=True, slots=True, eq=False)
class Detection:
    """The outcome of one detector over the evaluated periods of one series.

    Attributes:
        method: detector name, e.g. `ears_c1`, `farrington`, `noufaily`.
        index: 0-based positions in the series that were evaluated, ascending.
        observed: the count at each evaluated period (NaN if unknown).
        expected: the detector's baseline expectation (NaN where none could be computed).
        upperbound: the alarm threshold; an alarm is raised when observed exceeds it (NaN = none).
        pvalue: probability of a count at least this large under the baseline (NaN if not defined).
        alarm: whether the period is flagged.
        notes: fallbacks and problems, each counted over the periods it concerns.
    """

    method: str
    index: IntArray
    observed: FloatArray
    expected: FloatArray
    upperbound: FloatArray
    pvalue: FloatArray
    alarm: BoolArray
    notes: tuple[Note, ...] = ()

    @property
    def alarms(self) -> int:
        """Number of flagged periods."""
        return int(self.alarm.sum())


def evaluation_index(series: CountSeries, at: Sequence[int] | None, first_possible: int) -> IntArray:
    """The sorted positions to evaluate: `at`, or every position from `first_possible` on."""
    n = len(series)
    if at is None:
        return np.arange(min(first_possible, n), n, dtype=np.int64)
    index = np.unique(np.asarray(list(at), dtype=np.int64))
    if index.size and (index[0] < 0 or index[-1] >= n):
        raise InvalidInput("evaluation positions must lie inside the series", code="surveillance.bad_range")
    return index


def notes_from(counts: Iterable[tuple[str, str, int]]) -> tuple[Note, ...]:
    """Notes for every (code, message, periods) with at least one period."""
    return tuple(Note(code, message, periods) for code, message, periods in counts if periods > 0)
