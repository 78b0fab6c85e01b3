"""The learner of orchestrator.dqn.EnsembleDQN (one shared network), restated in JAX for
benchmarks/dqn_at_scale.py, so that it runs where TensorFlow is not installed (the lent GPU
machine has JAX, not this project's TensorFlow 2.15 and CUDA 12).

The same arithmetic as the TensorFlow learner, step for step:

* Network (orchestrator.networks.EnsembleQNetwork): ReLU layers, then a dueling head
  [V | w_tree | w_bond] whose price coefficients are expanded on the fixed bases,
  A_tree = w_tree phi_tree, A_bond = w_bond phi_bond, and
  Q(x, i, j) = V + A_tree_i - mean A_tree + A_bond_j - mean A_bond.
  Glorot-uniform weights drawn from ``numpy.random.default_rng(seed)`` in the same order
  (head scaled by 0.1), zero biases: the TensorFlow network's initial weights exactly.
* Update (EnsembleDQN.train_step): the n-step double-DQN target
  G = sum_{i<n} beta^i r_{t+i} + beta^n Q_target(x_{t+n}, argmax Q_online(x_{t+n})),
  Huber loss (delta) on G - Q_online(x_t, a_t), mean over the batch.
* Adam with Keras' defaults (beta_1 0.9, beta_2 0.999, epsilon 1e-7, bias correction in the
  step size) and Keras' linear PolynomialDecay of the learning rate over ``decay_updates``.
* Polyak target update, w_target <- tau w + (1 - tau) w_target, after every step.
* Exploration (orchestrator.agents.explore): with probability epsilon a random move, local
  (the greedy index plus a rounded N(0, width^2) step, clipped to the grid) with probability
  ``local_fraction``, else uniform over the grid.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Params(NamedTuple):
    kernels: tuple
    biases: tuple
    head_kernel: jax.Array
    head_bias: jax.Array


class Adam(NamedTuple):
    step: jax.Array         # Keras' ``iterations``: updates applied so far
    m: Params
    v: Params


def init_params(input_dim: int, hidden: tuple[int, ...], head: int, seed: int) -> Params:
    """EnsembleQNetwork's initialisation for one group (the same draws, in the same order)."""
    rng = np.random.default_rng(seed)
    widths = (input_dim,) + tuple(hidden)

    def glorot(fan_in, fan_out, scale=1.0):
        limit = scale * np.sqrt(6.0 / (fan_in + fan_out))
        return jnp.asarray(rng.uniform(-limit, limit, size=(1, fan_in, fan_out)).astype(np.float32)[0])

    kernels = tuple(glorot(a, b) for a, b in zip(widths[:-1], widths[1:]))
    biases = tuple(jnp.zeros(b, jnp.float32) for b in widths[1:])
    return Params(kernels, biases, glorot(widths[-1], head, scale=0.1), jnp.zeros(head, jnp.float32))


def q_heads(params: Params, x, tree_basis, bond_basis):
    """x [B, D] -> (V [B], A_tree [B, K_tree], A_bond [B, K_bond])."""
    h = x
    for kernel, bias in zip(params.kernels, params.biases):
        h = jax.nn.relu(h @ kernel + bias)
    out = h @ params.head_kernel + params.head_bias
    n_tree = tree_basis.shape[0]
    return out[:, 0], out[:, 1:1 + n_tree] @ tree_basis, out[:, 1 + n_tree:] @ bond_basis


def joint(heads, tree_action, bond_action):
    """Q(x, i, j) of the dueling head for integer actions [B]."""
    value, tree, bond = heads
    a_tree = jnp.take_along_axis(tree, tree_action[:, None], axis=1)[:, 0]
    a_bond = jnp.take_along_axis(bond, bond_action[:, None], axis=1)[:, 0]
    return value + a_tree - tree.mean(-1) + a_bond - bond.mean(-1)


def greedy(heads):
    """argmax_{i,j} Q: the advantages are additive, so each is maximised alone."""
    _, tree, bond = heads
    return jnp.argmax(tree, -1).astype(jnp.int32), jnp.argmax(bond, -1).astype(jnp.int32)


def explore(key, greedy_action, n_actions: int, epsilon, local_fraction: float, local_width: float):
    """orchestrator.agents.explore, vectorised over agents."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    shape = greedy_action.shape
    explore_mask = jax.random.uniform(k1, shape) < epsilon
    local = jax.random.uniform(k2, shape) < local_fraction
    step = jnp.rint(jax.random.normal(k3, shape) * local_width).astype(jnp.int32)
    local_action = jnp.clip(greedy_action + step, 0, n_actions - 1)
    uniform_action = jax.random.randint(k4, shape, 0, n_actions)
    return jnp.where(explore_mask, jnp.where(local, local_action, uniform_action), greedy_action).astype(jnp.int32)


def huber(err, delta: float):
    abs_err = jnp.abs(err)
    return jnp.where(abs_err <= delta, 0.5 * err ** 2, delta * (abs_err - 0.5 * delta))


def td_loss(params, target_params, batch, bases, discount_n: float, delta: float):
    """Mean Huber loss of the n-step double-DQN target; also the mean |TD error|.

    ``batch`` = (x_t [B, D], tree action [B], bond action [B], discounted n-step return [B],
    x_{t+n} [B, D])."""
    x_t, a_tree, a_bond, ret, x_tn = batch
    next_tree, next_bond = greedy(q_heads(params, x_tn, *bases))             # double DQN
    target = ret + discount_n * joint(q_heads(target_params, x_tn, *bases), next_tree, next_bond)
    target = jax.lax.stop_gradient(target)
    err = target - joint(q_heads(params, x_t, *bases), a_tree, a_bond)
    return huber(err, delta).mean(), jnp.abs(err).mean()


def adam_init(params: Params) -> Adam:
    zeros = jax.tree.map(jnp.zeros_like, params)
    return Adam(jnp.zeros((), jnp.int32), zeros, zeros)


def learning_rate(step, initial: float, final: float, decay_updates: int):
    """Keras PolynomialDecay (power 1): (initial - final)(1 - min(step, D)/D) + final."""
    frac = jnp.minimum(step, decay_updates) / decay_updates
    return (initial - final) * (1.0 - frac) + final


def adam_apply(params: Params, grads: Params, opt: Adam, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Keras' Adam: m, v moments; step size lr sqrt(1 - beta_2^t) / (1 - beta_1^t), t = step + 1."""
    t = (opt.step + 1).astype(jnp.float32)
    alpha = lr * jnp.sqrt(1.0 - beta_2 ** t) / (1.0 - beta_1 ** t)
    m = jax.tree.map(lambda m, g: m + (g - m) * (1.0 - beta_1), opt.m, grads)
    v = jax.tree.map(lambda v, g: v + (g * g - v) * (1.0 - beta_2), opt.v, grads)
    new = jax.tree.map(lambda w, m, v: w - m * alpha / (jnp.sqrt(v) + epsilon), params, m, v)
    return new, Adam(opt.step + 1, m, v)


def polyak(target: Params, online: Params, tau: float) -> Params:
    return jax.tree.map(lambda t, w: tau * w + (1.0 - tau) * t, target, online)
