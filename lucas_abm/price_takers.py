"""Price-takers with correct valuations: what a market of demand-schedule traders reaches when
every trader's reservation values are right (docs/acceptance_b.md, "What correct
price-takers reach").

The learners of acceptance B act through linear demand schedules
(:mod:`lucas_abm.mechanisms.schedules`): agent i posts reservation values v and orders
``a s0_i (1 - P / v)`` trees, and rolls its bond position over plus ``a s0_i (1 - Q / v)``.
Here every agent posts, in the current state y_j, the values of a trader who keeps its
present holdings (s_i, b_i) for ever, rolling the bonds over at q(y)
(:func:`lucas_abm.equilibrium.valuations.agents_valuations`):

    c_i(y) = s_i y + b_i (1 - q(y)),     mu_i(y) = c_i(y)^(-gamma_i),
    v_tree_i = V_i(y_j) - y_j,   V_i = [(I - beta P)^(-1) (mu_i y)] / mu_i  (divided state by state),
    v_bond_i = beta sum_k P_jk mu_i(y_k) / mu_i(y_j).

These are the values a learner of this action is asked to learn, with no estimation error.
At the Negishi portfolio they are p(y), q(y) for every agent (each type's Euler equations),
so the equilibrium is a rest point: nobody trades. With CRRA utility and two states an
agent's values depend on its holdings only through mu_i(y_1) / mu_i(y_0), its marginal rate
of substitution, so two types that agree in one state agree in both and every
Pareto-efficient allocation is a rest point too; which one the market reaches depends on the
prices it trades at on the way.

A :class:`PriceTakers` has the acting half of a learning rule (``policy``, ``prices``,
``orders``; orchestrator.core), so the training evaluator plays it unchanged and
``benchmarks/population_learning.py`` scores it as it scores a learned market
(``benchmarks/price_takers.py``).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from lucas_abm.equilibrium.valuations import agents_valuations
from lucas_abm.errors import ConfigError
from lucas_abm.mechanisms.schedules import schedule_arguments


class PriceTakers:
    """Every agent of ``market`` posts its own valuations (module docstring) as the
    reservation values of its demand schedules, of slopes ``tree_slope`` and ``bond_slope``
    per initial share.

    ``bond_prices`` q(y) are the prices the bonds are rolled over at (the equilibrium's).
    ``grid`` (optional): the (tree, bond) price grids of the learners' action; each value is
    rounded to its nearest grid price, as a Q-learner's action is. An agent whose holdings
    leave its stationary consumption non-positive in some state posts NaN (the market then
    takes no order from it).
    """

    def __init__(self, market, states, transition, beta: float, bond_prices, tree_slope: float,
                 bond_slope: float, grid: tuple[np.ndarray, np.ndarray] | None = None):
        if market.agents is None:
            raise ConfigError("population", "a population market (each agent's own gamma)", None)
        for name, value in (("tree_slope", tree_slope), ("bond_slope", bond_slope)):
            if not np.isfinite(value) or value <= 0:
                raise ConfigError(name, "> 0 (trees per initial share per unit of relative price gap)", value)
        self.market = market
        self.states = np.asarray(states, float)
        self.transition = np.asarray(transition, float)
        self.beta = float(beta)
        self.bond_prices = np.asarray(bond_prices, float)
        self.tree_slope, self.bond_slope = float(tree_slope), float(bond_slope)
        self.grid = grid

    def values(self) -> tuple[np.ndarray, np.ndarray]:
        """(v_tree, v_bond), each [N]: every agent's valuations in the market's current state."""
        m = self.market
        j = int(np.abs(self.states - m.dividend).argmin())
        v_tree, v_bond = agents_valuations(self.states, self.transition, self.beta, m.agents.gammas,
                                           m.shares, m.bonds, self.bond_prices)
        v_tree, v_bond = v_tree[:, j], v_bond[:, j]
        if self.grid is not None:
            v_tree, v_bond = _nearest(self.grid[0], v_tree), _nearest(self.grid[1], v_bond)
        return v_tree, v_bond

    # ---- the acting half of a learning rule ---------------------------------------------
    def policy(self, observation, explore: float, rng) -> dict[str, np.ndarray]:
        """The reservation values, read from the market (the observation is not needed)."""
        v_tree, v_bond = self.values()
        return {"tree_action": v_tree, "bond_action": v_bond}

    def prices(self, actions: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return actions["tree_action"], actions["bond_action"]

    def orders(self, actions: Mapping[str, np.ndarray], market) -> tuple:
        """(None, None, a_tree s0_i, a_bond s0_i): schedules, as a learner's (ActionGrid.orders)."""
        return schedule_arguments(self.tree_slope, self.bond_slope, market.agents.initial_shares)


def _nearest(grid: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Each value rounded to its nearest grid price (NaN stays NaN)."""
    grid = np.asarray(grid, float)
    i = np.clip(np.searchsorted(grid, value), 1, grid.size - 1)
    lower, upper = grid[i - 1], grid[i]
    out = np.where(value - lower <= upper - value, lower, upper)
    return np.where(np.isfinite(value), out, np.nan)
