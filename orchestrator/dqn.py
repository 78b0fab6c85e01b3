"""Per-agent deep Q-learning, all agents trained as one batched ensemble.

The update for every agent k (or agent type, in ``shared`` mode) is the n-step double-DQN
loss (van Hasselt et al., 2016; Sutton & Barto ch. 7):

    G_t   = sum_{i<n} beta^i r_{t+i}  +  beta^n Q_target(x_{t+n}, argmax_a Q_online(x_{t+n}, a))
    L_k   = mean_batch  huber( G_t - Q_online(x_t, a_t) )
    loss  = sum_k L_k                       (one gradient op for all agents)

- The discount is the agents' own beta: the Q-value is the agent's expected discounted utility.
- The episode cut at T is a truncation: the target still bootstraps from x_T (docs/model.md §2).
- n-step returns propagate the value of a share (a stream of dividends) n times faster.
- Double Q-learning (online argmax, target evaluation) removes the max-operator's upward bias,
  which otherwise makes every agent over-value trading.
- A target network updated by Polyak averaging (tau) keeps the regression target still.
- The Adam step (thesis: 1e-3) may decay linearly to ``final_learning_rate``.
- Afterstate targets (optional; orchestrator.learners.afterstates) add, for K other values of
  each sample on the same draw, huber(r(v) + beta Q_target(x'(v), argmax Q_online(x'(v))) - Q(x_t, v)).
- Huber loss bounds each sample's gradient; gradients are NOT clipped by a global norm, since
  a global norm over the stacked weights would couple the agents. Adam is element-wise, so
  one Adam on the stacked variables is exactly N independent Adams.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import tensorflow as tf

from orchestrator.learners.layout import GroupLayout
from orchestrator.networks import EnsembleQNetwork, StateGatedQNetwork


@dataclass(frozen=True)
class DQNHyperparameters:
    discount: float            # the agents' beta
    n_step: int = 3
    learning_rate: float = 1e-3
    final_learning_rate: float | None = None   # linear decay to this over `decay_updates`
    decay_updates: int = 1
    target_update_tau: float = 0.01
    huber_delta: float = 1.0
    hidden: Sequence[int] = (50, 50, 50, 50)


class EnsembleDQN:
    """Online and target ensembles, Adam, the batched TD update and greedy action selection.

    Agents are laid out as ``[groups, agents_per_group]``: ``groups = n_agents`` for
    independent weights, ``groups = n_types`` for weights shared within each type.
    ``group_index`` ([N] ints, optional) maps agents to groups of any sizes (a population's
    types, unequal counts): agents are then gathered into ``[groups, max count]`` slots, the
    empty slots padded with zeros and masked out of the loss, which stays the sum over groups
    of each group's mean over its own agents' samples. Contiguous equal blocks (or no
    ``group_index``) take the plain layout, unchanged (:mod:`orchestrator.learners.layout`).

    ``state_gate = (column, levels)`` gives every group one network per dividend state
    (:class:`~orchestrator.networks.StateGatedQNetwork`, ``learner.state_networks``).
    """

    def __init__(self, n_agents: int, groups: int, input_dim: int, n_tree: int, n_bond: int,
                 hp: DQNHyperparameters, seed: int = 0, tree_basis=None, bond_basis=None,
                 group_index=None, tree_positions: int = 1, bond_positions: int = 1,
                 state_gate: tuple[int, Sequence[float]] | None = None, concave: bool = False):
        self.n_agents, self.groups = n_agents, groups
        self.layout = GroupLayout(n_agents, groups, group_index)     # slots [groups, per_group]
        self.hp = hp
        net = dict(groups=groups, input_dim=input_dim, n_tree=n_tree, n_bond=n_bond, hidden=hp.hidden,
                   seed=seed, tree_basis=tree_basis, bond_basis=bond_basis,
                   tree_positions=tree_positions, bond_positions=bond_positions, concave=concave)
        if state_gate is None:
            network = EnsembleQNetwork
        else:   # one network per dividend state (learner.state_networks): (column, levels)
            network = StateGatedQNetwork
            net.update(gate_column=state_gate[0], gate_levels=state_gate[1])
        self.online = network(name="online", **net)
        self.target = network(name="target", **net)
        self.target.copy_from(self.online)
        lr = hp.learning_rate
        if hp.final_learning_rate is not None and hp.final_learning_rate != hp.learning_rate:
            # Late in training the advantages that separate neighbouring prices are tiny; a
            # decaying step lets the estimate average over more data instead of jittering.
            lr = tf.keras.optimizers.schedules.PolynomialDecay(hp.learning_rate, max(1, hp.decay_updates),
                                                               hp.final_learning_rate, power=1.0)
        self.optimizer = tf.keras.optimizers.Adam(learning_rate=lr)
        self.optimizer.build(self.online.weights)
        self._bootstrap = tf.constant(hp.discount ** hp.n_step, tf.float32)
        self._reward_discounts = tf.constant(hp.discount ** np.arange(hp.n_step), tf.float32)

    # ---- acting -------------------------------------------------------------------------
    def greedy(self, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """observation [N, D] (already normalised) -> greedy (tree index, bond index), each [N]."""
        tree, bond = self._greedy(tf.convert_to_tensor(observation, tf.float32))
        return tree.numpy(), bond.numpy()

    @property
    def agent_slots(self) -> np.ndarray:
        """[N] the row of each agent in the flattened [groups * agents_per_group] layout of
        :meth:`to_groups` (with unequal groups, the padded layout; otherwise agent i's own row)."""
        return self.layout.agent_slots

    @tf.function(jit_compile=False)
    def _greedy(self, observation):
        tree, bond = self.online(self.layout.by_group(observation)).greedy()
        return self.layout.to_agents(tree), self.layout.to_agents(bond)

    # ---- learning -----------------------------------------------------------------------
    def to_groups(self, x: tf.Tensor) -> tf.Tensor:
        """[batch, N, ...] -> [groups, batch * agents_per_group, ...] (each agent's own samples)."""
        return self.layout.to_groups(x)

    @tf.function(jit_compile=False)
    def train_step(self, observation, tree_action, bond_action, reward, afterstates=None):
        """One update from a batch of n-step windows.

        observation [B, n+1, N, D]; tree_action, bond_action [B, n, N] int32; reward [B, n, N].
        ``afterstates`` (optional): an :class:`orchestrator.learners.afterstates.Afterstates` of
        tensors (per asset: drawn values [B, N, K] int32, afterstates x'_{t+1} [B, N, K, D], their
        rewards r(v) [B, N, K]; mask [B, N]); each adds the one-step loss huber(r(v) + beta V'(x')
        - Q(x_t, v, the other asset's value posted)), V'(x') = Q_target(x', argmax Q_online(x')),
        to its sample's.
        Returns (loss summed over groups, mean |TD error|, max |weight|).
        """
        n = self.hp.n_step
        ret = tf.einsum("bin,i->bn", reward, self._reward_discounts)           # [B, N]
        x_t = self.to_groups(observation[:, 0])
        x_tn = self.to_groups(observation[:, n])
        a_tree = self.to_groups(tree_action[:, 0])
        a_bond = self.to_groups(bond_action[:, 0])
        ret = self.to_groups(ret)
        next_tree, next_bond = self.online(x_tn).greedy()                       # double DQN
        target = ret + self._bootstrap * self.target(x_tn).joint(next_tree, next_bond)
        target = tf.stop_gradient(target)
        if afterstates is not None:
            after_target = self._afterstate_targets(afterstates)
            after_tree, after_bond = self.to_groups(afterstates.tree_values), self.to_groups(afterstates.bond_values)
            after_mask = self.to_groups(afterstates.mask)
        with tf.GradientTape() as tape:
            q_values = self.online(x_t)
            q = q_values.joint(a_tree, a_bond)
            err = target - q
            abs_err = tf.abs(err)
            huber = self._huber(err)
            if afterstates is not None:
                tree_adv, bond_adv = q_values.tree_advantage, q_values.bond_advantage
                tree_mean = tf.reduce_mean(tree_adv, -1, keepdims=True)
                bond_mean = tf.reduce_mean(bond_adv, -1, keepdims=True)
                tree_taken = tf.gather(tree_adv, a_tree[..., None], batch_dims=2) - tree_mean   # [G, R, 1]
                bond_taken = tf.gather(bond_adv, a_bond[..., None], batch_dims=2) - bond_mean
                value = q_values.value[..., None]
                q_after = tf.concat([value + bond_taken + tf.gather(tree_adv, after_tree, batch_dims=2) - tree_mean,
                                     value + tree_taken + tf.gather(bond_adv, after_bond, batch_dims=2) - bond_mean],
                                    axis=-1)                                            # [G, R, K_tree + K_bond]
                huber += after_mask * tf.reduce_sum(self._huber(after_target - q_after), -1)
            loss = tf.reduce_sum(self.layout.group_means(huber))   # sum over groups of their means
        grads = tape.gradient(loss, self.online.weights)
        self.optimizer.apply_gradients(zip(grads, self.online.weights))
        self.target.copy_from(self.online, self.hp.target_update_tau)
        max_weight = tf.reduce_max([tf.reduce_max(tf.abs(w)) for w in self.online.weights])
        return loss, self.layout.agents_mean(abs_err), max_weight

    def _huber(self, err):
        d = self.hp.huber_delta
        abs_err = tf.abs(err)
        return tf.where(abs_err <= d, 0.5 * tf.square(err), d * (abs_err - 0.5 * d))

    def _afterstate_targets(self, afterstates):
        """y_i = r(v_i) + beta Q_target(x'_i, argmax Q_online(x'_i)) for every afterstate x'_i,
        the tree's then the bond's: [G, R, K_tree + K_bond], R = B * agents per group."""
        states = self.to_groups(tf.concat([afterstates.tree_states, afterstates.bond_states], axis=2))
        reward = self.to_groups(tf.concat([afterstates.tree_rewards, afterstates.bond_rewards], axis=2))
        shape = tf.shape(reward)
        flat = tf.reshape(states, [shape[0], shape[1] * shape[2], -1])
        next_tree, next_bond = self.online(flat).greedy()
        v_next = tf.reshape(self.target(flat).joint(next_tree, next_bond), shape)
        return tf.stop_gradient(reward + self.hp.discount * v_next)
