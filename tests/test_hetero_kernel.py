"""The compiled heterogeneous pairwise period (lucas_abm.heterogeneous_kernel) against the
numpy path, bit for bit: per-agent lots, borrowing limits and income, garbage prices, odd and
even N, theta, public information; and the backend the market picks for a population."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lucas_abm import kernels
from lucas_abm.dividends import ConstantDividend, IIDLognormalDividend
from lucas_abm.errors import ConfigError
from lucas_abm.market import LucasMarket, MarketConfig, invariant_violation
from lucas_abm.mechanisms import make_mechanism
from lucas_abm.population import parse_population
from lucas_abm.utility import CRRAUtility

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed")

GARBAGE = [np.nan, np.inf, -np.inf, 0.0, -1.0, 11.0]
ARRAYS = ("observation", "reward", "utility", "penalty", "consumption", "income", "tree_trade",
          "bond_trade", "invalid", "infeasible", "endowment")
SCALARS = ("tree_volume", "bond_volume", "dividend", "truncated", "t")


@st.composite
def populations(draw):
    types = []
    for k in range(draw(st.integers(1, 3))):
        types.append({"name": f"t{k}", "count": draw(st.integers(1, 9)),
                      "gamma": draw(st.sampled_from([0.0, 1.0, 5.0])),
                      "size": draw(st.sampled_from([1.0, {"pareto": {"zeta": 1.5}}, {"zipf": {}}])),
                      "borrowing_limit": draw(st.sampled_from([0.0, 0.01, 0.5, 3.0]))})
        if draw(st.booleans()):
            types[-1]["income"] = {"mean": 0.5, "volatility": 0.2, "persistence": 0.8}
    if sum(t["count"] for t in types) < 2:
        types.append({"name": "extra", "count": 1})
    return parse_population(types, seed=draw(st.integers(0, 5))).draw()


def assert_same_step(a, b):
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is None and y is None, name
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
    for name in SCALARS:
        assert getattr(a, name) == getattr(b, name), name
    for name in ("tree_settlement_price", "bond_settlement_price"):  # sums in another order
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-13)


@settings(max_examples=60, deadline=None)
@given(pop=populations(), data=st.data(),
       mechanism=st.sampled_from(["pairwise", "bargaining"]),
       tree_lot=st.sampled_from([0.01, 0.3, 1.0]), bond_lot=st.sampled_from([0.01, 0.5]),
       public=st.booleans(), stochastic=st.booleans(), seed=st.integers(0, 2 ** 31))
def test_compiled_population_period_equals_numpy(pop, data, mechanism, tree_lot, bond_lot,
                                                 public, stochastic, seed):
    n = pop.n_agents
    dividend = IIDLognormalDividend(mu=-3.0, sigma=0.5) if stochastic else ConstantDividend(0.05)
    cfg = MarketConfig(n_agents=n, horizon=3, tree_lot=tree_lot, bond_lot=bond_lot,
                       public_information=public, infeasible_trade_penalty=0.3)
    ref, fast = (LucasMarket(cfg, dividend, CRRAUtility(1.0),
                             make_mechanism(mechanism, **({"theta": 0.3} if mechanism == "bargaining"
                                                          else {})),
                             seed=seed, backend=backend, population=pop)
                 for backend in ("numpy", "numba"))
    assert (ref.backend, fast.backend) == ("numpy", "numba")
    assert np.array_equal(ref.reset(), fast.reset())
    price = st.one_of(st.floats(0.01, 3.0), st.sampled_from(GARBAGE))
    for _ in range(4):
        prices = np.array(data.draw(st.lists(price, min_size=2 * n, max_size=2 * n))).reshape(2, n)
        a, b = ref.step(*prices), fast.step(*prices)
        assert_same_step(a, b)
        assert np.array_equal(ref.shares, fast.shares) and np.array_equal(ref.bonds, fast.bonds)
        assert ref._rng.bit_generator.state == fast._rng.bit_generator.state
        assert invariant_violation(fast, b) < 1e-12
        if a.truncated:
            assert np.array_equal(ref.reset(), fast.reset())


def test_compiled_population_period_at_scale_with_trades_and_income():
    """2,001 agents (odd), Pareto sizes, income, limits that bind: many trades and some
    infeasible sides, equal to numpy over 12 periods (the prefetch distance is exceeded)."""
    pop = parse_population([
        {"name": "a", "count": 1000, "gamma": 5.0, "size": 1.0, "borrowing_limit": 0.0},
        {"name": "b", "count": 1001, "gamma": 1.0, "size": {"pareto": {"zeta": 1.5}},
         "borrowing_limit": 0.02, "income": {"mean": 0.1, "volatility": 0.3, "persistence": 0.5}},
    ]).draw()
    cfg = MarketConfig(n_agents=2001, horizon=100, tree_lot=0.2, bond_lot=0.05)
    ref, fast = (LucasMarket(cfg, ConstantDividend(0.05), None, make_mechanism("pairwise"), seed=3,
                             backend=backend, population=pop) for backend in ("numpy", "numba"))
    ref.reset(), fast.reset()
    rng = np.random.default_rng(0)
    volume = infeasible = 0
    for _ in range(12):
        prices = rng.uniform(0.5, 1.5, (2, 2001)) * [[0.85], [0.95]]
        a, b = ref.step(*prices), fast.step(*prices)
        assert_same_step(a, b)
        volume += b.tree_volume + b.bond_volume
        infeasible += b.infeasible.sum()
    assert volume > 1000 and infeasible > 100, (volume, infeasible)


def test_backend_for_a_population():
    pop = parse_population([{"name": "a", "count": 4, "size": {"pareto": {"zeta": 1.5}}}]).draw()
    cfg = MarketConfig(n_agents=4)

    def backend(mechanism, choice="auto"):
        return LucasMarket(cfg, ConstantDividend(), None, make_mechanism(mechanism),
                           backend=choice, population=pop).backend

    assert backend("pairwise") == backend("bargaining") == "numba"
    assert backend("call-auction") == backend("pairwise-tick") == "numpy"
    assert backend("pairwise", "numpy") == "numpy"
    with pytest.raises(ConfigError, match="backend"):
        backend("call-auction", "numba")


def test_shuffle_is_numpys_shuffle_in_place():
    shuffle = kernels._compiled()[3]
    for n in (0, 1, 2, 7, 1000):
        ref, fast = np.random.default_rng(n), np.random.default_rng(n)
        ref.integers(0, 7, size=1, dtype=np.uint32), fast.integers(0, 7, size=1, dtype=np.uint32)
        state = kernels.PCG64State(fast)
        perm = np.arange(n, dtype=np.uint64)
        shuffle(perm, state.lcg, state.buffered)
        assert np.array_equal(perm, ref.permutation(n))
        assert ref.bit_generator.state == fast.bit_generator.state
