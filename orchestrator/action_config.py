"""The learners' action set (the ``actions:`` section of a training config): posted-price
grids, and optionally order sizes (target positions) or linear demand schedules.

Validated when built, like every section of :mod:`orchestrator.config` (which re-exports
:class:`ActionGridConfig`); :class:`orchestrator.agents.ActionGrid` maps its indices to prices
and orders.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lucas_abm.errors import ConfigError, check_choice, check_int, check_range

PRICE_BASES = ("rbf", "quadratic")


@dataclass
class ActionGridConfig:
    """The discrete action set: posted tree prices x posted bond prices (uniform grids).

    ``basis_spacing`` > 0 makes the advantage of each price a smooth function of the price:
    A(x, p_k) = sum_m w_m(x) exp(-(k - c_m)^2 / (2 s^2)) with Gaussian bumps centred every
    ``s`` grid points; 0 gives one free output per price (plain DQN head). ``s`` is at most
    :data:`MAX_PRICES` (a wider spacing than the largest grid is one bump).

    ``price_basis: quadratic`` (instead of the default ``rbf``; basis_spacing is then unused;
    not with positions) makes it a concave parabola in the price, the quadratic advantage of
    normalized advantage functions (Gu et al. 2016):

        A(x, p_k) = -kappa(x) (u_k - c(x))^2 + const,    u_k = 2 k / (K - 1) - 1 in [-1, 1],
        c = tanh(r_1(x)),  kappa = softplus(r_2(x))  (two outputs per asset),

    so the greedy price is the grid price nearest the vertex c(x), and every sampled price,
    near or far, informs the two numbers (c, kappa) instead of the few basis weights near it.
    This is the shape of a price-taker's surplus near its reservation value: a schedule's
    gain is second order in the gap between the posted and the correct value
    (docs/acceptance_b.md, "Quadratic advantages").

    ``tree_positions`` / ``bond_positions`` (both or neither; an order mechanism such as
    call-auction; dqn) add a discrete **order size** to each asset's action: a target position
    per initial share, tau for the tree (agent i orders ``s0_i (1 + tau) - s_i`` shares at its
    limit price) and beta_b for the bond (it orders ``s0_i beta_b`` bonds: bonds mature every
    period, so the order is the new position). Each asset's action index is then the pair
    (price, position), price-major (orchestrator.agents.ActionGrid); the replay is unchanged.

    ``tree_schedule_slope`` / ``bond_schedule_slope`` (both or neither; call-auction; any
    learner.algorithm; not with positions) make each posted price, a Q-learner's grid price
    or an actor-critic's continuous one, a **reservation value** v of a linear demand
    schedule instead: agent i orders ``a s0_i (1 - P / v)`` trees at price P (and rolls its
    bond position over plus ``a s0_i (1 - Q / v)``), a price-taker's order
    (lucas_abm.mechanisms.schedules). The slope a is per initial share and per unit of
    relative price gap: a = 1 buys 1% of the endowment when the price is 1% below v.
    """

    tree_low: float = 0.40
    tree_high: float = 2.00
    tree_step: float = 0.01
    bond_low: float = 0.80
    bond_high: float = 1.10
    bond_step: float = 0.005
    basis_spacing: int = 4
    price_basis: str = "rbf"              # rbf (Gaussian bumps) | quadratic (a concave parabola)
    tree_positions: list | None = None    # targets tau: s = s0 (1 + tau); None: posted prices, one lot
    bond_positions: list | None = None    # targets beta_b: b = s0 beta_b
    tree_schedule_slope: float | None = None  # schedules: a, trees per initial share per unit gap
    bond_schedule_slope: float | None = None

    def __post_init__(self) -> None:
        for asset, low in (("tree", -1.0), ("bond", None)):
            values = getattr(self, f"{asset}_positions")
            if values is not None:
                if not isinstance(values, (list, tuple)) or not values:
                    raise ConfigError(f"actions.{asset}_positions", "a non-empty list of target positions "
                                      "per initial share", values)
                setattr(self, f"{asset}_positions", [check_range(f"actions.{asset}_positions", v, low, None,
                                                                 low_open=False) for v in values])
        if (self.tree_positions is None) != (self.bond_positions is None):
            raise ConfigError("actions.bond_positions" if self.bond_positions is None else "actions.tree_positions",
                              "given together with the other asset's positions (order sizes for both)", None)
        for asset in ("tree", "bond"):
            key = f"{asset}_schedule_slope"
            if getattr(self, key) is not None:
                setattr(self, key, check_range(f"actions.{key}", getattr(self, key), 0.0, None))
        if (self.tree_schedule_slope is None) != (self.bond_schedule_slope is None):
            raise ConfigError("actions.bond_schedule_slope" if self.bond_schedule_slope is None
                              else "actions.tree_schedule_slope",
                              "given together with the other asset's schedule slope", None)
        if self.tree_schedule_slope is not None and self.tree_positions is not None:
            raise ConfigError("actions.tree_schedule_slope", "absent when actions.tree_positions "
                              "is given (schedules or target positions, not both)",
                              self.tree_schedule_slope)
        for asset in ("tree", "bond"):
            low = check_range(f"actions.{asset}_low", getattr(self, f"{asset}_low"), 0.0, None)
            high = check_range(f"actions.{asset}_high", getattr(self, f"{asset}_high"), low, None)
            step = check_range(f"actions.{asset}_step", getattr(self, f"{asset}_step"), 0.0, high - low,
                               high_open=False)
            if _grid_count(low, high, step) > MAX_PRICES:  # a typo like 1e-9: a 1.6e9-point grid
                fewest = (high - low) / (MAX_PRICES - 1)
                raise ConfigError(f"actions.{asset}_step", f">= {fewest:.6g}: at most {MAX_PRICES:,} prices "
                                  f"from {low:g} to {high:g}, each an action of the grid", step)
            setattr(self, f"{asset}_low", low)
            setattr(self, f"{asset}_high", high)
            setattr(self, f"{asset}_step", step)
        # a bump every basis_spacing grid points: wider than the largest grid is one bump
        self.basis_spacing = check_int("actions.basis_spacing", self.basis_spacing, 0, MAX_PRICES)
        check_choice("actions.price_basis", self.price_basis, PRICE_BASES)
        if self.price_basis == "quadratic" and self.tree_positions is not None:
            raise ConfigError("actions.price_basis", "rbf when actions.tree_positions is given (a "
                              "quadratic advantage is over prices alone)", self.price_basis)

    def tree_prices(self) -> np.ndarray:
        return _grid(self.tree_low, self.tree_high, self.tree_step)

    def bond_prices(self) -> np.ndarray:
        return _grid(self.bond_low, self.bond_high, self.bond_step)


#: Prices per asset the action grid may hold (the configs use 61-201; each is an output of a
#: DQN's head, and the grid itself is built in memory).
MAX_PRICES = 10_000


def _grid_count(low: float, high: float, step: float) -> float:
    """The number of grid prices as a float: inf where ``(high - low) / step`` overflows (a
    high of 1e308), so that the range check refuses it instead of int() raising."""
    with np.errstate(over="ignore"):
        return float(np.floor((high - low) / step + 1e-9)) + 1.0


def _grid_size(low: float, high: float, step: float) -> int:
    """The number of grid prices of a checked grid (finite, at most MAX_PRICES)."""
    return int(_grid_count(low, high, step))


def _grid(low: float, high: float, step: float) -> np.ndarray:
    return np.round(low + step * np.arange(_grid_size(low, high, step)), 10)
