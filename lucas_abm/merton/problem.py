"""Merton's problem with consumption: parameters, closed form and HJB residuals.

An investor with wealth ``W`` holds a share ``pi`` in a stock ``dS/S = mu dt + sigma dB`` and the
rest in a bond paying ``r``, consumes at rate ``c`` and maximises
``E int_0^inf e^(-rho t) u(c_t) dt`` with ``u(c) = c^(1-gamma)/(1-gamma)`` (gamma > 0, != 1):

    dW = (r W + pi W (mu - r) - c) dt + pi W sigma dB

HJB (infinite horizon)::

    rho V = max_{pi, c} [ u(c) + V_W (r W + pi W (mu - r) - c) + 1/2 V_WW pi^2 W^2 sigma^2 ]

First-order conditions: ``c = V_W^(-1/gamma)``, ``pi = -(mu - r) V_W / (sigma^2 W V_WW)``.
Closed form (docs/merton.md derives it), with ``theta = (mu - r)/sigma`` the Sharpe ratio::

    pi* = (mu - r) / (gamma sigma^2)
    nu* = c/W = rho/gamma - (1 - gamma)/gamma (r + theta^2 / (2 gamma))
    V(W) = K W^(1-gamma)/(1-gamma),  K = nu*^(-gamma)

well posed iff ``nu* > 0``.

**Homothetic form** (used by the repaired PINN and the actor-critic). With ``x = log W`` write
``V = W^(1-gamma)/(1-gamma) g(x)``, ``g = m^(-gamma) > 0`` (``m`` is a consumption-rate scale;
``m = nu*`` exactly), and ``l1 = d log g/dx``, ``l2 = d^2 log g/dx^2``. Dividing the
Hamiltonian by ``W^(1-gamma) g/(1-gamma)`` gives, for a policy ``(pi, nu = c/W)``::

    h = m (nu/m)^(1-gamma) + (1 - gamma + l1)(r + pi (mu - r) - nu)
        + 1/2 pi^2 sigma^2 (-gamma (1 - gamma) + (1 - 2 gamma) l1 + l2 + l1^2)

so the HJB reads ``rho = h`` and ``(rho V - H_V)/|rho V| = sign(1 - gamma)(rho - h)/rho``. The
first-order conditions in this form are ``nu = m (1 + l1/(1 - gamma))^(-1/gamma)`` and
``pi = -(mu - r)(1 - gamma + l1) / (sigma^2 (-gamma(1 - gamma) + (1 - 2 gamma) l1 + l2 + l1^2))``.

Every function works elementwise on numpy arrays and on TensorFlow tensors.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lucas_abm.errors import ConfigError, check_range

W_MIN, W_MAX = 1e-3, 1e3


#: Admissible time preference rates and stock volatilities (closed; sigma's upper end open).
RHO_RANGE = (1e-6, 10.0)
SIGMA_RANGE = (1e-3, 10.0)


@dataclass(frozen=True)
class MertonProblem:
    """Preferences (``gamma``, ``rho``), market (``r``, ``mu``, ``sigma``) and the wealth range.

    Validated on construction; raises :class:`ConfigError` (naming the parameters) when the
    problem is not well posed, i.e. the optimal consumption rate ``nu*`` is not positive.
    """

    gamma: float = 2.0
    rho: float = 0.05
    r: float = 0.02
    mu: float = 0.06
    sigma: float = 0.2
    w_min: float = W_MIN
    w_max: float = W_MAX

    def __post_init__(self) -> None:
        check_range("gamma", self.gamma, 0.0, None)
        if abs(self.gamma - 1.0) < 1e-6:
            raise ConfigError("gamma", "positive with |gamma - 1| >= 1e-6", self.gamma,
                              detail="log utility has V = log(W)/rho + const, not this form")
        # rho and sigma are bounded away from 0 and infinity: the policy network starts at nu =
        # rho (rho 1e-300 underflowed it to 0, every control undefined; 1e308 a math domain
        # error), and theta = (mu - r)/sigma is squared (sigma 1e-300 overflowed)
        check_range("rho", self.rho, RHO_RANGE[0], RHO_RANGE[1], low_open=False, high_open=False)
        check_range("r", self.r, -1.0, 1.0)
        check_range("mu", self.mu, -1.0, 1.0)
        check_range("sigma", self.sigma, SIGMA_RANGE[0], SIGMA_RANGE[1], low_open=False)
        check_range("w_min", self.w_min, 0.0, None)
        check_range("w_max", self.w_max, self.w_min, None)
        nu = self.consumption_rate
        if not nu > 0:
            raise ConfigError(
                "gamma/rho/r/mu/sigma",
                "such that c/W = rho/gamma - (1-gamma)/gamma (r + (mu-r)^2/(2 gamma sigma^2)) > 0",
                round(nu, 10), detail="otherwise the value is infinite: no optimum exists")
        log_k = -self.gamma * math.log(nu)      # the printed K = nu*^(-gamma) must be a float64
        if log_k > 709.0:                        # (an OverflowError after training, gamma >= ~181)
            raise ConfigError("gamma", "small enough that V's constant K = nu*^(-gamma) is a "
                              "float64 (below e^709)", self.gamma,
                              detail=f"K = e^{log_k:.0f} with nu* = {nu:.4g}")

    # ---- closed form ---------------------------------------------------------------------
    @property
    def sharpe(self) -> float:
        """``theta = (mu - r)/sigma``."""
        return (self.mu - self.r) / self.sigma

    @property
    def merton_share(self) -> float:
        """``pi* = (mu - r)/(gamma sigma^2)``."""
        return (self.mu - self.r) / (self.gamma * self.sigma ** 2)

    @property
    def consumption_rate(self) -> float:
        """``nu* = rho/gamma - (1-gamma)/gamma (r + theta^2/(2 gamma))``."""
        g = self.gamma
        return self.rho / g - (1.0 - g) / g * (self.r + self.sharpe ** 2 / (2.0 * g))

    @property
    def value_constant(self) -> float:
        """``K = nu*^(-gamma)`` in ``V = K W^(1-gamma)/(1-gamma)``."""
        return self.consumption_rate ** (-self.gamma)

    @property
    def log_wealth_range(self) -> tuple[float, float]:
        return math.log(self.w_min), math.log(self.w_max)

    def value(self, W):
        """Closed-form ``V(W) = K W^(1-gamma)/(1-gamma)``."""
        return self.value_constant * W ** (1.0 - self.gamma) / (1.0 - self.gamma)

    def value_derivatives(self, W):
        """``(V_W, V_WW) = (K W^(-gamma), -gamma K W^(-gamma-1))``."""
        K, g = self.value_constant, self.gamma
        return K * W ** (-g), -g * K * W ** (-g - 1.0)

    # ---- the HJB in wealth ---------------------------------------------------------------
    def utility(self, c):
        """``u(c) = c^(1-gamma)/(1-gamma)``."""
        return c ** (1.0 - self.gamma) / (1.0 - self.gamma)

    def hamiltonian(self, W, V_W, V_WW, pi, c):
        """``u(c) + V_W (r W + pi W (mu - r) - c) + 1/2 V_WW pi^2 W^2 sigma^2``."""
        drift = self.r * W + pi * W * (self.mu - self.r) - c
        return self.utility(c) + V_W * drift + 0.5 * V_WW * (pi * W * self.sigma) ** 2

    def hjb_residual(self, W, V, V_W, V_WW, pi, c):
        """``rho V - H(W, V_W, V_WW; pi, c)``: zero at the optimum."""
        return self.rho * V - self.hamiltonian(W, V_W, V_WW, pi, c)

    def foc_controls(self, W, V_W, V_WW):
        """``c = V_W^(-1/gamma)``, ``pi = -(mu - r) V_W/(sigma^2 W V_WW)`` (need V_W > 0 > V_WW)."""
        c = V_W ** (-1.0 / self.gamma)
        pi = -(self.mu - self.r) * V_W / (self.sigma ** 2 * W * V_WW)
        return pi, c

    # ---- the HJB in homothetic form (x = log W, V = W^(1-gamma) m^(-gamma)/(1-gamma)) -----
    def hamiltonian_homothetic(self, m, l1, l2, pi, nu):
        """``h = H_V / (W^(1-gamma) g/(1-gamma))`` with ``g = m^(-gamma)`` (module docstring)."""
        g = self.gamma
        drift = self.r + pi * (self.mu - self.r) - nu
        curvature = -g * (1.0 - g) + (1.0 - 2.0 * g) * l1 + l2 + l1 ** 2
        return (m * (nu / m) ** (1.0 - g) + (1.0 - g + l1) * drift
                + 0.5 * (pi * self.sigma) ** 2 * curvature)

    def residual_homothetic(self, m, l1, l2, pi, nu):
        """``(rho V - H_V)/|rho V| = sign(1 - gamma)(rho - h)/rho``."""
        sign = 1.0 if self.gamma < 1.0 else -1.0
        return sign * (1.0 - self.hamiltonian_homothetic(m, l1, l2, pi, nu) / self.rho)

    def foc_controls_homothetic(self, m, l1, l2):
        """``nu = m (1 + l1/(1-gamma))^(-1/gamma)``,
        ``pi = -(mu-r)(1-gamma+l1)/(sigma^2 (-gamma(1-gamma) + (1-2gamma) l1 + l2 + l1^2))``."""
        g = self.gamma
        nu = m * (1.0 + l1 / (1.0 - g)) ** (-1.0 / g)
        curvature = -g * (1.0 - g) + (1.0 - 2.0 * g) * l1 + l2 + l1 ** 2
        pi = -(self.mu - self.r) * (1.0 - g + l1) / (self.sigma ** 2 * curvature)
        return pi, nu

    def describe(self) -> dict:
        return {"gamma": self.gamma, "rho": self.rho, "r": self.r, "mu": self.mu,
                "sigma": self.sigma, "w_min": self.w_min, "w_max": self.w_max,
                "merton_share": self.merton_share, "consumption_rate": self.consumption_rate,
                "value_constant": self.value_constant}


def wealth_grid(problem: MertonProblem, points: int = 241) -> np.ndarray:
    """Log-spaced evaluation grid over ``[w_min, w_max]`` (241 points: 40 a decade)."""
    return np.geomspace(problem.w_min, problem.w_max, points)
