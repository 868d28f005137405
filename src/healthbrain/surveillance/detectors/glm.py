"""Batched Poisson/quasi-Poisson GLMs (log link) fitted by IRLS the way R's `glm.fit` fits them.

Many small models are fitted at once (one per evaluated period): the design is (B, n, p), and each
member follows R's iteration exactly (start mu = y + 0.1, convergence when the relative change in
deviance is below 1e-8, at most 25 iterations), so coefficients, dispersion, hat values and
prediction standard errors agree with R to rounding. Rows with zero prior weight are padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import xlogy

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
EPS = float(np.finfo(np.float64).eps)  # R's .Machine$double.eps, the floor of exp(eta)
EPSILON = 1e-8  # glm.control(epsilon)
MAX_ITER = 25  # glm.control(maxit)


@dataclass(frozen=True, slots=True, eq=False)
class GlmFit:
    """B fitted models.

    Attributes:
        coef: (B, p) coefficients.
        mu: (B, n) fitted means.
        cov_unscaled: (B, p, p) (X'WX)^-1 with the working weights of the last iteration.
        working_weights: (B, n) those working weights (0 for padding rows).
        dispersion: (B,) Pearson chi-square over residual degrees of freedom (summary.glm).
        df_residual: (B,) residual degrees of freedom.
        converged: (B,) whether IRLS converged within 25 iterations.
    """

    coef: FloatArray
    mu: FloatArray
    cov_unscaled: FloatArray
    working_weights: FloatArray
    dispersion: FloatArray
    df_residual: FloatArray
    converged: BoolArray

    def hat(self, x: FloatArray) -> FloatArray:
        """Diagonal of the hat matrix, (B, n)."""
        quad = np.sum((x @ self.cov_unscaled) * x, axis=-1)
        return np.asarray(self.working_weights * quad, dtype=np.float64)


def _deviance(y: FloatArray, ylogy: FloatArray, mu: FloatArray, w: FloatArray) -> FloatArray:
    """Poisson deviance per member: 2 * sum w * (y log(y/mu) - (y - mu))."""
    dev = 2.0 * np.sum(w * (ylogy - xlogy(y, mu) - (y - mu)), axis=-1)
    return np.asarray(dev, dtype=np.float64)


def fit_poisson(x: FloatArray, y: FloatArray, prior: FloatArray) -> GlmFit:
    """Fit B log-link Poisson GLMs by IRLS, as R's `glm.fit(x, y, weights, family=quasipoisson())`.

    Args:
        x: (B, n, p) design matrices (full column rank on the weighted rows).
        y: (B, n) responses (non-negative; 0 on padding rows).
        prior: (B, n) prior weights; 0 marks padding (excluded, as R excludes zero weights).

    Returns:
        The fits. A member whose normal equations are singular or whose deviance is not finite is
        reported as not converged.
    """
    n_models, _, p = x.shape
    eta = np.log(y + 0.1)
    mu = np.maximum(np.exp(eta), EPS)
    ylogy = xlogy(y, y)
    dev_old = _deviance(y, ylogy, mu, prior)
    coef = np.zeros((n_models, p))
    cov = np.zeros((n_models, p, p))
    wlast = np.zeros_like(y)
    converged = np.zeros(n_models, dtype=bool)
    failed = np.zeros(n_models, dtype=bool)
    active = np.arange(n_models)
    for _ in range(MAX_ITER):
        every = active.size == n_models
        xa = x if every else x[active]
        ya, pa, ylogy_a = (y, prior, ylogy) if every else (y[active], prior[active], ylogy[active])
        ea, ma = eta[active], mu[active]
        w = pa * ma  # prior * mu.eta^2 / variance = prior * mu for the log link
        z = ea + (ya - ma) / ma
        xtw = np.swapaxes(xa * w[..., None], 1, 2)
        a = xtw @ xa
        rhs = (xtw @ z[..., None])[..., 0]
        try:
            beta = np.linalg.solve(a, rhs[..., None])[..., 0]
        except np.linalg.LinAlgError:
            beta, bad = _solve_each(a, rhs)
            failed[active[bad]] = True
        new_eta = (xa @ beta[..., None])[..., 0]
        with np.errstate(over="ignore"):
            new_mu = np.maximum(np.exp(new_eta), EPS)
        dev = _deviance(ya, ylogy_a, new_mu, pa)
        eta[active], mu[active], coef[active], cov[active], wlast[active] = new_eta, new_mu, beta, a, w
        not_finite = ~np.isfinite(dev)
        failed[active[not_finite]] = True
        done = np.abs(dev - dev_old[active]) / (np.abs(dev) + 0.1) < EPSILON
        converged[active[done]] = True
        dev_old[active] = dev
        keep = ~done & ~not_finite & ~failed[active]
        active = active[keep]
        if active.size == 0:
            break
    converged &= ~failed
    cov = _invert(cov)
    wlast = np.where(prior > 0, wlast, 0.0)
    n_ok = (prior != 0).sum(axis=1)
    df_res = (n_ok - p).astype(np.float64)
    pearson = np.sum(np.where(wlast > 0, wlast * ((y - mu) / mu) ** 2, 0.0), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dispersion = np.where(df_res > 0, pearson / df_res, np.nan)
    return GlmFit(coef, mu, cov, wlast, dispersion, df_res, converged)


def _solve_each(a: FloatArray, rhs: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Member-by-member solve when some normal equations are singular (those are flagged bad)."""
    beta = np.zeros(rhs.shape)
    bad = np.zeros(a.shape[0], dtype=bool)
    for i in range(a.shape[0]):
        try:
            beta[i] = np.linalg.solve(a[i], rhs[i])
        except np.linalg.LinAlgError:
            bad[i] = True
    return beta, bad


def _invert(a: FloatArray) -> FloatArray:
    """Batched inverse of the last iteration's X'WX (NaN for a singular member)."""
    try:
        return np.asarray(np.linalg.inv(a), dtype=np.float64)
    except np.linalg.LinAlgError:
        out = np.full(a.shape, np.nan)
        for i in range(a.shape[0]):
            try:
                out[i] = np.linalg.inv(a[i])
            except np.linalg.LinAlgError:
                continue
        return out


def predict_link(fit: GlmFit, x0: FloatArray, scale: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Linear predictor and its standard error at one new row per member.

    Args:
        fit: the fits.
        x0: (B, p) new design rows.
        scale: (B,) dispersion used for the standard error (R's predict.glm default is the
            summary dispersion).

    Returns:
        (eta, se_eta), each (B,).
    """
    eta = np.einsum("bp,bp->b", x0, fit.coef)
    var = np.einsum("bp,bpq,bq->b", x0, fit.cov_unscaled, x0)
    return eta, np.sqrt(np.maximum(var, 0.0) * scale)
