"""Physics-informed networks for Merton's HJB: the naive one and the repaired one.

Both train one value network on the HJB residual at random wealth levels, with the controls
from the first-order conditions of the HJB (:mod:`lucas_abm.merton.problem`).

**Naive** (as commonly written): ``V(W) = n(W~)`` with ``W~ = 2 (W - w_min)/(w_max - w_min) - 1``,
wealth sampled uniformly over ``[w_min, w_max]``, loss ``mean (rho V - H(V; pi, c))^2`` with
``c = V_W^(-1/gamma)``, ``pi = -(mu - r) V_W/(sigma^2 W V_WW)``; derivatives by automatic
differentiation in W. Where the network is not increasing and concave the controls do not
exist; the loss then uses ``V_W -> max(V_W, eps)`` and ``V_WW -> min(V_WW, -eps)``, the least
guard that keeps it finite (evaluation reports such points as undefined). Gradients are
clipped to norm 1 (``clip_norm``, a common stabiliser; it applies to both PINNs).

**Repaired**: log wealth sampled uniformly over ``[log w_min, log w_max]``, the homothetic form
``V = W^(1-gamma)/(1-gamma) m(x)^(-gamma)`` (:class:`HomotheticValue`), and the residual
normalised by ``|rho V|``: loss ``mean ((rho - h)/rho)^2``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from lucas_abm.merton.evaluate import MertonSolution, error_summary
from lucas_abm.merton.networks import DTYPE, HomotheticValue, cosine_adam, mlp, run_chunks
from lucas_abm.merton.problem import MertonProblem, wealth_grid

EPS = 1e-12


@dataclass(frozen=True)
class PinnConfig:
    """Training budget and optimiser (Adam, cosine decay to ``final_lr_fraction``)."""

    iterations: int = 20_000
    batch: int = 256
    learning_rate: float = 1e-3
    final_lr_fraction: float = 0.01
    widths: tuple[int, ...] = (32, 32)
    chunk: int = 500
    seed: int = 0
    warm_start_steps: int = 0     # naive PINN only: first fit the closed form (a diagnostic)
    clip_norm: float | None = 1.0  # global gradient-norm clipping (a common PINN stabiliser)


def _optimizer(config: PinnConfig) -> tf.keras.optimizers.Adam:
    return cosine_adam(config.learning_rate, config.iterations, config.final_lr_fraction,
                       config.clip_norm)


class NaiveValue(tf.Module):
    """``V(W) = n(W~)`` and its wealth derivatives by nested automatic differentiation."""

    def __init__(self, problem: MertonProblem, widths, seed: int = 0):
        super().__init__(name="naive_value")
        self.w_min, self.w_span = problem.w_min, problem.w_max - problem.w_min
        self.net = mlp(widths, 1, out_scale=1.0, name="naive_value_net", seed=seed)

    def __call__(self, W: tf.Tensor):
        """``(V, V_W, V_WW)`` at wealth ``W`` (shape (B,))."""
        W = W[:, None]
        with tf.GradientTape() as outer:
            outer.watch(W)
            with tf.GradientTape() as inner:
                inner.watch(W)
                V = self.net(2.0 * (W - self.w_min) / self.w_span - 1.0)
            V_W = inner.gradient(V, W)
        V_WW = outer.gradient(V_W, W)
        return V[:, 0], V_W[:, 0], V_WW[:, 0]


def naive_controls(problem: MertonProblem, W, V_W, V_WW):
    """First-order conditions with the guard ``V_W >= eps``, ``V_WW <= -eps``."""
    return problem.foc_controls(W, tf.maximum(V_W, EPS), tf.minimum(V_WW, -EPS))


def train_naive_pinn(problem: MertonProblem, config: PinnConfig = PinnConfig(),
                     points: int = 241) -> MertonSolution:
    value = NaiveValue(problem, config.widths, seed=10 * config.seed)
    optimizer = _optimizer(config)
    rng = tf.random.Generator.from_seed(config.seed)
    info = {}
    if config.warm_start_steps > 0:
        info["warm_start"] = _fit_closed_form(problem, value, config, points)

    def loss_fn(W):
        V, V_W, V_WW = value(W)
        pi, c = naive_controls(problem, W, V_W, V_WW)
        return tf.reduce_mean(problem.hjb_residual(W, V, V_W, V_WW, pi, c) ** 2)

    @tf.function
    def train_chunk(n):
        loss = tf.constant(0.0, DTYPE)
        for _ in tf.range(n):
            W = rng.uniform((config.batch,), problem.w_min, problem.w_max, dtype=DTYPE)
            with tf.GradientTape() as tape:
                loss = loss_fn(W)
            grads = tape.gradient(loss, value.trainable_variables)
            optimizer.apply_gradients(zip(grads, value.trainable_variables))
        return loss

    losses, seconds = run_chunks(train_chunk, config.iterations, config.chunk)
    solution = _naive_solution(problem, value, points, seconds, config.iterations)
    solution.info.update(info, final_loss=losses[-1], loss_history=losses)
    return solution


def _naive_solution(problem, value, points, seconds, iterations) -> MertonSolution:
    """The naive network's first-order-condition policy and residual on the grid."""
    W = tf.constant(wealth_grid(problem, points), DTYPE)
    V, V_W, V_WW = value(W)
    pi, c = problem.foc_controls(W, V_W, V_WW)          # unguarded: undefined where not concave
    residual = problem.hjb_residual(W, V, V_W, V_WW, pi, c) / tf.abs(problem.rho * V)
    undefined = (V_W <= 0) | (V_WW >= 0)
    nan = tf.constant(np.nan, DTYPE)
    pi, c = tf.where(undefined, nan, pi), tf.where(undefined, nan, c)
    residual = tf.where(undefined, nan, residual)
    return MertonSolution("pinn", W.numpy(), pi.numpy(), (c / W).numpy(), residual.numpy(),
                          seconds, iterations)


def _fit_closed_form(problem, value, config, points) -> dict:
    """Warm start (diagnostic, not a solver): fit the naive network to the closed-form V by
    ``min mean ((V_net - V*)/V*)^2`` over log-uniform wealth, ``warm_start_steps`` Adam steps.
    Returns the error summary of that fit: the best this representation starts from."""
    optimizer = cosine_adam(1e-2, config.warm_start_steps, 1e-3)
    rng = tf.random.Generator.from_seed(config.seed + 1)
    x_lo, x_hi = problem.log_wealth_range

    @tf.function
    def fit(n):
        loss = tf.constant(0.0, DTYPE)
        for _ in tf.range(n):
            W = tf.exp(rng.uniform((config.batch,), x_lo, x_hi, dtype=DTYPE))
            target = problem.value(W)
            with tf.GradientTape() as tape:
                V = value.net(2.0 * (W[:, None] - value.w_min) / value.w_span - 1.0)[:, 0]
                loss = tf.reduce_mean(((V - target) / target) ** 2)
            grads = tape.gradient(loss, value.trainable_variables)
            optimizer.apply_gradients(zip(grads, value.trainable_variables))
        return loss

    start = time.perf_counter()
    loss = float(fit(tf.constant(config.warm_start_steps)))
    fitted = _naive_solution(problem, value, points, time.perf_counter() - start,
                             config.warm_start_steps)
    summary = error_summary(problem, fitted)
    summary.update(method="pinn warm-start fit", fit_loss=loss)
    return summary


def train_repaired_pinn(problem: MertonProblem, config: PinnConfig = PinnConfig(),
                        points: int = 241) -> MertonSolution:
    value = HomotheticValue(problem, config.widths, seed=10 * config.seed)
    optimizer = _optimizer(config)
    rng = tf.random.Generator.from_seed(config.seed)
    x_lo, x_hi = problem.log_wealth_range

    def controls_and_residual(x):
        m, l1, l2 = value(x)
        pi, nu = problem.foc_controls_homothetic(m, l1, l2)
        return pi, nu, problem.residual_homothetic(m, l1, l2, pi, nu)

    @tf.function
    def train_chunk(n):
        loss = tf.constant(0.0, DTYPE)
        for _ in tf.range(n):
            x = rng.uniform((config.batch,), x_lo, x_hi, dtype=DTYPE)
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(controls_and_residual(x)[2] ** 2)
            grads = tape.gradient(loss, value.trainable_variables)
            optimizer.apply_gradients(zip(grads, value.trainable_variables))
        return loss

    losses, seconds = run_chunks(train_chunk, config.iterations, config.chunk)

    W = wealth_grid(problem, points)
    pi, nu, residual = controls_and_residual(tf.constant(np.log(W), DTYPE))
    return MertonSolution("repaired-pinn", W, pi.numpy(), nu.numpy(), residual.numpy(), seconds,
                          config.iterations, {"final_loss": losses[-1], "loss_history": losses})

