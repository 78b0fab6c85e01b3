"""What every ensemble actor-critic shares: the agent layout, n-step returns, optimizers.

Agents are laid out ``[groups, agents_per_group]`` (:mod:`orchestrator.learners.layout`):
``groups = n_agents`` gives every agent its own weights (the thesis' design), ``groups =
n_types`` one weight set per agent type, as in :class:`orchestrator.dqn.EnsembleDQN`; types of
unequal counts (``group_index``) are padded to the largest, and every loss is the sum over
groups of each group's mean over its own agents' samples (``layout.group_means``).

The driver-facing interface (the same for every algorithm here)::

    learner.greedy(x)              x [N, D] float32 -> a [N, k] float32 in [-1, 1]  (evaluation)
    learner.act(x, rng, scale)     -> a [N, k], exploring with noise from rng        (training)
    learner.train(batch)           Reverb sample -> UpdateInfo(loss, td_error, max_weight, ...)
    learner.train_step(x, a, r)    [B, n+1, N, D], [B, n, N, k], [B, n, N] -> UpdateInfo
    learner.checkpoint_objects()   {name: trackable} for tf.train.Checkpoint
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import tensorflow as tf

from orchestrator.learners.layout import GroupLayout


class EnsembleLearner:
    """Layout and n-step bookkeeping of a batched ensemble of per-agent learners."""

    def __init__(self, n_agents: int, groups: int, observation_dim: int, action_dim: int,
                 discount: float, n_step: int, group_index=None):
        self.layout = GroupLayout(n_agents, groups, group_index)     # slots [groups, per_group]
        self.n_agents, self.groups = n_agents, groups
        self.observation_dim, self.action_dim = observation_dim, action_dim
        self.n_step = n_step
        self._bootstrap = tf.constant(discount ** n_step, tf.float32)              # beta^n
        self._reward_discounts = tf.constant(discount ** np.arange(n_step), tf.float32)
        self.updates = tf.Variable(0, dtype=tf.int64, name="updates")

    def _n_step_return(self, reward: tf.Tensor) -> tf.Tensor:
        """sum_{i<n} beta^i r_{t+i}: reward [B, n, N] -> [G, M]."""
        return self.layout.to_groups(tf.einsum("bin,i->bn", reward, self._reward_discounts))

    @staticmethod
    def _adam(learning_rate: float, final_fraction: float | None, decay_updates: int, variables):
        """Adam, its step decaying linearly to ``learning_rate * final_fraction`` (None: constant)."""
        lr = learning_rate
        if final_fraction is not None and final_fraction != 1.0:
            lr = tf.keras.optimizers.schedules.PolynomialDecay(learning_rate, max(1, decay_updates),
                                                               learning_rate * final_fraction, power=1.0)
        optimizer = tf.keras.optimizers.Adam(lr)
        optimizer.build(variables)
        return optimizer

    def train(self, batch: Mapping[str, tf.Tensor]):
        """One update from a replay sample: ``action`` [B, n, N, k], or ``tree_action`` and
        ``bond_action`` [B, n, N] (float, in [-1, 1]) stacked as columns 0 and 1."""
        if "action" in batch:
            action = batch["action"]
        else:
            action = tf.stack([tf.cast(batch["tree_action"], tf.float32),
                               tf.cast(batch["bond_action"], tf.float32)], axis=-1)
        return self.train_step(batch["observation"], action, batch["reward"])

    def train_step(self, observation, action, reward):
        raise NotImplementedError
