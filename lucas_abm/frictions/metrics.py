"""Evaluation metrics on a simulated market (the published normalisation).

* ``utility``: mean over agents of ``E[(1/K^2) sum_k u_n(t_k)]`` with
  ``u_n = mu phi^n - (gamma_n/2)(sigma phi^n + xi_n W)^2 - G(phidot^n)`` (see config), ``k = 0..K-1``.
* ``clearing_error``: ``E[(1/K) sum_k |(1/N) sum_n phidot^n_k|^2]``.
* ``terminal_error``: ``E|S_T - (beta_S T + alpha W_T)|^2`` with the Euler price.
* ``S0``, ``mu0 = E mu_0``, ``sigma0 = E sigma_0``.
"""
from __future__ import annotations

import numpy as np

from lucas_abm.frictions.config import MarketConfig
from lucas_abm.frictions.paths import MarketPaths


def running_utility(config: MarketConfig, market: MarketPaths) -> np.ndarray:
    """``u_n(t_k)`` of shape (M, K, N)."""
    K = market.paths.steps
    phi = market.phi[:, :K, :]
    W = market.paths.W[:, :K, None]
    mu, sigma = market.mu[..., None], market.sigma[..., None]
    risk = 0.5 * config.gamma * (sigma * phi + config.xi * W) ** 2
    cost = config.trading_cost(market.phidot)
    return mu * phi - risk - cost


def utility(config: MarketConfig, market: MarketPaths) -> float:
    K = market.paths.steps
    u = running_utility(config, market)
    return float(np.mean(np.sum(u, axis=1) / K ** 2))


def clearing_error(market: MarketPaths) -> float:
    return float(np.mean(np.mean(market.phidot, axis=2) ** 2))


def terminal_error(config: MarketConfig, market: MarketPaths) -> float:
    S_T = market.price()[:, -1]
    target = config.beta_s * config.horizon + config.alpha * market.paths.W[:, -1]
    return float(np.mean((S_T - target) ** 2))


def summary(config: MarketConfig, market: MarketPaths, seconds: float) -> dict:
    """All metrics as a JSON-ready dict."""
    return {
        "utility": utility(config, market),
        "clearing_error": clearing_error(market),
        "terminal_error": terminal_error(config, market),
        "S0": float(market.S0),
        "mu0": float(np.mean(market.mu[:, 0])),
        "sigma0": float(np.mean(market.sigma[:, 0])),
        "seconds": float(seconds),
    }
