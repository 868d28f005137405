"""Thresholds of the Farrington family from a prediction: 2/3-power normal (`delta`) or NB quantiles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import nbinom, norm, poisson

from healthbrain.surveillance.detectors.glm import FloatArray

if TYPE_CHECKING:
    from healthbrain.surveillance.detectors.farrington import FarringtonOptions

_FUZZ = 1.0 - 64.0 * float(np.finfo(np.float64).eps)  # R's left-continuity fuzz in q<discrete>()
_HUGE = 2.0**50
_EXPONENT = {"2/3": 2.0 / 3.0, "1/2": 0.5, "none": 1.0}


@dataclass(frozen=True, slots=True, eq=False)
class Bound:
    """Per period: upper threshold, expected count, upper-tail p-value and R's alarm score."""

    upper: FloatArray
    expected: FloatArray
    pvalue: FloatArray
    score: FloatArray


def threshold(
    eta: FloatArray, se_eta: FloatArray, phi: FloatArray, y: FloatArray, opts: FarringtonOptions
) -> Bound:
    """The threshold of each period from the linear predictor, its SE and the dispersion."""
    if opts.threshold_method == "delta":
        return _delta(eta, se_eta, phi, y, opts)
    return _negative_binomial(eta, se_eta, phi, y, opts)


def _delta(
    eta: FloatArray, se_eta: FloatArray, phi: FloatArray, y: FloatArray, opts: FarringtonOptions
) -> Bound:
    mu0 = np.maximum(np.exp(eta), np.finfo(np.float64).eps)
    se_fit = se_eta * mu0  # predict.glm(type = "response"): delta method
    e = _EXPONENT[opts.powertrans]
    z = float(norm.ppf(1.0 - opts.alpha))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = phi + se_fit**2 / mu0
        if opts.powertrans == "2/3":
            se = np.sqrt(4.0 / 9.0 * mu0 ** (1.0 / 3.0) * tau)
        elif opts.powertrans == "1/2":
            se = np.sqrt(0.25 * tau)
        else:
            se = np.sqrt(mu0 * tau)
        low = (mu0**e - z * se) ** (1.0 / e)
        high = (mu0**e + z * se) ** (1.0 / e)
        upper = np.fmax(low, high)  # R sorts both ends and takes the larger
        pvalue = norm.sf(y**e, loc=mu0**e, scale=se)
        score = (y - mu0) / (upper - mu0)
    return Bound(upper, mu0, pvalue, score)


def discrete_quantile(cdf: Callable[[FloatArray], FloatArray], q: float, guess: FloatArray) -> FloatArray:
    """R's quantile of a count distribution: the smallest x >= 0 with F(x) >= q * (1 - 64 eps).

    Brackets from `guess` by doubling, then bisects on the integers, vectorised over parameters
    (scipy's own discrete ppf can stall on extreme parameters). NaN where `guess` is NaN. A guess
    beyond 2^50 (a baseline model that exploded) is returned as is: no count can exceed it.

    Args:
        cdf: the distribution function, vectorised over the parameters.
        q: the probability.
        guess: a starting point per parameter set (e.g. a normal approximation).
    """
    target = q * _FUZZ
    huge = np.isfinite(guess) & (guess > _HUGE)
    valid = np.isfinite(guess) & ~huge
    hi = np.where(valid, np.maximum(np.floor(guess), 0.0), 0.0)
    for _ in range(80):
        short = valid & (hi < _HUGE) & (cdf(hi) < target)
        if not short.any():
            break
        hi = np.where(short, 2.0 * hi + 1.0, hi)
    lo = np.full(hi.shape, -1.0)  # F(lo) < target always holds for lo = -1
    for _ in range(80):
        gap = valid & (hi - lo > 1.0)
        if not gap.any():
            break
        mid = np.floor((lo + hi) / 2.0)
        ok = cdf(mid) >= target
        hi = np.where(gap & ok, mid, hi)
        lo = np.where(gap & ~ok, mid, lo)
    return np.where(valid, hi, np.where(huge, np.floor(guess), np.nan))


def _negative_binomial(
    eta: FloatArray, se_eta: FloatArray, phi: FloatArray, y: FloatArray, opts: FarringtonOptions
) -> Bound:
    alpha = opts.alpha
    with np.errstate(over="ignore", invalid="ignore"):
        if opts.threshold_method == "nbPlugin":
            m = np.exp(eta)
        else:
            m = np.exp(eta + float(norm.ppf(1.0 - alpha)) * se_eta)
    finite = np.isfinite(m)
    m = np.where(finite, m, np.nan)
    over = phi > 1.0
    size = np.where(over, m / np.where(over, phi - 1.0, 1.0), np.nan)
    prob = np.where(over, 1.0 / phi, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = float(norm.ppf(1.0 - alpha))
        guess = m + z * np.sqrt(m * np.maximum(phi, 1.0))
        nb_guess = np.where(over, guess, np.nan)
        po_guess = np.where(over, np.nan, guess)
        nb_upper = discrete_quantile(lambda x: nbinom.cdf(x, size, prob), 1.0 - alpha, nb_guess)
        po_upper = discrete_quantile(lambda x: poisson.cdf(x, m), 1.0 - alpha, po_guess)
        upper = np.where(over, nb_upper, po_upper)
        pvalue = np.where(phi != 1.0, nbinom.sf(y - 1.0, size, prob), poisson.sf(y - 1.0, m))
        score = (y - eta) / (upper - eta)  # sic: R compares with the linear predictor here
    upper = np.where(finite, upper, np.nan)
    return Bound(upper, np.where(finite, np.exp(eta), np.nan), np.where(finite, pvalue, np.nan), score)
