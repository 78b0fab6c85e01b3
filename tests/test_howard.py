"""Howard policy iteration for one agent: holding the endowment is optimal exactly at p*, q*."""
import numpy as np
import pytest

from lucas_abm.dividends import THESIS_YBAR, ConstantDividend, LogAR1Dividend, MarkovChainDividend
from lucas_abm.errors import ConfigError
from lucas_abm.howard import PortfolioGrid, solve_portfolio_howard
from lucas_abm.solver import solve_equilibrium
from lucas_abm.utility import CRRAUtility

BETA = 0.95
THESIS = ConstantDividend(THESIS_YBAR)


def _equilibrium(dividend, gamma):
    eq = solve_equilibrium(dividend, BETA, gamma)
    y = np.asarray(getattr(dividend, "states", [getattr(dividend, "ybar", None)]), dtype=float)
    return eq.tree_price(y), eq.bond_price(y)


def test_default_grid_is_fine_around_the_endowment():
    grid = PortfolioGrid.uniform()
    assert grid.shape == (21, 81)
    assert 1.0 in grid.s and 0.0 in grid.b
    np.testing.assert_allclose(np.diff(grid.s), 0.05)
    np.testing.assert_allclose(np.diff(grid.b), 0.0025)


@pytest.mark.parametrize("gamma", [1.0, 2.0])
def test_holding_the_endowment_is_optimal_at_equilibrium_prices(gamma):
    p, q = _equilibrium(THESIS, gamma)
    sol = solve_portfolio_howard(THESIS, BETA, gamma, p, q)
    assert sol.policy_at(1.0, 0.0) == (1.0, 0.0)
    assert sol.iterations > 1                    # it started elsewhere (the myopic policy) and moved
    # holding forever gives c = ybar each period: V(1, 0) = u(ybar)/(1 - beta)
    i, j = sol.grid.index(1.0, 0.0)
    expected = float(CRRAUtility(gamma)(THESIS_YBAR)) / (1 - BETA)
    assert sol.value[0, i, j] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("tree_factor, bond_factor, direction", [
    (0.9, 1.0, "buy shares"),
    (1.1, 1.0, "sell shares"),
    (1.0, 0.9, "lend"),
    (1.0, 1.1, "borrow"),
])
def test_mispriced_assets_make_the_agent_trade(tree_factor, bond_factor, direction):
    p, q = _equilibrium(THESIS, 1.0)
    sol = solve_portfolio_howard(THESIS, BETA, 1.0, p * tree_factor, q * bond_factor)
    s_next, b_next = sol.policy_at(1.0, 0.0)
    if direction == "buy shares":                # tree 10% cheap: buy, financed by borrowing
        assert s_next > 1.0 and b_next < 0.0
    elif direction == "sell shares":             # tree 10% dear: sell, and lend the proceeds
        assert s_next < 1.0 and b_next > 0.0
    elif direction == "lend":                    # bond cheap = high interest: lend
        assert b_next > 0.0
    else:
        assert b_next < 0.0


def test_markov_chain_endowment_optimal_in_every_state():
    chain = MarkovChainDividend((0.04, 0.05), ((0.8, 0.2), (0.3, 0.7)))
    gamma = 2.0
    p, q = _equilibrium(chain, gamma)
    sol = solve_portfolio_howard(chain, BETA, gamma, p, q)
    for state in range(2):
        assert sol.policy_at(1.0, 0.0, state) == (1.0, 0.0)
    # V(1, 0, y_i) = [(I - beta P)^(-1) u(y)]_i
    u_y = CRRAUtility(gamma)(np.array(chain.states))
    exact = np.linalg.solve(np.eye(2) - BETA * chain.transition_matrix, u_y)
    i, j = sol.grid.index(1.0, 0.0)
    np.testing.assert_allclose(sol.value[:, i, j], exact, rtol=1e-10)
    cheap = solve_portfolio_howard(chain, BETA, gamma, 0.9 * p, q)
    for state in range(2):
        assert cheap.policy_at(1.0, 0.0, state)[0] > 1.0


def test_howard_agrees_with_value_iteration_on_a_small_grid():
    grid = PortfolioGrid.uniform(s_points=11, b_points=21)
    p, q = _equilibrium(THESIS, 1.0)
    sol = solve_portfolio_howard(THESIS, BETA, 1.0, 0.95 * p, q, grid)
    # brute-force value iteration on the same admissible actions
    s = np.repeat(grid.s, grid.b.size)
    b = np.tile(grid.b, grid.s.size)
    y, pp, qq = THESIS_YBAR, 0.95 * float(p[0]), float(q[0])
    c = (b + s * (y + pp))[:, None] - (pp * s + qq * b)[None, :]
    viable = sol.viable.ravel()
    ok = (c > 0) & viable[None, :]
    reward = np.where(ok, np.log(np.where(ok, c, 1.0)), -np.inf)
    v = np.zeros(s.size)
    for _ in range(1200):
        v = np.max(reward + BETA * np.where(viable, v, 0.0)[None, :], axis=1)
    np.testing.assert_allclose(sol.value.ravel()[viable], v[viable], rtol=1e-9)
    greedy = np.argmax(reward + BETA * np.where(viable, v, 0.0)[None, :], axis=1)
    np.testing.assert_allclose(sol.policy_s.ravel()[viable], s[greedy][viable])
    np.testing.assert_allclose(sol.policy_b.ravel()[viable], b[greedy][viable])


def test_invalid_inputs_are_refused():
    with pytest.raises(ConfigError) as err:
        solve_portfolio_howard(LogAR1Dividend(0.5, 0.1), BETA, 1.0, 1.0, 0.95)
    assert err.value.field == "dividend"
    with pytest.raises(ConfigError) as err:
        solve_portfolio_howard(THESIS, BETA, 1.0, -1.0, 0.95)
    assert err.value.field == "tree_price"
    with pytest.raises(ConfigError) as err:
        PortfolioGrid(s=[1.0, 0.5], b=[0.0, 0.1])
    assert err.value.field == "s_grid"
    with pytest.raises(ConfigError) as err:
        solve_portfolio_howard(THESIS, 1.5, 1.0, 1.0, 0.95)
    assert err.value.field == "beta"
