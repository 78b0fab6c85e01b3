"""TensorFlow building blocks shared by the learned solvers (reinforced GAN, combo, deep BSDE).

Network design (chosen for speed on a CPU): instead of one network per time step and role, each
role has **one time network** ``t -> coefficients`` shared across all K steps, evaluated once per
training step on the whole grid (a (K, 1) batch), plus an optional small **state network** for
nonlinear feedback. Given the market, an agent's first-order condition is linear in the state
``z_t = (phi_t - phi_0, W_t)`` when q = 2, so a time-varying linear feedback
``rate_k = z_k M_k + b_k`` contains the exact solution; for q < 2 a state MLP
``(t, z) -> rate`` is added. The rollout over the K Euler steps is then a handful of small matmuls
per step inside one ``tf.function``.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from lucas_abm.frictions.config import MarketConfig

DTYPE = tf.float32


def _layer_seed() -> int:
    """An initializer seed drawn from TensorFlow's global stream, so that a solver seeded with
    ``tf.random.set_seed`` (``build_model``, ``DeepBsde``) builds the same networks whatever
    ran before it: Keras' unseeded initializers draw from Python's ``random`` instead, which
    ``tf.random.set_seed`` does not reset."""
    return int(tf.random.uniform([], 0, 2**31 - 1, dtype=tf.int64))


def mlp(widths: tuple[int, ...], out_dim: int, activation: str = "tanh",
        out_scale: float = 1e-2, name: str | None = None) -> tf.keras.Sequential:
    """Dense layers ``widths`` (Glorot-uniform) then a linear output initialised small
    (normal, std ``out_scale``); every initializer is seeded (:func:`_layer_seed`)."""
    layers = [tf.keras.layers.Dense(w, activation=activation, dtype=DTYPE,
                                    kernel_initializer=tf.keras.initializers.GlorotUniform(_layer_seed()))
              for w in widths]
    layers.append(tf.keras.layers.Dense(
        out_dim, dtype=DTYPE,
        kernel_initializer=tf.keras.initializers.RandomNormal(stddev=out_scale, seed=_layer_seed()),
        bias_initializer="zeros"))
    return tf.keras.Sequential(layers, name=name)


class TimeCoefficients(tf.Module):
    """``t -> (M_k, b_k)`` for all grid times at once: a linear map of the state plus a bias.

    ``M`` has shape (K, n_in, n_out) and ``b`` (K, n_out); both are multiplied by ``scale``
    (per input feature / output) so the network works on O(1) numbers.
    """

    def __init__(self, n_in: int, n_out: int, widths=(64, 64), in_scale=None, out_scale=1.0,
                 name=None):
        super().__init__(name=name)
        self.n_in, self.n_out = n_in, n_out
        self.net = mlp(widths, n_in * n_out + n_out)
        self.in_scale = tf.constant(np.ones(n_in) if in_scale is None else in_scale, DTYPE)
        self.out_scale = tf.constant(np.broadcast_to(out_scale, (n_out,)), DTYPE)

    def __call__(self, times: tf.Tensor):
        raw = self.net(times[:, None])
        K = tf.shape(times)[0]
        M = tf.reshape(raw[:, :self.n_in * self.n_out], (K, self.n_in, self.n_out))
        M = M * self.in_scale[None, :, None] * self.out_scale[None, None, :]
        b = raw[:, self.n_in * self.n_out:] * self.out_scale
        return M, b


def state_features(config: MarketConfig) -> tuple[np.ndarray, float]:
    """Scales of the state ``z = (phi - phi_0 (N), W)``: 1/typical size of each feature, and the
    typical trading-rate scale ``sqrt(gamma_max alpha^2 / lam_h) * typical deviation``."""
    T = config.horizon
    dev = np.maximum(np.abs(config.xi) / config.alpha * np.sqrt(T), 1e-3)
    lam_h = 2.0 * config.cost_coefficient
    gain = np.sqrt(max(config.gammas) * config.alpha ** 2 / lam_h)
    return np.concatenate([1.0 / dev, [1.0 / np.sqrt(T)]]), float(gain * dev.max())


def network_clock(config: MarketConfig) -> np.ndarray:
    """Network input for time: ``2 t_k / T - 1`` in [-1, 1) for k = 0..K-1 (the raw t in
    [0, T] with small T would leave tanh layers nearly constant in time)."""
    return 2.0 * config.times()[:-1] / config.horizon - 1.0
