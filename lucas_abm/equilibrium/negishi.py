"""Heterogeneous risk aversion with complete markets: the equilibrium via Negishi weights.

Types k = 1..K with CRRA ``gamma_k > 0``, a common ``beta`` and common beliefs (the chain's
transition matrix P), initial tree shares ``theta_k`` (sum 1) and no bonds. Dividend states
y_1..y_S (S = 1 or 2; more states only when every gamma is equal). With planner weights
lambda_k (docs/heterogeneity.md)::

    lambda_k c_k(y)^(-gamma_k) = mu(y),   sum_k c_k(y) = y                  (sharing rule)
    m(y, y') = beta mu(y') / mu(y)                                          (SDF)
    (I - beta P)(mu V) = mu y,   V = p + y                                  (tree, cum dividend)
    q = beta P mu / mu                                                      (bond)
    (I - beta P)(mu W_k) = mu c_k                                           (wealth, cum dividend)
    W_k(y_0) = theta_k V(y_0)                                               (pins lambda)
    s_k V(y') + b_k = W_k(y')  for every y'                                 (portfolio)

The sharing rule is solved state by state with Newton's method on log mu (vectorised over
states): F(x) = log sum_k exp((log lambda_k - x)/gamma_k) - log y is convex and decreasing,
so Newton converges from any start. The K - 1 free weights, written as the types' consumption
shares in y_0 (lambda_k = c_k(y_0)^gamma_k with mu(y_0) = 1), are found by a damped Newton
method on ``log(W_k(y_0)/V(y_0)) - log theta_k``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lucas_abm.errors import ConfigError, check_range

_NEWTON_MAX = 200


def sharing_rule(log_weights: np.ndarray, gammas: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Consumption c[k, s] and log mu[s] with lambda_k c_k^(-gamma_k) = mu, sum_k c_k = y_s.

    ``c_k = exp((log lambda_k - log mu)/gamma_k)``; log mu solves F(x) = 0 with F convex and
    decreasing (a log-sum-exp of affine functions of x), so Newton's iterates converge
    monotonically after the first step, whatever the start.
    """
    a = np.asarray(log_weights, float)[:, None]
    g = np.asarray(gammas, float)[:, None]
    log_y = np.log(np.asarray(y, float))[None, :]
    # start: mu such that the type with the largest weight per gamma eats about y
    x = np.max(a - g * log_y, axis=0)
    for _ in range(_NEWTON_MAX):
        z = (a - x[None, :]) / g                              # log c_k
        zmax = z.max(axis=0)
        w = np.exp(z - zmax)
        lse = zmax + np.log(w.sum(axis=0))
        f = lse - log_y[0]
        slope = -(w / g).sum(axis=0) / w.sum(axis=0)          # F'(x) < 0
        step = f / slope
        x = x - step
        if np.all(np.abs(step) <= 1e-15 * np.maximum(1.0, np.abs(x))):
            break
    c = np.exp((a - x[None, :]) / g)
    c *= np.asarray(y, float)[None, :] / c.sum(axis=0)        # exact market clearing
    return c, x


@dataclass(frozen=True, eq=False)
class NegishiEquilibrium:
    """The complete-markets equilibrium with heterogeneous gamma; arrays over types k, states s.

    ``consumption[k, s]`` is type k's total consumption in state s (sum over k is y_s);
    ``wealth[k, s]`` its cum-dividend wealth W_k(y_s); ``shares[k]`` and ``bonds[k]`` its
    portfolio carried out of any state, per unit of tree supply (sum 1 and 0); ``sdf[s, s']``
    = m(y_s, y_s'). ``representative_gamma`` (two states only) is the gamma of the
    representative agent whose prices are the same: -log(mu_2/mu_1)/log(y_2/y_1).
    """

    states: np.ndarray
    transition: np.ndarray
    beta: float
    gammas: np.ndarray
    endowments: np.ndarray
    initial_state: int
    planner_weights: np.ndarray
    marginal_utility: np.ndarray
    consumption: np.ndarray
    sdf: np.ndarray
    tree_prices: np.ndarray
    bond_prices: np.ndarray
    wealth: np.ndarray
    shares: np.ndarray
    bonds: np.ndarray
    representative_gamma: float | None

    @property
    def consumption_shares(self) -> np.ndarray:
        """c_k(y_s) / y_s."""
        return self.consumption / self.states[None, :]

    def agent_portfolios(self, type_index, initial_shares) -> tuple[np.ndarray, np.ndarray]:
        """(shares_i, bonds_i) per agent after the t = 0 rebalancing (see :func:`agent_portfolios`)."""
        return agent_portfolios(self.shares, self.bonds, self.endowments, type_index, initial_shares)

    def borrowing_needed(self) -> np.ndarray:
        """Bonds each type owes per unit of its initial tree shares, max(0, -b_k/theta_k): the
        smallest ``borrowing_limit`` that admits the equilibrium portfolio."""
        return np.maximum(0.0, -self.bonds / self.endowments)


def agent_portfolios(shares, bonds, endowments, type_index, initial_shares) -> tuple[np.ndarray, np.ndarray]:
    """Per-agent holdings from the types' totals per unit of tree supply (``shares``, ``bonds``):
    agent i of type k holds ``(s_k / theta_k) s0_i`` shares and ``(b_k / theta_k) s0_i`` bonds,
    in the market's units (supply = sum_i s0_i). Agents of one CRRA type hold the type's
    portfolio in proportion to their initial wealth (vectorised gather, no loop over agents)."""
    theta = np.asarray(endowments, float)
    per_share = np.asarray(shares, float) / theta, np.asarray(bonds, float) / theta
    s0 = np.asarray(initial_shares, float)
    return per_share[0][type_index] * s0, per_share[1][type_index] * s0


def check_endowments(endowments) -> np.ndarray:
    """Positive initial tree shares per type, normalised to sum to 1."""
    theta = np.asarray(endowments, float)
    if theta.ndim != 1 or theta.size == 0 or not np.all(np.isfinite(theta)) or np.any(theta <= 0):
        raise ConfigError("endowments", "positive finite tree shares, one per type", theta.tolist())
    return theta / theta.sum()


def solve_negishi(states, transition, beta: float, gammas, endowments, initial_state: int = 0,
                  tol: float = 1e-13) -> NegishiEquilibrium:
    """The complete-markets equilibrium for CRRA types ``gammas`` with initial tree shares
    ``endowments`` (normalised to sum 1; no bonds) in state ``initial_state`` of the chain
    (``states``, ``transition``). One state is a constant dividend.

    Raises ConfigError for a chain the tree and the bond do not span (three or more states
    with unequal gammas), for equal cum-dividend tree values in two states (the tree is then
    a bond) and for gammas <= 0.
    """
    y = np.asarray(states, float)
    p_mat = np.asarray(transition, float)
    beta = check_range("beta", beta, 0.0, 1.0)
    g = np.asarray(gammas, float)
    if g.ndim != 1 or g.size == 0 or not np.all(np.isfinite(g)) or np.any(g <= 0):
        raise ConfigError("gamma", "> 0 for every type of a complete-markets economy", g.tolist())
    theta = check_endowments(endowments)
    if theta.size != g.size:
        raise ConfigError("endowments", f"one per type ({g.size})", theta.size)
    n = y.size
    if y.ndim != 1 or n == 0 or not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ConfigError("states", "positive finite dividend levels", y.tolist())
    if p_mat.shape != (n, n):
        raise ConfigError("transition", f"{n} x {n}", p_mat.shape)
    if not 0 <= int(initial_state) < n:
        raise ConfigError("initial_state", f"a state index in [0, {n - 1}]", initial_state)
    s0 = int(initial_state)
    equal_gammas = bool(np.all(g == g[0]))
    if n >= 3 and not equal_gammas:
        raise ConfigError("states", "at most 2 when gammas differ", n, detail=(
            "the tree and the bond span only two next-period payoffs, so with 3 or more states "
            "markets are incomplete and there is no exact equilibrium"))

    a = np.eye(n) - beta * p_mat

    def solve(log_weights):
        c, log_mu = sharing_rule(log_weights, g, y)
        mu = np.exp(log_mu - log_mu[s0])                      # mu(y_0) = 1: ratios only matter
        value = np.linalg.solve(a, mu * y) / mu               # V = p + y
        wealth = np.linalg.solve(a, (mu[None, :] * c).T).T / mu[None, :]
        return c, mu, value, wealth

    def log_weights_of(free):
        # unknowns: log consumption shares in y_0 relative to type 1; lambda_k = c_k(y_0)^gamma_k
        # with mu(y_0) = 1 satisfies the sharing rule in y_0 and keeps the unknowns well scaled
        log_share = np.concatenate(([0.0], free))
        log_share -= np.logaddexp.reduce(log_share)
        return g * (log_share + np.log(y[s0]))

    def residual(free):
        _, _, value, wealth = solve(log_weights_of(free))
        return np.log(wealth[:, s0] / value[s0]) - np.log(theta)      # all K: none is left implied

    # start: each type eats its endowment share in y_0 (exact when the gammas are equal)
    free = np.log(theta[1:]) - np.log(theta[0])
    if g.size > 1 and n > 1 and not equal_gammas:
        free = damped_newton(residual, free)
        worst = float(np.max(np.abs(residual(free))))
        if not np.isfinite(worst) or worst > 1e-9:
            raise RuntimeError(f"Negishi weights did not converge (log budget error {worst:.3g})")
    log_weights = log_weights_of(free)
    c, mu, value, wealth = solve(log_weights)
    tree = value - y
    bond = beta * (p_mat @ mu) / mu
    sdf = beta * mu[None, :] / mu[:, None]
    shares, bonds = _portfolio(value, wealth, theta, equal_gammas)
    rep_gamma = None
    if n == 2:
        rep_gamma = float(-np.log(mu[1] / mu[0]) / np.log(y[1] / y[0]))
    weights = np.exp(log_weights - log_weights.max())
    return NegishiEquilibrium(
        states=y, transition=p_mat, beta=beta, gammas=g, endowments=theta, initial_state=s0,
        planner_weights=weights / weights.sum(), marginal_utility=mu, consumption=c, sdf=sdf,
        tree_prices=tree, bond_prices=bond, wealth=wealth, shares=shares, bonds=bonds,
        representative_gamma=rep_gamma)


def damped_newton(residual, x0: np.ndarray, tol: float = 1e-13, max_iter: int = 200,
                  max_step: float = 2.0) -> np.ndarray:
    """A root of ``residual`` by Newton's method with a forward-difference Jacobian, steps capped
    at ``max_step`` (sup norm) and halved until the residual's norm falls (Armijo)."""
    x = np.asarray(x0, float).copy()
    r = residual(x)
    norm = np.linalg.norm(r)
    for _ in range(max_iter):
        if norm <= tol:
            break
        h = 1e-7 * np.maximum(1.0, np.abs(x))
        jac = np.column_stack([(residual(x + h[j] * np.eye(x.size)[j]) - r) / h[j] for j in range(x.size)])
        step = np.linalg.lstsq(jac, -r, rcond=None)[0]
        t = min(1.0, max_step / max(np.abs(step).max(), 1e-300))
        while t > 1e-10:
            r_new = residual(x + t * step)
            norm_new = np.linalg.norm(r_new)
            if np.isfinite(norm_new) and norm_new <= (1.0 - 1e-4 * t) * norm:
                break
            t *= 0.5
        else:
            break
        x, r, norm = x + t * step, r_new, norm_new
    return x


def _portfolio(value: np.ndarray, wealth: np.ndarray, theta: np.ndarray,
               equal_gammas: bool) -> tuple[np.ndarray, np.ndarray]:
    """(s_k, b_k) with s_k V(y') + b_k = W_k(y') for every next state y'.

    One state (or equal gammas, where W_k = theta_k V): the tree alone replicates wealth, so
    s_k = W_k/V and b_k = 0 (no trade). Two states: the 2 x 2 system, solvable when
    V(y_1) != V(y_2).
    """
    n = value.size
    if n == 1 or equal_gammas:
        shares = (wealth / value[None, :]).mean(axis=1)
        return shares, np.zeros_like(shares)
    spread = value[1] - value[0]
    if abs(spread) <= 1e-12 * np.abs(value).max():
        raise ConfigError("states", "states whose cum-dividend tree values p(y) + y differ", value.tolist(),
                          detail="with equal tree values the tree and the bond do not span the two states")
    shares = (wealth[:, 1] - wealth[:, 0]) / spread
    bonds = wealth[:, 0] - shares * value[0]
    return shares, bonds
