"""Baselines on the same paths as the reinforced GAN (reported as they come, accurate or not).

* **combo**: the agents and the market of :mod:`rgan` trained jointly on one combined loss,
  ``-sum_n E int u_n dt / T + w_c E[(1/K) sum_k |(1/N) sum_n phidot^n_k|^2] + w_T E|S_T - S|^2``,
  without price taking (gradients flow through mu and sigma into the agents) and without the
  first-order-condition link; mu is learned.
* **deep-bsde** (Han, Jentzen and E 2018, applied as in Gonon, Muhle-Karbe and Shi 2021): the
  agents' first-order conditions as forward-backward SDEs. ``Y^n_t = G'(phidot^n_t)`` starts at a
  learned ``Y^n_0`` and follows
  ``dY^n = -(mu - gamma_n sigma (sigma phi^n + xi_n W)) dt + Z^n dW``, the rate is
  ``phidot^n = (G')^(-1)(Y^n)``, the price ``dS = mu dt + sigma dW`` starts at a learned ``S_0``;
  the loss ``sum_n E|Y^n_T|^2 / N + E|S_T - (beta_S T + alpha W_T)|^2`` enforces the terminal
  conditions. ``Z^n(t, z)`` and ``sigma(t, z)`` are networks; mu is the first-order-condition
  formula when it is exact (q = 2 or N = 2), else a network.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from lucas_abm.frictions.config import MarketConfig
from lucas_abm.frictions.networks import DTYPE, TimeCoefficients, mlp, network_clock, state_features
from lucas_abm.frictions.paths import BrownianPaths, MarketPaths
from lucas_abm.frictions.rgan import EquilibriumModel, Market, TrainingLog, build_model, drift_formula


@dataclass(frozen=True)
class ComboConfig:
    steps: int = 2000
    batch: int = 512
    lr: float = 3e-3
    final_lr_fraction: float = 0.02
    clearing_weight: float = 100.0
    terminal_weight: float = 100.0
    seed: int = 0

    @classmethod
    def for_budget(cls, budget: str, seed: int = 0) -> "ComboConfig":
        return cls(steps=30, batch=128, seed=seed) if budget == "smoke" else cls(seed=seed)


@dataclass(frozen=True)
class BsdeConfig:
    steps: int = 2000
    batch: int = 512
    lr: float = 3e-3
    final_lr_fraction: float = 0.02
    seed: int = 0

    @classmethod
    def for_budget(cls, budget: str, seed: int = 0) -> "BsdeConfig":
        return cls(steps=30, batch=128, seed=seed) if budget == "smoke" else cls(seed=seed)


def _adam(lr, steps, fraction):
    return tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.ExponentialDecay(
        lr, decay_steps=max(steps, 1), decay_rate=fraction))


def _batches(rng, batch, config):
    return tf.constant(rng.standard_normal((batch, config.steps)) * np.sqrt(config.dt), DTYPE)


def train_combo(config: MarketConfig, combo: ComboConfig, verbose: bool = False) -> EquilibriumModel:
    start = time.perf_counter()
    model = build_model(config, mu_known=False, nonlinear=None, widths=(64, 64), seed=combo.seed)
    model._simulate_chunk(tf.zeros([2, config.steps], DTYPE))
    variables = model.agents.trainable_variables + model.market.trainable_variables
    opt = _adam(combo.lr, combo.steps, combo.final_lr_fraction)
    rng = np.random.default_rng(combo.seed)
    dt = config.dt

    @tf.function
    def step(dW):
        with tf.GradientTape() as tape:
            phi, rate, W = model.rollout(dW)
            sigma, mu = model.market_fields(phi, W)
            u = model.utility_rate(phi, rate, W, sigma, mu)
            utility = tf.reduce_mean(tf.reduce_sum(u, axis=[1, 2])) * dt / config.horizon
            clearing = tf.reduce_mean(tf.reduce_mean(rate, axis=2) ** 2)
            terminal = tf.reduce_mean(model.terminal_gap(dW, W, sigma, mu) ** 2)
            loss = -utility + combo.clearing_weight * clearing + combo.terminal_weight * terminal
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables))
        return loss, clearing, terminal

    log = TrainingLog([], [], [], 0.0)
    for i in range(combo.steps):
        loss, clearing, terminal = step(_batches(rng, combo.batch, config))
        if i % max(1, combo.steps // 20) == 0 or i == combo.steps - 1:
            log.generator_loss.append(float(loss))
            log.discriminator_loss.append(float(terminal))
            log.clearing.append(float(clearing))
            if verbose:
                print(f"combo {i:5d} loss {float(loss):.5g} clearing {float(clearing):.3e} "
                      f"terminal {float(terminal):.3e}", flush=True)
    log.seconds = time.perf_counter() - start
    model.log = log
    return model


class DeepBsde(tf.Module):
    """The agents' first-order FBSDE system solved forward from learned initial values."""

    def __init__(self, config: MarketConfig, seed: int):
        super().__init__(name="deep_bsde")
        tf.random.set_seed(seed)
        self.config = config
        N = config.n_agents
        self.nonlinear = config.power < 2.0
        self.mu_known = config.power == 2.0 or N == 2
        in_scale, rate_scale = state_features(config)
        self.in_scale = tf.constant(in_scale, DTYPE)
        q, c = config.power, config.cost_coefficient
        self.y_scale = c * q * rate_scale ** (q - 1.0)
        self.Y0 = tf.Variable(tf.zeros([N], DTYPE), name="Y0")
        self.z_net = TimeCoefficients(N + 1, N, (64, 64), in_scale=in_scale,
                                      out_scale=self.y_scale / np.sqrt(config.horizon))
        self.z_state = mlp((32, 32), N, name="z_state") if self.nonlinear else None
        self.market = Market(config, self.nonlinear, learn_mu=not self.mu_known, widths=(64, 64))
        self.times = tf.constant(network_clock(config), DTYPE)
        self.phi0 = tf.constant(config.initial_holdings, DTYPE)

    def rate(self, Y):
        q, c = self.config.power, self.config.cost_coefficient
        if q == 2.0:
            return Y / (2.0 * c)
        return tf.sign(Y) * (tf.abs(Y) / (c * q)) ** (1.0 / (q - 1.0))

    def rollout(self, dW):
        cfg = self.config
        K, dt, N = cfg.steps, cfg.dt, cfg.n_agents
        g, x = tf.constant(cfg.gamma, DTYPE), tf.constant(cfg.xi, DTYPE)
        Mz, bz = self.z_net(self.times)
        B = tf.shape(dW)[0]
        phi = tf.broadcast_to(self.phi0, [B, N])
        W = tf.zeros([B], DTYPE)
        Y = tf.broadcast_to(self.Y0 * self.y_scale, [B, N])
        S = tf.broadcast_to(self.market.S0, [B])
        phis, rates, sigmas, mus, Ws = [phi], [], [], [], [W]
        for k in range(K):
            z = tf.concat([phi - self.phi0, W[:, None]], axis=1)
            sigma = self.market.sigma(self.times[k:k + 1], z[:, None, :])[:, 0]
            if self.mu_known:
                mu = drift_formula(cfg, phi[:, None, :], sigma[:, None], W[:, None])[:, 0]
            else:
                mu = self.market.mu(self.times[k:k + 1], z[:, None, :])[:, 0]
            Z = tf.linalg.matvec(Mz[k], z, transpose_a=True) + bz[k]
            if self.z_state is not None:
                t = tf.fill([B, 1], self.times[k])
                Z = Z + self.y_scale * self.z_state(tf.concat([t, z * self.in_scale], axis=1))
            rate = self.rate(Y)
            foc = mu[:, None] - g * sigma[:, None] * (sigma[:, None] * phi + x * W[:, None])
            Y = Y - foc * dt + Z * dW[:, k:k + 1]
            S = S + mu * dt + sigma * dW[:, k]
            phi = phi + rate * dt
            W = W + dW[:, k]
            phis.append(phi)
            rates.append(rate)
            sigmas.append(sigma)
            mus.append(mu)
            Ws.append(W)
        return (tf.stack(phis, 1), tf.stack(rates, 1), tf.stack(sigmas, 1), tf.stack(mus, 1),
                tf.stack(Ws, 1), Y, S)

    def simulate(self, paths: BrownianPaths, chunk: int = 1000) -> MarketPaths:
        fn = tf.function(lambda dW: self.rollout(dW)[:4])
        parts = [fn(tf.constant(paths.dW[i:i + chunk], DTYPE))
                 for i in range(0, paths.n_paths, chunk)]
        phi, rate, sigma, mu = (np.concatenate([p[j].numpy() for p in parts]).astype(np.float64)
                                for j in range(4))
        return MarketPaths(paths=paths, phidot=rate, phi=phi, mu=mu, sigma=sigma,
                           S0=float(self.market.S0.numpy()))


def train_deep_bsde(config: MarketConfig, bsde: BsdeConfig, verbose: bool = False) -> DeepBsde:
    start = time.perf_counter()
    model = DeepBsde(config, bsde.seed)
    model.rollout(tf.zeros([2, config.steps], DTYPE))
    variables = model.trainable_variables
    opt = _adam(bsde.lr, bsde.steps, bsde.final_lr_fraction)
    rng = np.random.default_rng(bsde.seed)

    @tf.function
    def step(dW):
        with tf.GradientTape() as tape:
            _, rate, _, _, W, Y_T, S_T = model.rollout(dW)
            y_loss = tf.reduce_mean(tf.reduce_mean((Y_T / model.y_scale) ** 2, axis=1))
            gap = S_T - (config.beta_s * config.horizon + config.alpha * W[:, -1])
            loss = y_loss + tf.reduce_mean(gap ** 2)
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables))
        return loss, tf.reduce_mean(tf.reduce_mean(rate, axis=2) ** 2)

    log = TrainingLog([], [], [], 0.0)
    for i in range(bsde.steps):
        loss, clearing = step(_batches(rng, bsde.batch, config))
        if i % max(1, bsde.steps // 20) == 0 or i == bsde.steps - 1:
            log.generator_loss.append(float(loss))
            log.clearing.append(float(clearing))
            if verbose:
                print(f"bsde {i:5d} loss {float(loss):.4e} clearing {float(clearing):.3e}",
                      flush=True)
    log.seconds = time.perf_counter() - start
    model.log = log
    return model
