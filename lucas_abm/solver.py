"""Rational-expectations prices of the Lucas tree and the bond (docs/model.md section 1).

With a representative agent who consumes the dividend (c_t = y_t), the stochastic discount
factor is ``m' = beta u'(y')/u'(y)`` with ``u'(c) = c^(-gamma)``, and

    tree:  p(y) = E[ m' (p(y') + y') | y ]
    bond:  q(y) = E[ m' | y ]

Writing ``f(y) = u'(y) p(y)`` turns the tree equation into the linear fixed point
``f(y) = beta E[u'(y') y' | y] + beta E[f(y') | y]``, which is what every method below solves:

============================  ==========================================================
constant / i.i.d. lognormal   p(y) = beta/(1-beta) y^gamma E[y'^(1-gamma)],  q(y) = beta y^gamma E[y'^(-gamma)]
finite Markov chain           (I - beta P) f = beta P g,  g_j = u'(y_j) y_j,  p_i = f_i/u'(y_i);  q_i = beta sum_j P_ij u'(y_j)/u'(y_i)
log-AR(1)                     series p(y) = y^gamma sum_{n>=1} beta^n E[y_n^(1-gamma) | y] (default), or the fixed
                              point on a grid in log y with Gauss–Hermite quadrature;  q(y) = beta y^gamma E[y'^(-gamma) | y]
growth chain (Mehra–Prescott) w_i = beta sum_j P_ij lambda_j^(1-gamma) (w_j + 1),  p = w_i y;  R_f,i = 1/(beta sum_j P_ij lambda_j^(-gamma))
============================  ==========================================================

:func:`solve_equilibrium` validates its input (``ConfigError``) before any work, including
that the equilibrium price is finite.
"""
from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from lucas_abm.dividends import (ConstantDividend, DividendProcess, GrowthMarkovChain,
                                 IIDLognormalDividend, LogAR1Dividend, MarkovChainDividend)
from lucas_abm.errors import ConfigError, check_choice, check_range
from lucas_abm.solver_limits import check_finite_prices, check_median_level
from lucas_abm.utility import CRRAUtility


class EquilibriumPrices(ABC):
    """Equilibrium tree price p(y) and bond price q(y), vectorised over dividend levels y."""

    dividend: DividendProcess
    beta: float
    gamma: float

    @abstractmethod
    def tree_price(self, y) -> np.ndarray:
        """p(y): the ex-dividend price of one tree share when the current dividend is y."""

    @abstractmethod
    def bond_price(self, y) -> np.ndarray:
        """q(y): the price of a bond paying 1 next period when the current dividend is y."""


def _dividend_levels(y) -> np.ndarray:
    """``y`` as a float array, refused unless every level is > 0 (a price at y <= 0 or nan
    was nan or 0 with a RuntimeWarning)."""
    y = np.asarray(y, dtype=float)
    if not np.all(y > 0):
        bad = y[~(y > 0)] if y.ndim else y
        raise ConfigError("y", "dividend levels > 0", float(np.ravel(bad)[0]))
    return y


@dataclass(frozen=True, eq=False)
class IIDEquilibrium(EquilibriumPrices):
    """Constant or i.i.d. dividends: p(y) = beta/(1-beta) y^gamma E[y'^(1-gamma)], q(y) = beta y^gamma E[y'^(-gamma)].

    With ``log y' ~ N(log r, s^2)`` (a constant ybar is ``r = ybar``, ``s = 0``; i.i.d.
    lognormal ``r = e^mu``, ``s = sigma``) the moments are ``E[y'^k] = r^k exp(k^2 s^2/2)``,
    and the prices are evaluated relative to the reference level ``r``:

        p(y) = beta/(1-beta) r exp(gamma log(y/r) + (1-gamma)^2 s^2/2)
        q(y) = beta            exp(gamma log(y/r) + gamma^2 s^2/2)

    which is the formula above with ``y^gamma`` and ``E[y'^(1-gamma)]`` multiplied out before
    exponentiating: each factor alone overflows for large gamma (``ybar^(-gamma)`` is 1e405 at
    gamma 300 and the thesis' ybar) while their product is finite. A constant dividend gives
    p(ybar) = beta/(1-beta) ybar and q(ybar) = beta exactly, for every gamma.
    """

    dividend: DividendProcess
    beta: float
    gamma: float
    reference: float   # r: ybar, or e^mu
    log_sd: float      # s: 0, or sigma

    def tree_price(self, y) -> np.ndarray:
        log_ratio = np.log(_dividend_levels(y) / self.reference)
        k = 1.0 - self.gamma
        return (self.beta / (1.0 - self.beta) * self.reference
                * np.exp(self.gamma * log_ratio + 0.5 * (k * self.log_sd) * (k * self.log_sd)))

    def bond_price(self, y) -> np.ndarray:
        log_ratio = np.log(_dividend_levels(y) / self.reference)
        return self.beta * np.exp(self.gamma * log_ratio
                                  + 0.5 * (self.gamma * self.log_sd) * (self.gamma * self.log_sd))


@dataclass(frozen=True, eq=False)
class MarkovEquilibrium(EquilibriumPrices):
    """Finite Markov chain: prices per state; ``tree_price(y)`` looks up the state of each y."""

    dividend: MarkovChainDividend
    beta: float
    gamma: float
    states: np.ndarray
    tree_prices: np.ndarray
    bond_prices: np.ndarray

    def tree_price(self, y) -> np.ndarray:
        return self.tree_prices[self.dividend.state_index(y)]

    def bond_price(self, y) -> np.ndarray:
        return self.bond_prices[self.dividend.state_index(y)]


@dataclass(frozen=True, eq=False)
class LogAR1Equilibrium(EquilibriumPrices):
    """Log-AR(1) dividends, by the exact series (``method="series"``) or the quadrature grid.

    Series: p(y) = y^gamma sum_{n=1}^{N} beta^n exp((1-gamma) m_n + (1-gamma)^2 v_n / 2), with
    (m_n, v_n) the mean and variance of log y_n given log y, truncated where the bound on the
    tail, beta^(N+1)/(1-beta) exp(k m_inf + |k| |alpha|^(N+1) |log y - m_inf| + k^2 v_inf/2)
    (k = 1 - gamma), is below ``series_tol`` times the partial sum.

    Grid: f = u' p solved on ``grid_log_y`` (``grid_f``), interpolated linearly in (log y, log f);
    a price asked for outside the grid is extrapolated linearly in (log y, log f) and warned
    about (:class:`OutsideGridWarning`): use the series there.
    """

    dividend: LogAR1Dividend
    beta: float
    gamma: float
    method: str
    series_tol: float
    grid_log_y: np.ndarray | None = None
    grid_f: np.ndarray | None = None
    iterations: int = 0

    def tree_price(self, y) -> np.ndarray:
        y = _dividend_levels(y)
        if self.method == "series":
            return series_tree_price(self.dividend, self.beta, self.gamma, y, self.series_tol)
        x = np.log(y)
        outside = np.count_nonzero((x < self.grid_log_y[0]) | (x > self.grid_log_y[-1]))
        if outside:
            warnings.warn(f"{outside} of {x.size} dividend levels lie outside the quadrature grid "
                          f"y in [{math.exp(self.grid_log_y[0]):.6g}, "
                          f"{math.exp(self.grid_log_y[-1]):.6g}]; their tree prices are "
                          "extrapolated (widen grid_width or use method='series')",
                          OutsideGridWarning, stacklevel=2)
        log_f = _interp_linear_extrapolate(x.ravel(), self.grid_log_y, np.log(self.grid_f))
        return y ** self.gamma * np.exp(log_f.reshape(x.shape))

    def bond_price(self, y) -> np.ndarray:
        """q(y) = beta y^gamma E[y'^(-gamma) | y] (closed form)."""
        y = _dividend_levels(y)
        # = beta exp(gamma (log y - m_1) + gamma^2 v_1/2): no y^gamma alone, which overflows
        m_1, v_1 = self.dividend.log_mean_var(np.log(y), 1)
        return self.beta * np.exp(self.gamma * (np.log(y) - m_1) + 0.5 * self.gamma * self.gamma * v_1)


@dataclass(frozen=True, eq=False)
class GrowthEquilibrium(EquilibriumPrices):
    """Mehra–Prescott growth chain. Per regime i (0: high growth, 1: low growth):

    - price-dividend ratio w_i = beta sum_j P_ij lambda_j^(1-gamma) (w_j + 1); tree price p = w_i y
    - gross equity return R^e_ij = lambda_j (w_j + 1)/w_i, expected E_i[R^e] = sum_j P_ij R^e_ij
    - gross risk-free return R_f,i = 1/(beta sum_j P_ij lambda_j^(-gamma)); bond price q_i = 1/R_f,i

    ``equity_return``, ``risk_free_rate`` and ``equity_premium`` are net rates (fractions per period)
    averaged over the chain's stationary distribution.
    """

    dividend: GrowthMarkovChain
    beta: float
    gamma: float
    growth: np.ndarray
    stationary_distribution: np.ndarray
    price_dividend_ratio: np.ndarray
    bond_prices: np.ndarray
    equity_return_by_state: np.ndarray      # net E_i[R^e] - 1
    risk_free_rate_by_state: np.ndarray     # net R_f,i - 1
    equity_return: float
    risk_free_rate: float
    equity_premium: float

    def _regime(self, regime):
        return self.dividend.regime if regime is None else np.asarray(regime, dtype=int)

    def tree_price(self, y, regime=None) -> np.ndarray:
        """p = w_regime y; ``regime`` defaults to the dividend process' current regime."""
        return self.price_dividend_ratio[self._regime(regime)] * _dividend_levels(y)

    def bond_price(self, y=None, regime=None) -> np.ndarray:
        """q_regime (independent of the dividend level y)."""
        q = self.bond_prices[self._regime(regime)]
        return q if y is None else np.broadcast_to(q, np.shape(y)).astype(float)


# ---------------------------------------------------------------------------------------------

_NUMERICS = {"method": "series", "series_tol": 1e-13, "grid_size": 201, "grid_width": 6.0,
             "nodes": 21, "tol": 1e-12, "max_iter": 100_000}


def solve_numerics_default(name: str):
    """The default of one of :func:`solve_equilibrium`'s ``numerics``."""
    return _NUMERICS[name]


def solve_equilibrium(dividend: DividendProcess, beta: float, gamma: float,
                      **numerics) -> EquilibriumPrices:
    """Equilibrium p(y), q(y) for ``dividend`` under discount factor ``beta`` and CRRA ``gamma``.

    ``numerics`` (log-AR(1) only): ``method`` "series" (default, exact) or "quadrature";
    ``series_tol`` (relative truncation error of the series, 1e-13); ``grid_size`` (201 points in
    log y), ``grid_width`` (6 stationary standard deviations each side of the stationary mean),
    ``nodes`` (21 Gauss–Hermite nodes), ``tol`` (1e-12, sup relative error of the fixed point),
    ``max_iter``. Raises ConfigError for beta outside (0, 1), gamma <= 0, or a process whose
    equilibrium tree price is infinite.
    """
    beta = check_range("beta", beta, 0.0, 1.0)
    gamma = CRRAUtility(gamma).gamma
    unknown = sorted(set(numerics) - set(_NUMERICS))
    if unknown:
        raise ConfigError("numerics", "among " + ", ".join(_NUMERICS), unknown)
    if numerics and not isinstance(dividend, LogAR1Dividend):   # they would be ignored
        first = sorted(numerics)[0]
        raise ConfigError(first, f"left out for a {dividend.name} dividend (the numerics apply to "
                          "the log-AR(1) process only; the other prices are exact)", numerics[first])
    opts = {**_NUMERICS, **numerics}
    check_median_level(dividend)

    if isinstance(dividend, ConstantDividend):
        eq = IIDEquilibrium(dividend, beta, gamma, dividend.ybar, 0.0)
    elif isinstance(dividend, IIDLognormalDividend):
        eq = IIDEquilibrium(dividend, beta, gamma, math.exp(dividend.mu), dividend.sigma)
    elif isinstance(dividend, MarkovChainDividend):
        eq = _solve_markov(dividend, beta, gamma)
    elif isinstance(dividend, LogAR1Dividend):
        eq = _solve_log_ar1(dividend, beta, gamma, opts)
    elif isinstance(dividend, GrowthMarkovChain):
        return _solve_growth(dividend, beta, gamma)
    else:
        raise ConfigError("dividend", "a ConstantDividend, IIDLognormalDividend, MarkovChainDividend, "
                      "LogAR1Dividend or GrowthMarkovChain", type(dividend).__name__)
    check_finite_prices(eq)
    return eq


def _solve_markov(dividend: MarkovChainDividend, beta: float, gamma: float) -> MarkovEquilibrium:
    y = np.asarray(dividend.states)
    p_mat = dividend.transition_matrix
    # marginal utilities relative to a reference level (prices only depend on ratios of u')
    # (for very large gamma these overflow to inf/nan, which lucas_abm.solver_limits refuses)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        mu_rel = (y / math.exp(np.mean(np.log(y)))) ** (-gamma)
        g = mu_rel * y
        f = np.linalg.solve(np.eye(len(y)) - beta * p_mat, beta * p_mat @ g)
        tree = f / mu_rel
        bond = beta * (p_mat @ mu_rel) / mu_rel
    return MarkovEquilibrium(dividend, beta, gamma, y, tree, bond)


def _solve_growth(dividend: GrowthMarkovChain, beta: float, gamma: float) -> GrowthEquilibrium:
    lam = dividend.growth
    p_mat = dividend.transition_matrix
    with np.errstate(over="ignore"):
        a = beta * p_mat * lam ** (1.0 - gamma)      # beta P diag(lambda^(1-gamma))
        marginal = p_mat @ lam ** (-gamma)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(marginal))):
        raise ConfigError("gamma", "small enough for equilibrium prices a float64 can hold with "
                          "this growth chain", gamma,
                          detail=f"lambda^(-gamma) overflows at lambda = {lam.min():.6g}")
    rho = float(np.max(np.abs(np.linalg.eigvals(a))))
    if rho >= 1.0:
        beta_max = beta / rho
        raise ConfigError("beta", f"< {beta_max:.6g} for a finite tree price with this growth chain "
                          f"and gamma = {gamma:g}", beta,
                          detail=f"spectral radius of beta P diag(lambda^(1-gamma)) is {rho:.6g} >= 1")
    w = np.linalg.solve(np.eye(2) - a, a @ np.ones(2))
    gross_equity = (p_mat * (lam * (w + 1.0))[None, :]).sum(axis=1) / w        # E_i[R^e]
    gross_rf = 1.0 / (beta * marginal)
    pi = dividend.stationary_distribution
    equity = float(pi @ gross_equity - 1.0)
    rf = float(pi @ gross_rf - 1.0)
    return GrowthEquilibrium(
        dividend, beta, gamma, growth=lam, stationary_distribution=pi, price_dividend_ratio=w,
        bond_prices=1.0 / gross_rf, equity_return_by_state=gross_equity - 1.0,
        risk_free_rate_by_state=gross_rf - 1.0, equity_return=equity, risk_free_rate=rf,
        equity_premium=equity - rf)


# --- log-AR(1) -----------------------------------------------------------------------------

class OutsideGridWarning(RuntimeWarning):
    """A quadrature-grid price was asked for outside the grid (it is extrapolated)."""


class NotConvergedError(ConfigError):
    """The quadrature fixed point cannot reach ``tol``: it did not within ``max_iter`` iterations,
    or ``tol`` asks for a relative change below float64's resolution (a ConfigError naming
    ``max_iter`` or ``tol``, so the CLI reports it in one line)."""


_SERIES_BATCH = 4096


#: Terms of the log-AR(1) series after which it is refused as not converged (|alpha| near 1).
_SERIES_MAX_TERMS = 10_000_000


def series_tree_price(dividend: LogAR1Dividend, beta: float, gamma: float, y,
                      tol: float = 1e-13) -> np.ndarray:
    """p(y) = y^gamma sum_{n>=1} beta^n E[y_n^(1-gamma) | y], with relative error < tol.

    With d = log y - m_inf, k = 1 - gamma and (m_n, v_n) of :meth:`LogAR1Dividend.log_mean_var`,
    each term is e^m_inf beta^n exp(a_n), a_n = gamma d + k alpha^n d + k^2 v_inf (1 - alpha^(2n))/2
    (all in one exponent, so that no factor such as y^gamma overflows alone). As n grows a_n
    tends to a_inf = gamma d + k^2 v_inf/2, so the terms after N sum to

        e^m_inf exp(a_inf) beta^(N+1)/(1-beta) (1 + r),  |r| <= exp(e_N) - 1,
        e_N = |k| |alpha|^(N+1) |d| + k^2 v_inf alpha^(2(N+1))/2,

    which is added in closed form once its error bound is below ``tol`` times the price. The
    number of terms summed is set by alpha^N, not by beta: beta near 1 costs no more terms
    (summing until beta^N is small took 3e7 terms at beta = 0.999999 and was cut at 1e7,
    37% low at beta = 0.9999999).
    """
    y = np.asarray(y, dtype=float)
    if y.size > _SERIES_BATCH:                   # bound memory: 256 terms x batch per block
        flat = y.ravel()
        parts = [series_tree_price(dividend, beta, gamma, flat[i:i + _SERIES_BATCH], tol)
                 for i in range(0, flat.size, _SERIES_BATCH)]
        return np.concatenate(parts).reshape(y.shape)
    k = 1.0 - gamma
    alpha = dividend.alpha
    m_inf = dividend.stationary_mean_log
    v_inf = dividend.stationary_sd_log ** 2
    d = np.log(y).ravel() - m_inf
    a_inf = gamma * d + 0.5 * k * k * v_inf
    total = np.zeros_like(d)
    chunk = 256
    n0 = 1
    with np.errstate(over="ignore", invalid="ignore"):
        while True:
            n = np.arange(n0, n0 + chunk, dtype=float)[:, None]
            a_n = np.power(alpha, n)
            exponent = gamma * d + k * a_n * d + 0.5 * k * k * v_inf * (1.0 - a_n * a_n)
            total += np.sum(beta ** n * np.exp(exponent), axis=0)
            n_last = n0 + chunk - 1
            a_next = abs(alpha) ** (n_last + 1)
            tail = beta ** (n_last + 1) / (1.0 - beta) * np.exp(a_inf)
            bound = tail * np.expm1(abs(k) * a_next * np.abs(d) + 0.5 * k * k * v_inf * a_next * a_next)
            if np.all(bound <= tol * (total + tail)) or not np.all(np.isfinite(total + tail)):
                break
            if n_last >= _SERIES_MAX_TERMS:
                raise NotConvergedError(
                    "series_tol", f"reached within {_SERIES_MAX_TERMS:,} terms", tol,
                    detail=f"|alpha| = {abs(alpha):.10g} is too close to 1 for the series; "
                           "or use method='quadrature'")
            n0 += chunk
        return (math.exp(m_inf) * (total + tail)).reshape(y.shape)


def _interp_linear_extrapolate(x, xp, fp) -> np.ndarray:
    """Piecewise-linear interpolation of (xp, fp) at x, extended linearly beyond both ends."""
    x = np.asarray(x, dtype=float)
    out = np.interp(x, xp, fp)
    lo, hi = x < xp[0], x > xp[-1]
    if lo.any():
        out[lo] = fp[0] + (x[lo] - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0])
    if hi.any():
        out[hi] = fp[-1] + (x[hi] - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    return out


def _solve_log_ar1(dividend: LogAR1Dividend, beta: float, gamma: float, opts: dict) -> LogAR1Equilibrium:
    method = check_choice("method", opts["method"], ("series", "quadrature"))
    series_tol = check_range("series_tol", opts["series_tol"], 0.0, 1.0)
    if method == "series":
        return LogAR1Equilibrium(dividend, beta, gamma, method, series_tol)
    grid_size = int(check_range("grid_size", opts["grid_size"], 3, None, low_open=False))
    width = check_range("grid_width", opts["grid_width"], 0.0, None)
    nodes = int(check_range("nodes", opts["nodes"], 1, None, low_open=False))
    tol = check_range("tol", opts["tol"], 0.0, 1.0)
    max_iter = int(check_range("max_iter", opts["max_iter"], 1, None, low_open=False))

    sd = dividend.stationary_sd_log or 1.0
    grid = dividend.stationary_mean_log + np.linspace(-width, width, grid_size) * sd
    eps, weights = np.polynomial.hermite_e.hermegauss(nodes)     # nodes for N(0, 1)
    weights = weights / weights.sum()
    x_next = dividend.mu + dividend.alpha * grid[:, None] + dividend.sigma * eps[None, :]
    k = 1.0 - gamma
    # h(x) = beta E[u'(y') y' | y] = beta E[y'^(1-gamma) | y], in closed form
    m1, v1 = dividend.log_mean_var(grid, 1)
    h = beta * np.exp(k * m1 + 0.5 * k * k * v1)
    f = h / (1.0 - beta)
    stop = tol * (1.0 - beta) / beta
    eps = np.finfo(float).eps
    if stop < eps:  # a relative change below one ulp is only ever met by chance
        raise NotConvergedError(
            "tol", f">= {eps * beta / (1.0 - beta):.3g} at beta = {beta:g}", tol,
            detail=f"the quadrature stops when the sup relative change is <= tol (1 - beta) / beta "
                   f"= {stop:.3g}, below float64's resolution {eps:.3g}; or use method='series'")
    for it in range(1, max_iter + 1):
        log_f_next = _interp_linear_extrapolate(x_next.ravel(), grid, np.log(f)).reshape(x_next.shape)
        f_new = h + beta * (np.exp(log_f_next) @ weights)
        change = np.max(np.abs(f_new / f - 1.0))
        f = f_new
        if change <= stop:
            break
    else:  # max_iter ran out: the prices would be silently wrong
        raise NotConvergedError(
            "max_iter", f"more than {max_iter} for tol = {tol:g}", max_iter,
            detail=f"the quadrature fixed point did not converge: last sup relative change "
                   f"{change:.3g} > tol (1 - beta) / beta = {stop:.3g}; or use method='series'")
    return LogAR1Equilibrium(dividend, beta, gamma, method, series_tol, grid_log_y=grid, grid_f=f,
                             iterations=it)
