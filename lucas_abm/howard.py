"""One agent's portfolio problem at given prices, solved by Howard's policy improvement.

This is the thesis' Algorithm 1 (section 2.2.2; Ljungqvist and Sargent, Recursive
Macroeconomics, appendix A) for the recursive problem of docs/model.md section 1:

    V(s, b, y) = max_{s', b'}  u(b + s y - p(y) (s' - s) - q(y) b') + beta E[ V(s', b', y') | y ]

on a grid of share holdings ``s`` and bond holdings ``b`` (negative = borrowing), with the
dividend ``y`` constant or a finite Markov chain. Each iteration

1. evaluates the current policy exactly: V = r_pi + beta P_pi V, a sparse linear solve;
2. improves it greedily: pi'(x) = argmax_a u(c(x, a)) + beta E[V(a, y') | y];

and stops when the policy no longer changes. An action is admissible when consumption is
positive and every state it can lead to is viable (has an admissible action itself), so the
agent never plans into a grid corner it cannot leave. A new action replaces the current one
only if it is better by more than ``tol`` (relative), which keeps ties from cycling.

At the equilibrium prices p*, q* an agent endowed with (s, b) = (1, 0) keeps it: holding the
endowment reproduces c = y, the consumption that defines the prices.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from lucas_abm.dividends import ConstantDividend, DividendProcess, MarkovChainDividend
from lucas_abm.errors import ConfigError, check_range
from lucas_abm.utility import CRRAUtility


@dataclass(frozen=True, eq=False)
class PortfolioGrid:
    """Grid of share holdings ``s`` (>= 0, no short sales) and bond holdings ``b``."""

    s: np.ndarray
    b: np.ndarray

    def __post_init__(self) -> None:
        s = np.asarray(self.s, dtype=float)
        b = np.asarray(self.b, dtype=float)
        if s.ndim != 1 or s.size < 2 or not np.all(np.diff(s) > 0) or s[0] < 0:
            raise ConfigError("s_grid", "an increasing list of >= 2 share holdings >= 0", s.tolist())
        if b.ndim != 1 or b.size < 2 or not np.all(np.diff(b) > 0):
            raise ConfigError("b_grid", "an increasing list of >= 2 bond holdings", b.tolist())
        object.__setattr__(self, "s", s)
        object.__setattr__(self, "b", b)

    @classmethod
    def uniform(cls, s_min: float = 0.5, s_max: float = 1.5, s_points: int = 21,
                b_min: float = -0.1, b_max: float = 0.1, b_points: int = 81) -> "PortfolioGrid":
        """Evenly spaced grids (defaults: s step 0.05 on [0.5, 1.5], b step 0.0025 on [-0.1, 0.1]).

        Values are rounded to 12 decimals so that round numbers such as (1, 0) lie exactly on the grid.
        """
        return cls(np.round(np.linspace(s_min, s_max, s_points), 12),
                   np.round(np.linspace(b_min, b_max, b_points), 12))

    @property
    def shape(self) -> tuple[int, int]:
        return self.s.size, self.b.size

    def index(self, s: float, b: float) -> tuple[int, int]:
        """Grid indices of the point nearest to (s, b)."""
        return int(np.abs(self.s - s).argmin()), int(np.abs(self.b - b).argmin())


@dataclass(frozen=True, eq=False)
class HowardSolution:
    """Value and policy on the grid; arrays are indexed [dividend state, s index, b index].

    ``viable`` marks the states from which a feasible plan exists (value is -inf elsewhere).
    """

    grid: PortfolioGrid
    dividend_states: np.ndarray
    tree_price: np.ndarray
    bond_price: np.ndarray
    value: np.ndarray
    policy_s: np.ndarray
    policy_b: np.ndarray
    viable: np.ndarray
    iterations: int

    def policy_at(self, s: float, b: float, state: int = 0) -> tuple[float, float]:
        """(s', b') chosen at holdings (s, b) (nearest grid point) in dividend state ``state``."""
        i, j = self.grid.index(s, b)
        return float(self.policy_s[state, i, j]), float(self.policy_b[state, i, j])


def _chain(dividend: DividendProcess) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(dividend, ConstantDividend):
        return np.array([dividend.ybar]), np.ones((1, 1))
    if isinstance(dividend, MarkovChainDividend):
        return np.asarray(dividend.states), dividend.transition_matrix
    raise ConfigError("dividend", "constant or markov for the Howard solver", dividend.name)


def solve_portfolio_howard(dividend: DividendProcess, beta: float, gamma: float,
                           tree_price, bond_price, grid: PortfolioGrid | None = None,
                           *, max_iter: int = 200, tol: float = 1e-10) -> HowardSolution:
    """Howard policy iteration for one price-taking agent.

    ``tree_price`` and ``bond_price`` are the prices p(y_i), q(y_i) per dividend state (a
    scalar for a constant dividend). Returns the optimal policy once it stops changing.
    """
    beta = check_range("beta", beta, 0.0, 1.0)
    utility = CRRAUtility(gamma)
    grid = grid or PortfolioGrid.uniform()
    y, trans = _chain(dividend)
    n_y = y.size
    p = np.broadcast_to(np.asarray(tree_price, dtype=float), (n_y,)).copy()
    q = np.broadcast_to(np.asarray(bond_price, dtype=float), (n_y,)).copy()
    for name, v in (("tree_price", p), ("bond_price", q)):
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise ConfigError(name, "positive finite prices, one per dividend state", v.tolist())

    n_s, n_b = grid.shape
    s_flat = np.repeat(grid.s, n_b)              # holdings x = (s, b) flattened, also used as actions a
    b_flat = np.tile(grid.b, n_s)
    n_x = s_flat.size
    # c[k, x, a] = b + s y_k + p_k s - (p_k s' + q_k b')
    wealth = b_flat[None, :] + s_flat[None, :] * (y + p)[:, None]
    cost = p[:, None] * s_flat[None, :] + q[:, None] * b_flat[None, :]
    c = wealth[:, :, None] - cost[:, None, :]
    positive = c > 0
    reward = np.where(positive, utility(np.where(positive, c, 1.0)), -np.inf)
    del c

    # viability kernel: states with an action of positive consumption whose successors are viable
    reach = trans > 0
    viable = np.ones((n_y, n_x), dtype=bool)
    while True:
        successors_ok = np.all(~reach[:, :, None] | viable[None, :, :], axis=1)   # [k, a]
        admissible = positive & successors_ok[:, None, :]
        new_viable = admissible.any(axis=2)
        if np.array_equal(new_viable, viable):
            break
        viable = new_viable
    if not viable.any():
        raise ConfigError("grid", "a grid with at least one holding that can finance positive consumption")
    reward = np.where(admissible, reward, -np.inf)

    # start from the myopic policy (maximal consumption today), far from holding the endowment
    policy = reward.argmax(axis=2)
    rows = np.arange(n_y * n_x)
    value = np.full((n_y, n_x), -np.inf)
    for iteration in range(1, max_iter + 1):
        value = _evaluate(policy, reward, trans, viable, beta, rows)
        q_values = reward + beta * (trans @ np.where(viable, value, 0.0))[:, None, :]
        best = q_values.argmax(axis=2)
        current = np.take_along_axis(q_values, policy[:, :, None], axis=2)[:, :, 0]
        best_value = np.take_along_axis(q_values, best[:, :, None], axis=2)[:, :, 0]
        improve = viable & (best_value > current + tol * (1.0 + np.abs(current)))
        if not improve.any():
            break
        policy = np.where(improve, best, policy)

    value = np.where(viable, value, -np.inf)
    shape = (n_y, n_s, n_b)
    return HowardSolution(grid=grid, dividend_states=y, tree_price=p, bond_price=q,
                          value=value.reshape(shape), policy_s=s_flat[policy].reshape(shape),
                          policy_b=b_flat[policy].reshape(shape), viable=viable.reshape(shape),
                          iterations=iteration)


def _evaluate(policy, reward, trans, viable, beta, rows) -> np.ndarray:
    """Solve V = r_pi + beta P_pi V on the viable states (others are fixed at 0 and never reached)."""
    n_y, n_x = policy.shape
    r_pi = np.take_along_axis(reward, policy[:, :, None], axis=2)[:, :, 0]
    r_pi = np.where(viable, r_pi, 0.0).ravel()
    # transition of state (k, x) to (j, policy[k, x]) with probability trans[k, j]
    k_idx = np.repeat(np.arange(n_y), n_x)
    cols = (np.arange(n_y)[None, :] * n_x + policy.ravel()[:, None])          # [(k, x), j]
    probs = trans[k_idx] * viable.ravel()[:, None]
    m = sp.csr_matrix((probs.ravel(), (np.repeat(rows, n_y), cols.ravel())), shape=(n_y * n_x,) * 2)
    v = spla.spsolve((sp.identity(n_y * n_x, format="csr") - beta * m).tocsc(), r_pi)
    return v.reshape(n_y, n_x)
