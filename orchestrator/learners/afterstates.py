"""Afterstate targets: what every other tree or bond value would have given on the same draw.

A Q-learner scores each reservation value only from the periods it posted it, so the
advantage of one tree value over its neighbours is a difference of two noisy returns
(docs/acceptance_b.md, "Quadratic advantages"). Yet in the financed schedules market
(``economy.mechanism_params.tree_settlement: bonds``, lucas_abm/mechanisms/schedules.py) an
agent knows what its tree value does once the period's clearing prices P_t, Q_t are known:
a price-taker's schedules (slopes a s0, a_b s0; its bond value w as posted) give

    z(v) = max(a s0 (1 - P_t / v), -s_t)                       trees bought (sold if < 0),
    zb   = max(max(b_t, -L) + a_b s0 (1 - Q_t / w), -L)        the bond schedule's position,

and the settlement pays for trees with bonds: a buyer issues ``F(v) = min(P_t z, (zb + L)^+ Q_t)``
worth of bonds and pays the rest in cash; a seller takes a fraction ``f`` of its proceeds in
bonds, ``f = sum_k F_k / sum_k P_t |z_k|`` over the period's buyers and sellers (read off the
batch: every sample holds every agent). So the holdings and consumption of value v are

    s'(v) = s_t + z(v),
    b'(v) = zb - F(v) / Q_t                       (buyer),   zb + f P_t |z(v)| / Q_t   (seller),
    c(v)  = e_t - P_t z(v) - Q_t b'(v),

and its reward ``r(v) = clip(R (u(c(v)) - u(s0 y_t)))`` (Features.reward, without a penalty).
A bond value w enters the same way, through zb(w), with the tree value as posted. These are
*afterstates* (Sutton and Barto 2018, section 6.8): the action's effect is known, only what
follows it is not. The holdings and consumption enter as differences from the values actually
posted (``b'(v) - b'(v_taken)`` added to the observed b_{t+1}, likewise c), so the posted
values' afterstate is the observed x_{t+1} exactly, budget caps included. For K tree values
v_i drawn from the tree grid (and K_b bond values w_j from the bond grid), uniformly or, with
``learner.afterstate_spread`` s > 0, the posted value moved by round(N(0, s^2)) ticks (so that
the afterstates stay near the holdings the networks were trained on), each sample adds the
one-step targets

    y_i = r(v_i) + beta Q_target(x'_{t+1}(v_i), argmax_a Q_online(x'_{t+1}(v_i), a))

for Q(x_t, v_i, bond value posted) (and likewise for Q(x_t, tree value posted, w_j)) to the
DQN's loss (orchestrator.dqn.EnsembleDQN.train_step), x'_{t+1}(v) being x_{t+1} with the
holdings and income of v. The advantages of the drawn values are then differences of one
network's values on the same draw, with no sampling noise of their own.

Approximations, stated: the agent's own value does not move P_t (the auction's price is the
slope-weighted harmonic mean of N values, so it moves by about 1/N of the agent's change) nor
f; the budget cap is not modelled for the values not posted. A period in which either asset
did not trade (last volume 0 in x_{t+1}: its price is stale) gives no afterstates.
``learner.afterstate_tree_values`` and ``afterstate_bond_values`` set K and K_b (0: off);
TrainConfig refuses them outside the financed schedules market with the last prices observed
(``market.public_information``), since P_t and Q_t are read from x_{t+1}.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import tensorflow as tf


class Afterstates(NamedTuple):
    """One batch's afterstates: drawn grid indices [B, N, K], the next observations they give
    [B, N, K, D] and their rewards [B, N, K], per asset; ``mask`` [B, N] (1: the period traded
    both assets, so P_t and Q_t are known)."""

    tree_values: np.ndarray
    tree_states: np.ndarray
    tree_rewards: np.ndarray
    bond_values: np.ndarray
    bond_states: np.ndarray
    bond_rewards: np.ndarray
    mask: np.ndarray


@dataclass
class AfterstateTargets:
    """Builds the K afterstates of every sample from a replay batch (numpy, before the update),
    for all N agents (the sellers' bond fraction f is a sum over them).

    ``features`` is the actors' :class:`~orchestrator.agents.Features` (normalisation, utility,
    reward scale and clip); ``tree_slope``, ``bond_slope`` [N] are a s0 and a_b s0;
    ``limit`` [N] the borrowing limits; ``tree_values``, ``bond_values`` the price grids.
    """

    features: object
    columns: dict
    tree_slope: np.ndarray
    bond_slope: np.ndarray
    limit: np.ndarray
    tree_values: np.ndarray
    bond_values: np.ndarray
    k_tree: int
    k_bond: int
    rng: np.random.Generator
    spread: float = 0.0

    def _raw(self, x: np.ndarray, name: str) -> np.ndarray:
        """The raw market column ``name`` of normalised observations x [B, N, D], float64."""
        j = self.columns[name]
        return x[..., j].astype(np.float64) * self._scale[:, j] + self._offset[:, j]

    @property
    def _offset(self) -> np.ndarray:      # [N, market columns] (characteristics come after them)
        return np.broadcast_to(self.features.offset, (self.limit.size, len(self.columns)))

    @property
    def _scale(self) -> np.ndarray:
        return np.broadcast_to(self.features.scale, (self.limit.size, len(self.columns)))

    def _financed(self, z, zb, price, bond_price):
        """F = min(P z^+, (zb + L)^+ Q): the purchase a buyer pays for with bonds (module docstring)."""
        return np.minimum(np.maximum(z, 0.0) * price, np.maximum(zb + self.limit[:, None], 0.0) * bond_price)

    def _settle(self, z, zb, price, bond_price, f):
        """(b'(v), c(v) - e_t) of tree fills z [B, N, ...], the bond position zb and the
        sellers' bond fraction f broadcast against them (module docstring)."""
        financed = self._financed(z, zb, price, bond_price)
        bonds = np.where(z > 0, zb - financed / bond_price, zb - f * price * z / bond_price)
        return bonds, -price * z - bond_price * bonds

    def __call__(self, x_t: np.ndarray, x_next: np.ndarray, tree_action: np.ndarray,
                 bond_action: np.ndarray) -> Afterstates:
        """x_t, x_next [B, N, D] (normalised), tree_action, bond_action [B, N] (grid indices) ->
        the afterstates of K_tree drawn tree values (the bond value as posted) and of K_bond
        drawn bond values (the tree value as posted), and the mask of samples that have them."""
        s_t, s_1 = self._raw(x_t, "shares"), self._raw(x_next, "shares")
        b_t, b_1 = self._raw(x_t, "bonds"), self._raw(x_next, "bonds")
        y_t = np.exp(self._raw(x_t, "dividend"))
        price, bond_price = self._raw(x_next, "last_tree_price"), self._raw(x_next, "last_bond_price")
        mask = ((self._raw(x_next, "last_tree_volume") > 0) & (self._raw(x_next, "last_bond_volume") > 0)
                & (price > 0) & (bond_price > 0))
        price, bond_price = np.where(mask, price, 1.0)[..., None], np.where(mask, bond_price, 1.0)[..., None]
        period = dict(x_next=x_next, price=price, bond_price=bond_price, y_t=y_t,
                      consumption=self._raw(x_t, "income") * y_t - price[..., 0] * (s_1 - s_t)
                      - bond_price[..., 0] * b_1)     # income is fed as e / y (Features.observation)
        base = np.maximum(b_t, -self.limit)[..., None]
        zb = np.maximum(base + self.bond_slope[:, None] * (1 - bond_price / self.bond_values[bond_action][..., None]),
                        -self.limit[:, None])
        z = (s_1 - s_t)[..., None]
        # f: the bonds the period's sellers took per unit of proceeds (the model, every agent)
        financed = self._financed(z, zb, price, bond_price)
        sold = (np.maximum(-z, 0) * price).sum(axis=1, keepdims=True)
        period["f"] = np.minimum(financed.sum(axis=1, keepdims=True) / np.where(sold > 0, sold, 1.0), 1.0)
        period["taken"] = self._settle(z, zb, price, bond_price, period["f"])
        tree = self._draw(tree_action, len(self.tree_values), self.k_tree)
        z_tree = np.maximum(self.tree_slope[:, None] * (1.0 - price / self.tree_values[tree]), -s_t[..., None])
        bond = self._draw(bond_action, len(self.bond_values), self.k_bond)
        zb_bond = np.maximum(base + self.bond_slope[:, None] * (1 - bond_price / self.bond_values[bond]),
                             -self.limit[:, None])
        tree_after, tree_reward = self._after(period, z_tree - z, z_tree, np.broadcast_to(zb, z_tree.shape))
        bond_after, bond_reward = self._after(period, np.zeros_like(zb_bond), np.broadcast_to(z, zb_bond.shape),
                                              zb_bond)
        return Afterstates(tree, tree_after, tree_reward, bond, bond_after, bond_reward, mask.astype(np.float32))

    def _draw(self, posted: np.ndarray, n_values: int, k: int) -> np.ndarray:
        """K grid indices per sample [B, N, K]: uniform over the grid (``spread`` 0), or the
        posted index moved by round(N(0, spread^2)) ticks, clipped to the grid."""
        size = posted.shape + (k,)
        if self.spread <= 0:
            return self.rng.integers(0, n_values, size=size).astype(np.int32)
        moved = posted[..., None] + np.rint(self.spread * self.rng.standard_normal(size))
        return np.clip(moved, 0, n_values - 1).astype(np.int32)

    def _after(self, period: dict, d_shares, z, zb) -> tuple[np.ndarray, np.ndarray]:
        """The afterstates [B, N, K, D] and rewards [B, N, K] of fills z and bond positions zb:
        the observed x_{t+1} and consumption plus the differences from the value posted."""
        bonds, spend = self._settle(z, zb, period["price"], period["bond_price"], period["f"])
        bonds_taken, spend_taken = period["taken"]
        d_bonds = bonds - bonds_taken
        x_next = period["x_next"]
        y_1 = np.exp(self._raw(x_next, "dividend"))[..., None]
        after = np.repeat(x_next[:, :, None, :], z.shape[2], axis=2).astype(np.float64)
        scale = self._scale
        j_s, j_b, j_e = self.columns["shares"], self.columns["bonds"], self.columns["income"]
        after[..., j_s] += d_shares / scale[:, None, j_s]
        after[..., j_b] += d_bonds / scale[:, None, j_b]
        after[..., j_e] += (d_shares + d_bonds / y_1) / scale[:, None, j_e]   # s + b / y, in units of y
        consumption = period["consumption"][..., None] + (spend - spend_taken)
        return after.astype(np.float32), self._reward(consumption, period["y_t"])

    def _reward(self, consumption: np.ndarray, dividend: np.ndarray) -> np.ndarray:
        """r = clip(R (u(max(c, floor)) - u(s0 y_t))) (Features.reward, no penalty), [B, N, K]."""
        f = self.features
        c = np.maximum(consumption, f.consumption_floor)
        s0 = np.broadcast_to(np.asarray(f.initial_shares, float), c.shape[1:2])
        utility = np.moveaxis(f.utility(np.moveaxis(c, 1, 0)), 0, 1)               # agents first
        endowment = np.moveaxis(f.utility(np.moveaxis(s0[None, :] * dividend, 1, 0)), 0, 1)
        scale = np.broadcast_to(np.asarray(f.reward_scale, float), s0.shape)
        reward = (utility - endowment[..., None]) * scale[:, None]
        if f.reward_clip is not None:
            reward = np.clip(reward, -f.reward_clip, f.reward_clip)
        return reward.astype(np.float32)


class GeneratorState(tf.train.experimental.PythonState):
    """A numpy Generator as a ``tf.train.Checkpoint`` object: its bit generator's state is
    written with the networks and read back on restore, so a resumed run draws the afterstates
    an uninterrupted one would have drawn."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def serialize(self) -> str:
        return json.dumps(self.rng.bit_generator.state)

    def deserialize(self, string) -> None:
        self.rng.bit_generator.state = json.loads(string.numpy() if hasattr(string, "numpy") else string)


def afterstate_targets(config, grid, seed: int) -> AfterstateTargets | None:
    """The afterstate builder of every agent of ``config`` (None when
    ``learner.afterstate_tree_values`` and ``afterstate_bond_values`` are 0). Builds the market
    once, as the actors do (the population's draw is seeded by training.seed), for its
    normalisation and limits."""
    lc = config.learner
    if not (lc.afterstate_tree_values or lc.afterstate_bond_values):
        return None
    from orchestrator.agents import Features
    from orchestrator.episode import Economy

    economy = Economy(config)
    market = economy.market()
    features = Features.build(config, market, economy.dividend)
    n = market.n_agents
    s0 = np.broadcast_to(np.asarray(features.initial_shares, float), (n,))
    limits = market.rules.borrowing_limits
    limits = np.full(n, market.rules.borrowing_limit) if limits is None else np.asarray(limits, float)
    a = config.actions
    return AfterstateTargets(features=features,
                             columns={name: j for j, name in enumerate(market.observation_names)},
                             tree_slope=a.tree_schedule_slope * s0, bond_slope=a.bond_schedule_slope * s0,
                             limit=limits, tree_values=np.asarray(grid.tree_prices, float),
                             bond_values=np.asarray(grid.bond_prices, float),
                             k_tree=int(lc.afterstate_tree_values), k_bond=int(lc.afterstate_bond_values),
                             rng=np.random.default_rng(seed), spread=float(lc.afterstate_spread))
