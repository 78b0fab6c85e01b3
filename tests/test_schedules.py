"""Linear demand schedules in the call auction (lucas_abm/mechanisms/schedules.py): the
clearing price against its closed form and a bisection, the budget caps, the invariants of
docs/model.md section 2 for any population and any schedules (garbage included), and the
config keys that give learning agents schedules (actions.*_schedule_slope), for the
Q-learners' grid prices and the actor-critics' continuous ones."""
from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lucas_abm.errors import ConfigError
from lucas_abm.market import invariant_violation
from lucas_abm.mechanisms.base import TradingRules
from lucas_abm.mechanisms import CallAuction
from lucas_abm.mechanisms.schedules import Schedules, clear_schedule, execute_schedules, finance_with_bonds
from tests.test_hetero_market import GARBAGE, make_market, populations

RULES = TradingRules(tree_lot=0.5, bond_lot=0.25, borrowing_limit=0.1, max_price=10.0)


def bisection(value, base, slope, lo, hi, low=1e-9, high=1e6, iterations=200) -> float:
    """Root of the (non-increasing) excess demand by bisection on log P: independent of the
    kink bookkeeping of clear_schedule."""
    def excess(p):
        return np.clip(base + slope * (1.0 - p / value), lo, hi).sum()
    a, b = np.log(low), np.log(high)
    for _ in range(iterations):
        m = 0.5 * (a + b)
        a, b = (m, b) if excess(np.exp(m)) > 0 else (a, m)
    return float(np.exp(0.5 * (a + b)))


def test_unclipped_price_is_the_slope_weighted_harmonic_mean():
    """sum_k a_k (1 - P / v_k) = 0  =>  P = sum a_k / sum (a_k / v_k)."""
    rng = np.random.default_rng(0)
    v, a = rng.uniform(0.5, 1.5, 40), rng.uniform(0.1, 2.0, 40)
    n = v.size
    p, z = clear_schedule(v, np.zeros(n), a, np.full(n, -1e9), np.full(n, np.inf))
    assert p == pytest.approx(a.sum() / (a / v).sum(), rel=1e-14)
    np.testing.assert_allclose(z, a * (1 - p / v), rtol=1e-12, atol=1e-15)
    assert abs(z.sum()) < 1e-14
    # equal reservation values: P = v, nobody trades
    p, z = clear_schedule(np.full(5, 0.8), np.zeros(5), np.ones(5), -np.ones(5), np.full(5, np.inf))
    assert p == pytest.approx(0.8, rel=1e-15) and np.abs(z).max() < 1e-15


def test_two_agents_by_hand_with_a_short_sale_clip():
    """Buyer v = 1.2, a = 1; seller v = 0.8, a = 1 holding 0.05 shares. Unclipped P = 0.96
    and the seller would sell 0.2; clipped at its 0.05, the buyer's 1 - P/1.2 = 0.05 gives
    P = 1.14."""
    v, a = np.array([1.2, 0.8]), np.ones(2)
    p, z = clear_schedule(v, np.zeros(2), a, np.array([-10.0, -10.0]), np.full(2, np.inf))
    assert p == pytest.approx(2 / (1 / 1.2 + 1 / 0.8), rel=1e-15) == pytest.approx(0.96)
    p, z = clear_schedule(v, np.zeros(2), a, np.array([-10.0, -0.05]), np.full(2, np.inf))
    assert p == pytest.approx(1.14, rel=1e-14)
    np.testing.assert_allclose(z, [0.05, -0.05], rtol=1e-12)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 25), seed=st.integers(0, 10_000))
def test_clearing_equals_a_bisection(n, seed):
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.5, 1.5, n)
    a = rng.uniform(0.0, 2.0, n) * (rng.random(n) < 0.8)
    base = rng.normal(0.0, 0.1, n)
    lo = -rng.uniform(0.0, 0.2, n)
    hi = np.where(rng.random(n) < 0.5, np.inf, rng.uniform(0.0, 0.2, n))
    p, z = clear_schedule(v, base, a, lo, hi)

    def excess(price):
        return np.clip(base + a * (1.0 - price / v), lo, hi).sum()
    if np.isnan(p):   # no root: excess demand keeps one sign over all positive prices
        assert not a.any() or excess(1e-9) < 0 or excess(1e9) > 0
        assert not z.any()
        return
    assert abs(z.sum()) <= 1e-12
    np.testing.assert_allclose(z, np.clip(base + a * (1 - p / v), lo, hi), atol=1e-15)
    root = bisection(v, base, a, lo, hi)
    if abs(excess(root * (1 - 1e-6))) > 1e-9 and abs(excess(root * (1 + 1e-6))) > 1e-9:
        assert p == pytest.approx(root, rel=1e-8)   # a unique root (Z strictly falls there)


def test_budget_caps_an_agent_that_cannot_pay():
    """Agent 0 values the tree at 2, the others at 1 (a = 1). Unclipped, P = 4 / 3.5 and it
    buys 1 - P/2 = 3/7 share for 0.49, more than its income 0.1: its purchase is capped at the
    0.1 / P = 0.0875 share that 0.1 paid for at that price, and the market clears again,
    where the other three sell 0.0875 / 3 each: 1 - P' = -0.0875 / 3. The lower price leaves
    it spending less than its income (caps are quantities and only tighten). Flagged."""
    n = 4
    income = np.array([0.1, 1.0, 1.0, 1.0])
    shares = np.ones(n)
    s = Schedules(np.array([2.0, 1.0, 1.0, 1.0]), np.ones(n), np.ones(n), np.zeros(n))
    out = execute_schedules(s, income, shares, np.zeros(n), RULES)
    spent = out.tree_cash + out.bond_cash
    p = 1 + 0.0875 / 3
    assert out.tree_clearing_price == pytest.approx(p, rel=1e-12)
    assert out.tree_trade[0] == pytest.approx(0.0875, rel=1e-12)
    assert spent[0] == pytest.approx(0.0875 * p, rel=1e-12) and spent[0] <= 0.1
    assert abs(out.tree_trade.sum()) < 1e-14
    assert out.infeasible_tree.tolist() == [True, False, False, False]
    p = out.tree_clearing_price
    np.testing.assert_allclose(out.tree_trade[1:], 1 - p, rtol=1e-12)    # sellers on their line
    # bonds: slope 0 everywhere and no maturing positions: no bond market
    assert np.isnan(out.bond_clearing_price) and not out.bond_trade.any()


def test_bond_schedule_rolls_the_position_over_at_its_reservation_value():
    """Borrower (b = -0.05) and lender (b = +0.05) both post v = 0.9: the bond clears at 0.9
    and each rolls its position over, paying / receiving 0.9 x 0.05 again."""
    n = 2
    s = Schedules(np.ones(n), np.zeros(n), np.full(n, 0.9), np.ones(n))
    out = execute_schedules(s, np.ones(n), np.ones(n), np.array([-0.05, 0.05]), RULES)
    assert out.bond_clearing_price == pytest.approx(0.9, rel=1e-14)
    np.testing.assert_allclose(out.bond_trade, [-0.05, 0.05], rtol=1e-12)
    np.testing.assert_allclose(out.bond_cash, [-0.045, 0.045], rtol=1e-12)


slope = st.one_of(st.floats(0.0, 3.0), st.sampled_from([np.nan, np.inf, -1.0]))
price = st.one_of(st.floats(0.01, 6.0), st.sampled_from(GARBAGE))


def test_trees_paid_with_bonds_by_hand():
    """Agents 0 and 1 value the tree at 1.2 and 0.8 (a = 1, income 1, no bonds, limit 0.1).
    P = 0.96: agent 0 buys 0.2 trees for 0.192. With bonds at Q = 0.9 (both post 0.9, a = 1,
    so no bond trade of their own) it pays with 0.192 / 0.9 = 0.21333 bonds... more than its
    limit of 0.1 allows: 0.1 bonds (0.09 of cash) are issued and 0.102 is paid in cash. The
    seller takes the 0.1 bonds and 0.102 in cash. Consumption moves by the cash part only."""
    n = 2
    s = Schedules(np.array([1.2, 0.8]), np.ones(n), np.full(n, 0.9), np.ones(n))
    cash = execute_schedules(s, np.ones(n), np.ones(n), np.zeros(n), RULES)
    paid = execute_schedules(s, np.ones(n), np.ones(n), np.zeros(n), RULES, tree_settlement="bonds")
    for out in (cash, paid):
        assert out.tree_clearing_price == pytest.approx(0.96, rel=1e-14)
        assert out.bond_clearing_price == pytest.approx(0.9, rel=1e-14)
        np.testing.assert_allclose(out.tree_trade, [0.2, -0.2], rtol=1e-12)
    assert not cash.bond_trade.any()
    np.testing.assert_allclose(paid.bond_trade, [-0.1, 0.1], rtol=1e-12)        # at the limit
    spent = paid.tree_cash + paid.bond_cash
    np.testing.assert_allclose(spent, [0.192 - 0.09, -0.192 + 0.09], rtol=1e-12)
    assert not paid.infeasible_tree.any() and not paid.infeasible_bond.any()


def test_finance_with_bonds_spreads_the_bonds_over_sellers_by_proceeds():
    """Two buyers (0.3 and 0.1 trees at P = 2) and two sellers (0.1 and 0.3) at Q = 0.8.
    Buyer 0 has room for 0.5 bonds (0.4 of cash), less than its 0.6: it issues 0.5 bonds.
    Buyer 1 has room to spare: it issues 0.2 / 0.8 = 0.25. The 0.75 bonds go to the sellers
    1 : 3, as their proceeds. Positions still sum to zero; nobody is past its limit."""
    fill = np.array([0.3, 0.1, -0.1, -0.3])
    position = np.array([0.0, 0.2, 0.1, 0.0])
    limits = np.array([0.5, 1.0, 1.0, 1.0])
    out = finance_with_bonds(fill, position, 2.0, 0.8, limits)
    np.testing.assert_allclose(out - position, [-0.5, -0.25, 0.1875, 0.5625], rtol=1e-12)
    assert out.sum() == pytest.approx(position.sum(), abs=1e-15) and np.all(out >= -limits)
    # no sellers (or no buyers) to take bonds: nothing changes
    np.testing.assert_array_equal(finance_with_bonds(np.zeros(4), position, 2.0, 0.8, limits), position)


def test_a_partly_financed_purchase_pays_the_rest_in_cash():
    """financed_fraction phi = 0.5, the case of test_trees_paid_with_bonds_by_hand with a limit
    that does not bind (0.5): agent 0 buys 0.2 trees for 0.192 and issues 0.5 * 0.192 / 0.9 =
    0.10667 bonds; it pays the other 0.096 in cash, so its consumption falls by 0.096, and the
    seller takes the bonds and 0.096 in cash. phi = 1 is the default, bit for bit."""
    n = 2
    rules = TradingRules(tree_lot=0.5, bond_lot=0.25, borrowing_limit=0.5, max_price=10.0)
    s = Schedules(np.array([1.2, 0.8]), np.ones(n), np.full(n, 0.9), np.ones(n))
    half = execute_schedules(s, np.ones(n), np.ones(n), np.zeros(n), rules, "bonds", financed_fraction=0.5)
    np.testing.assert_allclose(half.tree_trade, [0.2, -0.2], rtol=1e-12)
    np.testing.assert_allclose(half.bond_trade, [-0.096 / 0.9, 0.096 / 0.9], rtol=1e-12)
    np.testing.assert_allclose(half.tree_cash + half.bond_cash, [0.096, -0.096], rtol=1e-12)
    full = execute_schedules(s, np.ones(n), np.ones(n), np.zeros(n), rules, "bonds")
    one = execute_schedules(s, np.ones(n), np.ones(n), np.zeros(n), rules, "bonds", financed_fraction=1.0)
    for name in ("tree_trade", "bond_trade", "tree_cash", "bond_cash"):
        np.testing.assert_array_equal(getattr(full, name), getattr(one, name))
    np.testing.assert_allclose(full.bond_trade, [-0.192 / 0.9, 0.192 / 0.9], rtol=1e-12)


def test_financed_fraction_is_checked():
    """In (0, 1], a number, and only with bonds settlement; named in the one-line error."""
    for bad in (0.0, -0.5, 1.5, float("nan"), "half", True):
        with pytest.raises(ConfigError, match="financed_fraction"):
            CallAuction(tree_settlement="bonds", financed_fraction=bad)
    with pytest.raises(ConfigError, match="financed_fraction.*unless tree_settlement is 'bonds'"):
        CallAuction(tree_settlement="cash", financed_fraction=0.5)
    assert repr(CallAuction("bonds", 0.75)) == "CallAuction(tree_settlement='bonds', financed_fraction=0.75)"


def test_tree_settlement_is_checked():
    """An unknown settlement is refused by name; 'bonds' refuses posted prices and limit
    orders (it settles schedules only), before anything trades."""
    with pytest.raises(ConfigError, match="tree_settlement"):
        CallAuction(tree_settlement="gold")
    with pytest.raises(ConfigError, match="tree_settlement"):
        execute_schedules(Schedules(*np.ones((4, 2))), np.ones(2), np.ones(2), np.zeros(2), RULES, "gold")
    auction = CallAuction(tree_settlement="bonds")
    assert repr(auction) == "CallAuction(tree_settlement='bonds')"
    with pytest.raises(ConfigError, match="mechanism_params.tree_settlement"):
        auction.execute(np.ones(2), np.ones(2), np.ones(2), np.ones(2), RULES, np.random.default_rng(0))


@settings(max_examples=60, deadline=None)
@given(pop=populations(), settlement=st.sampled_from(["cash", "bonds", 0.5]), data=st.data())
def test_invariants_hold_for_any_population_and_any_schedules(pop, settlement, data):
    """Either settlement, and bonds with half of each purchase financed (settlement 0.5)."""
    market = make_market(pop, "call-auction")
    market.mechanism = (CallAuction("bonds", financed_fraction=settlement) if isinstance(settlement, float)
                        else CallAuction(tree_settlement=settlement))
    market.reset()
    n = pop.n_agents
    for _ in range(data.draw(st.integers(1, 3))):
        v = np.array(data.draw(st.lists(price, min_size=2 * n, max_size=2 * n))).reshape(2, n)
        a = np.array(data.draw(st.lists(slope, min_size=2 * n, max_size=2 * n))).reshape(2, n)
        out = market.step(v[0], v[1], tree_slope=a[0], bond_slope=a[1])
        scale = max(1.0, float(np.abs(out.consumption).max()), float(np.abs(market.bonds).max()))
        assert invariant_violation(market, out) <= 1e-12 * scale
        assert np.all(market.shares >= -1e-12 * scale)
        assert np.all(market.bonds >= -market.rules.borrowing_limits - 1e-12)
        assert np.all(np.isfinite(out.consumption)) and not np.any(np.isnan(out.reward))
        bad = ~(np.isfinite(v) & (v > 0) & (v <= 10)).all(axis=0) | ~(np.isfinite(a) & (a >= 0)).all(axis=0)
        assert np.all(out.invalid[bad])


def test_schedule_slopes_in_the_config_and_a_short_training_run(tmp_path):
    """actions.tree_schedule_slope / bond_schedule_slope: the grid is the price grid, the
    order arguments are (None, None, a s0, a s0); refused without the call auction, with
    positions, or one without the other. Two short episodes train on the call auction."""
    from orchestrator.agents import ActionGrid
    from orchestrator.config import config_from_dict
    from tests.test_population_training import (GAMMAS, MARKOV, population_learning, raw,
                                              train_two_episodes)

    r = raw(GAMMAS)
    r["economy"] = dict(MARKOV)
    r["actions"] = {"tree_low": 0.5, "tree_high": 1.5, "bond_low": 0.8, "bond_high": 1.2,
                    "tree_schedule_slope": 0.5, "bond_schedule_slope": 2.0}
    cfg = config_from_dict(r)
    grid = ActionGrid(cfg.actions)
    assert grid.n_tree == 101 and grid.tree_targets is None
    actions = {"tree_action": np.array([35, 1]), "bond_action": np.array([0, 4])}
    tq, bq, ta, ba = grid.orders(actions, np.array([1.0, 1.2]), np.array([1.0, 2.0]))
    assert tq is None and bq is None
    np.testing.assert_allclose(ta, [0.5, 1.0]), np.testing.assert_allclose(ba, [2.0, 4.0])
    assert "tree_schedule_slope" in cfg.to_dict()["actions"]
    with pytest.raises(ConfigError, match="actions.tree_schedule_slope: must be absent unless"):
        config_from_dict(dict(r, economy=dict(MARKOV, mechanism="pairwise")))
    bad = copy.deepcopy(r)
    del bad["actions"]["bond_schedule_slope"]
    with pytest.raises(ConfigError, match="actions.bond_schedule_slope: must be given together"):
        config_from_dict(bad)
    bad = copy.deepcopy(r)
    bad["actions"].update(tree_positions=[0.0], bond_positions=[0.0])
    with pytest.raises(ConfigError, match="actions.tree_schedule_slope: must be absent when"):
        config_from_dict(bad)
    bad = copy.deepcopy(r)
    bad["actions"]["tree_schedule_slope"] = -1.0
    with pytest.raises(ConfigError, match="actions.tree_schedule_slope"):
        config_from_dict(bad)
    # trees paid with bonds: schedules only, and a known settlement
    paid = dict(MARKOV, mechanism_params={"tree_settlement": "bonds"})
    assert config_from_dict(dict(r, economy=paid)).economy.mechanism_params == {"tree_settlement": "bonds"}
    bad = copy.deepcopy(r)
    bad["economy"] = paid
    for key in ("tree_schedule_slope", "bond_schedule_slope"):
        del bad["actions"][key]
    with pytest.raises(ConfigError, match="economy.mechanism_params.tree_settlement: must be 'cash' unless"):
        config_from_dict(bad)
    with pytest.raises(ConfigError, match="economy.mechanism_params.tree_settlement"):
        config_from_dict(dict(r, economy=dict(MARKOV, mechanism_params={"tree_settlement": "ious"})))
    train_two_episodes(cfg, tmp_path / "run")
    npz = np.load(tmp_path / "run" / "episodes" / "eval-000002.npz")
    # a tree schedule buys below its reservation value and sells above it, so the clearing
    # price of a period with trade lies between the lowest and highest posted value: on the grid
    traded = npz["tree_volume"] > 0
    assert traded.any()
    assert np.all((npz["tree_clearing_price"][traded] >= 0.5) & (npz["tree_clearing_price"][traded] <= 1.5))
    # benchmarks/population_learning.py --since: the goals counted over the evaluations
    module = population_learning()
    full = module.measure(tmp_path / "run", last=10)
    summary = module.summary(full, since=2)
    assert summary["evaluations"] == 1 and full["evaluations"][-1]["episode"] == 2
    goals = full["evaluations"][-1]["goals"]
    assert summary["goals_met"] == {**{k: int(v) for k, v in goals.items()}, "all": int(all(goals.values()))}
    bold = full["evaluations"][-1]["types"]["bold"]
    assert summary["bold_shares"] == [bold["shares"], bold["shares"]]
    assert module.summary(full, since=3) == {"since": 3, "evaluations": 0}
    by_state = full["evaluations"][-1]["tree_price_rel_error_by_state"]
    # the price-dividend ratio by state: (1 + error) p(y) / y, and the equilibrium's 18.0 / 20.7
    last = full["evaluations"][-1]
    assert last["price_dividend_ratio_equilibrium"] == pytest.approx([0.7215034 / 0.04, 1.0332504 / 0.05], rel=1e-6)
    for k, e in enumerate(by_state):
        if e not in ("unvisited", None):
            assert last["price_dividend_ratio_by_state"][k] == pytest.approx(
                (1 + e) * last["price_dividend_ratio_equilibrium"][k], rel=1e-12)
    assert "tree price-dividend ratio by state: learned" in module._summary_text(summary)
    assert len(by_state) == 2 and goals["prices_within_3pct"] == (module.worst_state(full["evaluations"][-1]) is not None
                                                                 and module.worst_state(full["evaluations"][-1]) <= 0.03)
    # the evaluator's price errors state by state (orchestrator.episode.state_price_errors),
    # recomputed from the saved episode: clearing prices over each state's traded periods
    import json

    from lucas_abm.equilibrium.negishi import solve_negishi

    row = [json.loads(line) for line in (tmp_path / "run" / "evaluation.jsonl").read_text().splitlines()][-1]
    states = MARKOV["dividend_params"]["states"]
    eq = solve_negishi(states, MARKOV["dividend_params"]["transition"], 0.95, [5.0, 1.0], [0.5, 0.5])
    for k, y in enumerate(states):
        here = np.isclose(npz["dividend"], y)
        for asset, star in (("tree", eq.tree_prices[k]), ("bond", eq.bond_prices[k])):
            traded_here = here & (npz[f"{asset}_volume"] > 1e-12)
            expected = np.median(npz[f"{asset}_clearing_price"][traded_here] / star - 1) if traded_here.any() else None
            assert row[f"{asset}_clearing_rel_error[y={y:g}]"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
            assert (row[f"{asset}_price_rel_error[y={y:g}]"] is None) == (not here.any())
    # runs saved before the per-state columns: the report recomputes them from the episodes
    import dataclasses

    from orchestrator.population_figures import read_population_json, with_state_errors
    from orchestrator.run_data import load_run

    run = load_run(tmp_path / "run")
    old = dataclasses.replace(run, evaluations=[{k: v for k, v in r.items() if "[y=" not in k}
                                                for r in run.evaluations])
    redone = with_state_errors(old, read_population_json(tmp_path / "run")["equilibrium"])[-1]
    for key in (k for k in row if "_clearing_rel_error[y=" in k):
        assert redone[key] == pytest.approx(row[key], rel=1e-12, abs=1e-15)
    from orchestrator.report import ReportRequest, make_report

    written = make_report(ReportRequest(run_dir=tmp_path / "run"))   # one price line per state
    assert written["population.png"].stat().st_size > 10_000
    # benchmarks/valuation_probe.py: the trained networks' values against the types' own
    # valuations at the equilibrium portfolio moved by delta (the theory is p(y), q(y) at delta 0)
    from benchmark_scripts import load_benchmark
    from lucas_abm.equilibrium.valuations import valuation_sensitivity

    probe = load_benchmark("valuation_probe").probe(tmp_path / "run", offsets=(-0.02, 0.0, 0.02))
    assert len(probe["rows"]) == 2 * 3 * 2 and len(probe["fits"]) == 2 * 2
    transition = MARKOV["dividend_params"]["transition"]
    for s in (0, 1):
        eq = solve_negishi(states, transition, 0.95, [5.0, 1.0], [0.5, 0.5], initial_state=s)
        at = [r for r in probe["rows"] if r["state"] == s and r["delta"] == 0.0]
        np.testing.assert_allclose([r["tree_theory"] for r in at], eq.tree_prices[s], rtol=1e-9)
        np.testing.assert_allclose([r["bond_theory"] for r in at], eq.bond_prices[s], rtol=1e-9)
        # three symmetric offsets: the fitted theory slope is the central difference with d = 0.02
        sens = valuation_sensitivity(eq, 0.02)
        for k, name in enumerate(("cautious", "bold")):
            fit = next(f for f in probe["fits"] if f["state"] == s and f["type"] == name)
            assert fit["tree_theory_per_0.01"] == pytest.approx(sens["tree"][k, s] / 2, rel=1e-9)
            assert fit["bond_theory_per_0.01"] == pytest.approx(sens["bond"][k, s] / 2, rel=1e-9)
        for r in (r for r in probe["rows"] if r["state"] == s):   # medians of 4 grid points (step 0.01)
            assert 0.5 <= r["tree_learned"] <= 1.5 and abs(r["tree_learned"] / 0.005 - round(r["tree_learned"] / 0.005)) < 1e-9
    # --landscape: the raw advantages over the grid at the equilibrium portfolio; their argmax
    # is what the greedy policy posts there (the probe's rows at delta 0, through policy())
    land = load_benchmark("valuation_probe").landscape(tmp_path / "run", points=5)
    assert len(land["rows"]) == 2 * 2 * 2
    for r in land["rows"]:
        assert max(r["advantage"]) <= 1e-12 and r["at_equilibrium"] <= 1e-12 and len(r["prices"]) == 5
        at = next(p for p in probe["rows"] if p["state"] == r["state"] and p["type"] == r["type"] and p["delta"] == 0.0)
        assert r["greedy"] == pytest.approx(at[f"{r['asset']}_learned"], abs=1e-12)


@pytest.mark.parametrize("algorithm", ["td3", "sac"])
def test_actor_critics_post_continuous_reservation_values(tmp_path, algorithm):
    """learner.algorithm td3 / sac with schedules: each agent's continuous price is the
    reservation value of its schedule, so one period's tree price is the slope-weighted
    harmonic mean sum a_i s0_i / sum (a_i s0_i / v_i) of the actors' values (no budget or
    short-sale cap binds from the endowment at these small slopes: the largest purchase,
    0.02 s0 (1 - 0.5 / 1.5) at about 1, costs under half a period's dividend 0.04 s0) and each agent buys
    a s0_i (1 - P / v_i). Two short episodes train and evaluate."""
    from orchestrator.agents import Features, market_orders
    from orchestrator.algorithms import make_algorithm
    from orchestrator.config import config_from_dict
    from orchestrator.episode import Economy
    from tests.test_population_training import GAMMAS, MARKOV, raw, train_two_episodes

    r = raw(GAMMAS, algorithm=algorithm)
    r["economy"] = dict(MARKOV)
    r["actions"] = {"tree_low": 0.5, "tree_high": 1.5, "bond_low": 0.8, "bond_high": 1.2,
                    "tree_schedule_slope": 0.02, "bond_schedule_slope": 0.05}
    cfg = config_from_dict(r)
    economy = Economy(cfg)
    market = economy.market()
    features = Features.build(cfg, market, economy.dividend)
    rule = make_algorithm(cfg, economy.observation_dim)
    obs = market.reset(seed=3)
    actions = rule.policy(features.observation(obs), 1.0, np.random.default_rng(1))   # spread values
    v_tree, v_bond = rule.prices(actions)
    orders = market_orders(rule, actions, market)
    s0 = market.agents.initial_shares
    assert orders[0] is None and orders[1] is None
    np.testing.assert_allclose(orders[2], 0.02 * s0, rtol=1e-15)
    np.testing.assert_allclose(orders[3], 0.05 * s0, rtol=1e-15)
    assert np.ptp(v_tree) > 0.05      # continuous values, spread by the exploration noise
    step = market.step(v_tree, v_bond, *orders)
    a = 0.02 * s0
    price = a.sum() / (a / v_tree).sum()
    assert step.tree_clearing_price == pytest.approx(price, rel=1e-12)
    np.testing.assert_allclose(step.tree_trade, a * (1 - price / v_tree), rtol=1e-9, atol=1e-15)
    train_two_episodes(cfg, tmp_path / "run")
    npz = np.load(tmp_path / "run" / "episodes" / "eval-000002.npz")
    traded = npz["tree_volume"] > 0
    assert np.all((npz["tree_clearing_price"][traded] >= 0.5) & (npz["tree_clearing_price"][traded] <= 1.5))


def test_held_valuations_at_the_learned_holdings():
    """benchmarks/population_learning.py's held_valuation_errors: 0 at each type's Negishi
    portfolio (its Euler equations), and for log utility holding trees only the closed form
    v_tree = beta / (1 - beta) y, v_bond(y) = beta E[y / y'] (c proportional to y)."""
    from lucas_abm.equilibrium.negishi import solve_negishi
    from tests.test_population_training import population_learning

    module = population_learning()
    states, transition = [0.04, 0.05], [[0.8, 0.2], [0.3, 0.7]]
    eq = solve_negishi(states, transition, beta=0.95, gammas=[5.0, 1.0], endowments=[0.5, 0.5])
    for k, gamma in enumerate([5.0, 1.0]):
        e = module.held_valuation_errors(states, transition, 0.95, gamma, eq.shares[k], eq.bonds[k],
                                         eq.bond_prices, eq.tree_prices, eq.bond_prices)
        np.testing.assert_allclose(e["held_tree_value_error_by_state"], 0.0, atol=1e-9)
        np.testing.assert_allclose(e["held_bond_value_error_by_state"], 0.0, atol=1e-9)
    p, q = np.array([0.7, 1.0]), np.array([0.9, 1.0])
    e = module.held_valuation_errors(states, transition, 0.95, 1.0, 0.3, 0.0, q, p, q)
    y = np.array(states)
    expected_bond = 0.95 * np.array(transition) @ (1.0 / y) * y
    np.testing.assert_allclose(e["held_tree_value_error_by_state"], 19.0 * y / p - 1.0, rtol=1e-12)
    np.testing.assert_allclose(e["held_bond_value_error_by_state"], expected_bond / q - 1.0, rtol=1e-12)
    assert module.held_valuation_errors(states, transition, 0.95, 0.0, 0.3, 0.0, q, p, q) == {
        "held_tree_value_error_by_state": None, "held_bond_value_error_by_state": None}


def test_quadratic_price_basis_trains_on_schedules(tmp_path):
    """actions.price_basis: quadratic with a network per dividend state: two short episodes
    train, and the run's config.yaml keeps the basis (a resumed run rebuilds the same heads)."""
    import yaml

    from orchestrator.config import config_from_dict
    from tests.test_population_training import GAMMAS, MARKOV, raw, train_two_episodes

    r = raw(GAMMAS)
    r["economy"] = dict(MARKOV)
    r["actions"] = {"tree_low": 0.5, "tree_high": 1.5, "bond_low": 0.8, "bond_high": 1.2,
                    "tree_schedule_slope": 0.25, "bond_schedule_slope": 0.05, "price_basis": "quadratic"}
    r.setdefault("learner", {})["state_networks"] = True
    cfg = config_from_dict(r)
    train_two_episodes(cfg, tmp_path / "run")
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["actions"]["price_basis"] == "quadratic" and saved["learner"]["state_networks"] is True


def test_no_clearing_price_above_the_markets_cap():
    """Slopes too small to absorb the fixed positions put the root of Z(P) far above any
    valid price (here 0.01 / 4.27e-24 ~ 2.3e21). clear_schedule refuses a root above
    ``max_price`` (no trade) instead; without the cap the budget caps left positions summing
    to 2.3e-23, which at that price created 0.0039 of cash (hypothesis found it:
    test_invariants_hold_for_any_population_and_any_schedules)."""
    value, slope = np.ones(3), np.array([0.0, 4.270170037016188e-24, 0.0])
    base, lo, hi = np.array([0.005, 0.005, 0.0]), np.full(3, -0.01), np.full(3, np.inf)
    price, z = clear_schedule(value, base, slope, lo, hi)
    assert price > 1e21                                   # the uncapped root
    price, z = clear_schedule(value, base, slope, lo, hi, max_price=10.0)
    assert np.isnan(price) and np.all(z == 0.0)
    # a root within the cap is unchanged by it: base 0.005 + slope 0.01 (1 - P) summed to zero
    slope = np.array([0.0, 0.01, 0.01])
    price, z = clear_schedule(value, base, slope, lo, hi, max_price=10.0)
    assert price == pytest.approx(1.5, rel=1e-12) and abs(z.sum()) < 1e-15


@pytest.mark.parametrize("field, what", [("tree_value", "schedule values"), ("tree_slope", "schedule slopes"),
                                         ("bond_value", "schedule values"), ("bond_slope", "schedule slopes")])
def test_schedules_of_the_wrong_size_are_refused_by_field(field, what):
    # values were reported as "tree_price: expected 3 posted prices"
    values = {"tree_value": np.ones(3), "tree_slope": np.ones(3), "bond_value": np.ones(3),
              "bond_slope": np.ones(3)}
    values[field] = np.ones(4)
    with pytest.raises(ValueError, match=rf"^{field}: expected 3 {what} \(one per agent\)"):
        execute_schedules(Schedules(**values), np.ones(3), np.ones(3), np.zeros(3),
                          TradingRules(tree_lot=0.01, bond_lot=0.01, borrowing_limit=0.0,
                                       max_price=10.0))
