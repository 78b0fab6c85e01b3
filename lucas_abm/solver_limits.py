"""What a float64 can hold: checks on the solver's input and output (docs/solver.md, Numerics).

An equilibrium price can exist and still exceed float64 (about 1.8e308) or round to 0, and a
lognormal law's median ``e^mu`` can itself underflow. :func:`lucas_abm.solver.solve_equilibrium`
calls :func:`check_median_level` before solving and :func:`check_finite_prices` after, so
such a case is a one-line ``ConfigError`` naming the parameter instead of inf or nan prices.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from lucas_abm.dividends import (ConstantDividend, DividendProcess, IIDLognormalDividend,
                                 LogAR1Dividend, MarkovChainDividend)
from lucas_abm.errors import ConfigError

if TYPE_CHECKING:
    from lucas_abm.solver import EquilibriumPrices


def _typical_levels(dividend: DividendProcess) -> np.ndarray:
    """Dividend levels at which a solution must be finite: ybar, the states of a chain, or the
    (stationary) median e^m of a lognormal law."""
    if isinstance(dividend, ConstantDividend):
        return np.array([dividend.ybar])
    if isinstance(dividend, IIDLognormalDividend):
        return np.array([math.exp(dividend.mu)])
    if isinstance(dividend, LogAR1Dividend):
        return np.array([math.exp(dividend.stationary_mean_log)])
    return np.asarray(dividend.states, dtype=float)


#: Range of log y whose level y is a normal float64 (e^-708 = 3e-308, e^709 = 8e307).
_LOG_LEVELS = (-708.0, 709.0)


def check_median_level(dividend: DividendProcess) -> None:
    """ConfigError naming ``mu`` when a lognormal law's (stationary) median e^m is not a normal
    float64 (``--mu 1000``; with ``mu`` set from the mean ybar, lucas_abm.dividend_params names
    sigma first: ``mu = log(ybar) - sigma^2/2`` is -5003 at sigma = 100)."""
    if isinstance(dividend, IIDLognormalDividend):
        m, formula, where = dividend.mu, "mu", ""
    elif isinstance(dividend, LogAR1Dividend):
        m, formula = dividend.stationary_mean_log, "mu/(1 - alpha)"
        where = f" at alpha = {dividend.alpha:.10g}"
    else:
        return
    if not _LOG_LEVELS[0] <= m <= _LOG_LEVELS[1]:   # (a mu set from ybar is checked as sigma first)
        raise ConfigError("mu", f"such that the median dividend e^m is a normal float64, m in "
                          f"[{_LOG_LEVELS[0]:g}, {_LOG_LEVELS[1]:g}]", dividend.mu,
                          detail=f"m = {formula} = {m:.6g}{where}")


def positive_float64s(*arrays: np.ndarray) -> np.ndarray:
    """Elementwise: every array's entry is a finite float > 0 (a price a float64 holds)."""
    ok = np.ones(np.broadcast(*arrays).shape, dtype=bool)
    for a in arrays:
        ok &= np.isfinite(a) & (a > 0)
    return ok


def check_finite_prices(eq: "EquilibriumPrices") -> None:
    """ConfigError naming gamma when p(y) or q(y) is not a positive finite float at the
    dividend's typical levels: the prices exist, but exceed float64 (about 1.8e308) or round
    to 0, as they do when the dividend's risk is large for the risk aversion (the lognormal
    moments grow like exp(gamma^2 s^2/2))."""
    y = _typical_levels(eq.dividend)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        p, q = np.atleast_1d(eq.tree_price(y)), np.atleast_1d(eq.bond_price(y))
    ok = positive_float64s(p, q)
    if not ok.all():
        i = int(np.argmin(ok))                          # the first level that fails
        if isinstance(eq.dividend, ConstantDividend):   # p = beta/(1-beta) ybar, whatever gamma
            raise ConfigError("ybar", "such that the tree price beta/(1-beta) ybar is a float64",
                              eq.dividend.ybar, detail=f"p = {p[i]:.6g}")
        with np.errstate(over="ignore"):
            level_alone = eq.beta / (1.0 - eq.beta) * y[i]  # p at this level for log utility
        if isinstance(eq.dividend, MarkovChainDividend) and not np.isfinite(level_alone):
            raise ConfigError("states", "dividend levels whose tree price beta/(1-beta) y is a "
                              "float64 (whatever gamma)", float(y[i]),
                              detail=f"p = {p[i]:.6g} at this state")
        raise ConfigError("gamma", "small enough for equilibrium prices a float64 can hold "
                          f"with this dividend process ({eq.dividend.name})", eq.gamma,
                          detail=f"p = {p[i]:.6g}, q = {q[i]:.6g} at y = {y[i]:.6g}; lower gamma "
                                 "or the dividend's risk")
