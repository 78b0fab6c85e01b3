"""Batched ensembles of small MLPs: every agent's network in one set of stacked weights.

The weights of M networks of the same shape are single variables of shape
``[*members, fan_in, fan_out]`` (biases ``[*members, 1, fan_out]``), and one ``tf.matmul`` on
inputs ``[*members, batch, fan_in]`` evaluates all of them at once:

    h_0 = x,   h_{l+1} = relu(h_l W_l + b_l),   y = f_out(h_L W_out + b_out)

``members = (G,)`` is one network per weight group (an actor per agent, or per agent type in
``shared`` mode); ``members = (2, G)`` holds the twin critics of every group, so both critics
of all agents are also one matmul per layer. As in :mod:`orchestrator.networks`, agents are
laid out ``[groups, agents_per_group]`` (:mod:`orchestrator.learners.layout`; ``groups =
n_agents`` for independent weights).

Initialisation follows TF-Agents' ``ActorNetwork`` and ``CriticNetwork``: hidden kernels
uniform in +-sqrt(1 / fan_in) (``VarianceScaling(1/3, 'fan_in', 'uniform')``), the output
kernel uniform in +-0.003, zero biases; each member draws its own weights.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import tensorflow as tf


class EnsembleMLP(tf.Module):
    """M stacked MLPs with ReLU hidden layers, evaluated by batched matmuls.

    Args:
      members: leading shape of the weights, e.g. ``(G,)`` or ``(2, G)``.
      input_dim, output_dim: widths of the input and the output.
      hidden: widths of the hidden ReLU layers (thesis: (50, 50, 50, 50)).
      output_activation: applied to the output layer (``tf.tanh`` for an actor, None: linear).
      seed: initialisation seed.
    """

    def __init__(self, members: Sequence[int], input_dim: int, output_dim: int,
                 hidden: Sequence[int] = (50, 50, 50, 50),
                 output_activation: Callable[[tf.Tensor], tf.Tensor] | None = None,
                 seed: int = 0, last_init: float = 0.003, name: str = "mlp"):
        super().__init__(name=name)
        self.members = tuple(int(m) for m in members)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.hidden = tuple(int(h) for h in hidden)
        self.output_activation = output_activation
        rng = np.random.default_rng(seed)
        widths = (self.input_dim,) + self.hidden + (self.output_dim,)
        self.kernels, self.biases = [], []
        for layer, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            last = layer == len(widths) - 2
            limit = last_init if last else np.sqrt(1.0 / fan_in)
            init = rng.uniform(-limit, limit, size=self.members + (fan_in, fan_out)).astype(np.float32)
            self.kernels.append(tf.Variable(init, name=f"kernel_{layer}"))
            self.biases.append(tf.Variable(tf.zeros(self.members + (1, fan_out)), name=f"bias_{layer}"))

    def __call__(self, x: tf.Tensor, member: int | None = None) -> tf.Tensor:
        """x [*members, B, input_dim] -> [*members, B, output_dim].

        ``member = j`` evaluates only the networks ``W[j]`` (e.g. the first critic): x is then
        ``[*members[1:], B, input_dim]``.
        """
        h = x
        last = len(self.kernels) - 1
        for layer, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            if member is not None:
                kernel, bias = kernel[member], bias[member]
            h = tf.matmul(h, kernel) + bias
            if layer < last:
                h = tf.nn.relu(h)
        return h if self.output_activation is None else self.output_activation(h)

    @property
    def weights(self) -> list[tf.Variable]:
        """Layer by layer: kernel_0, bias_0, kernel_1, bias_1, ... (Keras' order)."""
        return [w for pair in zip(self.kernels, self.biases) for w in pair]

    def copy_from(self, other: "EnsembleMLP", tau: float | tf.Tensor = 1.0) -> None:
        """Polyak update: w <- tau * w_other + (1 - tau) * w (tau = 1 copies)."""
        for mine, theirs in zip(self.weights, other.weights):
            mine.assign(tau * theirs + (1.0 - tau) * mine)


def twin_input(x: tf.Tensor, a: tf.Tensor) -> tf.Tensor:
    """(x [G, M, D], a [G, M, k]) -> the twin critics' input [2, G, M, D + k]."""
    xa = tf.concat([x, a], axis=-1)
    return tf.broadcast_to(xa[None], tf.concat([[2], tf.shape(xa)], 0))


def huber(err: tf.Tensor, delta: float) -> tf.Tensor:
    """huber(e) = e^2 / 2 for |e| <= delta, delta (|e| - delta / 2) beyond (TF-Agents' default TD loss)."""
    abs_err = tf.abs(err)
    return tf.where(abs_err <= delta, 0.5 * tf.square(err), delta * (abs_err - 0.5 * delta))


def max_abs_weight(*networks: EnsembleMLP) -> tf.Tensor:
    """max |w| over all weights of the networks (the driver's NaN / divergence check)."""
    return tf.reduce_max([tf.reduce_max(tf.abs(w)) for net in networks for w in net.weights])
