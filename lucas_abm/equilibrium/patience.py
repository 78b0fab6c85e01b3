"""Heterogeneous patience: log-utility types with different beta_k and a constant dividend ybar.

There is no stationary equilibrium: the most patient type ends up consuming everything. The
path is exact. The planner's first-order conditions lambda_k beta_k^t / c_kt = mu_t with
sum_k c_kt = ybar give consumption shares

    omega_kt = lambda_k beta_k^t / sum_j lambda_j beta_j^t,

and the prices at t (the SDF from t to t+1 is mu_{t+1}/mu_t):

    q_t = sum_k omega_kt beta_k                          (bond; the share-weighted beta)
    p_t = ybar sum_k omega_kt beta_k / (1 - beta_k)      (tree, ex dividend)

With log utility a type consumes (1 - beta_k) of its cum-dividend wealth, W_kt = c_kt/(1 - beta_k),
so the budget W_k0 = theta_k (p_0 + ybar) pins the initial shares in closed form:

    omega_k0 = theta_k (1 - beta_k) / sum_j theta_j (1 - beta_j).

With a sure dividend the tree and the bond pay the same return, so portfolios are
indeterminate between them; the path reports all wealth held in trees (no bonds): type k
holds s_kt = W_{k,t+1} / (p_{t+1} + ybar) shares from t to t+1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lucas_abm.equilibrium.negishi import check_endowments
from lucas_abm.errors import ConfigError, check_range


@dataclass(frozen=True, eq=False)
class PatiencePath:
    """Arrays over types k and periods t = 0..T-1: ``consumption_shares[k, t]`` (omega_kt),
    ``tree_prices[t]``, ``bond_prices[t]``, ``shares[k, t]`` (held from t to t+1, sum 1),
    ``bonds[k, t]`` (zero, see the module docstring)."""

    ybar: float
    betas: np.ndarray
    endowments: np.ndarray
    t: np.ndarray
    consumption_shares: np.ndarray
    tree_prices: np.ndarray
    bond_prices: np.ndarray
    shares: np.ndarray
    bonds: np.ndarray


def consumption_shares(betas, endowments, t) -> np.ndarray:
    """omega_kt = omega_k0 beta_k^t / sum_j omega_j0 beta_j^t (in logs, so long paths do not underflow)."""
    b = np.asarray(betas, float)[:, None]
    theta = check_endowments(endowments)[:, None]
    log_w = np.log(theta * (1.0 - b)) + np.asarray(t, float)[None, :] * np.log(b)
    log_w -= log_w.max(axis=0, keepdims=True)
    w = np.exp(log_w)
    return w / w.sum(axis=0, keepdims=True)


def solve_patience(ybar: float, betas, endowments, periods: int = 50) -> PatiencePath:
    """The exact equilibrium path for t = 0..periods-1 (see the module docstring)."""
    ybar = check_range("ybar", ybar, 0.0, None)
    b = np.asarray(betas, float)
    if b.ndim != 1 or b.size == 0 or not np.all((b > 0) & (b < 1)):
        raise ConfigError("beta", "in (0, 1) for every type", b.tolist())
    theta = check_endowments(endowments)
    if theta.size != b.size:
        raise ConfigError("endowments", f"one per type ({b.size})", theta.size)
    if isinstance(periods, bool) or int(periods) != periods or periods < 1:
        raise ConfigError("periods", "an integer >= 1", periods)
    t = np.arange(int(periods) + 1)
    omega = consumption_shares(b, theta, t)
    bond = b @ omega
    tree = ybar * ((b / (1.0 - b)) @ omega)
    wealth = omega / (1.0 - b)[:, None]                       # W_kt / ybar
    held = wealth[:, 1:] / wealth[:, 1:].sum(axis=0, keepdims=True)
    return PatiencePath(ybar=ybar, betas=b, endowments=theta, t=t[:-1], consumption_shares=omega[:, :-1],
                        tree_prices=tree[:-1], bond_prices=bond[:-1], shares=held,
                        bonds=np.zeros_like(held))
