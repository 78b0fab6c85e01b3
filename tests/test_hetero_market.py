"""The heterogeneous market (docs/market.md, "Heterogeneous market"): per-agent arrays, orders
with quantities, the limit-order call auction, and the invariants of docs/model.md section 2
for any population and any orders, garbage included."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lucas_abm.dividends import ConstantDividend, MarkovChainDividend
from lucas_abm.market import LucasMarket, MarketConfig, invariant_violation
from lucas_abm.mechanisms import make_mechanism
from lucas_abm.mechanisms.base import MechanismError
from lucas_abm.mechanisms.call_auction import clear_orders
from lucas_abm.mechanisms.orders import Fills, OrderMechanism
from lucas_abm.population import parse_population
from lucas_abm.utility import AgentUtility, CRRAUtility

GARBAGE = [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e300, 11.0]
price = st.one_of(st.floats(0.01, 6.0), st.sampled_from(GARBAGE))
quantity = st.one_of(st.floats(-3.0, 3.0), st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -1e300, 0.0]))
SIZE_LAWS = [1.0, {"pareto": {"zeta": 1.5}}, {"zipf": {}}, {"lognormal": {"sigma": 1.0}}, "list"]


@st.composite
def populations(draw, max_types: int = 3, max_count: int = 8):
    types = []
    for k in range(draw(st.integers(1, max_types))):
        count = draw(st.integers(1, max_count))
        size = draw(st.sampled_from(SIZE_LAWS))
        types.append({
            "name": f"t{k}", "count": count,
            "gamma": draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0])),
            "size": [0.1 + 3.0 * (i % 3) for i in range(count)] if size == "list" else size,
            "borrowing_limit": draw(st.sampled_from([0.0, 0.01, 0.5, 3.0])),
            "income": draw(st.sampled_from([None, {"mean": 0.5, "volatility": 0.2, "persistence": 0.8}])),
        })
    types = [{k: v for k, v in t.items() if v is not None} for t in types]
    if sum(t["count"] for t in types) < 2:
        types.append({"name": "extra", "count": 1})
    return parse_population(types, seed=draw(st.integers(0, 5))).draw()


def make_market(pop, mechanism: str, dividend=None, seed: int = 0, **cfg) -> LucasMarket:
    # the numpy path (the reference); tests/test_hetero_kernel.py holds the compiled one to it
    config = MarketConfig(n_agents=pop.n_agents, horizon=50, **{"backend": "numpy", **cfg})
    return LucasMarket(config, dividend or ConstantDividend(0.05), CRRAUtility(1.0),
                       make_mechanism(mechanism), seed=seed, population=pop)


@settings(max_examples=60, deadline=None)
@given(pop=populations(), mechanism=st.sampled_from(["pairwise", "call-auction"]),
       orders=st.booleans(), data=st.data())
def test_invariants_hold_for_any_population_and_any_orders(pop, mechanism, orders, data):
    market = make_market(pop, mechanism)
    market.reset()
    n = pop.n_agents
    for _ in range(data.draw(st.integers(1, 3))):
        prices = np.array(data.draw(st.lists(price, min_size=2 * n, max_size=2 * n))).reshape(2, n)
        if orders and mechanism == "call-auction":
            qty = np.array(data.draw(st.lists(quantity, min_size=2 * n, max_size=2 * n))).reshape(2, n)
            out = market.step(prices[0], prices[1], qty[0], qty[1])
            assert np.all(np.abs(out.tree_trade) <= np.nan_to_num(np.abs(qty[0]), posinf=1e308) + 1e-12)
        else:
            out = market.step(prices[0], prices[1])
        scale = max(1.0, float(np.abs(out.consumption).max()), float(np.abs(market.bonds).max()))
        assert invariant_violation(market, out) <= 1e-12 * scale
        assert np.all(market.shares >= 0.0)
        assert np.all(market.bonds >= -market.rules.borrowing_limits)
        assert np.all(np.isfinite(out.consumption)) and not np.any(np.isnan(out.reward))
        assert np.all(out.invalid[~(np.isfinite(prices[0]) & np.isfinite(prices[1])
                                    & (prices > 0).all(axis=0) & (prices <= 10).all(axis=0))])


def reference_clearing(limit, qty):
    """Full-sort reference: V(P) at every active limit, midpoint of the maximisers, pro rata."""
    ok = np.isfinite(limit)
    active = ok & (qty != 0)
    if not ok.any():
        return np.nan, 0.0, 0.0
    quote = 0.5 * (limit[ok].min() + limit[ok].max())
    levels = np.unique(limit[active])
    buy, sell = np.maximum(qty, 0), np.maximum(-qty, 0)
    vol = np.array([min(buy[ok & (limit >= p)].sum(), sell[ok & (limit <= p)].sum()) for p in levels])
    if vol.size == 0 or vol.max() <= 0:
        return quote, 0.0, 0.0
    top = np.flatnonzero(vol >= vol.max() * (1 - 1e-12))
    p = 0.5 * (levels[top[0]] + levels[top[-1]])
    d, s = buy[ok & (limit >= p)].sum(), sell[ok & (limit <= p)].sum()
    return p, min(1.0, s / d), min(1.0, d / s)


def limit_prices(max_size: int):
    """Limit prices of a book: ties on a few levels, any price in [0.5, 3], refused (NaN)."""
    return st.lists(st.one_of(st.sampled_from([1.0, 1.5, 2.0, 2.5]), st.floats(0.5, 3.0),
                              st.just(np.nan)), min_size=1, max_size=max_size)


BINS = st.sampled_from([1, 2, 7, 4096])


@settings(max_examples=120, deadline=None)
@given(limits=limit_prices(40), data=st.data(), bins=BINS)
def test_histogram_clearing_equals_a_full_sort(limits, data, bins):
    limit = np.array(limits)
    qty = np.array(data.draw(st.lists(st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0]),
                                      min_size=limit.size, max_size=limit.size)))
    qty[~np.isfinite(limit)] = 0.0
    got = clear_orders(limit, qty, bins=bins)
    want = reference_clearing(limit, qty)
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)


def test_clearing_by_hand():
    # buyers: 2 @ 1.2, 1 @ 1.0; sellers: 1 @ 0.9, 1 @ 1.1. V(0.9) = 0 + ... : D(0.9)=3,S=1 -> 1;
    # V(1.0) = min(3, 1) = 1; V(1.1) = min(2, 2) = 2; V(1.2) = min(2, 2) = 2 -> P = 1.15, fills 1
    limit = np.array([1.2, 1.0, 0.9, 1.1])
    qty = np.array([2.0, 1.0, -1.0, -1.0])
    assert clear_orders(limit, qty) == (pytest.approx(1.15), 1.0, 1.0)
    # everyone quotes 4.4 without quantity: no trade, the price is the quote
    assert clear_orders(np.full(5, 4.4), np.zeros(5)) == (4.4, 0.0, 0.0)
    # one common limit, demand 3 and supply 1: buyers rationed pro rata to 1/3
    assert clear_orders(np.full(3, 2.0), np.array([1.0, 2.0, -1.0])) == (2.0, pytest.approx(1 / 3), 1.0)


def test_orders_settle_at_the_clearing_price_with_pro_rata_rationing():
    pop = parse_population([{"name": "a", "count": 4, "size": [1.0, 2.0, 3.0, 4.0]}]).draw()
    market = make_market(pop, "call-auction", dividend=ConstantDividend(10.0))  # income pays
    market.reset()
    s0 = pop.initial_shares.copy()
    limit = np.array([5.0, 5.0, 4.0, 4.0])
    qty = np.array([0.2, 0.1, -0.1, -0.05])     # demand 0.3 >= supply 0.15 at P in [4, 5]
    out = market.step(limit, np.full(4, 0.9), qty, np.zeros(4))
    assert out.tree_clearing_price == 4.5
    np.testing.assert_allclose(out.tree_trade, [0.1, 0.05, -0.1, -0.05], rtol=1e-15)
    np.testing.assert_allclose(market.shares, s0 + out.tree_trade)
    np.testing.assert_allclose(out.consumption, s0 * 10.0 - 4.5 * out.tree_trade, rtol=1e-14)


def test_infeasible_orders_are_clipped_and_flagged():
    pop = parse_population([{"name": "a", "count": 3, "borrowing_limit": 0.5}]).draw()
    market = make_market(pop, "call-auction")
    market.reset()
    # agent 0 sells 5 shares (holds 1), agent 1 borrows 10 (limit 0.5), agent 2 buys 1e300
    out = market.step(np.array([1.0, 1.0, 1.0]), np.array([0.9, 0.9, 0.9]),
                      np.array([-5.0, 0.0, 1e300]), np.array([0.0, -10.0, 0.0]))
    assert out.infeasible.tolist() == [True, True, True]
    assert market.shares.min() >= 0 and market.bonds.min() >= -0.5
    assert out.consumption.min() >= -1e-15          # purchases within income + sales at limits
    assert invariant_violation(market, out) < 1e-15


def test_pairwise_lots_scale_with_size_and_limits_are_per_agent():
    pop = parse_population([{"name": "big", "count": 1, "size": 3.0, "borrowing_limit": 1.0},
                            {"name": "small", "count": 1, "size": 1.0, "borrowing_limit": 0.0}]).draw()
    market = make_market(pop, "pairwise", tree_lot=0.01, bond_lot=0.01)
    market.reset()
    np.testing.assert_allclose(pop.initial_shares, [1.5, 0.5])
    out = market.step(np.array([5.0, 4.0]), np.array([0.5, 0.9]))   # big buys tree, big borrows
    np.testing.assert_allclose(out.tree_trade, [0.005, -0.005])    # lot x min(s0) = 0.01 x 0.5
    np.testing.assert_allclose(out.bond_trade, [-0.005, 0.005])    # big may borrow 1.5
    out = market.step(np.array([5.0, 4.0]), np.array([0.9, 0.5]))  # small would borrow: limit 0
    assert out.bond_trade.tolist() == [0.0, 0.0] and out.infeasible[1]


def test_agent_utility_matches_crra_per_type_and_gamma_zero_is_linear():
    c = np.linspace(0.01, 3.0, 12)
    g = np.repeat([0.0, 1.0, 2.0, 5.0], 3)
    u = AgentUtility(g).of_positive(c)
    for k, gamma in enumerate([1.0, 2.0, 5.0], start=1):
        assert np.array_equal(u[3 * k:3 * k + 3], CRRAUtility(gamma).of_positive(c[3 * k:3 * k + 3]))
    assert np.array_equal(u[:3], c[:3])
    np.testing.assert_allclose(AgentUtility(g).marginal(c), c ** -g)


def test_income_enters_consumption_and_goods_clear():
    pop = parse_population([{"name": "w", "count": 2000, "income": {"mean": 0.5, "volatility": 0.1,
                                                                      "persistence": 0.5}}]).draw()
    market = make_market(pop, "pairwise")
    market.reset()
    total = []
    for _ in range(5):
        out = market.step(np.full(2000, 1.0), np.full(2000, 0.9))   # equal prices: no trade
        total.append(out.endowment.mean())
        np.testing.assert_allclose(out.consumption, 0.05 + out.endowment, rtol=1e-13)
        assert invariant_violation(market, out) < 1e-14
    # E[w] = s0 ybar mean = 0.025; sd of the mean over 2000 agents ~ 0.05 x 0.115 / 45
    assert abs(np.mean(total) - 0.025) < 5 * 0.05 * 0.1155 / np.sqrt(2000)


class HalfFill(OrderMechanism):
    """A user's order mechanism: fills half of the smaller side at the mean limit."""

    name = "half-fill"

    def match(self, limit, quantity, rng):
        buy, sell = np.maximum(quantity, 0).sum(), np.maximum(-quantity, 0).sum()
        if buy == 0 or sell == 0:
            return Fills(np.zeros_like(quantity), np.nan, np.nan)
        v = 0.5 * min(buy, sell)
        fill = np.where(quantity > 0, quantity * v / buy, quantity * v / sell)
        return Fills(fill, float(np.nanmean(limit)), float(np.nanmean(limit)))


class Cheat(HalfFill):
    def match(self, limit, quantity, rng):
        out = super().match(limit, quantity, rng)
        return Fills(np.maximum(out.quantity, 0.0), out.price, out.clearing_price)  # buys only


def test_a_user_order_mechanism_overrides_match_only_and_is_checked():
    pop = parse_population([{"name": "a", "count": 2}]).draw()
    config = MarketConfig(n_agents=2, horizon=5)
    market = LucasMarket(config, ConstantDividend(0.05), CRRAUtility(1.0), HalfFill(), seed=0,
                         population=pop)
    market.reset()
    out = market.step(np.array([1.0, 1.0]), np.full(2, 0.9), np.array([0.01, -0.01]), np.zeros(2))
    assert out.tree_trade.tolist() == [0.005, -0.005]
    cheat = LucasMarket(config, ConstantDividend(0.05), CRRAUtility(1.0), Cheat(), seed=0,
                        population=pop)
    cheat.reset()
    with pytest.raises(MechanismError, match="sum to zero"):
        cheat.step(np.array([1.0, 1.0]), np.full(2, 0.9), np.array([0.01, -0.01]), np.zeros(2))


def test_markov_dividend_and_same_seed_same_path():
    pop = parse_population([{"name": "a", "count": 5, "gamma": 2.0, "size": {"pareto": {"zeta": 1.5}}},
                            {"name": "b", "count": 5, "gamma": 0.5}]).draw()
    chain = MarkovChainDividend((0.04, 0.06), ((0.9, 0.1), (0.2, 0.8)))
    runs = []
    for _ in range(2):
        market = make_market(pop, "call-auction", dividend=chain, seed=3)
        market.reset()
        rng = np.random.default_rng(0)
        for _ in range(6):
            out = market.step(rng.uniform(0.5, 1.5, 10), rng.uniform(0.8, 1.0, 10),
                              rng.uniform(-0.1, 0.1, 10), rng.uniform(-0.01, 0.01, 10))
            assert out.dividend in (0.04, 0.06)
        runs.append(market.shares.copy())
    assert np.array_equal(*runs)


def test_state_dict_resumes_a_population_market_with_income_exactly():
    pop = parse_population([{"name": "a", "count": 6, "size": {"pareto": {"zeta": 1.5}},
                             "income": {"mean": 0.2, "volatility": 0.3, "persistence": 0.9}}]).draw()
    a, b = make_market(pop, "call-auction", seed=1), make_market(pop, "call-auction", seed=2)
    a.reset()
    rng = np.random.default_rng(0)
    orders = [(rng.uniform(0.5, 1.5, 6), np.full(6, 0.9), rng.uniform(-0.1, 0.1, 6), np.zeros(6))
              for _ in range(4)]
    a.step(*orders[0])
    b.reset()
    b.load_state_dict(a.state_dict())
    for o in orders[1:]:
        assert np.array_equal(a.step(*o).consumption, b.step(*o).consumption)


@pytest.mark.parametrize("mechanism", ["pairwise", "call-auction"])
def test_a_population_of_identical_agents_is_bitwise_the_identical_agent_market(mechanism):
    pop = parse_population([{"name": "all", "count": 40, "gamma": 1.0}]).draw()
    config = MarketConfig(n_agents=40, horizon=50)
    same = LucasMarket(config, ConstantDividend(0.05), CRRAUtility(1.0), make_mechanism(mechanism),
                       seed=5, backend="numpy")
    hetero = make_market(pop, mechanism, seed=5)
    rng = np.random.default_rng(1)
    same.reset(), hetero.reset()
    for _ in range(8):
        prices = rng.uniform(0.5, 1.5, (2, 40)) * [[1.0], [0.95]]
        a, b = same.step(*prices), hetero.step(*prices)
        for name in ("reward", "consumption", "tree_trade", "bond_trade", "observation"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
