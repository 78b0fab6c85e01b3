"""The market with a price tick (mechanism ``pairwise-tick``, TickPairwiseMatching): a pair
trades only if its posted prices are more than one tick apart.

Against hand computations (two agents: one pair) and against an independent pure-Python
matching of the same pairing; with zero ticks it is the thesis' pairwise market bit for bit,
on the numpy path and on the compiled kernel the thesis market runs on.
"""
from __future__ import annotations

import numpy as np
import pytest

from lucas_abm import kernels
from lucas_abm.dividends import ConstantDividend
from lucas_abm.errors import ConfigError
from lucas_abm.market import LucasMarket, MarketConfig
from lucas_abm.mechanisms import PairwiseMatching, TickPairwiseMatching, make_mechanism
from lucas_abm.utility import CRRAUtility

Y = 0.0448168907
TREE_LOT, BOND_LOT = 0.0005, 0.0002


def market(mechanism, n, backend="auto", seed=0):
    config = MarketConfig(n_agents=n, horizon=50, tree_lot=TREE_LOT, bond_lot=BOND_LOT,
                          borrowing_limit=0.01)
    return LucasMarket(config, ConstantDividend(Y), CRRAUtility(1.0), mechanism, seed=seed,
                       backend=backend)


@pytest.mark.parametrize("tree, bond, tree_trade, tree_price, bond_trade, bond_price", [
    # one tick apart (0.86 - 0.85 = 0.010000000000000009 in floats): no trade
    ((0.86, 0.85), (0.955, 0.95), 0, None, 0, None),
    # two ticks apart: agent 0 buys at the midpoint
    ((0.87, 0.85), (0.96, 0.95), 1, 0.86, 1, 0.955),
    # the tree two ticks apart, the bond one: only the tree trades; agent 1 buys the tree
    ((0.83, 0.85), (0.95, 0.945), -1, 0.84, 0, None),
    # equal prices: no trade (as in the thesis)
    ((0.85, 0.85), (0.95, 0.95), 0, None, 0, None),
])
def test_two_agents_hand_computed(tree, bond, tree_trade, tree_price, bond_trade, bond_price):
    m = market(TickPairwiseMatching(tree_tick=0.01, bond_tick=0.005), 2)
    assert m.backend == "numpy"   # no compiled kernel for this class
    m.reset(seed=1)
    step = m.step(np.array(tree), np.array(bond))
    assert step.tree_trade[0] == pytest.approx(tree_trade * TREE_LOT)
    assert step.bond_trade[0] == pytest.approx(bond_trade * BOND_LOT)
    assert step.tree_volume == abs(tree_trade) and step.bond_volume == abs(bond_trade)
    # agent 0's consumption: income Y minus what it paid (+) or plus what it received (-)
    paid = (tree_trade * TREE_LOT * (tree_price or 0.0)
            + bond_trade * BOND_LOT * (bond_price or 0.0))
    assert step.consumption[0] == pytest.approx(Y - paid, rel=1e-13)
    assert step.consumption.sum() == pytest.approx(2 * Y, rel=1e-13)
    if tree_price is not None:
        assert step.tree_settlement_price == pytest.approx(tree_price, rel=1e-13)


def test_many_agents_against_a_pure_python_matching():
    """N = 41 on a grid with ticks 0.01 / 0.005: the pairing is the generator's permutation
    (drawn after y_{t+1}, which a constant dividend does not draw), each pair checked by hand."""
    n, rng = 41, np.random.default_rng(7)
    m = market(TickPairwiseMatching(tree_tick=0.01, bond_tick=0.005), n)
    m.reset(seed=3)
    for _ in range(5):
        tree = np.round(0.80 + 0.01 * rng.integers(0, 8, n), 10)
        bond = np.round(0.93 + 0.005 * rng.integers(0, 8, n), 10)
        shadow = np.random.default_rng()
        shadow.bit_generator.state = m._rng.bit_generator.state
        perm = shadow.permutation(n)
        want_tree, want_bond = np.zeros(n), np.zeros(n)
        for a, b in zip(perm[:n // 2], perm[n // 2:2 * (n // 2)]):
            for prices, tick, lot, out in ((tree, 0.01, TREE_LOT, want_tree),
                                           (bond, 0.005, BOND_LOT, want_bond)):
                ticks_apart = round(abs(prices[a] - prices[b]) / tick)
                if ticks_apart >= 2:
                    buyer, seller = (a, b) if prices[a] > prices[b] else (b, a)
                    out[buyer], out[seller] = lot, -lot
        step = m.step(tree, bond)
        np.testing.assert_array_equal(step.tree_trade, want_tree)
        np.testing.assert_array_equal(step.bond_trade, want_bond)


@pytest.mark.parametrize("backend", ["numpy"] + (["numba"] if kernels.AVAILABLE else []))
def test_zero_ticks_is_the_thesis_market_bit_for_bit(backend):
    """Ticks 0: the same pairings, trades, consumption and rewards as PairwiseMatching, on
    the numpy path and on the compiled kernel."""
    n, rng = 37, np.random.default_rng(11)
    tick_market = market(TickPairwiseMatching(), n, seed=5)
    thesis = market(PairwiseMatching(), n, backend=backend, seed=5)
    assert thesis.backend == backend
    tick_market.reset(seed=9)
    thesis.reset(seed=9)
    for _ in range(20):
        tree = np.round(0.80 + 0.01 * rng.integers(0, 8, n), 10)
        bond = np.round(0.93 + 0.005 * rng.integers(0, 8, n), 10)
        a, b = tick_market.step(tree, bond), thesis.step(tree, bond)
        for name in ("tree_trade", "bond_trade", "consumption", "reward", "observation"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert (a.tree_volume, a.bond_volume) == (b.tree_volume, b.bond_volume)


def test_registry_config_errors_and_backend():
    m = make_mechanism("pairwise-tick", tree_tick=0.01, bond_tick=0.005)
    assert (m.tree_tick, m.bond_tick) == (0.01, 0.005)
    with pytest.raises(ConfigError, match="tree_tick"):
        make_mechanism("pairwise-tick", tree_tick=-0.01)
    if kernels.AVAILABLE:
        with pytest.raises(ConfigError, match="backend"):
            market(TickPairwiseMatching(tree_tick=0.01), 4, backend="numba")
