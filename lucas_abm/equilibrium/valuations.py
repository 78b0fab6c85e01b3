"""A type's own valuations of the tree and the bond at given holdings (docs/acceptance_b.md,
"How precisely holdings pin down valuations").

A CRRA type (``gamma``, ``beta``, beliefs = the chain's transition P) that keeps ``shares``
trees and rolls over ``bonds`` bonds for ever, at bond prices q(y), consumes per period
(in the units of its holdings; per unit of tree supply for a type's totals)

    c(y) = shares y + bonds (1 - q(y))                                    (stationary budget)

and values one more tree (ex dividend) and one more bond at its marginal rates of
substitution, mu(y) = c(y)^(-gamma):

    (I - beta P)(mu V) = mu y,   v_tree(y) = V(y) - y                    (tree, ex dividend)
    v_bond(y) = beta sum_y' P(y, y') mu(y') / mu(y)                      (bond)

At a type's equilibrium portfolio (:func:`lucas_abm.equilibrium.negishi.solve_negishi`)
these are the equilibrium prices p(y), q(y), for every type: they are its Euler equations,
computed here from the portfolio's consumption rather than from the sharing rule. Away from
it they say how far the type's valuations move when its holdings stray, so how precisely a
learner's valuations must be resolved (in price ticks) for its holdings to settle within a
band: :func:`valuation_sensitivity`. And how far the tree price moves when the one-period
discount factor is misjudged: :func:`tree_price_sdf_elasticity`.
"""
from __future__ import annotations

import numpy as np

from lucas_abm.errors import ConfigError


def stationary_consumption(states, shares, bonds, bond_prices) -> np.ndarray:
    """``c(y) = s y + b (1 - q(y))`` for K holdings at once: ``shares``, ``bonds`` [K] ->
    [K, S], the consumption of a holder who keeps ``s`` trees and rolls ``b`` bonds over at q(y)."""
    y = np.asarray(states, float)
    return (np.asarray(shares, float).reshape(-1, 1) * y
            + np.asarray(bonds, float).reshape(-1, 1) * (1.0 - np.asarray(bond_prices, float)))


def own_valuations(states, transition, beta: float, gamma: float, shares: float, bonds: float,
                   bond_prices) -> tuple[np.ndarray, np.ndarray]:
    """(v_tree, v_bond), arrays over states, of a type that keeps ``shares`` and ``bonds``
    for ever at ``bond_prices`` q(y) (module docstring): one row of :func:`agents_valuations`.
    Raises ConfigError if the stationary consumption c(y) is not positive in every state."""
    c = stationary_consumption(states, shares, bonds, bond_prices)[0]
    if not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ConfigError("holdings", "a portfolio whose stationary consumption "
                          "shares*y + bonds*(1 - q(y)) is positive in every state",
                          {"shares": shares, "bonds": bonds, "consumption": c.tolist()})
    v_tree, v_bond = agents_valuations(states, transition, beta, [gamma], [shares], [bonds], bond_prices)
    return v_tree[0], v_bond[0]


def agents_valuations(states, transition, beta: float, gammas, shares, bonds,
                      bond_prices) -> tuple[np.ndarray, np.ndarray]:
    """:func:`own_valuations` of N agents at once: ``gammas``, ``shares``, ``bonds`` are [N]
    (agent i keeps its own ``shares[i]``, ``bonds[i]``); returns (v_tree, v_bond), each [N, S].
    Rows whose stationary consumption is not positive in every state are NaN (no error), so
    one agent far out of the money does not stop a market of them.

    One inverse of ``I - beta P`` serves every agent: ``mu V = (mu y) (I - beta P)^(-T)`` row
    by row."""
    y = np.asarray(states, float)
    p_mat = np.asarray(transition, float)
    c = stationary_consumption(y, shares, bonds, bond_prices)
    ok = np.all(np.isfinite(c) & (c > 0), axis=1)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mu = np.where(ok[:, None], c, 1.0) ** (-np.asarray(gammas, float)[:, None])
        cum = (mu * y) @ np.linalg.inv(np.eye(y.size) - beta * p_mat).T / mu
        v_tree, v_bond = cum - y, beta * (mu @ p_mat.T) / mu
    v_tree[~ok], v_bond[~ok] = np.nan, np.nan
    return v_tree, v_bond


def risk_sharing_gap(states, gammas, shares, bonds, bond_prices) -> float:
    """How far K types' holdings are from sharing risk efficiently: with each type k keeping
    ``shares[k]`` and rolling ``bonds[k]`` over at q(y), its marginal rates of substitution are
    ``m_k(y) = mu_k(y) / mu_k(y_0)``, ``mu_k = c_k^(-gamma_k)``, ``c_k(y) = s_k y + b_k (1 - q(y))``,
    and the gap is

        max_y [max_k m_k(y) / min_k m_k(y)] - 1.

    It is 0 exactly on the Pareto-efficient allocations (equal marginal rates, so equal
    valuations of every asset: the rest points of a market of price-takers, the Negishi
    portfolio among them) and positive elsewhere; NaN if some type's consumption is not
    positive. At acceptance B's endowment it is 0.8 / 0.32768 - 1 = 1.44."""
    c = stationary_consumption(states, shares, bonds, bond_prices)
    if not np.all(np.isfinite(c) & (c > 0)):
        return float("nan")
    m = (c / c[:, :1]) ** (-np.asarray(gammas, float)[:, None])
    return float((m.max(axis=0) / m.min(axis=0)).max() - 1.0)


def valuation_sensitivity(equilibrium, d_share: float = 0.01) -> dict[str, np.ndarray]:
    """How each type's own valuations move when its tree holding strays from the equilibrium
    portfolio by ``d_share`` (per unit of supply), bonds unchanged: central differences

        d log v / d s ~ [log v(s_k + d) - log v(s_k - d)] / 2,   per ``d_share`` of shares,

    returned as ``tree[k, y]`` and ``bond[k, y]`` (relative changes, e.g. 0.005 = 0.5%),
    and the equilibrium valuations ``tree_value[k, y]``, ``bond_value[k, y]`` (equal to p(y),
    q(y) for every k). ``equilibrium`` is a :class:`~lucas_abm.equilibrium.negishi.NegishiEquilibrium`.
    """
    eq = equilibrium
    d = float(d_share)
    if not np.isfinite(d) or d <= 0:
        raise ConfigError("d_share", "a positive finite share of the tree supply", d_share)
    k_types = eq.gammas.size
    out = {name: np.empty((k_types, eq.states.size)) for name in ("tree", "bond", "tree_value", "bond_value")}
    for k in range(k_types):     # a handful of types, each a 2x2 solve: not a hot path
        value = lambda s: own_valuations(eq.states, eq.transition, eq.beta, eq.gammas[k], s,  # noqa: E731
                                         eq.bonds[k], eq.bond_prices)
        (up_t, up_b), (dn_t, dn_b), (at_t, at_b) = value(eq.shares[k] + d), value(eq.shares[k] - d), value(eq.shares[k])
        out["tree"][k] = 0.5 * (np.log(up_t) - np.log(dn_t))
        out["bond"][k] = 0.5 * (np.log(up_b) - np.log(dn_b))
        out["tree_value"][k], out["bond_value"][k] = at_t, at_b
    return out


def tree_price_sdf_elasticity(states, transition, sdf) -> np.ndarray:
    """How the tree price answers an error in the one-period discount factor (docs/acceptance_b.md,
    "Why the tree is harder than the bond").

    With M_jk = P_jk m(y_j, y_k) the tree price solves p = M (y + p), so p = (I - M)^(-1) M y,
    and the bond price is q = M 1. Scale the discount factor out of state k by (1 + e_k) (a
    valuer whose one-period rate, hence its bond price q(y_k), is off by e_k). Then
    dp = (I - M)^(-1) dM (y + p) with (dM (y + p))_j = delta_jk p_j, so

        E_jk = d log p(y_j) / d e_k = [(I - M)^(-1)]_jk p(y_k) / p(y_j).

    The row sums are the tree's duration in periods: with a constant dividend, 1 / (1 - beta).
    ``sdf[j, k]`` = m(y_j, y_k) (e.g. ``NegishiEquilibrium.sdf``). Returns E, [K, K].
    """
    y = np.asarray(states, float)
    m = np.asarray(transition, float) * np.asarray(sdf, float)
    resolvent = np.linalg.inv(np.eye(y.size) - m)
    p = resolvent @ m @ y
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise ConfigError("sdf", "a discount factor under which the tree price is finite and positive "
                          "(spectral radius of P m below 1)", p.tolist())
    return resolvent * p[None, :] / p[:, None]
