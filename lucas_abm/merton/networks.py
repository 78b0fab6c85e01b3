"""TensorFlow networks for the Merton solvers (float64: the HJB needs second derivatives).

* :func:`mlp`: dense tanh layers and a linear output initialised small.
* :class:`HomotheticValue`: ``V = W^(1-gamma)/(1-gamma) m(x)^(-gamma)``, ``x = log W``, with
  ``log m = log m0 + n(x~)`` and ``x~ = (x - x_mid)/x_half`` in [-1, 1]; returns ``m`` and the
  log-derivatives ``l1 = d log g/dx = -gamma n'/x_half``, ``l2 = -gamma n''/x_half^2``
  (``g = m^(-gamma)``), the inputs of the homothetic HJB in :mod:`lucas_abm.merton.problem`.
* :class:`BoundedPolicy`: ``pi = pi_bound tanh(a(x~))``, ``nu = c/W = nu_bound sigmoid(b(x~))``.
* :func:`cosine_adam`, :func:`run_chunks`: the optimiser and the compiled training loop that
  every method shares.
"""
from __future__ import annotations

import math
import time

import tensorflow as tf

from lucas_abm.merton.problem import MertonProblem

DTYPE = tf.float64


def mlp(widths: tuple[int, ...], out_dim: int, out_scale: float = 1e-2,
        name: str | None = None, seed: int = 0) -> tf.keras.Sequential:
    """Dense tanh layers ``widths`` (Glorot-uniform) then a linear output initialised small
    (normal, std ``out_scale``); layer ``i`` is initialised from ``seed + i``."""
    layers = [tf.keras.layers.Dense(w, activation="tanh", dtype=DTYPE,
                                    kernel_initializer=tf.keras.initializers.GlorotUniform(seed + i))
              for i, w in enumerate(widths)]
    layers.append(tf.keras.layers.Dense(
        out_dim, dtype=DTYPE, bias_initializer="zeros",
        kernel_initializer=tf.keras.initializers.RandomNormal(stddev=out_scale,
                                                              seed=seed + len(widths))))
    model = tf.keras.Sequential(layers, name=name)
    model.build((None, 1))
    return model


class LogWealthScale:
    """``x~ = (log W - x_mid)/x_half``: log wealth mapped onto [-1, 1]."""

    def __init__(self, problem: MertonProblem):
        lo, hi = problem.log_wealth_range
        self.mid, self.half = 0.5 * (lo + hi), 0.5 * (hi - lo)

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return (x - self.mid) / self.half


class HomotheticValue(tf.Module):
    """The value in homothetic form; ``m0`` (default rho) sets the scale of ``m`` at start."""

    def __init__(self, problem: MertonProblem, widths=(32, 32), m0: float | None = None,
                 seed: int = 0):
        super().__init__(name="homothetic_value")
        self.gamma = problem.gamma
        self.scale = LogWealthScale(problem)
        self.log_m0 = math.log(problem.rho if m0 is None else m0)
        self.net = mlp(widths, 1, name="value_net", seed=seed)

    def __call__(self, x: tf.Tensor):
        """``(m, l1, l2)`` at log wealth ``x`` (shape (B,))."""
        z = self.scale(x)[:, None]
        with tf.GradientTape() as outer:
            outer.watch(z)
            with tf.GradientTape() as inner:
                inner.watch(z)
                n = self.net(z)
            n1 = inner.gradient(n, z)          # rows are independent: d n_i / d z_i
        n2 = outer.gradient(n1, z)
        h = self.scale.half
        m = tf.exp(self.log_m0 + n[:, 0])
        l1 = -self.gamma * n1[:, 0] / h
        l2 = -self.gamma * n2[:, 0] / h ** 2
        return m, l1, l2


def policy_bounds(problem: MertonProblem) -> tuple[float, float]:
    """Bounds from the data, at least 4x the closed form for any admissible parameters:
    ``pi_bound = 5 max(1, |mu-r|/sigma^2) max(1, 1/gamma)`` (>= 5 |pi*|) and
    ``nu_bound = 4 (rho + |r| + theta^2)/min(1, gamma)`` (>= 4 nu*)."""
    p = problem
    pi_bound = 5.0 * max(1.0, abs(p.mu - p.r) / p.sigma ** 2) * max(1.0, 1.0 / p.gamma)
    nu_bound = 4.0 * (p.rho + abs(p.r) + p.sharpe ** 2) / min(1.0, p.gamma)
    return pi_bound, nu_bound


class BoundedPolicy(tf.Module):
    """``(pi, nu)`` with ``|pi| < pi_bound`` (tanh) and ``0 < nu < nu_bound`` (sigmoid); starts
    at ``pi = 0``, ``nu = rho`` (the consumption rate of log utility)."""

    def __init__(self, problem: MertonProblem, widths=(32, 32), seed: int = 0):
        super().__init__(name="bounded_policy")
        self.scale = LogWealthScale(problem)
        self.pi_bound, self.nu_bound = policy_bounds(problem)
        start = min(problem.rho / self.nu_bound, 0.5)
        self.nu_offset = math.log(start / (1.0 - start))
        self.net = mlp(widths, 2, name="policy_net", seed=seed)

    def __call__(self, x: tf.Tensor):
        out = self.net(self.scale(x)[:, None])
        pi = self.pi_bound * tf.tanh(out[:, 0])
        nu = self.nu_bound * tf.sigmoid(out[:, 1] + self.nu_offset)
        return pi, nu


def cosine_adam(rate: float, steps: int, final_fraction: float,
                clip_norm: float | None = None) -> tf.keras.optimizers.Adam:
    """Adam whose learning rate decays from ``rate`` to ``final_fraction * rate`` (cosine)."""
    schedule = tf.keras.optimizers.schedules.CosineDecay(rate, steps, alpha=final_fraction)
    return tf.keras.optimizers.Adam(schedule, global_clipnorm=clip_norm)


def run_chunks(train_chunk, iterations: int, chunk: int) -> tuple[list[float], float]:
    """Call the compiled ``train_chunk(n)`` until ``iterations`` steps are done; return the loss
    after each chunk and the wall-clock seconds of the whole loop."""
    start = time.perf_counter()
    losses, done = [], 0
    while done < iterations:
        n = min(chunk, iterations - done)
        losses.append(float(train_chunk(tf.constant(n))))
        done += n
    return losses, time.perf_counter() - start
