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
                                  "bond_value", "bond_error_ticks", "price_dividend", "price_dividend_eq"}
    np.testing.assert_allclose(table["price_dividend_eq"][:2], [17.5524, 21.7143], atol=1e-4)
    row = table.iloc[0]
    assert row["tree_error_ticks"] == pytest.approx((row["tree_value"] - row["tree_price"]) / 0.005)
    assert summary["updates"] > 0
    assert json.loads((tmp_path / "summary.json").read_text())["states"]["1"]["dividend"] == 0.05
