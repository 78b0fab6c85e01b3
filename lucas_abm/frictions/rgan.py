"""Reinforced GAN for the equilibrium with trading costs (after Kratsios, Shi, Sun, Zhang 2025).

* **Generator** (the agents): trading rates ``phidot^n_t = policy(t, z_t)`` of all N agents,
  ``z_t = (phi_t - phi_0, W_t)``; trained to maximise ``sum_n E int_0^T u_n dt`` with
  ``u_n = mu phi^n - (gamma_n/2)(sigma phi^n + xi_n W)^2 - G(phidot^n)``, the market ``(mu, sigma)``
  held fixed (agents are price takers: ``tf.stop_gradient``).
* **Discriminator** (the market): ``sigma_t = sigma(t, z_t)``, ``S_0`` and, in the mu-learned
  variant, ``mu_t = mu(t, z_t)``; trained so that the price hits its terminal value,
  ``E|S_0 + int mu dt + int sigma dW - (beta_S T + alpha W_T)|^2 -> 0``.
* **Reinforcement link** (feedback from the agents' first-order conditions,
  ``dG'(phidot^n_t) = -(mu_t - gamma_n sigma_t (sigma_t phi^n_t + xi_n W_t)) dt + dM^n_t``,
  ``G'(phidot^n_T) = 0``): averaged over agents,
  ``mu_t = (1/N) sum_n gamma_n sigma_t(sigma_t phi^n_t + xi_n W_t) - (1/N) drift(sum_n G'(phidot^n_t))``.
  *mu known*: the drift term vanishes (``sum_n G'(phidot^n) = 0`` for q = 2 with clearing, or
  N = 2) and mu is this formula of the generator's holdings and the discriminator's sigma.
  *mu learned*: the discriminator's mu also minimises the integrated link residual
  ``E sum_k |(1/N) sum_n G'(phidot^n_k) - sum_{j>=k} (mu_j - mu^FOC_j) dt|^2`` with
  ``mu^FOC = (1/N) sum_n gamma_n sigma (sigma phi^n + xi_n W)`` (the averaged first-order
  condition integrated from t to T, which has no dW/dt noise), so a market whose agents do not
  clear is pushed toward one where they do.

Training alternates rounds of generator steps and discriminator steps on fresh Brownian batches.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from lucas_abm.frictions.config import MarketConfig
from lucas_abm.frictions.networks import DTYPE, TimeCoefficients, mlp, network_clock, state_features
from lucas_abm.frictions.paths import BrownianPaths, MarketPaths


@dataclass(frozen=True)
class RganConfig:
    """Hyper-parameters. ``nonlinear=None`` adds state MLPs only when q < 2."""

    mu_known: bool = False
    rounds: int = 120        # 40 rounds of batch 512 left sigma0 about 1.2% low on the 10-agent preset
    gen_steps: int = 50
    dis_steps: int = 50
    batch: int = 1024
    gen_lr: float = 3e-3
    dis_lr: float = 3e-3
    final_lr_fraction: float = 0.02
    link_weight: float = 1.0
    clearing_weight: float = 1000.0
    nonlinear: bool | None = None
    widths: tuple[int, ...] = (64, 64)
    antithetic: bool = True
    jit: bool = False
    seed: int = 0

    @classmethod
    def for_budget(cls, budget: str, mu_known: bool, seed: int = 0) -> "RganConfig":
        if budget == "smoke":
            return cls(mu_known=mu_known, rounds=3, gen_steps=10, dis_steps=10, batch=128,
                       seed=seed)
        return cls(mu_known=mu_known, seed=seed)


class Agents(tf.Module):
    """Generator: ``phidot = z M(t) + b(t) [+ MLP(t, z)]`` for all agents at once."""

    def __init__(self, config: MarketConfig, nonlinear: bool, widths):
        super().__init__(name="agents")
        N = config.n_agents
        in_scale, rate_scale = state_features(config)
        self.in_scale = tf.constant(in_scale, DTYPE)
        self.rate_scale = rate_scale
        self.linear = TimeCoefficients(N + 1, N, widths, in_scale=in_scale, out_scale=rate_scale)
        self.nonlinear = mlp((32, 32), N, name="agents_state") if nonlinear else None

    def coefficients(self, times):
        return self.linear(times)

    def rate(self, k, t, z, M, b):
        out = tf.linalg.matvec(M[k], z, transpose_a=True) + b[k]
        if self.nonlinear is not None:
            x = tf.concat([tf.fill([tf.shape(z)[0], 1], t), z * self.in_scale], axis=1)
            out = out + self.rate_scale * self.nonlinear(x)
        return out


class Market(tf.Module):
    """Discriminator: ``sigma(t, z)``, ``S_0`` and (mu learned) ``mu(t, z)``."""

    def __init__(self, config: MarketConfig, nonlinear: bool, learn_mu: bool, widths):
        super().__init__(name="market")
        N = config.n_agents
        in_scale, _ = state_features(config)
        self.in_scale = tf.constant(in_scale, DTYPE)
        self.alpha = config.alpha
        self.state_dependent = nonlinear
        self.sigma_net = TimeCoefficients(N + 1, 1, widths, in_scale=in_scale,
                                          out_scale=0.2 * config.alpha)
        self.sigma_state = mlp((32, 32), 1, name="sigma_state") if nonlinear else None
        self.mu0 = config.gbar * config.alpha ** 2 * config.supply
        self.mu_net = (TimeCoefficients(N + 1, 1, widths, in_scale=in_scale,
                                        out_scale=max(config.gammas) * config.alpha ** 2)
                       if learn_mu else None)
        self.mu_state = mlp((32, 32), 1, name="mu_state") if (learn_mu and nonlinear) else None
        frictionless = (config.beta_s - config.gbar * config.alpha ** 2 * config.supply) * config.horizon
        self.S0 = tf.Variable(frictionless, dtype=DTYPE, name="S0")

    def _field(self, net, state_net, times, z, base, linear_in_state):
        M, b = net(times)                                   # (K, N+1, 1), (K, 1)
        out = base + b[None, :, 0] + tf.zeros_like(z[..., 0])
        if linear_in_state:
            out = out + tf.einsum("bki,ki->bk", z, M[:, :, 0])
        if state_net is not None:
            tt = tf.broadcast_to(times[None, :, None], tf.concat([tf.shape(z)[:2], [1]], 0))
            out = out + state_net(tf.concat([tt, z * self.in_scale], axis=2))[..., 0]
        return out

    def sigma(self, times, z):
        # sigma is deterministic in the q = 2 equilibrium; state-dependent only for q < 2
        return self._field(self.sigma_net, self.sigma_state, times, z, self.alpha,
                           self.state_dependent)

    def mu(self, times, z):
        # mu is linear in (phi, W) for q = 2 (the averaged FOC), plus an MLP for q < 2
        return self._field(self.mu_net, self.mu_state, times, z, self.mu0, True)


def drift_formula(config: MarketConfig, phi, sigma, W):
    """``(1/N) sum_n gamma_n sigma (sigma phi^n + xi_n W)`` on tensors (B, K, N), (B, K), (B, K)."""
    g = tf.constant(config.gamma, DTYPE)
    x = tf.constant(config.xi, DTYPE)
    inner = sigma[..., None] * phi + x * W[..., None]
    return tf.reduce_mean(g * sigma[..., None] * inner, axis=-1)


def marginal_cost(config: MarketConfig, rate):
    """``G'(v) = c q |v|^(q-1) sign(v)``."""
    q = config.power
    if q == 2.0:
        return 2.0 * config.cost_coefficient * rate
    return config.cost_coefficient * q * tf.sign(rate) * tf.abs(rate) ** (q - 1.0)


class EquilibriumModel:
    """Agents + market with the Euler rollout shared by all learned solvers."""

    def __init__(self, config: MarketConfig, agents: Agents, market: Market, mu_known: bool):
        self.config = config
        self.agents, self.market, self.mu_known = agents, market, mu_known
        self.times = tf.constant(network_clock(config), DTYPE)
        self.phi0 = tf.constant(config.initial_holdings, DTYPE)

    def rollout(self, dW):
        """Holdings, rates and W along ``dW`` (B, K): phi (B, K+1, N), rate (B, K, N), W (B, K+1)."""
        cfg = self.config
        K, dt = cfg.steps, cfg.dt
        M, b = self.agents.coefficients(self.times)
        B = tf.shape(dW)[0]
        phi = tf.broadcast_to(self.phi0, [B, cfg.n_agents])
        W = tf.zeros([B], DTYPE)
        phis, rates, Ws = [phi], [], [W]
        for k in range(K):
            z = tf.concat([phi - self.phi0, W[:, None]], axis=1)
            rate = self.agents.rate(k, self.times[k], z, M, b)
            phi = phi + rate * dt
            W = W + dW[:, k]
            rates.append(rate)
            phis.append(phi)
            Ws.append(W)
        return tf.stack(phis, 1), tf.stack(rates, 1), tf.stack(Ws, 1)

    def market_fields(self, phi, W):
        """``sigma`` and ``mu`` (B, K) at the grid times from holdings and W."""
        K = self.config.steps
        z = tf.concat([phi[:, :K] - self.phi0, W[:, :K, None]], axis=2)
        sigma = self.market.sigma(self.times, z)
        if self.mu_known:
            mu = drift_formula(self.config, phi[:, :K], sigma, W[:, :K])
        else:
            mu = self.market.mu(self.times, z)
        return sigma, mu

    def utility_rate(self, phi, rate, W, sigma, mu):
        """``u_n(t_k)`` (B, K, N)."""
        cfg = self.config
        K = cfg.steps
        g = tf.constant(cfg.gamma, DTYPE)
        x = tf.constant(cfg.xi, DTYPE)
        p = phi[:, :K]
        risk = 0.5 * g * (sigma[..., None] * p + x * W[:, :K, None]) ** 2
        cost = cfg.cost_coefficient * tf.abs(rate) ** cfg.power
        return mu[..., None] * p - risk - cost

    def terminal_gap(self, dW, W, sigma, mu):
        cfg = self.config
        S_T = self.market.S0 + tf.reduce_sum(mu * cfg.dt + sigma * dW, axis=1)
        return S_T - (cfg.beta_s * cfg.horizon + cfg.alpha * W[:, -1])

    def link_residual(self, phi, rate, W, sigma, mu):
        """``(1/N) sum_n G'(phidot^n_k) - sum_{j>=k} (mu_j - mu^FOC_j) dt`` (B, K): zero in
        equilibrium (see module docstring); gradients flow into mu and sigma only."""
        cfg = self.config
        K = cfg.steps
        aggregate = tf.reduce_mean(marginal_cost(cfg, rate), axis=2)
        foc = drift_formula(cfg, phi[:, :K], sigma, W[:, :K])
        return aggregate - tf.cumsum((mu - foc) * cfg.dt, axis=1, reverse=True)

    def simulate(self, paths: BrownianPaths, chunk: int = 1000) -> MarketPaths:
        """Evaluate on ``paths`` (float32 network, float64 output)."""
        out = {"phi": [], "rate": [], "sigma": [], "mu": []}
        sim = tf.function(self._simulate_chunk)
        for start in range(0, paths.n_paths, chunk):
            dW = tf.constant(paths.dW[start:start + chunk], DTYPE)
            phi, rate, sigma, mu = sim(dW)
            for key, val in zip(("phi", "rate", "sigma", "mu"), (phi, rate, sigma, mu)):
                out[key].append(val.numpy().astype(np.float64))
        cat = {k: np.concatenate(v) for k, v in out.items()}
        return MarketPaths(paths=paths, phidot=cat["rate"], phi=cat["phi"], mu=cat["mu"],
                           sigma=cat["sigma"], S0=float(self.market.S0.numpy()))

    def _simulate_chunk(self, dW):
        phi, rate, W = self.rollout(dW)
        sigma, mu = self.market_fields(phi, W)
        return phi, rate, sigma, mu


@dataclass
class TrainingLog:
    generator_loss: list
    discriminator_loss: list
    clearing: list
    seconds: float


def build_model(config: MarketConfig, mu_known: bool, nonlinear: bool | None, widths,
                seed: int) -> EquilibriumModel:
    tf.random.set_seed(seed)
    nl = config.power < 2.0 if nonlinear is None else nonlinear
    agents = Agents(config, nl, widths)
    market = Market(config, nl, learn_mu=not mu_known, widths=widths)
    return EquilibriumModel(config, agents, market, mu_known)


def _schedule(lr: float, steps: int, final_fraction: float):
    return tf.keras.optimizers.schedules.ExponentialDecay(
        lr, decay_steps=max(steps, 1), decay_rate=final_fraction)


def train_rgan(config: MarketConfig, rgan: RganConfig, verbose: bool = False) -> EquilibriumModel:
    """Alternating generator / discriminator training; returns the trained model (with
    ``model.log`` a :class:`TrainingLog`)."""
    start = time.perf_counter()
    model = build_model(config, rgan.mu_known, rgan.nonlinear, rgan.widths, rgan.seed)
    rng = np.random.default_rng(rgan.seed)
    K, dt = config.steps, config.dt
    # build variables once so the optimizers see them
    model._simulate_chunk(tf.zeros([2, K], DTYPE))
    gen_vars = model.agents.trainable_variables
    dis_vars = model.market.trainable_variables
    gen_opt = tf.keras.optimizers.Adam(_schedule(rgan.gen_lr, rgan.rounds * rgan.gen_steps,
                                                 rgan.final_lr_fraction))
    dis_opt = tf.keras.optimizers.Adam(_schedule(rgan.dis_lr, rgan.rounds * rgan.dis_steps,
                                                 rgan.final_lr_fraction))
    utility_scale = 1.0 / max(1e-12, config.horizon)
    # clearing feedback in units of the aggregate cost curvature N c: vanishes (with its gradient)
    # at the equilibrium, so it does not move the fixed point, only stiffens the aggregate direction
    clearing_weight = rgan.clearing_weight * config.n_agents * config.cost_coefficient

    @tf.function(jit_compile=rgan.jit)
    def gen_step(dW):
        with tf.GradientTape() as tape:
            phi, rate, W = model.rollout(dW)
            sigma, mu = model.market_fields(phi, W)
            sigma, mu = tf.stop_gradient(sigma), tf.stop_gradient(mu)   # price takers
            u = model.utility_rate(phi, rate, W, sigma, mu)
            loss = -tf.reduce_mean(tf.reduce_sum(u, axis=[1, 2])) * dt * utility_scale
            clearing = tf.reduce_mean(tf.reduce_mean(rate, axis=2) ** 2)
            loss = loss + clearing_weight * clearing
        grads = tape.gradient(loss, gen_vars)
        gen_opt.apply_gradients(zip(grads, gen_vars))
        return loss, clearing

    @tf.function(jit_compile=rgan.jit)
    def dis_step(dW):
        phi, rate, W = model.rollout(dW)
        phi, rate = tf.stop_gradient(phi), tf.stop_gradient(rate)
        with tf.GradientTape() as tape:
            sigma, mu = model.market_fields(phi, W)
            gap = model.terminal_gap(dW, W, sigma, mu)
            loss = tf.reduce_mean(gap ** 2)
            if not model.mu_known:
                residual = model.link_residual(phi, rate, W, sigma, mu)
                loss = loss + rgan.link_weight * tf.reduce_mean(residual ** 2)
        grads = tape.gradient(loss, dis_vars)
        dis_opt.apply_gradients(zip(grads, dis_vars))
        return loss

    def batch():
        half = rgan.batch // 2 if rgan.antithetic else rgan.batch
        dW = rng.standard_normal((half, K)) * np.sqrt(dt)
        if rgan.antithetic:          # antithetic pairs (dW, -dW): cancels odd-order noise
            dW = np.concatenate([dW, -dW])
        return tf.constant(dW, DTYPE)

    log = TrainingLog([], [], [], 0.0)
    for r in range(rgan.rounds):
        for _ in range(rgan.gen_steps):
            g_loss, clearing = gen_step(batch())
        for _ in range(rgan.dis_steps):
            d_loss = dis_step(batch())
        log.generator_loss.append(float(g_loss))
        log.discriminator_loss.append(float(d_loss))
        log.clearing.append(float(clearing))
        if verbose:
            print(f"round {r:3d}  gen {float(g_loss):.5g}  dis {float(d_loss):.3e}  "
                  f"clearing {float(clearing):.3e}  S0 {float(model.market.S0):.5f}  "
                  f"{time.perf_counter() - start:.0f}s", flush=True)
    log.seconds = time.perf_counter() - start
    model.log = log
    return model
