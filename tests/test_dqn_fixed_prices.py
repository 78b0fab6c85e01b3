"""benchmarks/dqn_fixed_prices.py: the DQN against a dealer at the equilibrium prices
(docs/acceptance_b.md, "The DQN against fixed equilibrium prices").

The apparatus is held to the economics before its measurements mean anything: the dealer's
prices are the solver's, posting them keeps the endowment at zero reward, purchases are paid
for with bonds as the financed market pays for them, sales are paid in bonds, over-budget
schedules are capped, and a short run writes its table.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmark_scripts import load_benchmark
from lucas_abm.dividends import MarkovChainDividend
from lucas_abm.solver import solve_equilibrium
from orchestrator.config import load_config

fx = load_benchmark("dqn_fixed_prices")


@pytest.fixture(scope="module")
def config():
    return load_config(fx.CONFIG)


@pytest.mark.parametrize("gamma", [1.0, 2.0, 5.0])
def test_dealer_prices_are_the_solvers(config, gamma):
    """own_valuations at the endowment (s = 1, b = 0) against the representative-agent solver."""
    market, p, q = fx.make_economy(config, gamma)
    chain = MarkovChainDividend(states=(0.04, 0.05), transition=((0.8, 0.2), (0.3, 0.7)))
    eq = solve_equilibrium(chain, config.economy.beta, gamma)
    np.testing.assert_allclose(p, eq.tree_prices, rtol=1e-10)
    np.testing.assert_allclose(q, eq.bond_prices, rtol=1e-10)
    assert market.borrowing_limit == pytest.approx(0.035)
    assert (market.tree_slope, market.bond_slope) == (0.25, 0.05)


def test_posting_the_prices_keeps_the_endowment(config):
    market, p, q = fx.make_economy(config, 2.0)
    observer = fx.Observer(config, market)
    state = np.array([0, 1])
    c, s, b = market.step(state, np.ones(2), np.zeros(2), p[state], q[state])
    np.testing.assert_allclose(s, 1.0, atol=1e-15)
    np.testing.assert_allclose(b, 0.0, atol=1e-15)
    np.testing.assert_allclose(c, market.states, rtol=1e-15)
    np.testing.assert_allclose(observer.reward(state, c), 0.0, atol=1e-7)
    x = observer.observation(state, s, b)
    np.testing.assert_allclose(x[:, [0, 1, 3]], 0.0, atol=1e-6)
    np.testing.assert_allclose(x[:, 2], observer.levels, rtol=1e-6)


@pytest.mark.parametrize("gamma", [1.0, 2.0, 5.0])
def test_the_observer_scales_as_the_market_learners_features(gamma):
    """The benchmark's Observer restates orchestrator.agents.Features for one gamma; held to it:
    the config's own market with both types at this gamma, Features.build, the same holdings,
    dividends and income give the same network inputs (float32) and the same reward unit."""
    from orchestrator.agents import Features
    from orchestrator.episode import Economy

    config = load_config(fx.CONFIG, [f"population.0.gamma={gamma}", f"population.1.gamma={gamma}"])
    economy = Economy(config)
    market = economy.market()
    features = Features.build(config, market, economy.dividend)
    assert features.names == ("shares", "bonds", "dividend", "income")
    dealer, _, _ = fx.make_economy(config, gamma)
    observer = fx.Observer(config, dealer)
    rng = np.random.default_rng(0)
    n = market.n_agents
    s, b, state = 1 + rng.normal(0, 0.02, n), rng.normal(0, 0.01, n), rng.integers(0, 2, n)
    y = dealer.states[state]
    raw = np.stack([s, b, y, s * y + b], axis=1)          # the market's columns; income e = s y + b
    np.testing.assert_allclose(observer.observation(state, s, b), features.observation(raw), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(features.reward_scale, observer.reward_scale, rtol=1e-12)
    assert observer.consumption_floor == features.consumption_floor and observer.reward_clip == features.reward_clip


def test_purchases_and_sales_are_paid_in_bonds(config):
    """Buying z = a (1 - P/v) trees issues P z / Q bonds; selling takes P |z| / Q bonds; the
    bond schedule alone moves consumption: c = s y + b - Q b^s."""
    market, p, q = fx.make_economy(config, 2.0)
    state = np.array([0, 0, 1])
    value = p[state] * np.array([1.1, 0.9, 1.05])
    bond_value = q[state] * np.array([1.0, 1.0, 1.02])
    c, s, b = market.step(state, np.ones(3), np.zeros(3), value, bond_value)
    z = 0.25 * (1 - p[state] / value)
    b_sched = np.array([0.0, 0.0, 0.05 * (1 - 1 / 1.02)])
    np.testing.assert_allclose(s, 1 + z, rtol=1e-14)
    np.testing.assert_allclose(b, b_sched - p[state] * z / q[state], rtol=1e-12)
    np.testing.assert_allclose(c, market.states[state] - q[state] * b_sched, rtol=1e-12)


def test_cash_settled_trees_are_paid_for_out_of_consumption(config):
    """tree_settlement: cash (the mechanism's default): c = s y + b - P z - Q b^s, b' = b^s."""
    cash = load_config(fx.CONFIG, ["economy.mechanism_params.tree_settlement=cash"])
    market, p, q = fx.make_economy(cash, 2.0)
    assert market.tree_settlement == "cash"
    state = np.array([0, 1])
    value = p[state] * np.array([1.1, 0.9])
    c, s, b = market.step(state, np.ones(2), np.zeros(2), value, q[state])
    z = 0.25 * (1 - p[state] / value)
    np.testing.assert_allclose(s, 1 + z, rtol=1e-14)
    np.testing.assert_allclose(b, 0.0, atol=1e-15)
    np.testing.assert_allclose(c, market.states[state] - p[state] * z, rtol=1e-12)


def test_a_partly_financed_trade_pays_the_rest_in_cash(config):
    """financed_fraction 0.5: a buyer issues P z / (2 Q) bonds and consumes P z / 2 less; a
    seller takes half its proceeds in bonds and consumes the other half."""
    half = load_config(fx.CONFIG, ["economy.mechanism_params.financed_fraction=0.5"])
    market, p, q = fx.make_economy(half, 2.0)
    assert market.financed_fraction == 0.5
    state = np.array([0, 1])
    value = p[state] * np.array([1.1, 0.9])
    c, s, b = market.step(state, np.ones(2), np.zeros(2), value, q[state])
    z = 0.25 * (1 - p[state] / value)
    np.testing.assert_allclose(s, 1 + z, rtol=1e-14)
    np.testing.assert_allclose(b, -0.5 * p[state] * z / q[state], rtol=1e-12)
    np.testing.assert_allclose(c, market.states[state] - 0.5 * p[state] * z, rtol=1e-12)


def test_over_budget_schedules_are_capped(config):
    """A lender whose schedule would spend more than its income keeps 1% of it; a buyer at its
    borrowing limit pays cash and is capped the same way."""
    market, p, q = fx.make_economy(config, 2.0)
    state = np.array([1, 0])                 # q(0.05) > 1: rolling a claim over costs more than it pays
    bonds = np.array([2.0, -0.035])          # a large maturing claim; a debt at the limit
    c, s, b = market.step(state, np.ones(2), bonds, np.array([p[1], 1.5]), np.array([1.2, q[0]]))
    income = market.states[state] + bonds
    assert c[0] == pytest.approx(0.01 * income[0], rel=1e-9) and b[0] == pytest.approx(0.99 * income[0] / q[1])
    assert c[1] == pytest.approx(0.01 * income[1], rel=1e-9)   # every cent into trees
    assert s[1] > 1.0 and b[1] == pytest.approx(-0.035, abs=1e-12)


def test_a_short_run_writes_its_table(config, tmp_path):
    summary = fx.run(gamma=2.0, episodes=6, agents=12, eval_interval=3, out=tmp_path, progress=False)
    table = pd.read_csv(tmp_path / "evaluations.csv")
    assert list(table["episode"]) == [3, 3, 6, 6]
    assert set(table.columns) >= {"tree_value", "tree_price", "tree_error_pct", "tree_error_ticks",
                                  "bond_value", "bond_error_ticks", "price_dividend", "price_dividend_eq",
                                  "td_error_mean"}
    np.testing.assert_allclose(table["price_dividend_eq"][:2], [17.5524, 21.7143], atol=1e-4)
    row = table.iloc[0]
    assert row["tree_error_ticks"] == pytest.approx((row["tree_value"] - row["tree_price"]) / 0.005)
    assert summary["updates"] > 0
    assert np.isfinite(table["td_error_mean"].iloc[-1]) and table["td_error_mean"].iloc[-1] > 0
    assert json.loads((tmp_path / "summary.json").read_text())["states"]["1"]["dividend"] == 0.05


def _second_order_loss(market, beta, state, error, asset, settlement="bonds", phi=1.0):
    """The Taylor expansion of misposting_loss to second order in the wealth and consumption
    changes: 0.5 (-u''(y)) (dc)^2 + 0.5 beta sum_k P_jk (-V_ww(w*_k)) (dw_k)^2, with
    -V_ww = gamma (1 - gamma) V* / w*^2 (1 / ((1 - beta) w*^2) at gamma = 1), a second route to
    the same number that never evaluates V at the new wealth. The first-order terms cancel by
    the agent's Euler equations at the endowment, which the test checks through the ratio."""
    from lucas_abm.utility import CRRAUtility

    g, y, trans = market.gamma, market.states, market.transition
    p, q = market.tree_prices, market.bond_prices
    u = CRRAUtility(g)
    v_star = np.linalg.solve(np.eye(2) - beta * trans, u(y))
    wealth = y + p
    curvature = 1.0 / ((1.0 - beta) * wealth ** 2) if g == 1.0 else g * (1.0 - g) * v_star / wealth ** 2
    if asset == "tree":
        phi = phi if settlement == "bonds" else 0.0
        z = market.tree_slope * (1.0 - 1.0 / (1.0 + error))
        dc, dw = -(1.0 - phi) * p[state] * z, z * (wealth - phi * p[state] / q[state])
    else:
        b = market.bond_slope * (1.0 - 1.0 / (1.0 + error))
        dc, dw = -q[state] * b, np.full(2, b)
    return 0.5 * g * y[state] ** (-g - 1.0) * dc ** 2 + 0.5 * beta * trans[state] @ (curvature * dw ** 2)


@pytest.mark.parametrize("gamma", [1.0, 2.0, 5.0])
@pytest.mark.parametrize("asset,settlement,phi", [("tree", "bonds", 1.0), ("tree", "bonds", 0.5),
                                                  ("tree", "cash", 1.0), ("bond", "bonds", 1.0)])
def test_misposting_loss_is_second_order_and_matches_its_taylor_expansion(config, gamma, asset, settlement, phi):
    """Posting the dealer's price is optimal (the loss is >= 0 on both sides, zero at e = 0),
    and for small errors the exact loss is its second-order expansion (within 2% at e = 0.1%)."""
    market, _, _ = fx.make_economy(config, gamma)
    beta = config.economy.beta
    for state in (0, 1):
        assert fx.misposting_loss(market, beta, state, 0.0, asset, settlement, phi) == pytest.approx(0.0, abs=1e-12)
        for e in (-0.1, -0.03, 0.03, 0.1):
            assert fx.misposting_loss(market, beta, state, e, asset, settlement, phi) > 0
        e = 1e-3
        exact = fx.misposting_loss(market, beta, state, e, asset, settlement, phi)
        assert exact == pytest.approx(_second_order_loss(market, beta, state, e, asset, settlement, phi), rel=0.02)


def test_the_cost_of_a_misposted_tree_grows_with_the_part_paid_in_cash(config):
    """Between all in bonds (phi = 1) and all in cash the cost of a tree value 3% off rises
    monotonically, at phi = 0 it is the cash settlement's, and near phi = 1 like (1 - phi)^2."""
    market, _, _ = fx.make_economy(config, 2.0)
    beta = config.economy.beta
    cost = [fx.misposting_loss(market, beta, 0, 0.03, "tree", "bonds", phi) for phi in (1.0, 0.9, 0.75, 0.5, 0.0)]
    assert all(a < b for a, b in zip(cost, cost[1:]))
    assert cost[-1] == pytest.approx(fx.misposting_loss(market, beta, 0, 0.03, "tree", "cash"), rel=1e-12)
    assert (cost[3] - cost[0]) / (cost[-1] - cost[0]) == pytest.approx(0.25, abs=0.02)


def test_the_losses_wealth_is_what_the_dealer_leaves(config):
    """The loss's next-period wealth (1 + z)(y_k + p_k) + b' is the holdings market.step leaves,
    valued at the next state's dividend and price."""
    market, p, q = fx.make_economy(config, 2.0)
    e, state = 0.05, 0
    c, s, b = market.step(np.array([state]), np.ones(1), np.zeros(1), p[[state]] * (1 + e), q[[state]])
    z = 0.25 * (1 - 1 / (1 + e))
    np.testing.assert_allclose(c, market.states[state], rtol=1e-14)      # paid for in bonds
    np.testing.assert_allclose(s[0] * (market.states + p) + b[0],
                               (1 + z) * (market.states + p) - p[state] * z / q[state], rtol=1e-12)


def test_a_misposted_tree_costs_far_less_than_a_misposted_bond(config):
    """The figures docs/acceptance_b.md quotes (gamma 2, in the DQN's reward units): a tree
    value 3% off costs 0.0004-0.0010 when the trees are paid for in bonds, 0.38-0.54 when
    they are paid for out of consumption; a bond value 3% off 0.020-0.026."""
    market, _, _ = fx.make_economy(config, 2.0)
    scale = fx.Observer(config, market).reward_scale
    beta = config.economy.beta
    tree = [fx.misposting_loss(market, beta, k, e) * scale for k in (0, 1) for e in (-0.03, 0.03)]
    bond = [fx.misposting_loss(market, beta, k, e, "bond") * scale for k in (0, 1) for e in (-0.03, 0.03)]
    np.testing.assert_allclose(tree, [0.000507, 0.000448, 0.001010, 0.000898], rtol=0.01)
    np.testing.assert_allclose(bond, [0.02626, 0.02478, 0.02111, 0.01995], rtol=0.01)
    cash = [fx.misposting_loss(market, beta, k, e, "tree", "cash") * scale for k in (0, 1) for e in (-0.03, 0.03)]
    np.testing.assert_allclose(cash, [0.3808, 0.4332, 0.4487, 0.5439], rtol=0.01)


def test_the_incentive_table_is_printed_without_training(capsys):
    """--incentive --json prints misposting_loss in reward units for both states and assets."""
    assert fx.main(["--incentive", "--json", "--gamma", "2"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["tree_settlement"] == "bonds" and len(table["rows"]) == 4
    tree_low = next(r for r in table["rows"] if r["asset"] == "tree" and r["dividend"] == 0.04)
    assert tree_low["+0.03"] == pytest.approx(0.000448, rel=0.01)
    assert tree_low["-0.10"] > tree_low["-0.03"] > tree_low["-0.01"] > 0
