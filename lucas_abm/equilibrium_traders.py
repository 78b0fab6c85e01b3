"""Scripted traders for a population: random orders, and the orders that implement the exact
equilibrium (docs/model.md section 4.1, docs/heterogeneity.md "The market meets the theory").

**Equilibrium traders.** In the complete-markets equilibrium (Negishi) type k holds the
portfolio ``(s_k, b_k)`` in every state: one rebalancing at t = 0, then constant tree holdings
and a rolled-over one-period bond. Agent i of type k holds ``(s_k / theta_k) s0_i`` shares and
``(b_k / theta_k) s0_i`` bonds (:meth:`NegishiEquilibrium.agent_portfolios`). Each period, in
state y, agent i submits

    tree: limit p(y), quantity s_i* - s_i        (the rebalancing at t = 0, then ~0)
    bond: limit q(y), quantity b_i*              (bonds mature every period: buy the position again)

With every limit at p(y) the call auction's volume is maximal only at P = p(y) (and, with no
quantity to trade, the quote midpoint is p(y)), so the market's clearing prices are the
solver's p(y_t), q(y_t) and holdings are the equilibrium's, up to the round-off of pro-rata
rationing. The budget holds: type k's purchases minus sales at (p, q) are e - c_k(y) <= e.
With equal gammas (any sizes, every dividend law) the equilibrium is the representative
agent's: no trade, everyone quotes p*(y), q*(y).

The equilibrium is valued in the economy's initial state; the market draws y_0, so
:meth:`EquilibriumTraders.start` picks the equilibrium solved for the state the market starts in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lucas_abm.dividends import ConstantDividend, DividendProcess, MarkovChainDividend
from lucas_abm.errors import ConfigError
from lucas_abm.scripted import check_noise, check_spread
from lucas_abm.equilibrium.negishi import NegishiEquilibrium, solve_negishi
from lucas_abm.solver import EquilibriumPrices, solve_equilibrium

_ADMIT_RTOL = 1e-9


@dataclass
class PopulationEquilibrium:
    """An exact equilibrium for the market: p(y), q(y) and each agent's target portfolio."""

    equilibrium: NegishiEquilibrium | EquilibriumPrices
    shares: np.ndarray     # s_i*, [N], sum = the tree supply
    bonds: np.ndarray      # b_i*, [N], sum 0

    def tree_price(self, y) -> np.ndarray:
        return self._price(y, "tree")

    def bond_price(self, y) -> np.ndarray:
        return self._price(y, "bond")

    def _price(self, y, asset: str):
        eq = self.equilibrium
        if isinstance(eq, EquilibriumPrices):
            return eq.tree_price(y) if asset == "tree" else eq.bond_price(y)
        y = np.asarray(y, float)
        i = np.abs(y[..., None] - eq.states).argmin(axis=-1)
        return (eq.tree_prices if asset == "tree" else eq.bond_prices)[i]


def chain_of(dividend: DividendProcess) -> tuple[np.ndarray, np.ndarray] | None:
    """(states, transition) of a constant or Markov-chain dividend; None for other laws."""
    if isinstance(dividend, ConstantDividend):
        return np.array([dividend.ybar]), np.ones((1, 1))
    if isinstance(dividend, MarkovChainDividend):
        return np.asarray(dividend.states, float), dividend.transition_matrix
    return None


def population_equilibrium(population, arrays, dividend: DividendProcess, beta: float,
                           gamma: float, initial_state: int = 0) -> PopulationEquilibrium:
    """The exact equilibrium the market's traders implement, or a ConfigError saying why none.

    ``population`` is a :class:`~lucas_abm.population.Population`, ``arrays`` its drawn
    :class:`~lucas_abm.population.PopulationArrays`.
    """
    for i, t in enumerate(population.types):
        if t.income.mean != 0.0 or t.income.volatility != 0.0:
            raise ConfigError(f"population[{i}].income", "left out for --policy equilibrium (the "
                              "exact equilibria have no idiosyncratic income)", None)
        if t.beliefs is not None:
            raise ConfigError(f"population[{i}].beliefs", "left out for --policy equilibrium "
                              "(heterogeneous beliefs have no traded equilibrium here)", None)
    gammas, betas = population.gammas(gamma), population.betas(beta)
    if np.any(betas != betas[0]):
        raise ConfigError("population.beta", "equal for every type with --policy equilibrium "
                          "(different patience has no stationary equilibrium)", betas.tolist())
    if np.any(gammas <= 0):
        raise ConfigError("population.gamma", "> 0 for every type with --policy equilibrium "
                          "(risk-neutral types: solve --population gives the Harrison-Kreps price)",
                          gammas.tolist())
    s0 = arrays.initial_shares
    if np.all(gammas == gammas[0]):  # representative agent: no trade, any dividend law
        prices = solve_equilibrium(dividend, float(betas[0]), float(gammas[0]))
        return PopulationEquilibrium(prices, s0.copy(), np.zeros_like(s0))
    chain = chain_of(dividend)
    if chain is None:
        raise ConfigError("dividend", "constant or markov when gammas differ (the exact "
                          "heterogeneous equilibrium is solved on a finite chain)", type(dividend).name)
    eq = solve_negishi(chain[0], chain[1], float(betas[0]), gammas, arrays.endowments,
                       initial_state)
    needed = eq.borrowing_needed()
    limits = np.array([t.borrowing_limit for t in population.types])
    short = np.flatnonzero(needed > limits * (1.0 + _ADMIT_RTOL))
    if short.size:
        k = int(short[0])
        raise ConfigError(f"population[{k}].borrowing_limit", f">= {needed[k]:.6g} (the type's "
                          "equilibrium debt per unit of its initial shares)", float(limits[k]))
    shares, bonds = eq.agent_portfolios(arrays.type_index, s0)
    return PopulationEquilibrium(eq, shares, bonds)


class EquilibriumTraders:
    """Every agent trades to its equilibrium portfolio at the equilibrium prices (see above).

    ``solve(initial_state)`` returns the :class:`PopulationEquilibrium` valued in that state.
    """

    kind = "equilibrium"
    orders = True  # run_simulation passes the market and gets four arrays

    def __init__(self, solve, dividend: DividendProcess):
        self._solve = solve
        self._chain = chain_of(dividend)
        self._cache: dict[int, PopulationEquilibrium] = {}
        self.current = self._get(0)
        self.max_holding_error = 0.0

    def check(self, market) -> None:
        """Track max_i |s_i - s_i*| and |b_i - b_i*| after each period."""
        eq = self.current
        self.max_holding_error = max(self.max_holding_error,
                                     float(np.abs(market.shares - eq.shares).max()),
                                     float(np.abs(market.bonds - eq.bonds).max()))

    def _get(self, state: int) -> PopulationEquilibrium:
        if state not in self._cache:
            self._cache[state] = self._solve(state)
        return self._cache[state]

    def start(self, market) -> PopulationEquilibrium:
        """Pick the equilibrium for the state the market starts in (after ``reset``)."""
        state = 0
        if self._chain is not None:
            state = int(np.abs(self._chain[0] - market.dividend).argmin())
        self.current = self._get(state)
        return self.current

    def __call__(self, dividend: float, market):
        """Orders ``(tree limit, bond limit, tree quantity, bond quantity)``, each [N]."""
        eq = self.current
        n = market.n_agents
        p, q = float(eq.tree_price(dividend)), float(eq.bond_price(dividend))
        return np.full(n, p), np.full(n, q), eq.shares - market.shares, eq.bonds


class RandomOrders:
    """Random traders with private valuations around p(y), q(y), for a population.

    Agent i draws a valuation ``v_i = p(y)(1 + spread u_i)`` (``random``; ``noisy-equilibrium``:
    ``p(y)(1 + noise z_i)``) and submits it as its limit with quantity ``lot_i u_i`` (resp.
    ``lot_i z_i``): it buys if it values the tree above p(y) and sells if below, more the
    further away. ``u ~ U[-1, 1]``, ``z ~ N(0, 1)``, i.i.d. over agents, assets and periods;
    ``lot_i = lot s0_i`` (lots scale with size). The limits have the law of the posted-price
    random policy (:mod:`lucas_abm.scripted`).
    """

    orders = True

    def __init__(self, kind: str, prices, tree_lots: np.ndarray, bond_lots: np.ndarray,
                 spread: float = 0.5, noise: float = 0.05, seed: int | None = None):
        self.kind, self.prices = kind, prices
        self.tree_lots, self.bond_lots = tree_lots, bond_lots
        self.spread, self.noise = check_spread(spread), check_noise(noise)
        self.rng = np.random.default_rng(seed)

    def start(self, market):
        return self.prices

    def __call__(self, dividend: float, market):
        n = market.n_agents
        p = float(self.prices.tree_price(dividend))
        q = float(self.prices.bond_price(dividend))
        if self.kind == "random":
            u, width = self.rng.uniform(-1.0, 1.0, size=(2, n)), self.spread
        else:
            u, width = self.rng.standard_normal(size=(2, n)), self.noise
        return (p + (p * width) * u[0], q + (q * width) * u[1],
                self.tree_lots * u[0], self.bond_lots * u[1])
