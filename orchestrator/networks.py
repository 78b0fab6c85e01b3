"""A batched ensemble of per-agent Q-networks: weights stacked on a leading group axis.

The thesis gives every agent its own network (state, action) -> Q with 4 dense layers of
50 ReLU units. Building N Keras models and looping over them in Python costs N kernel
launches per layer; here the weights of all G networks are single variables of shape
``[G, fan_in, fan_out]`` and one ``tf.matmul`` on ``[G, batch, fan_in]`` evaluates every
network at once. ``G = n_agents`` gives independent weights (the thesis); ``G = n_types``
gives one network per agent type, shared by all agents of that type.

Q(x, a) over the discrete action a = (i, j) = (tree-price index, bond-price index) is
represented as in a dueling DQN (Wang et al., 2016) with additive advantages:

    Q(x, i, j) = V(x) + [A_tree(x, i) - mean_i A_tree(x, .)] + [A_bond(x, j) - mean_j A_bond(x, .)]

so that one forward pass scores all K_tree * K_bond joint actions, and
max_{i,j} Q = V + max A_tree - mean A_tree + max A_bond - mean A_bond. Why: (a) the value
of a state (which holdings an agent has) is large and the differences between posted prices
are small; the dueling form lets the network learn the two separately. (b) With small lots a
tree trade and a bond trade change consumption by tiny amounts, so their effects on Q are
additive to first order; the joint grid is scored in O(K_tree + K_bond), not O(K_tree K_bond).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import tensorflow as tf


class QValues(NamedTuple):
    """Dueling heads; shapes [G, B], [G, B, K_tree], [G, B, K_bond]."""

    value: tf.Tensor
    tree_advantage: tf.Tensor
    bond_advantage: tf.Tensor

    def joint(self, tree_action: tf.Tensor, bond_action: tf.Tensor) -> tf.Tensor:
        """Q(x, i, j) for the given integer actions, shape [G, B]."""
        a_tree = tf.gather(self.tree_advantage, tree_action, batch_dims=2)
        a_bond = tf.gather(self.bond_advantage, bond_action, batch_dims=2)
        return (self.value + a_tree - tf.reduce_mean(self.tree_advantage, -1)
                + a_bond - tf.reduce_mean(self.bond_advantage, -1))

    def greedy(self) -> tuple[tf.Tensor, tf.Tensor]:
        """argmax_{i,j} Q(x, i, j): the advantages are additive, so each is maximised alone."""
        return (tf.argmax(self.tree_advantage, -1, output_type=tf.int32),
                tf.argmax(self.bond_advantage, -1, output_type=tf.int32))


class EnsembleQNetwork(tf.Module):
    """G stacked MLP Q-networks evaluated by batched matmuls.

    Args:
      groups: number of separate weight sets G.
      input_dim: observation features per agent.
      n_tree: number of discrete tree prices; n_bond: number of discrete bond prices.
      hidden: widths of the hidden ReLU layers (thesis: (50, 50, 50, 50)).
      seed: initialisation seed (Glorot-uniform weights, zero biases, per group).
      tree_basis, bond_basis: optional fixed price bases [K_basis, K_prices] (see __call__).
      tree_positions, bond_positions: order sizes per price (ActionGrid); the action index is
        price-major, ``price * n_positions + position``, so ``n_tree = K_prices * tree_positions``.
      concave: the bases are quadratic, ``[u, -u^2]`` (orchestrator.agents.quadratic_basis), and
        each asset's two head outputs (r_1, r_2) are a vertex c = tanh(r_1) in [-1, 1] and a
        curvature kappa = softplus(r_2) > 0, so each advantage is the concave parabola
        ``-kappa (u - c)^2`` up to a constant (``actions.price_basis: quadratic``).
    """

    def __init__(self, groups: int, input_dim: int, n_tree: int, n_bond: int,
                 hidden: Sequence[int] = (50, 50, 50, 50), seed: int = 0, name: str = "q",
                 tree_basis: np.ndarray | None = None, bond_basis: np.ndarray | None = None,
                 tree_positions: int = 1, bond_positions: int = 1, concave: bool = False):
        super().__init__(name=name)
        if concave and (tree_basis is None or bond_basis is None or tree_positions != 1 or bond_positions != 1):
            raise ValueError("concave advantages need quadratic bases over prices alone")
        self.concave = bool(concave)
        self.groups, self.input_dim = int(groups), int(input_dim)
        self.n_tree, self.n_bond = int(n_tree), int(n_bond)
        self.tree_positions, self.bond_positions = int(tree_positions), int(bond_positions)
        # Optional fixed price bases [K_basis, K_prices]:
        #   A(x, (k, j)) = sum_m w_{m, j}(x) phi_m(price_k)   for price k and position j.
        self.tree_basis = None if tree_basis is None else tf.constant(tree_basis, tf.float32)
        self.bond_basis = None if bond_basis is None else tf.constant(bond_basis, tf.float32)
        self.n_tree_out = self.n_tree if tree_basis is None else int(tree_basis.shape[0]) * self.tree_positions
        self.n_bond_out = self.n_bond if bond_basis is None else int(bond_basis.shape[0]) * self.bond_positions
        self.hidden = tuple(int(h) for h in hidden)
        rng = np.random.default_rng(seed)
        widths = (self.input_dim,) + self.hidden
        self.kernels, self.biases = [], []
        for layer, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            self.kernels.append(self._glorot(rng, fan_in, fan_out, f"kernel_{layer}"))
            self.biases.append(tf.Variable(tf.zeros([self.groups, 1, fan_out]), name=f"bias_{layer}"))
        head = 1 + self.n_tree_out + self.n_bond_out  # [V | A_tree | A_bond]
        self.head_kernel = self._glorot(rng, widths[-1], head, "head_kernel", scale=0.1)
        self.head_bias = tf.Variable(tf.zeros([self.groups, 1, head]), name="head_bias")

    def _glorot(self, rng, fan_in, fan_out, name, scale=1.0):
        limit = scale * np.sqrt(6.0 / (fan_in + fan_out))
        init = rng.uniform(-limit, limit, size=(self.groups, fan_in, fan_out)).astype(np.float32)
        return tf.Variable(init, name=name)

    def __call__(self, observation: tf.Tensor) -> QValues:
        """observation [G, B, input_dim] -> QValues with batch shape [G, B]."""
        h = observation
        for kernel, bias in zip(self.kernels, self.biases):
            h = tf.nn.relu(tf.matmul(h, kernel) + bias)
        out = tf.matmul(h, self.head_kernel) + self.head_bias
        tree = out[..., 1:1 + self.n_tree_out]
        bond = out[..., 1 + self.n_tree_out:]
        if self.concave:   # -kappa (u - c)^2 on the basis [u, -u^2]: w = [2 kappa c, kappa]
            tree, bond = _parabola(tree), _parabola(bond)
        if self.tree_basis is not None:
            tree = _expand(tree, self.tree_basis, self.tree_positions)
        if self.bond_basis is not None:
            bond = _expand(bond, self.bond_basis, self.bond_positions)
        return QValues(value=out[..., 0], tree_advantage=tree, bond_advantage=bond)

    @property
    def weights(self) -> list[tf.Variable]:
        return self.kernels + self.biases + [self.head_kernel, self.head_bias]

    def copy_from(self, other: "EnsembleQNetwork", tau: float = 1.0) -> None:
        """Polyak update: w <- tau * w_other + (1 - tau) * w (tau = 1 copies)."""
        for mine, theirs in zip(self.weights, other.weights):
            mine.assign(tau * theirs + (1.0 - tau) * mine)


class StateGatedQNetwork(EnsembleQNetwork):
    """One EnsembleQNetwork per state of a finite dividend chain, chosen by the observation.

    ``learner.state_networks``: every weight group g gets K networks, one per dividend state
    y_k; a sample is scored by the network of the state it is in:

        Q_g(x, a) = Q_{g, k(x)}(x, a),   k(x) = argmin_k |x_d - l_k|,

    with x_d the observation's dividend column (``gate_column``) and l_k the value that
    column takes in state k (``gate_levels``, orchestrator.agents.dividend_state_levels).
    No weight is shared between states, so nothing the network learns about one state's
    values generalises to the other's: the state-dependence of prices is not smoothed by the
    function approximation. The K networks are K * G groups of the parent (state-major,
    group ``k * G + g``), evaluated in one batched pass and gated; the cost is K times the
    plain ensemble's.
    """

    def __init__(self, groups: int, *args, gate_column: int, gate_levels: Sequence[float], **kwargs):
        self.n_states = len(gate_levels)
        super().__init__(groups * self.n_states, *args, **kwargs)
        self.state_groups = int(groups)
        self.gate_column = int(gate_column)
        self.gate_levels = tf.constant(np.asarray(gate_levels, np.float32))

    def state_of(self, observation: tf.Tensor) -> tf.Tensor:
        """[G, B] int32: the dividend state k(x) of each sample."""
        x = observation[..., self.gate_column]
        return tf.argmin(tf.abs(x[..., None] - self.gate_levels), axis=-1, output_type=tf.int32)

    def __call__(self, observation: tf.Tensor) -> QValues:
        """observation [G, B, input_dim] -> QValues [G, B] of each sample's own state network."""
        k = self.n_states
        tiled = tf.tile(observation, [k, 1, 1])                          # [K * G, B, D], state-major
        out = super().__call__(tiled)
        gate = tf.one_hot(self.state_of(observation), k, axis=0)         # [K, G, B]

        def select(t: tf.Tensor) -> tf.Tensor:
            t = tf.reshape(t, tf.concat([[k, self.state_groups], tf.shape(t)[1:]], 0))
            g = tf.reshape(gate, tf.concat([tf.shape(gate), tf.ones([tf.rank(t) - 3], tf.int32)], 0))
            return tf.reduce_sum(g * t, axis=0)
        return QValues(select(out.value), select(out.tree_advantage), select(out.bond_advantage))


def _parabola(raw: tf.Tensor) -> tf.Tensor:
    """Head outputs (r_1, r_2) -> coefficients (2 kappa c, kappa) of the basis [u, -u^2], with
    c = tanh(r_1) and kappa = softplus(r_2): w_1 u - w_2 u^2 = -kappa (u - c)^2 + kappa c^2,
    and the constant cancels in the dueling mean. The vertex is an output of its own, as in
    normalized advantage functions (Gu et al. 2016), so a flat parabola (kappa -> 0) leaves it
    where it is instead of sending w_1 / (2 w_2) to an end of the grid."""
    centre, kappa = tf.tanh(raw[..., :1]), tf.nn.softplus(raw[..., 1:])
    return tf.concat([2.0 * kappa * centre, kappa], -1)


def _expand(coefficients: tf.Tensor, basis: tf.Tensor, n_positions: int) -> tf.Tensor:
    """Advantages on the (price, position) grid from basis coefficients, price-major:

        A[g, b, k * P + j] = sum_m w[g, b, m * P + j] phi[m, k]

    i.e. ``w @ kron(phi, I_P)``, computed without the Kronecker matrix: O(K_b K P) per sample
    instead of O(K_b K P^2), which with 21 positions per price is 21 times fewer flops."""
    if n_positions == 1:
        return tf.einsum("gbm,mk->gbk", coefficients, basis)
    g, b = tf.shape(coefficients)[0], tf.shape(coefficients)[1]
    w = tf.reshape(coefficients, [g, b, basis.shape[0], n_positions])
    return tf.reshape(tf.einsum("gbmj,mk->gbkj", w, basis), [g, b, basis.shape[1] * n_positions])
