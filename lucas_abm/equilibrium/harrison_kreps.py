"""Heterogeneous beliefs, risk-neutral types, no short sales (Harrison and Kreps 1978).

Types k = 1..K are risk neutral (``gamma: 0``), discount with ``beta_k`` and believe the
dividend y_s (s = 1..S, y_s >= 0; dividends of 0 are allowed) follows their own transition
matrix P_k. The tree cannot be sold short and every type has the wealth to buy all of it
(deep pockets), so in each state the type that values it most holds it. Then:

    buy-and-hold valuation:     p_k = beta_k P_k (p_k + y),  p_k = (I - beta_k P_k)^(-1) beta_k P_k y
    equilibrium price:          p(s) = max_k beta_k sum_j P_k(s, j) (y_j + p(j))
    valuation with resale:      v_k(s) = beta_k sum_j P_k(s, j) (y_j + p(j))   (buy, keep the
                                dividend, resell at the market price), so p = max_k v_k
    bond price:                 q(s) = max_k beta_k   (risk-neutral lenders; beliefs do not
                                matter for a sure payoff)

The price map is a contraction with modulus max_k beta_k. It is solved here by policy
iteration (Howard): given which type holds the tree in each state, the price is the linear
solve p = (I - B)^(-1) B y with B(s, :) = beta_h(s) P_h(s)(s, :); the holder is then
re-chosen as the argmax, until it no longer changes (finitely many steps, each price at
least the last). ``speculative_premium`` = p - max_k p_k >= 0 is the value of the option
to resell.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lucas_abm.errors import ConfigError


@dataclass(frozen=True, eq=False)
class HarrisonKrepsEquilibrium:
    """Arrays over types k and states s: ``valuations[k, s]`` buy-and-hold, ``resale_valuations[k, s]``
    with the option to resell, ``tree_prices[s]``, ``holder[s]`` (index of the type that holds
    the whole tree in state s), ``bond_prices[s]``."""

    states: np.ndarray
    beliefs: np.ndarray
    betas: np.ndarray
    valuations: np.ndarray
    resale_valuations: np.ndarray
    tree_prices: np.ndarray
    holder: np.ndarray
    bond_prices: np.ndarray
    iterations: int

    @property
    def speculative_premium(self) -> np.ndarray:
        """p(s) - max_k p_k(s): what the option to resell adds to the highest buy-and-hold value."""
        return self.tree_prices - self.valuations.max(axis=0)


def buy_and_hold(states, beliefs, betas) -> np.ndarray:
    """p_k = (I - beta_k P_k)^(-1) beta_k P_k y for every type (batched linear solves)."""
    y = np.asarray(states, float)
    p = np.asarray(beliefs, float)
    b = np.asarray(betas, float)[:, None, None]
    eye = np.eye(y.size)[None]
    return np.linalg.solve(eye - b * p, (b * p) @ y)


def solve_harrison_kreps(states, beliefs, betas, max_iter: int = 1000) -> HarrisonKrepsEquilibrium:
    """The Harrison–Kreps equilibrium for dividend levels ``states`` (>= 0), each type's
    transition matrix ``beliefs[k]`` (S x S, row-stochastic) and discount ``betas[k]`` in (0, 1)."""
    y = np.asarray(states, float)
    p = np.asarray(beliefs, float)
    b = np.asarray(betas, float)
    n = y.size
    if y.ndim != 1 or n == 0 or not np.all(np.isfinite(y)) or np.any(y < 0):
        raise ConfigError("states", "finite dividend levels >= 0", y.tolist())
    if p.ndim != 3 or p.shape[1:] != (n, n) or p.shape[0] != b.size:
        raise ConfigError("beliefs", f"one {n} x {n} transition matrix per type", list(p.shape))
    if np.any(np.abs(p.sum(axis=2) - 1.0) > 1e-8) or np.any(p < 0):
        raise ConfigError("beliefs", "row-stochastic matrices", p.tolist())
    if not np.all((b > 0) & (b < 1)):
        raise ConfigError("beta", "in (0, 1) for every type", b.tolist())

    valuations = buy_and_hold(y, p, b)
    bp = b[:, None, None] * p                                  # beta_k P_k
    rows = np.arange(n)
    holder = valuations.argmax(axis=0)
    price = valuations.max(axis=0)
    for it in range(1, max_iter + 1):
        mat = bp[holder, rows, :]                              # row s from the holder of s
        price = np.linalg.solve(np.eye(n) - mat, mat @ y)
        resale = bp @ (y + price)                              # v_k(s), shape (K, S)
        best = resale.max(axis=0)
        # keep the holder unless another type is strictly better (ties must not cycle)
        current = resale[holder, rows]
        improve = best > current * (1.0 + 1e-13) + 1e-300
        if not improve.any():
            break
        holder = np.where(improve, resale.argmax(axis=0), holder)
    resale = bp @ (y + price)
    return HarrisonKrepsEquilibrium(
        states=y, beliefs=p, betas=b, valuations=valuations, resale_valuations=resale,
        tree_prices=price, holder=holder, bond_prices=np.full(n, b.max()), iterations=it)
