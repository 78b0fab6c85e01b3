"""Economic checks on a configuration, made before any work (docs/market.md, docs/model.md section 1).

A run can be valid number by number and still be unable to show anything: an action grid
that does not contain the equilibrium prices can never converge to them, and a lot that no
agent can afford or deliver never trades. These checks compare the configuration with the
equilibrium prices of the economy (:func:`lucas_abm.solver.solve_equilibrium`):

* **dividend range** :func:`dividend_range`: the levels a run will see, ``ybar`` for a
  constant dividend, the states of a Markov chain, and ``exp(m + k s)``, k in [-2, 2], for
  the lognormal laws (m, s: the stationary mean and s.d. of log y; 95% of draws);
* **price grid** :func:`check_price_grid`: every ``p(y)`` and ``q(y)`` over that range,
  widened by :data:`GRID_MARGIN` on each side, lies inside the posted-price grid, and the
  grid inside the market's price cap;
* **finite prices** :func:`check_prices_over_range`: every ``p(y)`` and ``q(y)`` over that
  range is a positive float64 (checked first: the others compute with them);
* **lots** :func:`check_lots`: an agent holding its endowment ``s_0`` can deliver one tree
  lot (``tree_lot <= s_0``) and pay for one lot of either asset at the equilibrium price out
  of its dividend income (``lot * price(y) <= s_0 y`` at every y of the range), and one bond
  lot is within the borrowing limit (``bond_lot <= borrowing_limit`` when borrowing is allowed),
  and no lot is below :data:`MIN_LOT_FRACTION` (1e-12) of the holdings ``s_0`` (tree) or of
  the lowest dividend income ``s_0 y`` (bond), where it would vanish in round-off.

Every failure is a one-line :class:`~lucas_abm.errors.ConfigError` naming the key to change
and the value it needs.
"""
from __future__ import annotations

import math

import numpy as np

from lucas_abm.dividends import (ConstantDividend, DividendProcess, IIDLognormalDividend,
                                 LogAR1Dividend, MarkovChainDividend)
from lucas_abm.errors import ConfigError
from lucas_abm.solver import EquilibriumPrices
from lucas_abm.solver_limits import positive_float64s

#: Relative margin the price grid must leave around the equilibrium prices.
GRID_MARGIN = 0.05
#: Stationary standard deviations of log y covered by the dividend range of lognormal laws.
RANGE_SDS = 2.0
#: The smallest lot relative to what it trades (the holdings, the dividend income).
MIN_LOT_FRACTION = 1e-12


def dividend_range(dividend: DividendProcess) -> np.ndarray:
    """Dividend levels a run will see (see the module docstring), ascending."""
    if isinstance(dividend, ConstantDividend):
        return np.array([dividend.ybar])
    if isinstance(dividend, MarkovChainDividend):
        return np.sort(np.asarray(dividend.states, dtype=float))
    if isinstance(dividend, IIDLognormalDividend):
        mean, sd = dividend.mu, dividend.sigma
    elif isinstance(dividend, LogAR1Dividend):
        mean, sd = dividend.stationary_mean_log, dividend.stationary_sd_log
    else:
        raise ConfigError("dividend", "constant, iid-lognormal, markov or log-ar1 for a market run",
                          dividend.name)
    return np.exp(mean + sd * np.linspace(-RANGE_SDS, RANGE_SDS, 9))


def price_ranges(prices: EquilibriumPrices) -> dict[str, tuple[float, float]]:
    """``{"tree": (min p, max p), "bond": (min q, max q)}`` over :func:`dividend_range`."""
    y = dividend_range(prices.dividend)
    p = np.atleast_1d(prices.tree_price(y))
    q = np.atleast_1d(prices.bond_price(y))
    return {"tree": (float(p.min()), float(p.max())), "bond": (float(q.min()), float(q.max()))}


def check_prices_over_range(prices: EquilibriumPrices, field: str = "economy.gamma") -> None:
    """Every ``p(y)`` and ``q(y)`` over :func:`dividend_range` is a positive float64. The solver
    checks its typical level only; at the range's edges (``exp(m +- 2 s)``) a large gamma times
    the dividend's risk can still overflow (``q = inf`` at ``y = 2.9e-8`` for an i.i.d. law with
    gamma 10, sigma 3.7), and the lot and grid checks would compute with inf."""
    y = dividend_range(prices.dividend)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        p = np.atleast_1d(prices.tree_price(y)).astype(float)
        q = np.atleast_1d(prices.bond_price(y)).astype(float)
    ok = positive_float64s(p, q)
    if not ok.all():
        i = int(np.argmin(ok))
        raise ConfigError(field, f"small enough that the equilibrium prices {_where(prices)} "
                          "are positive float64s", prices.gamma,
                          detail=f"p = {p[i]:.4g}, q = {q[i]:.4g} at y = {y[i]:.4g}; lower gamma "
                                 "or the dividend's risk")


def check_price_grid(prices: EquilibriumPrices, grid: dict[str, tuple[float, float]],
                     max_price: float, prefix: str = "actions", cap_field: str = "market.max_price") -> None:
    """The grids ``grid[asset] = (low, high)`` contain the equilibrium prices with the margin;
    ``high <= max_price``. ConfigError names ``prefix.{asset}_low|high`` or ``cap_field``."""
    symbol = {"tree": "p", "bond": "q"}
    for asset, (low_eq, high_eq) in price_ranges(prices).items():
        low, high = grid[asset]
        where = _where(prices)
        need_high = _up(high_eq * (1.0 + GRID_MARGIN))
        if high < need_high:
            raise ConfigError(f"{prefix}.{asset}_high", f">= {need_high:.4g} (the equilibrium "
                              f"{symbol[asset]}* reaches {high_eq:.4g} {where}, plus a "
                              f"{GRID_MARGIN:.0%} margin)", high)
        need_low = _down(low_eq * (1.0 - GRID_MARGIN))
        if low > need_low:
            raise ConfigError(f"{prefix}.{asset}_low", f"<= {need_low:.4g} (the equilibrium "
                              f"{symbol[asset]}* falls to {low_eq:.4g} {where}, minus a "
                              f"{GRID_MARGIN:.0%} margin)", low)
        if high > max_price:
            raise ConfigError(cap_field, f">= {prefix}.{asset}_high = {high:g} (grid prices above "
                              "the cap are invalid)", max_price)


def check_utility_finite(prices: EquilibriumPrices, initial_shares: float,
                         field: str = "economy.gamma") -> None:
    """The period utility of the equilibrium consumption ``c = s_0 y`` (every ``y`` of
    :func:`dividend_range`) is a float64: ``|u(c)| = c^(1-gamma)/|1-gamma| < e^709``. At the
    thesis' ybar = 0.045 that holds up to gamma ~ 230; beyond, every reward is -inf (the prices
    do not depend on the scale of y, so rescale the dividend to ybar ~ 1)."""
    gamma = prices.gamma
    if gamma == 1.0:
        return
    c = initial_shares * dividend_range(prices.dividend)
    with np.errstate(over="ignore"):   # gamma 1e308: log|u| is inf, and refused below
        log_u = (1.0 - gamma) * np.log(c) - math.log(abs(1.0 - gamma))
    if np.max(np.abs(log_u)) > 709.0:
        levels = f"{c.min():.4g}" if c.min() == c.max() else f"{c.min():.4g} to {c.max():.4g}"
        raise ConfigError(field, f"small enough that the utility of the equilibrium consumption "
                          f"c = {levels} is a float64 (|u| = c^(1-gamma)/|1-gamma| < e^709); or "
                          "a dividend level near 1", gamma,
                          detail=f"|u| reaches e^{np.max(np.abs(log_u)):.0f}"
                          if np.isfinite(np.max(np.abs(log_u))) else "|u| is beyond e^1e308")


def check_population_utility_finite(dividend: DividendProcess, arrays, population=None,
                                    default_field: str = "gamma") -> None:
    """:func:`check_utility_finite` for every agent of a population (``arrays``, a
    :class:`~lucas_abm.population.PopulationArrays`): ``|u_i(c)| < e^709`` for agent i's gamma
    and ``c = s0_i y`` at both ends of :func:`dividend_range` (``log |u|`` is monotone in
    ``log y``). ConfigError names ``population[k].gamma`` of the first type that fails, or
    ``default_field`` when that type takes the economy's gamma (a ``population`` given, whose
    type k sets none); log (gamma = 1) and linear (gamma = 0) utility always pass."""
    y = dividend_range(dividend)
    gamma = np.asarray(arrays.gamma, float)
    s0 = np.asarray(arrays.initial_shares, float)
    power = (gamma != 1.0) & (gamma != 0.0) & (s0 > 0)
    if not power.any():
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        worst = np.zeros_like(gamma)
        for level in (y.min(), y.max()):
            log_u = (1.0 - gamma) * np.log(s0 * level) - np.log(np.abs(1.0 - gamma))
            worst = np.maximum(worst, np.where(power, np.abs(log_u), 0.0))
    if worst.max() > 709.0:
        i = int(np.argmax(worst > 709.0))
        k = int(arrays.type_index[i])
        own = population is None or population.types[k].gamma is not None
        reach = f"e^{worst[i]:.0f}" if np.isfinite(worst[i]) else "beyond e^1e308"
        raise ConfigError(f"population[{k}].gamma" if own else default_field,
                          "small enough that the utility of the "
                          f"equilibrium consumption c = s0 y (s0 = {s0[i]:.4g}, y in [{y.min():.4g}, "
                          f"{y.max():.4g}]) is a float64 (|u| = c^(1-gamma)/|1-gamma| < e^709); or a "
                          "dividend level near 1", float(gamma[i]),
                          detail=f"|u| reaches {reach} for type {arrays.names[k]}")


def check_lots(prices: EquilibriumPrices, tree_lot: float, bond_lot: float,
               initial_shares: float, borrowing_limit: float, prefix: str = "market.") -> None:
    """One lot of each asset can be traded from the endowment (module docstring)."""
    if tree_lot > initial_shares:
        raise ConfigError(f"{prefix}tree_lot", f"<= {prefix}initial_shares = {initial_shares:g} (an "
                          "agent must be able to sell one lot of its endowment)", tree_lot)
    y = dividend_range(prices.dividend)
    income = initial_shares * y
    for asset, lot, price in (("tree", tree_lot, prices.tree_price(y)),
                              ("bond", bond_lot, prices.bond_price(y))):
        bound = _down(float(np.min(income / np.asarray(price, dtype=float))))
        if lot > bound:
            raise ConfigError(f"{prefix}{asset}_lot", f"<= {bound:.4g} (one lot at the "
                              f"equilibrium price must be payable out of the endowment's dividend "
                              f"income s_0 y {_where(prices)})", lot)
    if borrowing_limit > 0 and bond_lot > borrowing_limit:
        raise ConfigError(f"{prefix}bond_lot", f"<= {prefix}borrowing_limit = {borrowing_limit:g} "
                          "(a borrower sells one bond lot)", bond_lot)
    _check_lots_not_lost(tree_lot, bond_lot, initial_shares, float(np.min(income)), prefix)


def _check_lots_not_lost(tree_lot: float, bond_lot: float, initial_shares: float,
                         income: float, prefix: str) -> None:
    """Each lot is at least :data:`MIN_LOT_FRACTION` of what it changes: the tree lot of the
    holdings ``s_0``, the bond lot of the dividend income ``s_0 y`` (its lowest level). A
    smaller lot is lost in the float64 round-off of ``s +- lot`` and ``s y + b``, and the
    learners' float32 inputs and rewards, which count in lots, overflow (``tree_lot: 1e-300``
    or ``initial_shares: 1e308`` gave inf and nan rewards)."""
    for asset, lot, of, what in (
            ("tree", tree_lot, initial_shares, f"{prefix}initial_shares = {initial_shares:g}"),
            ("bond", bond_lot, income, f"the endowment's dividend income s_0 y = {income:.4g}")):
        need = _up(MIN_LOT_FRACTION * of)
        if lot < need:
            raise ConfigError(f"{prefix}{asset}_lot", f">= {need:.4g} ({MIN_LOT_FRACTION:g} of {what}: "
                              "a smaller lot vanishes in the round-off of holdings and income)", lot)


def _where(prices: EquilibriumPrices) -> str:
    d = prices.dividend
    text = f"at beta {_exact_g(prices.beta)}, gamma {_exact_g(prices.gamma)}"
    if isinstance(d, ConstantDividend):
        return f"{text}, y {d.ybar:.4g}"
    y = dividend_range(d)
    return f"{text}, over y in [{y.min():.4g}, {y.max():.4g}]"


def _exact_g(x: float) -> str:
    """``x`` in 6 significant digits unless that changes it (beta 0.99999999 is not "1")."""
    return f"{x:g}" if float(f"{x:g}") == x else f"{x:.10g}"


def _up(x: float) -> float:
    """x rounded up to 4 significant digits: the bound that is checked is the one printed
    (round-off below 1e-9 relative, as in 0.95 x 1.05, does not round up)."""
    if x == 0.0 or not math.isfinite(x):
        return x
    scale = 10.0 ** (math.floor(math.log10(abs(x))) - 3)
    return float(f"{math.ceil(x / scale - 1e-9) * scale:.4g}")


def _down(x: float) -> float:
    """x rounded down to 4 significant digits (see :func:`_up`)."""
    if x == 0.0 or not math.isfinite(x):
        return x
    scale = 10.0 ** (math.floor(math.log10(abs(x))) - 3)
    return float(f"{math.floor(x / scale + 1e-9) * scale:.4g}")


def check_price_cap(prices: EquilibriumPrices, max_price: float, field: str = "max_price") -> None:
    """The price cap lies above every equilibrium price over the dividend range (with the
    margin): otherwise an agent posting p(y) or q(y) posts an invalid price."""
    ranges = price_ranges(prices)
    top = max(ranges["tree"][1], ranges["bond"][1])
    need = _up(top * (1.0 + GRID_MARGIN))
    if max_price < need:
        raise ConfigError(field, f">= {need:.4g} (the equilibrium prices reach {top:.4g} "
                          f"{_where(prices)}, plus a {GRID_MARGIN:.0%} margin)", max_price)
