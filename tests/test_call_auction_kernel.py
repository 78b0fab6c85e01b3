"""The call auction's compiled passes (lucas_abm.mechanisms.call_auction_kernel) against the
numpy path, bit for bit: the clearing of random books (refused orders, zero and negative-zero
quantities, ties, 1 to 4,096 bins), and whole markets of heterogeneous traders posting limit
orders, garbage included; and when the compiled passes run."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lucas_abm import kernels
from lucas_abm.dividends import IIDLognormalDividend
from lucas_abm.market import LucasMarket, MarketConfig, invariant_violation
from lucas_abm.mechanisms import make_mechanism
from lucas_abm.mechanisms import call_auction_kernel
from lucas_abm.mechanisms.call_auction import clear_orders
from lucas_abm.population import parse_population

from test_hetero_kernel import GARBAGE, assert_same_step, populations
from test_hetero_market import BINS, limit_prices

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed")


def same(a: tuple, b: tuple) -> bool:
    """Equal floats bit for bit (NaN equal to NaN)."""
    return all(np.array_equal(np.float64(x), np.float64(y), equal_nan=True) for x, y in zip(a, b))


@settings(max_examples=200, deadline=None)
@given(limits=limit_prices(60), data=st.data(), bins=BINS)
def test_compiled_clearing_equals_numpy_bit_for_bit(limits, data, bins):
    limit = np.array(limits)
    qty = np.array(data.draw(st.lists(
        st.one_of(st.sampled_from([-2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 3.0]),
                  st.floats(-1e3, 1e3)), min_size=limit.size, max_size=limit.size)))
    qty[~np.isfinite(limit)] = 0.0
    numpy_path = clear_orders(limit, qty, bins=bins, compiled_passes=False)
    compiled = clear_orders(limit, qty, bins=bins, compiled_passes=True)
    assert same(numpy_path, compiled), (numpy_path, compiled)


def test_compiled_clearing_at_scale_with_pareto_orders():
    """10^5 orders with Pareto quantities (wide candidate bins) and 1% refused: the same price
    and fractions as numpy, and trade happens."""
    rng = np.random.default_rng(4)
    n = 100_000
    u = rng.uniform(-1.0, 1.0, n)
    limit = 0.85 * (1.0 + 0.5 * u)
    qty = 0.001 * u * (1.0 + rng.pareto(1.5, n))
    refused = rng.random(n) < 0.01
    limit[refused], qty[refused] = np.nan, 0.0
    numpy_path = clear_orders(limit, qty, compiled_passes=False)
    assert same(numpy_path, clear_orders(limit, qty, compiled_passes=True))
    assert numpy_path[1] > 0 and abs(numpy_path[0] - 0.85) < 0.05   # a few huge orders move P


def markets(pop, seed: int, horizon: int = 3):
    """Two call-auction markets on one population and seed: numpy passes, compiled passes."""
    out = []
    for compiled in (False, True):
        mechanism = make_mechanism("call-auction")
        mechanism.compiled_passes = compiled
        cfg = MarketConfig(n_agents=pop.n_agents, horizon=horizon, tree_lot=0.3, bond_lot=0.05,
                           infeasible_trade_penalty=0.3)
        out.append(LucasMarket(cfg, IIDLognormalDividend(mu=-3.0, sigma=0.5), None, mechanism,
                               seed=seed, population=pop))
    return out


@settings(max_examples=40, deadline=None)
@given(pop=populations(), data=st.data(), seed=st.integers(0, 2 ** 31))
def test_compiled_order_market_equals_numpy(pop, data, seed):
    n = pop.n_agents
    ref, fast = markets(pop, seed)
    assert np.array_equal(ref.reset(), fast.reset())
    price = st.one_of(st.floats(0.01, 3.0), st.sampled_from(GARBAGE))
    quantity = st.one_of(st.floats(-5.0, 5.0), st.sampled_from([0.0, -0.0, np.nan, np.inf]))
    for _ in range(3):
        prices = np.array(data.draw(st.lists(price, min_size=2 * n, max_size=2 * n))).reshape(2, n)
        qty = np.array(data.draw(st.lists(quantity, min_size=2 * n, max_size=2 * n))).reshape(2, n)
        a, b = ref.step(prices[0], prices[1], qty[0], qty[1]), fast.step(prices[0], prices[1], qty[0], qty[1])
        assert_same_step(a, b)
        assert same((a.tree_clearing_price, a.bond_clearing_price),
                    (b.tree_clearing_price, b.bond_clearing_price))
        assert np.array_equal(ref.shares, fast.shares) and np.array_equal(ref.bonds, fast.bonds)
        if a.truncated:
            assert np.array_equal(ref.reset(), fast.reset())


def test_compiled_order_market_at_scale():
    """50,001 agents, Pareto sizes, income, random orders for 4 periods: the compiled passes
    (taken by default at this N) give the numpy path's every array, and many trades."""
    pop = parse_population([
        {"name": "a", "count": 25_000, "gamma": 5.0, "size": 1.0, "borrowing_limit": 0.0},
        {"name": "b", "count": 25_001, "gamma": 1.0, "size": {"pareto": {"zeta": 1.5}},
         "borrowing_limit": 0.02, "income": {"mean": 0.1, "volatility": 0.3, "persistence": 0.5}},
    ]).draw()
    ref, fast = markets(pop, seed=5, horizon=10)
    fast.mechanism.compiled_passes = None        # the default: compiled from 20,000 orders
    assert call_auction_kernel.use_compiled(pop.n_agents, None)
    ref.reset(), fast.reset()
    rng = np.random.default_rng(1)
    traded = 0.0
    for _ in range(4):
        u = rng.uniform(-1.0, 1.0, (2, pop.n_agents))
        limits = np.array([[0.85], [0.95]]) * (1.0 + 0.5 * u)
        a = ref.step(limits[0], limits[1], 0.01 * u[0], 0.01 * u[1])
        b = fast.step(limits[0], limits[1], 0.01 * u[0], 0.01 * u[1])
        assert_same_step(a, b)
        assert invariant_violation(fast, b) < 1e-12
        traded += b.tree_volume
    assert traded > 1000


def test_when_the_compiled_passes_run():
    assert call_auction_kernel.use_compiled(call_auction_kernel.COMPILED_MIN_ORDERS, None)
    assert not call_auction_kernel.use_compiled(call_auction_kernel.COMPILED_MIN_ORDERS - 1, None)
    assert call_auction_kernel.use_compiled(3, True)
    assert not call_auction_kernel.use_compiled(10 ** 6, False)
