"""Adaptive valuers: traders who learn the dividend law and the bond price from what they see,
and post the values of their holdings under those estimates (``learner.algorithm: adaptive``).

This is the anticipated-utility learner of macroeconomics (Kreps 1998; Cogley and Sargent
2008): each agent knows its own utility and patience, estimates what it does not know from
the market's history, and acts as if its current estimates were the truth. Here the unknowns
are the dividend chain's transition law P and the bond prices q(y) at which a bond position
is rolled over. With estimates (P_hat, q_hat), agent i in state y_j, holding s_i trees and
b_i bonds, posts the values of keeping those holdings for ever (the correct price-takers'
values, :mod:`lucas_abm.price_takers`, docs/heterogeneity.md):

    c_i(y) = s_i y + b_i (1 - q_hat(y)),   mu_i(y) = c_i(y)^(-gamma_i),
    v_tree_i = V_i(y_j) - y_j,   V_i = (I - beta P_hat)^(-1) (mu_i y) / mu_i (state by state),
    v_bond_i = beta sum_k P_hat_jk mu_i(y_k) / mu_i(y_j),

as the reservation values of its demand schedules (``actions.tree_schedule_slope``,
``bond_schedule_slope``). What is learned, from the replay's n-step windows (each holds
x_t .. x_{t+n}, the dividend and the last clearing prices are columns of every agent's
observation):

* **the transition law**: the mean of a Dirichlet posterior whose prior is one pseudo-
  observation per state, spread uniformly: ``P_hat[j, l] = (w / S + C[j, l]) / (w + sum_m
  C[j, m])``, C the counts of the windows' consecutive dividend states (y_t -> y_{t+1}),
  w = 1 (training refuses types with ``beliefs`` of their own, so all agents share it);
* **the bond prices**: ``q_hat(y_j) = (w beta + sum of bond clearing prices seen in y_j) /
  (w + their number)``, a price counted when x_{t+1}'s last bond volume is positive (a bond
  trade in period t, in state y_t); the prior beta is the price of a bond to a trader whose
  consumption does not move. With ``learner.bond_price_estimate: median``, q_hat(y_j) is
  instead the median of those prices and the w pseudo-observations at beta: the prices are
  also kept in a histogram of bins ``BOND_PRICE_BIN`` wide over the bond's action box (each
  bin with its count and the sum of its prices), and q_hat is the mean price of the bin that
  holds the median, within one bin (1e-4) of the sample median and exactly the price when
  every price seen is one number. The median ignores the whole episodes the market clears
  far from q(y) (the first ones, and paths on which the allocation goes astray), which keep
  the mean up to 1.8% off; since a bond position is the difference of near-equal numbers,
  c(y) = s y + b (1 - q(y)) with 1 - q(y) a few percent, errors of that size leave the debt
  4-10% short (docs/heterogeneity.md, "Adaptive valuers", measures both).

The estimates are the rule's variables (published to actors and the evaluator like a
network's weights, checkpointed for an exact resume). Exploration is not used: nothing an
agent learns here depends on its own actions. The replay item carries the posted values
themselves (float32) in ``tree_action`` / ``bond_action``; an agent whose stationary
consumption would not be positive in some state posts NaN, and the market takes no order
from it. Values outside the action box [tree_low, tree_high] x [bond_low, bond_high] are
clipped to it, like every learner's prices.

The learner knows its utility function and the form of its plan; it learns only the law of
the dividend and the market's bond prices. It is a benchmark for the model-free learners
(the DQN and actor-critics learn the values themselves, from rewards), and it is what
reaches the heterogeneous equilibrium of acceptance B (docs/heterogeneity.md, "Adaptive
valuers").
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from lucas_abm.dividends import nearest_state
from lucas_abm.equilibrium.valuations import agents_valuations
from lucas_abm.errors import ConfigError
from lucas_abm.mechanisms.schedules import schedule_arguments
from orchestrator.agents import Features, shard_initial_shares
from orchestrator.config import TrainConfig

PRIOR_WEIGHT = 1.0      # w: pseudo-observations of the prior, per state (transitions, bond price)
BOND_PRICE_BIN = 1e-4   # width of the bond-price histogram's bins (learner.bond_price_estimate: median)
COLUMNS = ("shares", "bonds", "dividend", "last_bond_price", "last_bond_volume")


def check_adaptive(config: TrainConfig) -> None:
    """What the adaptive valuers need, refused in one line naming the field before any work."""
    econ, pop = config.economy, config.population_types
    if pop is None:
        raise ConfigError("population", "a population: section with learner.algorithm adaptive "
                          "(its valuers value holdings with their own type's gamma)", None)
    if econ.dividend != "markov":
        raise ConfigError("economy.dividend", "markov with learner.algorithm adaptive (the learners "
                          "estimate the chain's transition law)", econ.dividend)
    if config.actions.tree_schedule_slope is None:
        raise ConfigError("actions.tree_schedule_slope", "set with learner.algorithm adaptive (values "
                          "are posted as the reservation values of demand schedules)", None)
    if not config.market.public_information:
        raise ConfigError("market.public_information", "true with learner.algorithm adaptive (the "
                          "learners read the bond's clearing price from the observation)", False)
    with_income = [t.name for t in pop.types if t.income.mean != 0 or t.income.volatility != 0]
    if with_income:
        raise ConfigError(f"population.{with_income[0]}.income", "absent with learner.algorithm "
                          "adaptive (its values of holdings leave non-tradable income out)", "set")


class AdaptiveRule:
    """Agents [lo, hi) as adaptive valuers, an :class:`orchestrator.core.Algorithm`."""

    action_dtype = np.float32      # the posted values themselves

    def __init__(self, config: TrainConfig, observation_dim: int, shards: int = 1, shard: int = 0):
        import tensorflow as tf

        from orchestrator.algorithms import check_sharding, shard_bounds
        from orchestrator.episode import Economy

        check_sharding(config, shards)        # check_adaptive ran when the TrainConfig was built
        self.lo, self.hi = shard_bounds(config.market.n_agents, shards, shard)
        self.sliced = (self.lo, self.hi) != (0, config.market.n_agents)
        economy = Economy(config)
        market = economy.market()
        features = Features.build(config, market, economy.dividend)
        if len(features.names) > observation_dim:
            raise ConfigError("observation_dim", f">= {len(features.names)} (the market's columns)",
                              observation_dim)
        cols = [features.names.index(name) for name in COLUMNS]
        rows = slice(self.lo, self.hi)
        self._offset, self._scale = features.offset[rows][:, cols], features.scale[rows][:, cols]
        self._cols = cols
        self.states = np.asarray(config.economy.dividend_params["states"], float)
        self.gamma = economy.population.gamma[rows]
        self.beta = float(config.economy.beta)   # training refuses a type beta of its own
        s = self.states.size
        self.prior_transition = np.full((s, s), 1.0 / s)
        self.prior_bond_price = float(config.economy.beta)
        self.transition_counts = tf.Variable(np.zeros((s, s)), dtype=tf.float64, name="transition_counts")
        self.bond_price_sums = tf.Variable(np.zeros(s), dtype=tf.float64, name="bond_price_sums")
        self.bond_price_counts = tf.Variable(np.zeros(s), dtype=tf.float64, name="bond_price_counts")
        a = config.actions
        self.median = config.learner.bond_price_estimate == "median"
        if self.median:
            self._bond_low = float(a.bond_low)
            self.bond_bins = int(np.ceil((a.bond_high - a.bond_low) / BOND_PRICE_BIN))
            self.bond_histogram = tf.Variable(np.zeros((s, self.bond_bins)), dtype=tf.float64,
                                              name="bond_histogram")
            self.bond_histogram_sums = tf.Variable(np.zeros((s, self.bond_bins)), dtype=tf.float64,
                                                   name="bond_histogram_sums")
            self._prior_bin = int(self.bond_bin(self.prior_bond_price))
        self.box = ((a.tree_low, a.tree_high), (a.bond_low, a.bond_high))
        self.slopes = (a.tree_schedule_slope, a.bond_schedule_slope)

    # ---- the estimates ------------------------------------------------------------------
    def estimates(self) -> tuple[np.ndarray, np.ndarray]:
        """(P_hat [S, S], q_hat [S]): the posterior means of the module docstring, or, with
        ``bond_price_estimate: median``, q_hat the median (the mean price of the bin where the
        cumulative count, prior included, first reaches half the total)."""
        counts = self.transition_counts.numpy()
        w = PRIOR_WEIGHT
        p_hat = (w * self.prior_transition + counts) / (w + counts.sum(axis=1, keepdims=True))
        if not self.median:
            q_hat = (w * self.prior_bond_price + self.bond_price_sums.numpy()) / (w + self.bond_price_counts.numpy())
            return p_hat, q_hat
        seen, sums = self.bond_histogram.numpy().copy(), self.bond_histogram_sums.numpy().copy()
        seen[:, self._prior_bin] += w
        sums[:, self._prior_bin] += w * self.prior_bond_price
        cumulative = np.cumsum(seen, axis=1)
        middle = np.argmax(cumulative >= 0.5 * cumulative[:, -1:], axis=1)
        rows = np.arange(seen.shape[0])
        return p_hat, sums[rows, middle] / seen[rows, middle]

    def bond_bin(self, price: np.ndarray) -> np.ndarray:
        """The histogram bin of each bond price (prices outside the box go to the end bins)."""
        k = np.floor((np.asarray(price, float) - self._bond_low) / BOND_PRICE_BIN)
        return np.clip(k, 0, self.bond_bins - 1).astype(np.int64)

    def _decode(self, x: np.ndarray, agent: int | None = None) -> np.ndarray:
        """[N, D] scaled observations of agents [lo, hi) (or [..., D] of one ``agent`` of them)
        -> [..., 5] raw: shares, bonds, y, last bond price and volume; the inverse of
        Features.observation on these columns."""
        scale, offset = (self._scale, self._offset) if agent is None else (self._scale[agent], self._offset[agent])
        raw = np.asarray(x, float)[..., self._cols] * scale + offset
        raw[..., 2] = np.exp(raw[..., 2])     # the dividend is fed as a log
        return raw

    # ---- acting -------------------------------------------------------------------------
    def policy(self, observation: np.ndarray, explore: float,
               rng: np.random.Generator | None) -> dict[str, np.ndarray]:
        """Every agent's values of its holdings in the current state (``explore`` is not used)."""
        x = observation[self.lo:self.hi] if self.sliced else observation
        raw = self._decode(x)
        shares, bonds = raw[:, 0], raw[:, 1]
        j = int(nearest_state(raw[0, 2], self.states))
        p_hat, q_hat = self.estimates()
        v_tree, v_bond = agents_valuations(self.states, p_hat, self.beta, self.gamma, shares, bonds, q_hat)
        v_tree, v_bond = v_tree[:, j], v_bond[:, j]          # NaN where consumption would not stay > 0
        (t_lo, t_hi), (b_lo, b_hi) = self.box
        return {"tree_action": np.clip(v_tree, t_lo, t_hi).astype(np.float32),
                "bond_action": np.clip(v_bond, b_lo, b_hi).astype(np.float32)}

    def prices(self, actions: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The posted values are the prices."""
        return (np.asarray(actions["tree_action"], np.float64), np.asarray(actions["bond_action"], np.float64))

    def orders(self, actions: Mapping[str, np.ndarray], market) -> tuple:
        """(None, None, a_tree s0_i, a_bond s0_i): linear demand schedules around the values."""
        return schedule_arguments(self.slopes[0], self.slopes[1], shard_initial_shares(market, self.lo, self.hi))

    # ---- learning -----------------------------------------------------------------------
    def train_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """Counts the batch's dividend transitions and bond prices (module docstring).

        Returns ``loss``: the mean squared error of the bond prices seen against q_hat before
        the update (a forecast error); ``td_error``: its mean absolute value; ``max_weight``:
        the largest estimate; ``transitions``: the transitions counted so far."""
        obs = batch["observation"]
        obs = obs.numpy() if hasattr(obs, "numpy") else np.asarray(obs)
        raw = self._decode(obs[:, :, 0, :], agent=0)          # [B, n+1, 5]: public columns, agent lo
        state = nearest_state(raw[..., 2], self.states)       # [B, n+1]
        before, after = state[:, :-1].ravel(), state[:, 1:].ravel()
        s = self.states.size
        counts = np.zeros((s, s))
        np.add.at(counts, (before, after), 1.0)
        fresh = raw[:, 1:, 4].ravel() > 0                     # a bond trade in period t (state y_t)
        price = raw[:, 1:, 3].ravel()[fresh]
        where = before[fresh]
        _, q_hat = self.estimates()
        error = price - q_hat[where]
        sums, seen = np.zeros(s), np.zeros(s)
        np.add.at(sums, where, price)
        np.add.at(seen, where, 1.0)
        self.transition_counts.assign_add(counts)
        self.bond_price_sums.assign_add(sums)
        self.bond_price_counts.assign_add(seen)
        if self.median:
            bins = self.bond_bin(price)
            histogram, histogram_sums = np.zeros((s, self.bond_bins)), np.zeros((s, self.bond_bins))
            np.add.at(histogram, (where, bins), 1.0)
            np.add.at(histogram_sums, (where, bins), price)
            self.bond_histogram.assign_add(histogram)
            self.bond_histogram_sums.assign_add(histogram_sums)
        p_hat, q_hat = self.estimates()
        return {"loss": float(np.mean(error ** 2)) if error.size else 0.0,
                "td_error": float(np.mean(np.abs(error))) if error.size else 0.0,
                "max_weight": float(max(np.abs(p_hat).max(), np.abs(q_hat).max())),
                "transitions": float(self.transition_counts.numpy().sum())}

    def episode_metrics(self) -> dict[str, float]:
        """The estimates, for metrics.csv and TensorBoard: ``p_hat[y->y']`` and ``q_hat[y=...]``."""
        p_hat, q_hat = self.estimates()
        labels = [f"{y:g}" for y in self.states]
        out = {f"p_hat[{a}->{b}]": float(p_hat[j, l]) for j, a in enumerate(labels) for l, b in enumerate(labels)}
        out.update({f"q_hat[y={a}]": float(q_hat[j]) for j, a in enumerate(labels)})
        return out

    @property
    def variables(self) -> list:
        """The estimates' sufficient statistics (and the bond-price histogram with the median):
        all an actor or the evaluator needs to act."""
        histogram = [self.bond_histogram, self.bond_histogram_sums] if self.median else []
        return [self.transition_counts, self.bond_price_sums, self.bond_price_counts, *histogram]

    def checkpoint_objects(self) -> dict[str, Any]:
        objects = {"transition_counts": self.transition_counts, "bond_price_sums": self.bond_price_sums,
                   "bond_price_counts": self.bond_price_counts}
        if self.median:
            objects.update(bond_histogram=self.bond_histogram, bond_histogram_sums=self.bond_histogram_sums)
        return objects
