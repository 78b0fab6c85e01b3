"""Exploring starts: training episodes that begin away from the endowment.

A learner's reservation value for the tree is its marginal value of a share,
dV/ds / u'(c), a slope of its value function in its own holding. If every training episode
starts at the endowment and the market trades little, the data cover one point of holdings
space and the slope is identified only through the networks' extrapolation. Exploring
starts (Sutton and Barto 2018, section 5.3) begin each training episode from holdings spread
around the endowment:

    s_i = s0_i (1 + sigma_s (z_i - zbar)),   zbar  = sum_j s0_j z_j / sum_j s0_j,
    b_i = sigma_b L_i (z'_i - zbar'),         zbar' = sum_j L_j z'_j / sum_j L_j,

with z, z' ~ U[-1, 1] independent across agents, s0_i the agent's endowment of shares and L_i
its borrowing limit. The centring keeps the tree supply (sum s_i = sum s0_i) and the bonds'
zero net supply (sum b_i = 0) exact; |z - zbar| <= 2, so sigma <= 1/2 keeps s_i >= 0 and
b_i >= -L_i. A bond position b_i at t = 0 is a claim maturing in the first period (income
s_i y_0 + b_i). The draws come from their own generator, seeded by the episode's seed, so
exploration, the market and resumption are unchanged; with both spreads 0 nothing is drawn.

With a finite population the type totals move too, by about sigma / sqrt(count) of the type's
holding, so a training episode's equilibrium is that of a slightly different endowment;
evaluation episodes start from the endowment itself.
"""
from __future__ import annotations

import numpy as np

from lucas_abm.market import LucasMarket
from orchestrator.config import ExplorationConfig

START_STREAM = 0x5354   # "ST": keeps the starts' generator apart from the market's


def start_holdings(initial_shares: np.ndarray, borrowing_limits: np.ndarray, tree_spread: float,
                   bond_spread: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Holdings (s, b) spread around (s0, 0) as in the module docstring; [N] float64 each."""
    s0 = np.asarray(initial_shares, float)
    limits = np.broadcast_to(np.asarray(borrowing_limits, float), s0.shape)
    z = rng.uniform(-1.0, 1.0, s0.shape)
    z_bond = rng.uniform(-1.0, 1.0, s0.shape)
    shares = s0 * (1.0 + tree_spread * (z - (s0 @ z) / s0.sum()))
    weights = limits.sum()
    bonds = (bond_spread * limits * (z_bond - (limits @ z_bond) / weights) if weights > 0
             else np.zeros_like(s0))
    return np.maximum(shares, 0.0), np.maximum(bonds, -limits)


def exploring_start(market: LucasMarket, config: ExplorationConfig, episode_seed: int) -> np.ndarray | None:
    """Move a freshly reset market to spread starting holdings; return its new observation,
    or None (market untouched) when both spreads are 0."""
    if config.start_tree_spread == 0.0 and config.start_bond_spread == 0.0:
        return None
    limits = market.rules.borrowing_limits
    if limits is None:
        limits = np.full(market.n_agents, market.config.borrowing_limit)
    rng = np.random.default_rng([episode_seed, START_STREAM])
    market.shares, market.bonds = start_holdings(market.shares, limits, config.start_tree_spread,
                                                 config.start_bond_spread, rng)
    return market.observation()
