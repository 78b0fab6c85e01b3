"""Exact heterogeneous equilibria (lucas_abm/equilibrium) held to independent computations: the
representative-agent solver, each type's Euler equations (direct expectations and Monte Carlo),
budget identities along the chain, value iteration, simulated dividend sums, and a forward
recursion of the patience path."""
import numpy as np
import pytest

from lucas_abm.dividends import ConstantDividend, MarkovChainDividend
from lucas_abm.equilibrium import (buy_and_hold, sharing_rule, solve_harrison_kreps, solve_negishi,
                                   solve_patience, solve_population)
from lucas_abm.errors import ConfigError
from lucas_abm.population import parse_population
from lucas_abm.solver import solve_equilibrium

Y2 = np.array([0.04, 0.05])
P2 = np.array([[0.8, 0.2], [0.3, 0.7]])
Y3 = np.array([0.5, 1.0, 1.7])
P3 = np.array([[0.6, 0.3, 0.1], [0.2, 0.6, 0.2], [0.1, 0.3, 0.6]])


def ra_prices(y, p, beta, gamma):
    eq = solve_equilibrium(MarkovChainDividend(tuple(y), tuple(map(tuple, p))), beta, gamma)
    return eq.tree_prices, eq.bond_prices


# --- the sharing rule -------------------------------------------------------------------------

def test_sharing_rule_clears_and_equalises_weighted_marginal_utility():
    rng = np.random.default_rng(3)
    gammas = np.array([0.3, 1.0, 4.0, 12.0, 25.0])
    log_w = rng.normal(0, 5, gammas.size)
    y = np.array([1e-3, 0.04, 1.0, 30.0])
    c, log_mu = sharing_rule(log_w, gammas, y)
    np.testing.assert_allclose(c.sum(axis=0), y, rtol=1e-14)
    # lambda_k c_k^-gamma_k = mu for every k, computed from c, not from the solver's x
    lhs = log_w[:, None] - gammas[:, None] * np.log(c)
    np.testing.assert_allclose(lhs, np.broadcast_to(log_mu, lhs.shape), atol=1e-10 * np.abs(lhs).max())


# --- Negishi: facts that pin the complete-markets equilibrium ---------------------------------

@pytest.mark.parametrize("gamma", [0.5, 2.0, 5.0])
@pytest.mark.parametrize("y, p", [(Y2, P2), (Y3, P3)])
def test_equal_gammas_give_representative_prices_and_no_trade(gamma, y, p):
    theta = np.array([0.05, 0.6, 0.35])
    eq = solve_negishi(y, p, 0.95, [gamma] * 3, theta, initial_state=1)
    tree, bond = ra_prices(y, p, 0.95, gamma)
    np.testing.assert_allclose(eq.tree_prices, tree, rtol=1e-12)
    np.testing.assert_allclose(eq.bond_prices, bond, rtol=1e-12)
    np.testing.assert_allclose(eq.shares, theta, rtol=1e-12)
    np.testing.assert_allclose(eq.bonds, 0.0, atol=1e-15)
    np.testing.assert_allclose(eq.consumption_shares, theta[:, None] * np.ones(y.size), rtol=1e-12)


@pytest.mark.parametrize("gammas", [[0.5, 7.0], [1.0, 2.0, 30.0]])
def test_constant_dividend_gives_representative_prices_and_no_trade(gammas):
    theta = np.linspace(1.0, 2.0, len(gammas))
    eq = solve_negishi([0.3], [[1.0]], 0.9, gammas, theta)
    ra = solve_equilibrium(ConstantDividend(0.3), 0.9, 3.0)
    assert eq.tree_prices[0] == pytest.approx(float(ra.tree_price(0.3)), rel=1e-13)   # 0.9/0.1 * 0.3
    assert eq.bond_prices[0] == pytest.approx(0.9, rel=1e-13)
    np.testing.assert_allclose(eq.shares, theta / theta.sum(), rtol=1e-13)
    np.testing.assert_allclose(eq.bonds, 0.0, atol=1e-15)


HETERO = [(0.95, [5.0, 1.0], [0.5, 0.5], 0), (0.9, [0.5, 10.0, 3.0], [0.2, 0.5, 0.3], 1),
          (0.97, [2.0, 8.0], [0.99, 0.01], 0)]


@pytest.mark.parametrize("beta, gammas, theta, s0", HETERO)
def test_markets_clear_and_budgets_hold_in_every_state(beta, gammas, theta, s0):
    eq = solve_negishi(Y2, P2, beta, gammas, theta, initial_state=s0)
    value = eq.tree_prices + Y2
    np.testing.assert_allclose(eq.consumption.sum(axis=0), Y2, rtol=1e-14)
    np.testing.assert_allclose(eq.wealth.sum(axis=0), value, rtol=1e-12)
    assert eq.shares.sum() == pytest.approx(1.0, abs=1e-12)
    assert eq.bonds.sum() == pytest.approx(0.0, abs=1e-12 * np.abs(eq.bonds).max() + 1e-16)
    # t = 0: the endowment pays for consumption and the new portfolio
    theta = np.asarray(theta)
    np.testing.assert_allclose(theta * value[s0], eq.consumption[:, s0] + eq.shares * eq.tree_prices[s0]
                               + eq.bonds * eq.bond_prices[s0], rtol=1e-10)
    # afterwards the constant portfolio finances consumption in every state: c = s y + b (1 - q)
    np.testing.assert_allclose(eq.consumption,
                               eq.shares[:, None] * Y2 + eq.bonds[:, None] * (1.0 - eq.bond_prices),
                               rtol=1e-10, atol=1e-14)
    assert np.any(np.abs(eq.bonds) > 1e-4)                  # heterogeneous gammas do trade


def test_weights_converge_for_extreme_populations():
    """Gammas from 0.05 to 200, endowments down to 1e-6, dividends a factor of up to 3,000 apart:
    every type's budget W_k(y_0) = theta_k V(y_0) holds to 1e-11 (relative)."""
    rng = np.random.default_rng(0)
    for _ in range(25):
        k = int(rng.integers(2, 7))
        gammas = np.exp(rng.uniform(np.log(0.05), np.log(200.0), k))
        theta = rng.dirichlet(np.full(k, 0.3)) + 1e-6
        y = np.sort(rng.uniform(0.001, 3.0, 2))
        a, b = rng.uniform(0.01, 0.99, 2)
        s0 = int(rng.integers(2))
        eq = solve_negishi(y, [[a, 1 - a], [b, 1 - b]], rng.uniform(0.5, 0.99), gammas, theta, initial_state=s0)
        budget = eq.wealth[:, s0] / (eq.tree_prices[s0] + y[s0])
        np.testing.assert_allclose(budget, eq.endowments, rtol=1e-11)
        np.testing.assert_allclose(eq.consumption.sum(axis=0), y, rtol=1e-14)


@pytest.mark.parametrize("beta, gammas, theta, s0", HETERO)
def test_each_types_euler_equations_hold(beta, gammas, theta, s0):
    """p(y) = E[beta (c_k'/c_k)^-gamma_k (p' + y')], q(y) = E[beta (c_k'/c_k)^-gamma_k], per type."""
    eq = solve_negishi(Y2, P2, beta, gammas, theta, initial_state=s0)
    for k, g in enumerate(gammas):
        m = beta * (eq.consumption[k][None, :] / eq.consumption[k][:, None]) ** (-g)
        np.testing.assert_allclose((P2 * m) @ (eq.tree_prices + Y2), eq.tree_prices, rtol=1e-11)
        np.testing.assert_allclose((P2 * m).sum(axis=1), eq.bond_prices, rtol=1e-11)


def test_euler_equations_by_monte_carlo():
    eq = solve_negishi(Y2, P2, 0.95, [5.0, 1.0], [0.5, 0.5])
    rng = np.random.default_rng(11)
    draws = 200_000
    for i in range(2):
        nxt = (rng.random(draws) >= P2[i, 0]).astype(int)      # y' given y = Y2[i]
        for k, g in enumerate([5.0, 1.0]):
            m = 0.95 * (eq.consumption[k, nxt] / eq.consumption[k, i]) ** (-g)
            for payoff, price in ((eq.tree_prices[nxt] + Y2[nxt], eq.tree_prices[i]),
                                  (np.ones(draws), eq.bond_prices[i])):
                x = m * payoff
                assert abs(x.mean() - price) < 4 * x.std() / np.sqrt(draws)


def test_splitting_a_type_into_clones_changes_nothing():
    one = solve_negishi(Y2, P2, 0.95, [5.0, 1.0], [0.4, 0.6])
    clones = solve_negishi(Y2, P2, 0.95, [5.0, 1.0, 5.0, 5.0], [0.1, 0.6, 0.25, 0.05])
    np.testing.assert_allclose(clones.tree_prices, one.tree_prices, rtol=1e-11)
    np.testing.assert_allclose(clones.bond_prices, one.bond_prices, rtol=1e-11)
    cautious = [0, 2, 3]
    np.testing.assert_allclose(clones.consumption[cautious].sum(axis=0), one.consumption[0], rtol=1e-11)
    assert clones.shares[cautious].sum() == pytest.approx(one.shares[0], rel=1e-10)
    assert clones.bonds[cautious].sum() == pytest.approx(one.bonds[0], rel=1e-9)
    # each clone holds the type's portfolio in proportion to its endowment
    np.testing.assert_allclose(clones.shares[cautious] / [0.1, 0.25, 0.05], one.shares[0] / 0.4, rtol=1e-9)


def test_two_state_portfolio_is_the_same_whatever_the_state():
    """The portfolio replicates next period's wealth in both states, so it cannot depend on today's
    state; re-solving it from the wealth and price of each state gives the same numbers."""
    eq = solve_negishi(Y2, P2, 0.95, [5.0, 1.0], [0.5, 0.5], initial_state=1)
    value = eq.tree_prices + Y2
    for k in range(2):
        s, b = np.linalg.solve(np.column_stack([value, np.ones(2)]), eq.wealth[k])
        assert (s, b) == pytest.approx((eq.shares[k], eq.bonds[k]), rel=1e-10)
        # and the wealth recursion W_k = c_k + E[m W_k'] closes in every state
        np.testing.assert_allclose(eq.consumption[k] + (P2 * eq.sdf) @ eq.wealth[k], eq.wealth[k], rtol=1e-12)


def test_prices_cannot_tell_a_representative_agent_but_holdings_can():
    eq = solve_negishi(Y2, P2, 0.95, [5.0, 1.0], [0.5, 0.5])
    assert 1.0 < eq.representative_gamma < 5.0
    tree, bond = ra_prices(Y2, P2, 0.95, eq.representative_gamma)
    np.testing.assert_allclose(eq.tree_prices, tree, rtol=1e-12)
    np.testing.assert_allclose(eq.bond_prices, bond, rtol=1e-12)
    # the representative agent holds the endowment; the population does not
    assert eq.bonds[0] > 1e-3 and eq.shares[0] < 0.5 - 1e-2     # the cautious type lends, holds fewer trees


def test_non_spanning_chain_is_refused_unless_gammas_are_equal():
    with pytest.raises(ConfigError, match=r"^states: .*at most 2 when gammas differ.*incomplete"):
        solve_negishi(Y3, P3, 0.95, [2.0, 3.0], [0.5, 0.5])
    solve_negishi(Y3, P3, 0.95, [2.0, 2.0], [0.5, 0.5])          # spans trivially: no trade


# --- Harrison and Kreps ----------------------------------------------------------------------

HK_BELIEFS = np.array([[[1 / 2, 1 / 2], [2 / 3, 1 / 3]], [[2 / 3, 1 / 3], [1 / 4, 3 / 4]]])


def test_harrison_kreps_example():
    """Harrison and Kreps' two-type example (dividends 0 and 1, beta 0.75), as tabulated in
    QuantEcon's 'Heterogeneous beliefs and bubbles' lecture."""
    eq = solve_harrison_kreps([0.0, 1.0], HK_BELIEFS, [0.75, 0.75])
    np.testing.assert_allclose(eq.valuations, [[4 / 3, 11 / 9], [16 / 11, 21 / 11]], rtol=1e-12)
    np.testing.assert_allclose(eq.tree_prices, [24 / 13, 27 / 13], rtol=1e-12)     # 1.85, 2.08
    assert list(eq.holder) == [0, 1]                           # each state's optimist holds the tree
    assert np.all(eq.speculative_premium > 0.1)
    np.testing.assert_allclose(eq.resale_valuations.max(axis=0), eq.tree_prices, rtol=1e-14)
    np.testing.assert_allclose(eq.bond_prices, 0.75)


def test_harrison_kreps_price_is_the_fixed_point_of_the_contraction():
    rng = np.random.default_rng(5)
    k, n = 4, 5
    beliefs = rng.dirichlet(np.ones(n), size=(k, n))
    betas = np.array([0.9, 0.93, 0.95, 0.88])
    y = np.array([0.0, 0.0, 0.5, 1.0, 2.0])
    eq = solve_harrison_kreps(y, beliefs, betas)
    p = np.zeros(n)                                            # value iteration from zero
    for _ in range(2000):
        p = np.max(betas[:, None] * np.einsum("ksj,j->ks", beliefs, y + p), axis=0)
    np.testing.assert_allclose(eq.tree_prices, p, rtol=1e-12)
    assert np.all(eq.tree_prices >= eq.valuations.max(axis=0) - 1e-12)


def test_buy_and_hold_valuations_by_simulation():
    """p_k(s) = E_k[sum_{t>=1} beta^t y_t | s_0 = s] by simulated dividend paths under P_k."""
    y = np.array([0.0, 1.0])
    exact = buy_and_hold(y, HK_BELIEFS, [0.75, 0.75])
    rng = np.random.default_rng(2)
    paths, horizon = 40_000, 80
    for k in range(2):
        for s in range(2):
            state = np.full(paths, s)
            total = np.zeros(paths)
            for t in range(1, horizon + 1):
                state = (rng.random(paths) >= HK_BELIEFS[k][state, 0]).astype(int)
                total += 0.75 ** t * y[state]
            assert abs(total.mean() - exact[k, s]) < 4 * total.std() / np.sqrt(paths) + 0.75 ** horizon * 4


# --- heterogeneous patience --------------------------------------------------------------------

def test_patience_path_against_a_forward_euler_recursion():
    betas, theta, ybar = np.array([0.97, 0.9, 0.93]), np.array([0.2, 0.5, 0.3]), 0.0448
    path = solve_patience(ybar, betas, theta, periods=400)
    # forward: c_{k,t+1} = beta_k c_kt / q_t (log Euler), q_t set by sum_k c_{k,t+1} = ybar
    c = path.consumption_shares[:, 0] * ybar
    qs, cs = [], [c]
    for t in range(1, 400):
        q = betas @ c / ybar
        c = betas * c / q
        qs.append(q)
        cs.append(c)
    np.testing.assert_allclose(np.array(cs).T / ybar, path.consumption_shares, rtol=1e-10)
    np.testing.assert_allclose(qs, path.bond_prices[:-1], rtol=1e-12)
    # budgets: present value of each type's consumption = its endowment theta_k (p_0 + ybar)
    long = solve_patience(ybar, betas, theta, periods=3000)
    discount = np.concatenate(([1.0], np.cumprod(long.bond_prices[:-1])))
    np.testing.assert_allclose(long.consumption_shares * ybar @ discount,
                               theta * (path.tree_prices[0] + ybar), rtol=1e-9)
    # tree price = discounted dividends
    assert np.sum(discount[1:]) * ybar == pytest.approx(path.tree_prices[0], rel=1e-9)
    assert long.consumption_shares[0, -1] > 0.999999             # the most patient type gets everything
    np.testing.assert_allclose(path.shares.sum(axis=0), 1.0, rtol=1e-13)


def test_equal_patience_is_the_representative_agent():
    path = solve_patience(0.0448, [0.95, 0.95], [0.3, 0.7], periods=5)
    np.testing.assert_allclose(path.tree_prices, 19.0 * 0.0448, rtol=1e-13)
    np.testing.assert_allclose(path.bond_prices, 0.95, rtol=1e-13)
    np.testing.assert_allclose(path.consumption_shares, [[0.3] * 5, [0.7] * 5], rtol=1e-13)


# --- which solver a population has --------------------------------------------------------------

def test_population_dispatch_and_refusals():
    pop = parse_population([{"name": "a", "count": 3, "gamma": 5.0}, {"name": "b", "count": 1, "gamma": 1.0}])
    r = solve_population(pop, Y2, P2)
    assert r["solver"] == "negishi" and r["endowment"] == {"a": 0.75, "b": 0.25}
    assert sum(h["shares"][0] for h in r["holdings"].values()) == pytest.approx(1.0, abs=1e-12)
    mixed = parse_population([{"name": "a", "gamma": 0}, {"name": "b", "gamma": 2}])
    with pytest.raises(ConfigError, match=r"^population\[1\]\.gamma: must be 0"):
        solve_population(mixed, Y2, P2)
    beliefs = parse_population([{"name": "a"}, {"name": "b", "beliefs": {"transition": [[0.5, 0.5], [0.5, 0.5]]}}])
    with pytest.raises(ConfigError, match=r"^population\[1\]\.beliefs: .*risk neutral"):
        solve_population(beliefs, Y2, P2)
    income = parse_population([{"name": "a", "income": {"volatility": 0.1}}])
    with pytest.raises(ConfigError, match=r"^population\[0\]\.income"):
        solve_population(income, Y2, P2)
    patience = parse_population([{"name": "a", "beta": 0.9, "gamma": 2.0}, {"name": "b", "beta": 0.95}])
    with pytest.raises(ConfigError, match=r"^population\[0\]\.gamma: must be 1"):
        solve_population(patience, [1.0], [[1.0]])
    with pytest.raises(ConfigError, match=r"^initial_state"):
        solve_population(pop, Y2, P2, initial_state=2)


def test_agent_portfolios_add_up_to_the_types_and_respect_the_borrowing_bound():
    pop = parse_population([{"name": "cautious", "count": 40, "gamma": 5.0, "size": {"lognormal": {"sigma": 1.0}}},
                            {"name": "bold", "count": 60, "gamma": 1.0, "size": {"pareto": {"zeta": 1.5}},
                             "borrowing_limit": 0.05}], seed=1)
    arrays = pop.draw()
    eq = solve_negishi(Y2, P2, 0.95, [5.0, 1.0], arrays.endowments)
    shares, bonds = eq.agent_portfolios(arrays.type_index, arrays.initial_shares)
    totals = np.bincount(arrays.type_index, weights=shares) / arrays.n_agents
    np.testing.assert_allclose(totals, eq.shares, rtol=1e-12)          # per unit of supply N
    np.testing.assert_allclose(np.bincount(arrays.type_index, weights=bonds) / arrays.n_agents, eq.bonds,
                               rtol=1e-12)
    assert shares.sum() == pytest.approx(arrays.n_agents, rel=1e-12)
    # every bold agent owes the same per initial share: borrowing_needed, within its limit 0.05
    owed = -bonds[arrays.type_index == 1] / arrays.initial_shares[arrays.type_index == 1]
    np.testing.assert_allclose(owed, eq.borrowing_needed()[1], rtol=1e-12)
    assert np.all(bonds >= -arrays.borrowing_limit)
