"""Frictionless benchmark (lam = 0): ``sigma = alpha``, ``mu = gbar alpha^2 s`` and
``phi^n_t = s gbar / gamma_n - (xi_n / alpha) W_t``; ``S_0 = beta_S T - gbar alpha^2 s T``.

On the Euler grid the holdings are taken exactly on the grid, so the trading "rate" on
``[t_k, t_{k+1})`` is ``(phi_{k+1} - phi_k)/dt = -(xi_n/alpha) dW_k/dt`` (a finite-variation proxy
of the Brownian holdings: it has no continuous-time limit, hence large trading costs).
"""
from __future__ import annotations

import numpy as np

from lucas_abm.frictions.config import MarketConfig
from lucas_abm.frictions.paths import BrownianPaths, MarketPaths


def frictionless_holdings(config: MarketConfig, W: np.ndarray) -> np.ndarray:
    """``phi^n = s gbar/gamma_n - (xi_n/alpha) W`` for ``W`` of shape (M, K+1) -> (M, K+1, N)."""
    return config.initial_holdings - np.multiply.outer(W, config.xi / config.alpha)


def simulate_frictionless(config: MarketConfig, paths: BrownianPaths) -> MarketPaths:
    W = paths.W
    phi = frictionless_holdings(config, W)
    phidot = np.diff(phi, axis=1) / paths.dt
    M, K = paths.n_paths, paths.steps
    sigma = np.full((M, K), config.alpha)
    mu = np.full((M, K), config.gbar * config.alpha ** 2 * config.supply)
    S0 = config.beta_s * config.horizon - config.gbar * config.alpha ** 2 * config.supply * config.horizon
    return MarketPaths(paths=paths, phidot=phidot, phi=phi, mu=mu, sigma=sigma, S0=S0)
