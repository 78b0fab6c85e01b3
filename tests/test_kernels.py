"""The compiled pairwise period (lucas_abm.kernels) against the numpy path, bit for bit.

The numpy path (mechanism.propose + Mechanism.execute) is the reference; the kernel must give
the same pairing (the same draws from the generator), holdings, trades, consumption,
utility, penalties, flags and observations, for any posted prices, lots, limits, penalties,
theta and agent counts (odd and even).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lucas_abm import kernels
from lucas_abm.dividends import ConstantDividend, IIDLognormalDividend
from lucas_abm.errors import ConfigError
from lucas_abm.market import AUTO_NUMBA_MAX_AGENTS, LucasMarket, MarketConfig
from lucas_abm.mechanisms import (BargainingPairwiseMatching, CallAuction, PairwiseMatching,
                                  Proposal)
from lucas_abm.utility import CRRAUtility
from market_strategies import scenarios

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed")

ARRAYS = ("observation", "reward", "utility", "penalty", "consumption", "income", "tree_trade",
          "bond_trade", "invalid", "infeasible")
SCALARS = ("tree_volume", "bond_volume", "dividend", "truncated", "t")


def pair_of_markets(config, dividend, gamma, theta, seed):
    mech = (lambda: PairwiseMatching()) if theta == 0.5 else (
        lambda: BargainingPairwiseMatching(theta))
    markets = [LucasMarket(config, dividend, CRRAUtility(gamma), mech(), seed=seed,
                           backend=backend) for backend in ("numpy", "numba")]
    assert [m.backend for m in markets] == ["numpy", "numba"]
    return markets


def assert_same_step(a, b):
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
    for name in SCALARS:
        assert getattr(a, name) == getattr(b, name), name
    # the mean settlement price is a sum in a different order: equal to the last bits
    for name in ("tree_settlement_price", "bond_settlement_price"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-13)


@settings(max_examples=150, deadline=None)
@given(scenario=scenarios(max_agents=41),
       tree_lot=st.sampled_from([0.01, 0.05, 0.3, 1.0, 1.5]),
       bond_lot=st.sampled_from([0.01, 0.1, 1.0]),
       borrowing_limit=st.sampled_from([0.0, 0.01, 0.1, 2.0]),
       penalties=st.tuples(st.sampled_from([0.0, 1.0, 2.5]), st.sampled_from([0.0, 0.1, 7.0])),
       theta=st.sampled_from([0.5, 0.0, 1.0, 0.3]),
       stochastic=st.booleans(), public=st.booleans(),
       gamma=st.sampled_from([0.5, 1.0, 3.0]),
       seed=st.integers(0, 2 ** 31))
def test_kernel_equals_numpy_path(scenario, tree_lot, bond_lot, borrowing_limit, penalties,
                                  theta, stochastic, public, gamma, seed):
    n, actions = scenario
    config = MarketConfig(n_agents=n, horizon=3, tree_lot=tree_lot, bond_lot=bond_lot,
                          borrowing_limit=borrowing_limit, public_information=public,
                          invalid_price_penalty=penalties[0],
                          infeasible_trade_penalty=penalties[1])
    dividend = IIDLognormalDividend(mu=-3.0, sigma=0.5) if stochastic else ConstantDividend()
    ref, fast = pair_of_markets(config, dividend, gamma, theta, seed)
    assert np.array_equal(ref.reset(), fast.reset())
    for tree_price, bond_price in actions:
        a, b = ref.step(tree_price, bond_price), fast.step(tree_price, bond_price)
        assert_same_step(a, b)
        assert np.array_equal(ref.shares, fast.shares)
        assert np.array_equal(ref.bonds, fast.bonds)
        assert ref._rng.bit_generator.state == fast._rng.bit_generator.state
        if a.truncated:
            ref.reset(), fast.reset()


@pytest.mark.parametrize("n", [2, 3, 4, 17, 64, 65, 1025, 1200, 5001])  # N - 1 = 2^k: mask edges
def test_permutation_is_numpys(n):
    """The kernel's pairing is rng.permutation(n) (agent perm[i] meets perm[n//2 + i]),
    leaving the same generator state."""
    ref, fast = np.random.default_rng(n), np.random.default_rng(n)
    shares = np.ones(n)
    tree_price = np.random.default_rng(n + 1).uniform(0.5, 1.5, n)  # distinct: every pair trades
    m = n // 2
    for _ in range(3):
        perm = ref.permutation(n)
        # equal bond prices: no bond trades; only the draws and the pairing matter here
        out, flags, _, tv, bv, _, _ = kernels.pairwise_period(
            tree_price, np.full(n, 0.9), shares, np.zeros(n), 0.05, fast, 0.5, 0.01,
            0.01, 0.01, 10.0, 1.0, 0.1, 1e-6, 0.05)
        assert (tv, bv) == (m, 0)
        assert ref.bit_generator.state == fast.bit_generator.state
        assert np.array_equal(ref.random(4), fast.random(4))
        # in each of numpy's pairs the higher poster bought one lot from the other, at the
        # pair's own midpoint price: consumption = income 0.05 -+ the price of the lot
        first, second = perm[:m], perm[m:2 * m]
        a_buys = tree_price[first] > tree_price[second]
        buyer, seller = np.where(a_buys, first, second), np.where(a_buys, second, first)
        midpoint = 0.5 * (tree_price[first] + tree_price[second]) * 0.01
        assert np.all(out[kernels.TREE_TRADE, buyer] == 0.01)
        assert np.all(out[kernels.TREE_TRADE, seller] == -0.01)
        np.testing.assert_allclose(out[kernels.CONSUMPTION, buyer], 0.05 - midpoint,
                                   rtol=1e-15)
        np.testing.assert_allclose(out[kernels.CONSUMPTION, seller], 0.05 + midpoint,
                                   rtol=1e-15)


def test_other_bit_generators_are_refused():
    rng = np.random.Generator(np.random.MT19937(0))
    with pytest.raises(TypeError, match="PCG64.*got MT19937"):
        kernels.pairwise_period(np.ones(2), np.ones(2), np.ones(2), np.zeros(2), 0.05, rng,
                                0.5, 0.01, 0.01, 0.01, 10.0, 1.0, 0.1, 1e-6, 0.05)


def test_long_trajectory_identical_at_thesis_scale():
    """300 periods of 1,200 agents with noisy prices: identical holdings throughout."""
    n = 1200
    config = MarketConfig(n_agents=n, horizon=300, tree_lot=0.0005, bond_lot=0.0002)
    ref, fast = pair_of_markets(config, ConstantDividend(), 1.0, 0.5, seed=7)
    ref.reset(), fast.reset()
    rng = np.random.default_rng(0)
    volume = 0.0
    for _ in range(300):
        tree = 0.851521 * (1 + 0.05 * rng.standard_normal(n))
        bond = 0.95 * (1 + 0.05 * rng.standard_normal(n))
        a, b = ref.step(tree, bond), fast.step(tree, bond)
        assert_same_step(a, b)
        volume += a.tree_volume
    assert a.truncated and volume > 300 * 100  # the markets did trade
    assert np.array_equal(ref.shares, fast.shares)


def test_state_dict_moves_between_backends():
    """A checkpoint of the compiled market resumes on the numpy path and vice versa."""
    config = MarketConfig(n_agents=25, horizon=40)
    ref, fast = pair_of_markets(config, IIDLognormalDividend(mu=-3.0, sigma=0.2), 1.0, 0.5, 3)
    ref.reset(), fast.reset()
    rng = np.random.default_rng(1)
    acts = rng.uniform(0.5, 1.2, size=(20, 2, 25))
    for tree, bond in acts[:10]:
        ref.step(tree, bond), fast.step(tree, bond)
    saved_fast, saved_ref = fast.state_dict(), ref.state_dict()
    ref.load_state_dict(saved_fast)
    fast.load_state_dict(saved_ref)
    for tree, bond in acts[10:]:
        assert_same_step(ref.step(tree, bond), fast.step(tree, bond))


def test_backend_choice():
    config = MarketConfig(n_agents=4)
    make = lambda mech, backend="auto", cfg=config: LucasMarket(  # noqa: E731
        cfg, ConstantDividend(), CRRAUtility(1.0), mech, backend=backend)
    assert make(PairwiseMatching()).backend == "numba"
    assert make(BargainingPairwiseMatching(0.2)).backend == "numba"
    assert make(CallAuction()).backend == "numpy"
    big = MarketConfig(n_agents=AUTO_NUMBA_MAX_AGENTS + 1)
    assert make(PairwiseMatching(), cfg=big).backend == "numpy"
    assert make(PairwiseMatching(), "numba", big).backend == "numba"

    class MyPairs(PairwiseMatching):  # a user subclass: its propose must run
        def propose(self, posted, active, rng):
            return Proposal.empty()

    assert make(MyPairs()).backend == "numpy"
    with pytest.raises(ConfigError, match="backend"):
        make(MyPairs(), "numba")
    with pytest.raises(ConfigError, match="backend"):
        make(CallAuction(), "numba")
    with pytest.raises(ConfigError, match="backend.*auto, numpy, numba"):
        make(PairwiseMatching(), "cuda")


def test_wrong_price_shape_is_a_clear_error():
    m = LucasMarket(MarketConfig(n_agents=4), ConstantDividend(), CRRAUtility(1.0),
                    PairwiseMatching(), seed=0, backend="numba")
    m.reset()
    with pytest.raises(ValueError, match="tree_price: expected 4 posted prices"):
        m.step(np.ones(3), np.ones(4))
    out = m.step([0.9, 0.8, 0.7, 0.6], np.ones((4, 1), np.float32))  # lists, float32, [N,1]
    assert out.observation.shape == (4, 4)
