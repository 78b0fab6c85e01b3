"""Exact equilibrium for quadratic costs (q = 2) and any number of agents.

Agents are ordered so that agent N has the largest risk aversion (the module reorders
internally and maps back). With ``delta`` the Kronecker delta, for ``n, m < N``::

    A_nm = [gamma_m (N delta_nm - 1) + gamma_N] / N,   B = A xi_(1..N-1),
    c_m = 1/gamma_m - 1/gamma_N.

In time to maturity ``tau = T - t``, with ``H(0) = 0`` and ``F(0) = 0``::

    sigma(tau) = alpha + gbar c . H,
    dH/dtau = sigma B - F H / lam,
    dF/dtau = sigma^2 A - F F / lam.

Trading rates are linear feedback on the deviation from the initial holdings and on ``W``::

    phidot^n = -(1/lam) [sum_m F_nm (phi^m - s gbar/gamma_m) + H_n W],  n < N,
    phidot^N = -sum_{n<N} phidot^n,

the drift is ``mu_t = (1/N) sum_n gamma_n sigma_t (sigma_t phi^n_t + xi_n W_t)`` and the
initial price ``S_0 = beta_S T - gbar s int_0^T sigma_t^2 dt``. See docs/frictions.md for the
derivation from the first-order conditions and clearing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.integrate import quad, solve_ivp

from lucas_abm.errors import ConfigError
from lucas_abm.frictions.config import MarketConfig
from lucas_abm.frictions.paths import BrownianPaths, MarketPaths, check_euler_step, drift_from_foc


@dataclass(frozen=True)
class RiccatiSolution:
    """``F(tau)``, ``H(tau)``, ``sigma(tau)`` on the grid ``tau_k = T - t_k`` (k = 0..K).

    ``order`` is the permutation that puts the most risk-averse agent last: position ``j`` of the
    Riccati system is agent ``order[j]`` of the config. ``F`` has shape (K+1, N-1, N-1), ``H``
    (K+1, N-1), ``sigma`` (K+1,). ``integral_sigma2 = int_0^T sigma_t^2 dt`` (adaptive quadrature).
    """

    order: np.ndarray
    F: np.ndarray
    H: np.ndarray
    sigma: np.ndarray
    integral_sigma2: float


def riccati_coefficients(config: MarketConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(order, A, B, c)`` for the agents reordered so that the last is the most risk averse."""
    order = np.argsort(config.gamma, kind="stable")
    order = np.concatenate([order[order != order[-1]], order[-1:]])
    g, x = config.gamma[order], config.xi[order]
    N = len(g)
    gN = g[-1]
    eye = np.eye(N - 1)
    A = (g[None, :N - 1] * (N * eye - 1.0) + gN) / N
    B = A @ x[:N - 1]
    c = 1.0 / g[:N - 1] - 1.0 / gN
    return order, A, B, c


def solve_riccati(config: MarketConfig, rtol: float = 1e-10, atol: float = 1e-12) -> RiccatiSolution:
    """Integrate the (H, F) system from ``tau = 0`` to ``tau = T`` (LSODA: stiff as lam -> 0)."""
    if config.power != 2.0:
        raise ConfigError("power", "2 for the exact solution (use leading-order for q < 2)",
                          config.power)
    order, A, B, c = riccati_coefficients(config)
    d = config.n_agents - 1
    lam, gbar, alpha, T = config.lam, config.gbar, config.alpha, config.horizon
    taus = T - config.times()
    if d == 0:
        sigma = np.full(taus.shape, alpha)
        return RiccatiSolution(order, np.zeros((len(taus), 0, 0)), np.zeros((len(taus), 0)), sigma,
                               alpha ** 2 * T)

    def rhs(_tau, y):
        H, F = y[:d], y[d:].reshape(d, d)
        sig = alpha + gbar * c @ H
        dH = sig * B - F @ H / lam
        dF = sig ** 2 * A - F @ F / lam
        return np.concatenate([dH, dF.ravel()])

    sol = solve_ivp(rhs, (0.0, T), np.zeros(d + d * d), method="LSODA", rtol=rtol, atol=atol,
                    dense_output=True)
    if not sol.success:   # F/lam too stiff: lam 1e-30 (a rate ~ sqrt(kappa/lam) = 1e15 per unit time)
        raise ConfigError("lam", "large enough for the Riccati equations to be integrated", lam,
                          detail=f"LSODA: {sol.message.rstrip('.')}; the trading speed, about "
                                 f"sqrt(alpha^2 max(gamma)/lam), would need about "
                                 f"{T * math.sqrt(alpha ** 2 * max(config.gammas) / lam):.3g} "
                                 "Euler steps anyway")
    Y = sol.sol(taus).T
    H, F = Y[:, :d], Y[:, d:].reshape(-1, d, d)
    sigma = alpha + gbar * H @ c

    def sigma2(tau):
        return float(alpha + gbar * c @ sol.sol(tau)[:d]) ** 2

    integral, _ = quad(sigma2, 0.0, T, epsabs=1e-13, epsrel=1e-12, limit=200)
    return RiccatiSolution(order, F, H, sigma, integral)


def initial_price(config: MarketConfig, integral_sigma2: float) -> float:
    """``S_0 = beta_S T - gbar s int_0^T sigma_t^2 dt``."""
    return config.beta_s * config.horizon - config.gbar * config.supply * integral_sigma2


def simulate_exact(config: MarketConfig, paths: BrownianPaths,
                   riccati: RiccatiSolution | None = None) -> MarketPaths:
    """Simulate the exact equilibrium on ``paths`` with the Euler scheme."""
    ric = riccati if riccati is not None else solve_riccati(config)
    order, lam, dt = ric.order, config.lam, paths.dt
    M, K, N = paths.n_paths, paths.steps, config.n_agents
    if N > 1:   # the feedback -F/lam (phi - phi0): its fastest rate is the spectral radius
        rate = float(np.abs(np.linalg.eigvals(ric.F[:K])).max()) / lam
        check_euler_step(rate, dt, K, config.horizon)
    W = paths.W
    phi0 = config.initial_holdings[order]
    phi = np.empty((M, K + 1, N))
    phidot = np.zeros((M, K, N))
    phi[:, 0, :] = phi0
    for k in range(K):
        if N > 1:
            dev = phi[:, k, :N - 1] - phi0[:N - 1]
            rate = -(dev @ ric.F[k].T + W[:, k:k + 1] * ric.H[k]) / lam
            phidot[:, k, :N - 1] = rate
            phidot[:, k, N - 1] = -rate.sum(axis=1)
        phi[:, k + 1, :] = phi[:, k, :] + phidot[:, k, :] * dt
    inverse = np.argsort(order)
    phi, phidot = phi[:, :, inverse], phidot[:, :, inverse]
    sigma = np.broadcast_to(ric.sigma[:K], (M, K)).copy()
    mu = drift_from_foc(config, phi[:, :K, :], sigma, W[:, :K])
    return MarketPaths(paths=paths, phidot=phidot, phi=phi, mu=mu, sigma=sigma,
                       S0=initial_price(config, ric.integral_sigma2))
