"""Where each agent sits in a batched ensemble: groups of agents that share one network.

An ensemble holds G weight sets (``groups``): one per agent (independent weights, the thesis'
design) or one per agent type (shared weights). Every network sees its own agents' samples as
one batch, so agents are laid out in slots ``[groups, per_group]``:

* **equal blocks** (no ``group_index``, or agent k in group ``k // (N / G)``): the slots are the
  agents themselves, ``per_group = N / G``, and nothing is copied;
* **unequal groups** (a population's types with different counts, ``group_index`` [N]):
  ``per_group`` is the largest count, each agent goes to its group's next free slot (in agent
  order), and the empty slots hold zeros.

Every loss is the sum over groups of each group's mean over its own agents' samples,

    L = sum_g (1 / (B n_g)) sum_{b < B} sum_{agents i of g} l_{b,i},

so an empty slot weighs 0 and a group of 3 agents counts as much as a group of 50, exactly as
with equal blocks (where 1 / (B n_g) is the plain mean). Used by the Q-learners
(:class:`orchestrator.dqn.EnsembleDQN`) and the actor-critics
(:class:`orchestrator.learners.base.EnsembleLearner`).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf


class GroupLayout:
    """Agents <-> ``[groups, per_group]`` slots, and the per-group means of the losses."""

    def __init__(self, n_agents: int, groups: int, group_index=None):
        self.n_agents, self.groups = int(n_agents), int(groups)
        blocks = n_agents % groups == 0 and (group_index is None or np.array_equal(
            np.asarray(group_index), np.repeat(np.arange(groups), n_agents // groups)))
        self.padded = not blocks
        if group_index is None and not blocks:
            raise ValueError(f"n_agents ({n_agents}) must be a multiple of groups ({groups})")
        if blocks:
            self.per_group = n_agents // groups
            self.counts = np.full(groups, self.per_group)
            return
        index = np.asarray(group_index, np.int64)
        if index.shape != (n_agents,) or index.min() < 0 or index.max() >= groups:
            raise ValueError(f"group_index must be {n_agents} ints in [0, {groups})")
        self.counts = np.bincount(index, minlength=groups)
        if self.counts.min() < 1:
            raise ValueError("every group needs at least one agent")
        self.per_group = int(self.counts.max())
        order = np.argsort(index, kind="stable")
        rank = np.arange(n_agents) - np.repeat(np.cumsum(self.counts) - self.counts, self.counts)
        agent_slot = np.empty(n_agents, np.int64)
        agent_slot[order] = index[order] * self.per_group + rank
        slot_agent = np.full(groups * self.per_group, n_agents, np.int64)   # N: the zero row
        slot_agent[agent_slot] = np.arange(n_agents)
        self._agent_slot = tf.constant(agent_slot, tf.int32)
        self._slot_agent = tf.constant(slot_agent, tf.int32)
        slot_group = np.arange(groups * self.per_group) // self.per_group
        weight = np.where(slot_agent < n_agents, 1.0 / self.counts[slot_group], 0.0)
        self._slot_weight = tf.constant(weight.reshape(groups, 1, self.per_group), tf.float32)

    @property
    def agent_slots(self) -> np.ndarray:
        """[N] each agent's row in the flattened ``[groups * per_group]`` slots."""
        return self._agent_slot.numpy() if self.padded else np.arange(self.n_agents)

    def _slotted(self, x: tf.Tensor) -> tf.Tensor:
        """[B, N, ...] -> [B, groups * per_group, ...]: agents in their slots, zeros elsewhere."""
        if not self.padded:
            return x
        x = tf.concat([x, tf.zeros_like(x[:, :1])], axis=1)
        return tf.gather(x, self._slot_agent, axis=1)

    def to_groups(self, x: tf.Tensor) -> tf.Tensor:
        """[B, N, ...] -> [groups, B * per_group, ...]: each group's samples, rows (batch, slot)."""
        x = self._slotted(x)
        b = tf.shape(x)[0]
        rest = tf.shape(x)[2:]
        x = tf.reshape(x, tf.concat([[b, self.groups, self.per_group], rest], 0))
        perm = tf.concat([[1, 0, 2], tf.range(3, tf.rank(x))], 0)
        x = tf.transpose(x, perm)
        return tf.reshape(x, tf.concat([[self.groups, b * self.per_group], rest], 0))

    def by_group(self, observation: tf.Tensor) -> tf.Tensor:
        """[N, D] -> [groups, per_group, D] (acting)."""
        return tf.reshape(self._slotted(observation[None])[0], [self.groups, self.per_group, -1])

    def to_agents(self, y: tf.Tensor) -> tf.Tensor:
        """[groups, per_group, ...] -> [N, ...]: each agent's row, the empty slots dropped."""
        y = tf.reshape(y, tf.concat([[-1], tf.shape(y)[2:]], 0))
        return tf.gather(y, self._agent_slot) if self.padded else y

    def _weights(self, batch: tf.Tensor) -> tf.Tensor:
        """[groups, B * per_group]: 1 / (B n_g) for an agent's sample, 0 for an empty slot."""
        w = tf.broadcast_to(self._slot_weight, [self.groups, batch, self.per_group])
        return tf.reshape(w, [self.groups, -1]) / tf.cast(batch, tf.float32)

    def group_means(self, values: tf.Tensor) -> tf.Tensor:
        """[groups, B * per_group] -> [groups]: each group's mean over its own agents' samples."""
        if not self.padded:
            return tf.reduce_mean(values, axis=1)
        batch = tf.shape(values)[1] // self.per_group
        return tf.reduce_sum(self._weights(batch) * values, axis=1)

    def agents_mean(self, values: tf.Tensor) -> tf.Tensor:
        """[..., groups, B * per_group] -> scalar: the mean over every agent's samples (any
        leading axes, e.g. twin critics, averaged too); the empty slots left out."""
        if not self.padded:
            return tf.reduce_mean(values)
        batch = tf.shape(values)[-1] // self.per_group
        real = tf.cast(self._weights(batch) > 0, values.dtype)
        leading = tf.cast(tf.size(values) // tf.size(real), values.dtype)
        return tf.reduce_sum(values * real) / (tf.reduce_sum(real) * leading)
