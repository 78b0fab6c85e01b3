"""The dealer economy of benchmarks/dqn_fixed_prices.py: M price-takers trading demand
schedules with a dealer at the representative agent's p(y), q(y) (that script's docstring has
the dynamics), the learners' observations and rewards as the market scales them, and what a
misposted value costs an agent at the endowment (docs/acceptance_b.md, "What a misposted
value costs the learner").
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the repository

from _dealer import dealer_step, observation, reward  # noqa: E402  (NumPy here, jax.numpy in dqn_at_scale.py)

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "population_two_types_financed_cpu.yaml"


@dataclass
class FixedPriceMarket:
    """M price-takers trading demand schedules with a dealer at p(y), q(y) (module docstring)."""

    states: np.ndarray          # dividend levels y_k
    transition: np.ndarray      # P[j, k]
    tree_prices: np.ndarray     # p(y_k)
    bond_prices: np.ndarray     # q(y_k)
    gamma: float
    tree_slope: float           # a_t (per unit of s0)
    bond_slope: float           # a_b
    borrowing_limit: float      # L (per unit of s0)
    floor_fraction: float = 0.01
    tree_settlement: str = "bonds"   # the mechanism's tree_settlement: "bonds" (financed) or "cash"
    financed_fraction: float = 1.0   # with "bonds": the part of each tree trade paid in bonds

    def __post_init__(self):
        from lucas_abm.mechanisms.schedules import TREE_SETTLEMENTS

        if self.tree_settlement not in TREE_SETTLEMENTS:
            raise ValueError(f"tree_settlement: one of {TREE_SETTLEMENTS}, got {self.tree_settlement!r}")

    @property
    def paid_in_bonds(self) -> float:
        """phi, the part of each tree trade paid in bonds: financed_fraction, 0 with cash."""
        return self.financed_fraction if self.tree_settlement == "bonds" else 0.0

    def step(self, state: np.ndarray, shares: np.ndarray, bonds: np.ndarray, tree_value: np.ndarray,
             bond_value: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One period at the dealer's prices: (consumption, new shares, new bonds), each [M]."""
        return dealer_step(np, self.states[state], self.tree_prices[state], self.bond_prices[state], shares, bonds,
                           tree_value, bond_value, self.tree_slope, self.bond_slope, self.borrowing_limit,
                           self.paid_in_bonds, self.floor_fraction)


def make_economy(config, gamma: float) -> tuple[FixedPriceMarket, np.ndarray, np.ndarray]:
    """The fixed-price market of ``config`` (its chain, beta, slopes and borrowing limit) for
    identical agents of risk aversion ``gamma``, and the representative agent's p(y), q(y)."""
    from lucas_abm.equilibrium.valuations import own_valuations

    params = config.economy.dividend_params
    states = np.asarray(params["states"], float)
    transition = np.asarray(params["transition"], float)
    # at s = 1 (the whole endowment) and no bonds the agent's own values are p(y), q(y)
    p, q = own_valuations(states, transition, config.economy.beta, gamma, 1.0, 0.0, np.ones_like(states))
    types = config.population_types.types if config.population_types is not None else ()
    limit = types[0].borrowing_limit if types else config.market.borrowing_limit
    params = config.economy.mechanism_params or {}
    market = FixedPriceMarket(states, transition, p, q, gamma, config.actions.tree_schedule_slope,
                              config.actions.bond_schedule_slope, float(limit),
                              tree_settlement=params.get("tree_settlement", "cash"),
                              financed_fraction=float(params.get("financed_fraction", 1.0)))
    return market, p, q


def misposting_loss(market: FixedPriceMarket, beta: float, state: int, error: float,
                    asset: str = "tree", settlement: str | None = None,
                    financed_fraction: float | None = None) -> float:
    """What posting a value ``error`` away from the dealer's price for one period costs the
    agent at the endowment (s = 1, b = 0) in state y_j, in units of utility, if it acts
    optimally afterwards: the advantage the DQN must resolve, Q(x0, p) - Q(x0, p (1 + e)).

    At the dealer's prices, which are the representative agent's, markets are complete (two
    states, two assets) and an agent of wealth w in state y consumes the fraction w / w*(y) of
    the dividend for ever, where w*(y) = y + p(y) is the endowment's wealth, so

        V(w, y) = (w / w*(y))^(1 - gamma) V*(y),   V* = (I - beta P)^(-1) u(y)
                  (V*(y) + log(w / w*(y)) / (1 - beta) at gamma = 1).

    A tree posting v = P (1 + e) buys z = a_t (1 - P/v) trees paid for in bonds (sold for
    bonds if z < 0): this period's consumption is unchanged and next period's wealth is
    w'_k = (1 + z)(y_k + p_k) - P z / Q. With ``settlement="cash"`` (the market's
    ``tree_settlement: cash``) they are paid for out of consumption instead: c = y - P z and
    w'_k = (1 + z)(y_k + p_k); with ``financed_fraction`` phi < 1 the part phi in bonds and the
    rest in cash: c = y - (1 - phi) P z, w'_k = (1 + z)(y_k + p_k) - phi P z / Q. A bond
    posting buys b = a_b (1 - Q/v) bonds out of consumption: c = y - Q b and w'_k = w*_k + b.
    The loss is

        L(e) = u(y) - u(c) + beta sum_k P_jk [V(w*_k, y_k) - V(w'_k, y_k)],

    zero with a zero derivative at e = 0 (the agent's Euler equation at the endowment), so
    second order in e. (Caps and the borrowing limit do not bind for the small errors this
    is meant for.) ``settlement`` and ``financed_fraction`` default to the market's own."""
    from lucas_abm.utility import CRRAUtility

    u = CRRAUtility(market.gamma)
    y, trans = market.states, market.transition
    p, q = market.tree_prices, market.bond_prices
    v_star = np.linalg.solve(np.eye(y.size) - beta * trans, u(y))
    wealth = y + p
    settled = replace(market, tree_settlement=settlement or market.tree_settlement,
                      financed_fraction=market.financed_fraction if financed_fraction is None else financed_fraction)
    phi = settled.paid_in_bonds
    if asset == "tree":
        z = market.tree_slope * (1.0 - 1.0 / (1.0 + error))
        c, new_wealth = y[state] - (1.0 - phi) * p[state] * z, (1.0 + z) * wealth - phi * p[state] * z / q[state]
    elif asset == "bond":
        b = market.bond_slope * (1.0 - 1.0 / (1.0 + error))
        c, new_wealth = y[state] - q[state] * b, wealth + b
    else:
        raise ValueError(f"asset: 'tree' or 'bond', got {asset!r}")
    ratio = new_wealth / wealth
    if market.gamma == 1.0:     # log utility: V(w, y) = V*(y) + log(w / w*(y)) / (1 - beta)
        continuation = -trans[state] @ np.log(ratio) / (1.0 - beta)
    else:
        continuation = trans[state] @ (v_star * (1.0 - ratio ** (1.0 - market.gamma)))
    return float(u(y[state]) - u(c) + beta * continuation)


class Observer:
    """The learners' inputs and rewards as :class:`orchestrator.agents.Features` scales them for
    a population agent (holdings in units of ``holdings_unit_lots`` lots of s0, log dividend
    standardised, income e / y). Restated for a dealer market, which Features cannot read;
    tests/test_dqn_fixed_prices.py holds it to Features for gamma 1, 2 and 5."""

    def __init__(self, config, market: FixedPriceMarket):
        from lucas_abm.dividends import make_dividend
        from orchestrator.agents import dividend_moments

        lc, mc = config.learner, config.market
        lots = lc.holdings_unit_lots
        chain = make_dividend(config.economy.dividend, **config.economy.dividend_params)
        mean_y, self.mean_log, self.sd_log = dividend_moments(chain)       # as Features.build
        self.share_unit, self.bond_unit = lots * mc.tree_lot, lots * mc.bond_lot   # per unit of s0
        marginal = mean_y ** (-market.gamma)
        value_of_lot = marginal * mean_y * mc.tree_lot / (1.0 - config.economy.beta)
        self.reward_scale = lc.reward_scale / value_of_lot
        self.reward_clip = lc.reward_clip
        self.consumption_floor = mc.consumption_floor
        self.market = market

    @property
    def levels(self) -> list[float]:
        """The dividend column's value in each state (the gate of learner.state_networks)."""
        return [float((np.log(y) - self.mean_log) / self.sd_log) for y in self.market.states]

    def observation(self, state, shares, bonds) -> np.ndarray:
        return observation(np, self.market.states[state], shares, bonds, self.share_unit, self.bond_unit,
                           self.mean_log, self.sd_log)

    def reward(self, state, consumption) -> np.ndarray:
        return reward(np, self.market.states[state], consumption, self.market.gamma, self.reward_scale,
                      self.reward_clip, self.consumption_floor)


ERRORS = (-0.10, -0.03, -0.01, 0.01, 0.03, 0.10)


def incentive_table(gamma: float, config_path: Path = CONFIG, overrides: list[str] | None = None) -> dict:
    """misposting_loss in the DQN's reward units for each state, asset and error in ERRORS."""
    from orchestrator.config import load_config

    config = load_config(config_path, overrides or [])
    market, _, _ = make_economy(config, gamma)
    scale = Observer(config, market).reward_scale
    rows = [{"dividend": float(market.states[k]), "asset": asset,
             **{f"{e:+.2f}": misposting_loss(market, config.economy.beta, k, e, asset) * scale
                for e in ERRORS}}
            for k in range(len(market.states)) for asset in ("tree", "bond")]
    return {"gamma": gamma, "tree_settlement": market.tree_settlement,
            "financed_fraction": market.financed_fraction, "rows": rows}
