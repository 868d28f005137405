"""Farrington (1996) and Noufaily (2013) outbreak detection, as R `surveillance::farringtonFlexible` 1.20.3.

For each evaluated period a quasi-Poisson GLM is fitted to the same season of past years (with a
time trend kept only if significant, at least three years back and not extrapolating), refitted
with Anscombe-residual down-weighting of past outbreaks, and the count is compared with a
threshold: the 2/3-power normal approximation (Farrington, `delta`) or negative-binomial quantiles
(Noufaily's `nbPlugin`, or `muan`). All periods are fitted together as one batch of small GLMs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from scipy.stats import t as student_t

from healthbrain.surveillance.detectors.farrington_design import Baseline, design, farrington_baseline
from healthbrain.surveillance.detectors.farrington_threshold import Bound, threshold
from healthbrain.surveillance.detectors.glm import (
    EPS,
    BoolArray,
    FloatArray,
    GlmFit,
    fit_poisson,
    predict_link,
)
from healthbrain.surveillance.detectors.result import Detection, IntArray, evaluation_index, notes_from
from healthbrain.surveillance.options import check, is_int_at_least, is_number, is_probability
from healthbrain.surveillance.series import CountSeries

CHUNK = 256  # models fitted together: large enough to amortise numpy calls, small enough for the cache
ThresholdMethod = Literal["delta", "nbPlugin", "muan"]
PowerTransform = Literal["2/3", "1/2", "none"]


@dataclass(frozen=True, slots=True)
class FarringtonOptions:
    """Options of `detect_farrington` (names follow R's `control` list, in snake case).

    Attributes:
        b: past years in the baseline.
        w: half-width of each past year's window (periods).
        reweight: down-weight past outbreaks by their Anscombe residuals.
        weights_threshold: residuals above it are down-weighted (1 in Farrington 1996, 2.58 in Noufaily).
        alpha: one-sided level of the threshold.
        trend: allow a linear time trend.
        p_threshold_trend: keep the trend when its p-value is below this (1 = whenever it fits).
        limit54: (cases, periods): no alarm unless the last `periods` periods have `cases` or more.
        powertrans: power transformation of the `delta` threshold.
        no_periods: seasonal blocks per year (1 = reference windows only; 10 in Noufaily).
        past_weeks_not_included: most recent periods left out of the baseline (default `w`).
        threshold_method: `delta` (Farrington), `nbPlugin` (Noufaily) or `muan`.
    """

    b: int = 5
    w: int = 3
    reweight: bool = True
    weights_threshold: float = 2.58
    alpha: float = 0.05
    trend: bool = True
    p_threshold_trend: float = 0.05
    limit54: tuple[int, int] = (5, 4)
    powertrans: PowerTransform = "2/3"
    no_periods: int = 1
    past_weeks_not_included: int | None = None
    threshold_method: ThresholdMethod = "delta"

    def __post_init__(self) -> None:
        problems = []
        if not is_int_at_least(self.b, 1):
            problems.append("b must be an integer of at least 1")
        if not is_int_at_least(self.w, 0):
            problems.append("w must be a non-negative integer")
        if not isinstance(self.reweight, bool) or not isinstance(self.trend, bool):
            problems.append("reweight and trend must be booleans")
        if not is_number(self.weights_threshold, 0.0):
            problems.append("weights_threshold must be a non-negative number")
        if not is_probability(self.alpha):
            problems.append("alpha must lie in (0, 1)")
        if not is_probability(self.p_threshold_trend, open_interval=False):
            problems.append("p_threshold_trend must lie in [0, 1]")
        limit = tuple(self.limit54) if isinstance(self.limit54, list | tuple) else ()
        if len(limit) != 2 or not is_int_at_least(limit[0], 0) or not is_int_at_least(limit[1], 1):
            problems.append("limit54 must be (cases >= 0, periods >= 1)")
        else:
            object.__setattr__(self, "limit54", (int(limit[0]), int(limit[1])))
        if self.powertrans not in ("2/3", "1/2", "none"):
            problems.append("powertrans must be '2/3', '1/2' or 'none'")
        if not is_int_at_least(self.no_periods, 1):
            problems.append("no_periods must be an integer of at least 1")
        pwni = self.past_weeks_not_included
        if pwni is not None and not is_int_at_least(pwni, 0):
            problems.append("past_weeks_not_included must be a non-negative integer")
        if self.threshold_method not in ("delta", "nbPlugin", "muan"):
            problems.append("threshold_method must be delta, nbPlugin or muan")
        check(problems, "FarringtonOptions")

    @property
    def excluded(self) -> int:
        """The most recent periods left out of the baseline."""
        return self.w if self.past_weeks_not_included is None else self.past_weeks_not_included

    @property
    def method(self) -> str:
        """`farrington` for the delta threshold, `noufaily` for the negative-binomial ones."""
        return "farrington" if self.threshold_method == "delta" else "noufaily"


def farrington_options(**overrides: Any) -> FarringtonOptions:
    """Farrington et al. (1996): windows only, residual threshold 1, trend when p < 0.05."""
    base = FarringtonOptions(weights_threshold=1.0, past_weeks_not_included=3)
    return replace(base, **overrides)


def noufaily_options(**overrides: Any) -> FarringtonOptions:
    """Noufaily et al. (2013): 10 seasonal blocks, residual threshold 2.58, 26 weeks left out,
    trend always considered, negative-binomial quantile threshold."""
    base = FarringtonOptions(
        no_periods=10, weights_threshold=2.58, past_weeks_not_included=26, p_threshold_trend=1.0,
        threshold_method="nbPlugin",
    )  # fmt: skip
    return replace(base, **overrides)


@dataclass(frozen=True, slots=True, eq=False)
class _Model:
    """The final model of each baseline in a batch."""

    fit: GlmFit
    phi: FloatArray  # max(dispersion, 1): the threshold's overdispersion
    scale: FloatArray  # the dispersion R's predict/summary use (see `_fit_group`)
    x0: FloatArray


def _batch(
    bases: list[Baseline], periods: int, trend: bool
) -> tuple[list[int], list[FloatArray], list[FloatArray]]:
    """Designs of the baselines that have one (indices into `bases`, X, x0)."""
    keep, xs, x0s = [], [], []
    for i, base in enumerate(bases):
        made = design(base, periods, trend)
        if made is not None:
            keep.append(i)
            xs.append(made[0])
            x0s.append(made[1])
    return keep, xs, x0s


def _fit_group(
    xs: list[FloatArray], ys: list[FloatArray], opts: FarringtonOptions
) -> tuple[GlmFit, FloatArray, FloatArray, BoolArray]:
    """Fit (and reweight) models whose designs share a column count; pads rows with zero weight.

    Returns the fits, phi, the scale of standard errors, and whether the first fit converged.
    R stores the prior weights omega in `model$weights` after reweighting, so its later
    `summary.glm`/`predict.glm` estimate the dispersion as sum(omega * r^2) / df with working
    residuals r = (y - mu) / mu instead of the working-weighted Pearson statistic. That value
    scales the prediction SE and the trend test in R, so it does here too.
    """
    n = max(x.shape[0] for x in xs)
    p = xs[0].shape[1]
    x = np.zeros((len(xs), n, p))
    y = np.zeros((len(xs), n))
    mask = np.zeros((len(xs), n))
    for i, (xi, yi) in enumerate(zip(xs, ys, strict=True)):
        x[i, : xi.shape[0]] = xi
        y[i, : yi.shape[0]] = yi
        mask[i, : yi.shape[0]] = 1.0
    first = fit_poisson(x, y, mask)
    fit = first
    if opts.reweight:
        phi1 = np.maximum(first.dispersion, 1.0)
        hat = first.hat(x)
        hat[hat > 1.0 - 10.0 * EPS] = 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            s = (
                1.5
                * (y ** (2 / 3) * first.mu ** (-1 / 6) - first.mu**0.5)
                / np.sqrt(phi1[:, None] * (1.0 - hat))
            )
        omega = _weights(s, mask, opts.weights_threshold)
        fit = fit_poisson(x, y, omega)
        with np.errstate(invalid="ignore", divide="ignore"):
            r2 = np.where(omega > 0, omega * ((y - fit.mu) / fit.mu) ** 2, 0.0)
            scale = r2.sum(axis=1) / fit.df_residual
    else:
        scale = fit.dispersion
    return fit, np.maximum(fit.dispersion, 1.0), scale, first.converged


def _weights(s: FloatArray, mask: FloatArray, limit: float) -> FloatArray:
    """Farrington's weights: s^-2 above the residual threshold, 1 below, scaled to mean 1."""
    with np.errstate(invalid="ignore", divide="ignore"):
        high = s > limit
        raw = np.where(high, s**-2.0, 1.0) * mask
        gamma = mask.sum(axis=1) / raw.sum(axis=1)
    omega = gamma[:, None] * raw
    return np.where(np.isfinite(omega), omega, 0.0)


def _fit_all(bases: list[Baseline], opts: FarringtonOptions, trend: bool) -> list[_Model | None]:
    """Fit every baseline with or without the trend term, R's `algo.farrington.fitGLM.flexible`."""
    out: list[_Model | None] = [None] * len(bases)
    keep, xs, x0s = _batch(bases, opts.no_periods, trend)
    by_p: dict[int, list[int]] = {}
    for j, x in enumerate(xs):
        by_p.setdefault(x.shape[1], []).append(j)
    chunks = [group[i : i + CHUNK] for group in by_p.values() for i in range(0, len(group), CHUNK)]
    for members in chunks:
        ys = [bases[keep[j]].response for j in members]
        fit, phi, scale, converged = _fit_group([xs[j] for j in members], ys, opts)
        x0 = np.array([x0s[j] for j in members])
        for row, j in enumerate(members):
            if converged[row]:
                one = slice(row, row + 1)
                out[keep[j]] = _Model(_take(fit, row), phi[one], scale[one], x0[one])
    return out


def _take(fit: GlmFit, row: int) -> GlmFit:
    s = slice(row, row + 1)
    return GlmFit(
        fit.coef[s], fit.mu[s], fit.cov_unscaled[s], fit.working_weights[s], fit.dispersion[s],
        fit.df_residual[s], fit.converged[s],
    )  # fmt: skip


def _keep_trend(models: list[_Model | None], bases: list[Baseline], opts: FarringtonOptions) -> list[bool]:
    """R's rule per model: at least three years back, trend significant (t-test p-value below
    `p_threshold_trend`), and the prediction not above the largest baseline count."""
    fitted = [i for i, m in enumerate(models) if m is not None]
    keep = [False] * len(models)
    if not fitted:
        return keep
    ms = [models[i] for i in fitted]
    coef = np.array([m.fit.coef[0] for m in ms if m is not None])
    var = np.array([m.fit.cov_unscaled[0, 1, 1] for m in ms if m is not None])
    scale = np.array([m.scale[0] for m in ms if m is not None])
    df = np.array([m.fit.df_residual[0] for m in ms if m is not None])
    x0 = np.array([m.x0[0] for m in ms if m is not None])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        se = np.sqrt(scale * var)
        pval = 2.0 * student_t.sf(np.abs(coef[:, 1] / se), df)
        mu_now = np.maximum(np.exp(np.einsum("bp,bp->b", x0, coef)), EPS)
    for row, i in enumerate(fitted):
        base = bases[i]
        keep[i] = bool(
            base.years >= 3 and pval[row] < opts.p_threshold_trend and mu_now[row] <= base.response.max()
        )
    return keep


def fit_models(bases: list[Baseline], opts: FarringtonOptions) -> tuple[list[_Model | None], int]:
    """The final model of each baseline and how many kept a trend."""
    models: list[_Model | None]
    if opts.trend:
        models = _fit_all(bases, opts, trend=True)
        keep = _keep_trend(models, bases, opts)
        redo = [i for i, k in enumerate(keep) if not k]
        refit = _fit_all([bases[i] for i in redo], opts, trend=False)
        for i, m in zip(redo, refit, strict=True):
            models[i] = m
        trended = len(bases) - len(redo)
    else:
        models = _fit_all(bases, opts, trend=False)
        trended = 0
    return models, trended


def detect_farrington(
    series: CountSeries, options: FarringtonOptions | None = None, at: Sequence[int] | None = None
) -> Detection:
    """Run Farrington / Noufaily on a series (results equal R `farringtonFlexible` on complete data).

    With fewer past years than `b`, a period is evaluated on the years it has (note
    `farrington.fewer_years`); with not even one past year it gets no threshold
    (note `history.insufficient`). Unknown counts are left out of the baseline. A period whose
    GLM does not converge gets no threshold (note `farrington.no_fit`), except a baseline
    without any case, where R gives none either: there the threshold is 0, so any case alarms
    (note `farrington.zero_baseline`).

    Args:
        series: the counts.
        options: see `FarringtonOptions` (`farrington_options()` / `noufaily_options()` for presets).
        at: positions to evaluate (default: every position with `b` past years).
    """
    return detect_farrington_many([(series, at)], options)[0]


def _baselines(
    series: CountSeries, index: IntArray, opts: FarringtonOptions
) -> tuple[list[Baseline | None], int]:
    """The baseline of each evaluated position (fewer years if need be) and how many have fewer."""
    position = {d: i for i, d in enumerate(series.dates)} if series.dates is not None else {}
    bases: list[Baseline | None] = []
    fewer = 0
    for k in index.tolist():
        base = None
        for years in range(opts.b, 0, -1):
            base = farrington_baseline(
                series, k, years=years, w=opts.w, periods=opts.no_periods, past_excluded=opts.excluded,
                position=position,
            )  # fmt: skip
            if base is not None:
                fewer += years < opts.b
                break
        bases.append(base)
    return bases, fewer


def detect_farrington_many(
    items: Sequence[tuple[CountSeries, Sequence[int] | None]], options: FarringtonOptions | None = None
) -> list[Detection]:
    """`detect_farrington` over many series at once (e.g. every county × disease on the last week):
    all their GLMs are fitted as one batch, which is what makes a nightly run fast.

    Args:
        items: (series, positions to evaluate or None) pairs.
        options: shared by all series.

    Returns:
        One Detection per item, in order.
    """
    opts = options or farrington_options()
    plans = []
    flat: list[Baseline] = []
    for series, at in items:
        index = evaluation_index(series, at, opts.b * series.freq + opts.w)
        bases, fewer = _baselines(series, index, opts)
        present = [i for i, b in enumerate(bases) if b is not None]
        plans.append((series, index, bases, present, fewer, len(flat)))
        flat.extend(b for b in bases if b is not None)
    models, _ = fit_models(flat, opts)
    preds = [_predictions(index, bases, present, models[off : off + len(present)])
             for _, index, bases, present, _, off in plans]  # fmt: skip
    eta, se, phi, zero = (np.concatenate([p[j] for p in preds]) for j in range(4))
    obs = np.concatenate([series.counts[index] for series, index, *_ in plans])
    bound = _zero_baseline(threshold(eta, se, phi, obs, opts), zero.astype(bool), obs)
    out = []
    start = 0
    for (series, index, bases, _, fewer, _), pred in zip(plans, preds, strict=True):
        part = slice(start, start + index.size)
        start += index.size
        one = Bound(bound.upper[part], bound.expected[part], bound.pvalue[part], bound.score[part])
        out.append(_assemble(series, index, opts, bases, one, pred[3].astype(bool), fewer))
    return out


def _predictions(
    index: IntArray, bases: list[Baseline | None], present: list[int], models: list[_Model | None]
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Linear predictor, its SE (R's scale), phi, and the zero-baseline flag of each position."""
    size = index.size
    eta, se, phi, zero = (np.full(size, np.nan), np.full(size, np.nan), np.full(size, np.nan), np.zeros(size))
    for i, model in zip(present, models, strict=True):
        base = bases[i]
        if model is None:
            zero[i] = float(base is not None and not base.response.any())
            continue
        e, s = predict_link(model.fit, model.x0, model.scale)
        eta[i], se[i], phi[i] = e[0], s[0], model.phi[0]
    return eta, se, phi, zero


def _assemble(
    series: CountSeries,
    index: IntArray,
    opts: FarringtonOptions,
    bases: list[Baseline | None],
    bound: Bound,
    zero: BoolArray,
    fewer: int,
) -> Detection:
    obs = series.counts[index]
    cases, periods = opts.limit54
    csum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(series.counts))])
    recent = csum[index + 1] - csum[np.maximum(index - periods + 1, 0)]
    enough = recent >= cases
    upper = np.where(enough, bound.upper, np.nan)
    with np.errstate(invalid="ignore"):
        alarm = enough & ~np.isnan(bound.score) & (bound.score > 1.0) & (obs != 0) & ~np.isnan(obs)
    expected = np.where(enough & ~np.isnan(bound.upper), bound.expected, np.nan)
    no_base = sum(b is None for b in bases)
    no_fit = int(np.isnan(bound.upper).sum()) - no_base
    notes = notes_from(
        [
            ("history.insufficient", "not even one past year of baseline", no_base),
            ("farrington.fewer_years", f"baseline of fewer than {opts.b} past years", fewer),
            ("farrington.no_fit", "the baseline model gave no threshold (no convergence)", no_fit),
            ("farrington.zero_baseline", "no case in the baseline: any case exceeds it", int(zero.sum())),
            (
                "farrington.few_cases",
                f"fewer than {cases} cases in the last {periods} periods",
                int((~enough).sum()),
            ),
        ]
    )
    return Detection(opts.method, index, obs, expected, upper, bound.pvalue, alarm, notes)


def _zero_baseline(bound: Bound, zero: BoolArray, obs: FloatArray) -> Bound:
    """A baseline without a single case cannot be fitted (R returns no threshold); its expected
    count is 0, so the threshold is 0 and any case is above it (p-value 0)."""
    if not zero.any():
        return bound
    with np.errstate(invalid="ignore"):
        positive = obs > 0
    return Bound(
        upper=np.where(zero, 0.0, bound.upper),
        expected=np.where(zero, 0.0, bound.expected),
        pvalue=np.where(zero, np.where(positive, 0.0, 1.0), bound.pvalue),
        score=np.where(zero, np.where(positive, np.inf, 0.0), bound.score),
    )
