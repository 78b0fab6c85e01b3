"""Leading-order equilibrium for small power costs, two agents (Gonon, Muhle-Karbe and Shi 2021).

Write ``G(v) = c |v|^q`` (see :class:`MarketConfig`); it equals ``(lam_h/2)|v|^q`` with
``lam_h = 2c``. Agent 1's deviation from its frictionless position,
``Delta = phi^1 - (s gbar/gamma_1 - (xi_1/alpha) W)``, has ``dDelta = phidot^1 dt + b dW`` with
``b = xi_1/alpha``; agent 2 trades ``phidot^2 = -phidot^1``. At leading order the pair solves the
ergodic tracking problem with penalty ``(kappa/2) Delta^2``, ``kappa = alpha^2 (gamma_1+gamma_2)/2``
(the N = 2 Riccati coefficient ``A alpha^2``). Differentiating its HJB equation in ``Delta`` and
rescaling ``Delta = ell x``, ``V'(Delta) = (kappa ell^3 / b^2) g(x)`` gives, for ``x >= 0``::

    g'' - g' |g/q|^(1/(q-1)) = 2x,   g(0) = 0,   g(x) ~ -C x^a  (x -> inf),

with ``a = 2(q-1)/q``, ``C = (q^(1/(q-1)) q/(q-1))^((q-1)/q)``; ``g`` is odd (``g(-x) = -g(x)``),
negative on ``x > 0``. The scale is ``ell = (lam_h b^(2q) / (2^q kappa))^(1/(q+2))`` and the
trading rate of agent 1 is::

    phidot^1 = -sign(Delta) (b^2 / (2 ell)) |g(|Delta|/ell) / q|^(1/(q-1)).

For q = 2, ``g(x) = -2x`` and ``phidot^1 = -sqrt(kappa/lam) Delta`` (the stationary Riccati feedback).
Since ``-V'/kappa`` solves the Poisson equation of ``E int Delta dt``, the volatility is
``sigma = alpha + ((gamma_1-gamma_2)/(gamma_1+gamma_2)) b V''(Delta)``; its leading-order constant
(taken at ``Delta = 0``) is::

    sigma = alpha + ((gamma_1 - gamma_2)/(gamma_1 + gamma_2)) (xi_1/alpha) (kappa ell^2/b^2) g'(0).

The drift is ``mu_t = (1/2) sum_n gamma_n sigma (sigma phi^n_t + xi_n W_t)`` (exact for N = 2), so
``mu_0 = gbar s sigma^2``, and the consistent initial price is
``S_0 = beta_S T - E int_0^T mu dt = beta_S T - gbar s sigma^2 T`` (E Delta = 0 by symmetry).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.integrate import solve_ivp
from scipy.interpolate import CubicHermiteSpline

from lucas_abm.errors import ConfigError
from lucas_abm.frictions.config import MarketConfig
from lucas_abm.frictions.frictionless import frictionless_holdings
from lucas_abm.frictions.paths import BrownianPaths, MarketPaths, check_euler_step, drift_from_foc


def g_asymptote(q: float) -> tuple[float, float]:
    """``(C, a)`` of the growth ``g(x) ~ -C x^a``: balance of ``-g'|g/q|^p = 2x``, p = 1/(q-1)."""
    p = 1.0 / (q - 1.0)
    a = 2.0 / (1.0 + p)
    C = (2.0 * q ** p / a) ** (1.0 / (1.0 + p))
    return C, a


def _shoot(slope: float, q: float, x_max: float) -> int:
    """+1 if ``g'`` turns positive (slope too high), -1 if ``g`` falls far below the
    asymptote (too low), 0 if the solution stays on the power-law branch up to ``x_max``."""
    p = 1.0 / (q - 1.0)
    C, a = g_asymptote(q)

    def rhs(x, y):
        return [y[1], 2.0 * x + y[1] * abs(y[0] / q) ** p]

    def turns_up(x, y):
        return y[1] - 1.0

    def falls(x, y):
        return y[0] + 3.0 * C * max(x, 1.0) ** a + 5.0

    turns_up.terminal = falls.terminal = True
    sol = solve_ivp(rhs, (0.0, x_max), [0.0, slope], rtol=1e-12, atol=1e-12,
                    events=[turns_up, falls])
    if sol.t_events[0].size:
        return 1
    if sol.t_events[1].size:
        return -1
    return 0


@dataclass(frozen=True)
class GFunction:
    """The solution ``g`` on ``[0, x_max]`` (odd extension outside), with ``slope0 = g'(0)``."""

    q: float
    slope0: float
    x: np.ndarray
    g: np.ndarray
    dg: np.ndarray

    def __call__(self, x):
        """``g(x)`` for any real x (odd extension; beyond ``x_max`` the asymptote, matched)."""
        x = np.asarray(x, dtype=float)
        ax = np.abs(x)
        inside = CubicHermiteSpline(self.x, self.g, self.dg)(np.minimum(ax, self.x[-1]))
        C, a = g_asymptote(self.q)
        edge = self.x[-1]
        shift = self.g[-1] + C * edge ** a
        outside = -C * ax ** a + shift
        return np.sign(x) * np.where(ax <= edge, inside, outside)

    def derivative(self, x):
        x = np.asarray(x, dtype=float)
        return CubicHermiteSpline(self.x, self.dg, np.gradient(self.dg, self.x))(
            np.minimum(np.abs(x), self.x[-1]))


@lru_cache(maxsize=8)
def solve_g(q: float, x_max: float = 4.0) -> GFunction:
    """Solve the g-ODE by shooting on ``g'(0)`` (bisection to round-off), then integrate on
    ``[0, x_max]``. ``x_max`` is where the unstable direction is still below 1e-8 relative."""
    lo, hi = -20.0, 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        verdict = _shoot(mid, q, 3.0 * x_max)
        if verdict > 0:
            hi = mid
        elif verdict < 0:
            lo = mid
        else:
            break
        if hi - lo < 1e-15:
            break
    slope = 0.5 * (lo + hi)
    p = 1.0 / (q - 1.0)
    xs = np.linspace(0.0, x_max, 4001)
    sol = solve_ivp(lambda x, y: [y[1], 2.0 * x + y[1] * abs(y[0] / q) ** p], (0.0, x_max),
                    [0.0, slope], t_eval=xs, rtol=1e-12, atol=1e-12)
    return GFunction(q=q, slope0=slope, x=sol.t, g=sol.y[0], dg=sol.y[1])


@dataclass(frozen=True)
class LeadingOrder:
    """Constants of the leading-order equilibrium (see module docstring)."""

    kappa: float
    b: float
    ell: float
    g: GFunction
    sigma: float
    mu0: float
    S0: float

    def trading_rate(self, deviation):
        """``phidot^1 = -sign(Delta) (b^2/(2 ell)) |g(|Delta|/ell)/q|^(1/(q-1))``."""
        q = self.g.q
        x = np.asarray(deviation) / self.ell
        return np.sign(x) * (self.b ** 2 / (2.0 * self.ell)) * np.abs(self.g(np.abs(x)) / q) ** (
            1.0 / (q - 1.0)) * -1.0


class LargeCostWarning(UserWarning):
    """The costs are too large for the leading-order (small-cost, long-horizon) expansion."""


#: Largest ratio of the deviation's time scale ell^2/b^2 to the horizon T without a warning.
MAX_TIME_SCALE_RATIO = 0.25


def _warn_outside_small_costs(config: MarketConfig, time_scale: float, sigma: float) -> None:
    """The expansion solves an ergodic (stationary) tracking problem: the deviation Delta ~ ell,
    driven by b dW, forgets its start on the time scale ell^2/b^2, which must be short against T.
    At the preset (lam = 0.01) it is 0.068 T and sigma corrects alpha by 7%; at lam = 0.1,
    0.25 T and 27%; at lam = 1, 0.94 T and 100%; at lam = 1e6, 2500 T and sigma = 2688."""
    ratio = time_scale / config.horizon
    if ratio > MAX_TIME_SCALE_RATIO:
        warnings.warn(f"the leading-order expansion assumes small costs: the deviation's time scale "
                      f"ell^2/b^2 = {time_scale:.3g} is {ratio:.3g} of the horizon T = "
                      f"{config.horizon:g} (> {MAX_TIME_SCALE_RATIO:g}), and sigma0 = {sigma:.4g} "
                      f"against alpha = {config.alpha:g}; lower lam, or compare a learned method "
                      "(rgan, deep-bsde), or exact with power 2", LargeCostWarning, stacklevel=3)


#: Smallest cost exponent q whose g-equation the shooting solves: the term |g/q|^(1/(q-1))
#: has exponent 12.5 at q = 1.08, and below it the bisection for g'(0) lost the power-law branch
#: (g'(0) = -1.44 at q = 1.08, then -1.56 at 1.07 and the bracket's end, -10, at 1.06).
MIN_POWER = 1.1


def leading_order(config: MarketConfig) -> LeadingOrder:
    if config.n_agents != 2:
        raise ConfigError("agents", "2 for the leading-order approximation", config.n_agents)
    if config.power < MIN_POWER:
        raise ConfigError("power", f"in [{MIN_POWER:g}, 2] for the leading-order approximation "
                          "(its g-equation has the exponent 1/(q-1))", config.power)
    g1, g2 = config.gammas
    q, alpha = config.power, config.alpha
    lam_h = 2.0 * config.cost_coefficient
    kappa = alpha ** 2 * (g1 + g2) / 2.0
    b = abs(config.xis[0]) / alpha
    if b == 0.0:
        sigma = alpha
        ell = 1.0
    else:
        ell = (lam_h * b ** (2 * q) / (2.0 ** q * kappa)) ** (1.0 / (q + 2.0))
    gfun = solve_g(q)
    if b != 0.0:
        sigma = alpha + (g1 - g2) / (g1 + g2) * (config.xis[0] / alpha) * (
            kappa * ell ** 2 / b ** 2) * gfun.slope0
    mu0 = config.gbar * config.supply * sigma ** 2
    S0 = config.beta_s * config.horizon - mu0 * config.horizon
    if b != 0.0:
        _warn_outside_small_costs(config, ell ** 2 / b ** 2, sigma)
    return LeadingOrder(kappa=kappa, b=b, ell=ell, g=gfun, sigma=sigma, mu0=mu0, S0=S0)


def simulate_leading_order(config: MarketConfig, paths: BrownianPaths,
                           approx: LeadingOrder | None = None) -> MarketPaths:
    lo = approx if approx is not None else leading_order(config)
    if lo.b > 0:   # the feedback's steepest slope over g's range |Delta| <= 4 ell
        deviation = np.linspace(-4.0 * lo.ell, 4.0 * lo.ell, 4001)
        rate = float(np.abs(np.gradient(lo.trading_rate(deviation), deviation)).max())
        check_euler_step(rate, paths.dt, paths.steps, config.horizon)
    W = paths.W
    target = frictionless_holdings(config, W)[:, :, 0]
    M, K = paths.n_paths, paths.steps
    phi = np.empty((M, K + 1, 2))
    phidot = np.empty((M, K, 2))
    phi[:, 0, :] = config.initial_holdings
    for k in range(K):
        rate = lo.trading_rate(phi[:, k, 0] - target[:, k]) if lo.b > 0 else np.zeros(M)
        phidot[:, k, 0], phidot[:, k, 1] = rate, -rate
        phi[:, k + 1, :] = phi[:, k, :] + phidot[:, k, :] * paths.dt
    sigma = np.full((M, K), lo.sigma)
    mu = drift_from_foc(config, phi[:, :K, :], sigma, W[:, :K])
    return MarketPaths(paths=paths, phidot=phidot, phi=phi, mu=mu, sigma=sigma, S0=lo.S0)
