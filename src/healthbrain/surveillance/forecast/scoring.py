"""Scoring quantile forecasts: weighted interval score (Bracher et al. 2021) and interval coverage."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from healthbrain.core.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]

# FluSight's 23 quantile levels: the median and 11 central intervals (98 %, 95 %, 90 %, 80 % ... 10 %).
FLUSIGHT_QUANTILES: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5,
    0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99,
)  # fmt: skip


def _check_levels(levels: FloatArray) -> None:
    symmetric = np.allclose(levels + levels[::-1], 1.0) and levels.size % 2 == 1
    if not symmetric or not np.all(np.diff(levels) > 0):
        raise InvalidInput("quantile levels must be increasing, symmetric and include the median",
                           code="surveillance.bad_quantile_levels")  # fmt: skip


def weighted_interval_score(values: FloatArray, levels: FloatArray, observed: FloatArray) -> FloatArray:
    """WIS of each forecast: the pinball loss averaged over levels, times two (equal to Bracher's
    0.5·|y − median| + Σ α/2 · IS_α, over K + 1/2).

    Args:
        values: (..., Q) predicted quantiles (sorted along the last axis).
        levels: (Q,) their levels, symmetric around and including 0.5.
        observed: (...) the truths.
    """
    _check_levels(levels)
    diff = observed[..., None] - values
    pinball = np.maximum(levels * diff, (levels - 1.0) * diff)
    k = (levels.size - 1) // 2
    return np.asarray(2.0 * pinball.sum(axis=-1) / (2 * k + 1), dtype=np.float64)


def interval_coverage(
    values: FloatArray, levels: FloatArray, observed: FloatArray, width: float
) -> FloatArray:
    """Whether each truth lies in the central interval of nominal `width` (e.g. 0.5, 0.95)."""
    lo_level, hi_level = (1.0 - width) / 2.0, (1.0 + width) / 2.0
    lo = np.flatnonzero(np.isclose(levels, lo_level))
    hi = np.flatnonzero(np.isclose(levels, hi_level))
    if lo.size != 1 or hi.size != 1:
        raise InvalidInput(
            f"no {width:.0%} interval among the quantile levels", code="surveillance.bad_interval"
        )
    inside = (observed >= values[..., lo[0]]) & (observed <= values[..., hi[0]])
    return np.asarray(inside, dtype=np.float64)
