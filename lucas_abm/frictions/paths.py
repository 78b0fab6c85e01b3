"""Brownian paths on the Euler grid, and the simulated market along them.

Every method (exact, leading order, learned) is evaluated on the same :class:`BrownianPaths`, so
metrics compare like with like. Arrays are float64 with paths on axis 0:

* ``dW[m, k] = W_{t_{k+1}} - W_{t_k}`` for ``k = 0..K-1``;
* ``W[m, k]`` for ``k = 0..K`` with ``W[:, 0] = 0``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lucas_abm.errors import ConfigError
from lucas_abm.frictions.config import MarketConfig


@dataclass(frozen=True)
class BrownianPaths:
    """``n_paths`` Brownian paths on ``K`` steps of size ``dt``."""

    dW: np.ndarray
    dt: float

    @property
    def W(self) -> np.ndarray:
        zeros = np.zeros((self.dW.shape[0], 1))
        return np.concatenate([zeros, np.cumsum(self.dW, axis=1)], axis=1)

    @property
    def n_paths(self) -> int:
        return self.dW.shape[0]

    @property
    def steps(self) -> int:
        return self.dW.shape[1]


def brownian_paths(config: MarketConfig, n_paths: int, seed: int = 0) -> BrownianPaths:
    """Increments ``dW ~ N(0, dt)`` i.i.d., reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    dW = rng.standard_normal((n_paths, config.steps)) * np.sqrt(config.dt)
    return BrownianPaths(dW=dW, dt=config.dt)


def check_euler_step(rate: float, dt: float, steps: int, horizon: float) -> None:
    """ConfigError naming ``steps`` unless ``dt * rate <= 1``, ``rate`` the fastest rate
    (per unit time) at which the solver's feedback closes a deviation from its target.

    The Euler step ``phi_{k+1} = phi_k + phidot_k dt`` of a feedback ``phidot = -r (phi -
    target)`` multiplies the deviation by ``1 - r dt``: above ``r dt = 1`` it overshoots, and
    above 2 it grows without bound (``--horizon 20`` with 100 steps gave a utility of -6e71
    with exit code 0). A step that the feedback cannot overshoot keeps the paths meaningful."""
    if rate * dt > 1.0:
        need = rate * horizon
        shown = f"{int(np.ceil(need)):,}" if need < 1e12 else f"{need:.3g}"   # not 58 digits
        raise ConfigError("steps", f">= {shown} for the Euler scheme to follow this market's "
                          f"trading speed (dt = T/K times the fastest feedback rate {rate:.4g} "
                          "per unit time must be <= 1)", steps, detail=f"dt x rate = {rate * dt:.3g}")


@dataclass(frozen=True)
class MarketPaths:
    """A market simulated along Brownian paths (the output of every solver).

    ``phidot[m, k, n]`` is agent n's trading rate on ``[t_k, t_{k+1})`` (``k < K``),
    ``phi[m, k, n]`` its holdings at ``t_k`` (``k <= K``, Euler: ``phi_{k+1} = phi_k + phidot_k dt``),
    ``mu[m, k]`` and ``sigma[m, k]`` the drift and volatility of ``S`` at ``t_k`` (``k < K``),
    ``S0`` the initial price. ``S_{k+1} = S_k + mu_k dt + sigma_k dW_k``.
    """

    paths: BrownianPaths
    phidot: np.ndarray
    phi: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray
    S0: float

    def price(self) -> np.ndarray:
        """``S[m, k]`` on the grid by the Euler scheme from ``S0``."""
        incr = self.mu * self.paths.dt + self.sigma * self.paths.dW
        zeros = np.zeros((incr.shape[0], 1))
        return self.S0 + np.concatenate([zeros, np.cumsum(incr, axis=1)], axis=1)


def drift_from_foc(config: MarketConfig, phi: np.ndarray, sigma: np.ndarray,
                   W: np.ndarray) -> np.ndarray:
    """``mu_t = (1/N) sum_n gamma_n sigma_t (sigma_t phi^n_t + xi_n W_t)``.

    The average of the agents' first-order conditions when ``sum_n G'(phidot^n) = 0`` (quadratic
    costs with clearing, or two agents). Shapes: phi (M, K, N), sigma (M, K), W (M, K).
    """
    g, x = config.gamma, config.xi
    inner = sigma[..., None] * phi + x * W[..., None]
    return np.mean(g * sigma[..., None] * inner, axis=-1)
