"""The market's accounting, feasibility rules, penalties, observations, reproducibility and
checkpointing, each against a hand computation; and agreement with the Mesa baseline."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

from lucas_abm.dividends import ConstantDividend, LogAR1Dividend
from lucas_abm.errors import ConfigError
from lucas_abm.market import LucasMarket, MarketConfig, invariant_violation
from lucas_abm.mechanisms import PairwiseMatching, make_mechanism
from lucas_abm.utility import CRRAUtility

from benchmark_scripts import load_benchmark
from per_agent_market import PerAgentMarket

Y = ConstantDividend().ybar  # 0.0448169


# Every hand-computed case runs on both settlement codes: the base class' numpy settlement
# (Mechanism.execute) and the compiled pairwise period (lucas_abm.kernels), so that neither is
# checked only by its equality with the other.
BACKENDS = ["numpy", "numba"]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


def two_agents(backend: str, **kw) -> LucasMarket:
    dividend = kw.pop("dividend", ConstantDividend())
    gamma = kw.pop("gamma", 1.0)
    market = LucasMarket(MarketConfig(n_agents=2, **kw), dividend, CRRAUtility(gamma),
                         PairwiseMatching(), seed=0, backend=backend)
    assert market.backend == backend
    market.reset()
    return market


def test_tree_trade_at_the_midpoint_hand_computed(backend):
    m = two_agents(backend)
    out = m.step(np.array([0.9, 0.8]), np.array([0.95, 0.95]))
    cost = 0.85 * 0.01
    np.testing.assert_allclose(out.consumption, [Y - cost, Y + cost], rtol=1e-14)
    np.testing.assert_allclose(out.reward, np.log([Y - cost, Y + cost]), rtol=1e-14)
    np.testing.assert_allclose(m.shares, [1.01, 0.99], rtol=1e-15)
    assert out.tree_volume == 1 and out.bond_volume == 0
    assert out.tree_settlement_price == pytest.approx(0.85, rel=1e-15)
    assert math.isnan(out.bond_settlement_price)
    assert not out.invalid.any() and not out.infeasible.any()


def test_bond_trade_repays_next_period_hand_computed(backend):
    m = two_agents(backend)
    out = m.step(np.array([0.85, 0.85]), np.array([0.96, 0.94]))
    q = 0.95
    np.testing.assert_allclose(out.consumption, [Y - 0.01 * q, Y + 0.01 * q], rtol=1e-14)
    np.testing.assert_allclose(m.bonds, [0.01, -0.01])
    out = m.step(np.array([0.85, 0.85]), np.array([0.95, 0.95]))  # no trade: bonds mature
    np.testing.assert_allclose(out.income, [Y + 0.01, Y - 0.01], rtol=1e-14)
    np.testing.assert_allclose(out.consumption, out.income)
    np.testing.assert_array_equal(m.bonds, [0.0, 0.0])


def test_gamma_two_utility(backend):
    m = two_agents(backend, gamma=2.0)
    out = m.step(np.array([0.9, 0.8]), np.array([0.95, 0.95]))
    c = np.array([Y - 0.0085, Y + 0.0085])
    np.testing.assert_allclose(out.utility, -1.0 / c, rtol=1e-13)


def test_seller_without_shares_is_infeasible_and_penalised(backend):
    # Half a lot of shares; a dividend of 2 lets the buyer afford the lot (income 0.01).
    m = two_agents(backend, initial_shares=0.005, infeasible_trade_penalty=0.25,
                   dividend=ConstantDividend(2.0))
    out = m.step(np.array([0.9, 0.8]), np.array([0.95, 0.95]))
    assert out.tree_volume == 0
    np.testing.assert_array_equal(out.infeasible, [False, True])
    np.testing.assert_allclose(out.penalty, [0.0, 0.25])
    np.testing.assert_allclose(m.shares, [0.005, 0.005])


def test_buyer_who_cannot_pay_out_of_income_is_infeasible(backend):
    m = two_agents(backend, dividend=ConstantDividend(0.001))  # income 0.001 < 0.85 * 0.01
    out = m.step(np.array([0.9, 0.8]), np.array([0.95, 0.95]))
    assert out.tree_volume == 0
    np.testing.assert_array_equal(out.infeasible, [True, False])
    np.testing.assert_allclose(out.consumption, [0.001, 0.001])


def test_bond_buyer_pays_out_of_income_left_after_the_tree(backend):
    # Income 0.01: buying a tree lot at 0.85 costs 0.0085, leaving 0.0015 < 0.95 * 0.01.
    m = two_agents(backend, dividend=ConstantDividend(0.01))
    out = m.step(np.array([0.9, 0.8]), np.array([0.96, 0.94]))
    assert out.tree_volume == 1 and out.bond_volume == 0
    np.testing.assert_array_equal(out.infeasible, [True, False])
    # Without the tree purchase the same bond purchase is feasible.
    m = two_agents(backend, dividend=ConstantDividend(0.01))
    out = m.step(np.array([0.85, 0.85]), np.array([0.96, 0.94]))
    assert out.bond_volume == 1


def test_borrowing_limit_below_a_lot_blocks_bond_sales(backend):
    m = two_agents(backend, borrowing_limit=0.005)
    out = m.step(np.array([0.85, 0.85]), np.array([0.96, 0.94]))
    assert out.bond_volume == 0
    np.testing.assert_array_equal(out.infeasible, [False, True])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 0.0, -0.5, 10.5, 1e308])
def test_invalid_prices_are_not_executed_and_penalised(bad, backend):
    m = two_agents(backend, invalid_price_penalty=2.0)
    out = m.step(np.array([bad, 0.8]), np.array([0.95, bad]))
    assert out.tree_volume == 0 and out.bond_volume == 0
    np.testing.assert_array_equal(out.invalid, [True, True])
    np.testing.assert_allclose(out.penalty, [2.0, 2.0])
    np.testing.assert_allclose(out.reward, np.log(Y) - 2.0)


def test_debt_beyond_income_is_floored_in_utility_but_exact_in_accounting(backend):
    m = two_agents(backend, consumption_floor=1e-6)
    state = m.state_dict()
    state["shares"] = np.array([2.0, 0.0])
    state["bonds"] = np.array([0.01, -0.01])
    m.load_state_dict(state)
    out = m.step(np.array([0.85, 0.85]), np.array([0.95, 0.95]))
    np.testing.assert_allclose(out.consumption, [2 * Y + 0.01, -0.01])
    np.testing.assert_allclose(out.utility, [np.log(2 * Y + 0.01), np.log(1e-6)])
    assert invariant_violation(m, out) < 1e-16


def test_horizon_is_a_truncation_and_step_requires_reset(backend):
    m = LucasMarket(MarketConfig(n_agents=4, horizon=3), ConstantDividend(), CRRAUtility(1.0),
                    PairwiseMatching(), seed=0, backend=backend)
    with pytest.raises(RuntimeError, match="before reset"):
        m.step(np.ones(4), np.ones(4))
    m.reset()
    flags = [m.step(np.full(4, 0.85), np.full(4, 0.95)).truncated for _ in range(3)]
    assert flags == [False, False, True]
    with pytest.raises(RuntimeError, match="reset"):
        m.step(np.ones(4), np.ones(4))
    m.reset()
    assert m.t == 0


def test_observation_fields_private_and_public(backend):
    m = LucasMarket(MarketConfig(n_agents=4, public_information=True), ConstantDividend(),
                    CRRAUtility(1.0), PairwiseMatching(), seed=0, backend=backend)
    obs = m.reset()
    assert m.observation_names == ("shares", "bonds", "dividend", "income", "last_tree_price",
                                   "last_bond_price", "last_tree_volume", "last_bond_volume")
    assert obs.dtype == np.float32 and obs.shape == (4, 8)
    np.testing.assert_allclose(obs[0, :4], [1.0, 0.0, Y, Y], rtol=1e-7)
    np.testing.assert_array_equal(obs[:, 4:], 0.0)
    out = m.step(np.array([0.9, 0.8, 0.9, 0.8]), np.full(4, 0.95))
    # Whatever the pairing, the settlement price (when there is a trade) is 0.85.
    if out.tree_volume:
        np.testing.assert_allclose(out.observation[:, 4], 0.85, rtol=1e-7)
        np.testing.assert_allclose(out.observation[:, 6], out.tree_volume / 2)
    np.testing.assert_allclose(out.observation[:, 0], m.shares, rtol=1e-7)
    assert LucasMarket(MarketConfig(n_agents=4), ConstantDividend(), CRRAUtility(1.0),
                       PairwiseMatching()).observation_names == ("shares", "bonds", "dividend",
                                                                 "income")


def run(market, steps, seed=5):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        n = market.n_agents
        s = market.step(rng.uniform(0.6, 1.1, n), rng.uniform(0.8, 1.1, n))
        out.append((s.reward.copy(), market.shares.copy(), market.bonds.copy(), s.dividend))
    return out


def stochastic_market(seed, mechanism="pairwise", backend="auto"):
    return LucasMarket(MarketConfig(n_agents=51), LogAR1Dividend(alpha=0.9, sigma=0.1, mu=-0.3),
                       CRRAUtility(2.0), make_mechanism(mechanism), seed=seed, backend=backend)


@pytest.mark.parametrize("mechanism,backend", [("pairwise", "numpy"), ("pairwise", "numba"),
                                               ("call-auction", "numpy")])
def test_same_seed_same_trajectory(mechanism, backend):
    a, b, c = (stochastic_market(s, mechanism, backend) for s in (7, 7, 8))
    for m in (a, b, c):
        m.reset()
    ra, rb, rc = run(a, 20), run(b, 20), run(c, 20)
    for x, y in zip(ra, rb):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(ra, rc))
    a.reset(seed=3)
    b.reset(seed=3)
    np.testing.assert_array_equal(run(a, 5)[-1][0], run(b, 5)[-1][0])


def test_state_dict_resumes_exactly(backend):
    a = stochastic_market(1, backend=backend)
    a.reset()
    run(a, 10)
    state = a.state_dict()
    tail_a = run(a, 10, seed=9)
    b = stochastic_market(99, backend=backend)
    b.load_state_dict(state)
    tail_b = run(b, 10, seed=9)
    for x, y in zip(tail_a, tail_b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    other = LucasMarket(MarketConfig(n_agents=52), ConstantDividend(), CRRAUtility(1.0),
                        PairwiseMatching())
    with pytest.raises(ConfigError, match="state_dict"):
        other.load_state_dict(state)


@pytest.mark.parametrize("field,value", [
    ("n_agents", 1), ("n_agents", 2.5), ("horizon", 0), ("tree_lot", 0.0), ("bond_lot", -1.0),
    ("borrowing_limit", -0.1), ("initial_shares", float("nan")), ("initial_bonds", 0.5),
    ("invalid_price_penalty", -1.0), ("infeasible_trade_penalty", float("inf")),
    ("max_price", 0.0), ("consumption_floor", 0.0), ("public_information", "yes"),
])
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ConfigError, match=f"^{field}:"):
        MarketConfig(**{field: value})


def test_bonds_start_in_zero_net_supply():
    with pytest.raises(ConfigError) as err:
        MarketConfig(initial_bonds=0.5)
    assert str(err.value) == "initial_bonds: must be 0 (bonds are in zero net supply), got 0.5"


def test_backend_choice_is_checked():
    def market(mechanism, backend):
        return LucasMarket(MarketConfig(n_agents=2), ConstantDividend(), CRRAUtility(1.0),
                           mechanism, backend=backend)

    with pytest.raises(ConfigError) as err:
        market(PairwiseMatching(), "fortran")
    assert str(err.value) == "backend: must be one of auto, numpy, numba, got 'fortran'"
    with pytest.raises(ConfigError, match=r"^backend: must be 'auto' or 'numpy' for mechanism "
                                          r"'call-auction'"):
        market(make_mechanism("call-auction"), "numba")
    assert market(make_mechanism("call-auction"), "auto").backend == "numpy"
    assert market(PairwiseMatching(), "auto").backend == "numba"       # N <= the auto limit
    assert market(PairwiseMatching(), None).backend == "numba"         # config.backend: auto


def test_volume_from_random_prices_matches_pairing_probability(backend):
    # With i.i.d. continuous prices every valid pair trades, when affordable: volume = N//2.
    n = 1001
    m = LucasMarket(MarketConfig(n_agents=n), ConstantDividend(), CRRAUtility(1.0),
                    PairwiseMatching(), seed=0, backend=backend)
    m.reset()
    rng = np.random.default_rng(0)
    out = m.step(rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 1.5, n))
    assert out.tree_volume == n // 2 and out.bond_volume == n // 2
    # Mean settlement price of midpoints of two U(0.5, 1.5): 1, sd of mean 0.204/sqrt(500).
    assert abs(out.tree_settlement_price - 1.0) < 5 * 0.2041 / math.sqrt(500)


def test_one_million_agents():
    n = 1_000_000
    m = LucasMarket(MarketConfig(n_agents=n), ConstantDividend(), CRRAUtility(1.0),
                    PairwiseMatching(), seed=0)
    m.reset()
    rng = np.random.default_rng(1)
    out = m.step(rng.uniform(0.7, 1.0, n), rng.uniform(0.9, 1.0, n))
    assert out.tree_volume == n // 2
    assert invariant_violation(m, out) < 1e-15


def load_mesa_baseline():
    return load_benchmark("mesa_baseline")


def pairing_of_next_step(market: LucasMarket) -> tuple[np.ndarray, np.ndarray]:
    """The pairing the market's next step will use: a permutation drawn from a copy of its
    generator (after the constant dividend, which draws nothing), first half meets second."""
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = market.state_dict()["rng"]
    perm = rng.permutation(market.n_agents)
    m = market.n_agents // 2
    return perm[:m], perm[m:2 * m]


def per_agent_reference(kind: str, config: MarketConfig, y: float):
    """A one-object-per-agent market: plain Python (always) or the Mesa baseline (.[bench])."""
    if kind == "plain":
        market = PerAgentMarket(config, y, gamma=1.0)
        return market, lambda p, q, pairs: market.step(p, q, *pairs)
    pytest.importorskip("mesa")
    market = load_mesa_baseline().MesaLucasMarket(config, ConstantDividend(y), CRRAUtility(1.0),
                                                   seed=4)
    return market, market.step


@pytest.mark.parametrize("reference", ["plain", "mesa"])
def test_per_agent_reference_agrees_given_the_same_pairing(reference, backend):
    n = 41
    config = MarketConfig(n_agents=n, initial_shares=0.03, borrowing_limit=0.01)
    y = 0.5  # income 0.015: the bond lot is not always affordable
    vec = LucasMarket(config, ConstantDividend(y), CRRAUtility(1.0), PairwiseMatching(), seed=4,
                      backend=backend)
    vec.reset()
    ref, ref_step = per_agent_reference(reference, config, y)
    rng = np.random.default_rng(2)
    volume = infeasible = invalid = 0
    for _ in range(12):
        p, q = rng.uniform(0.5, 1.2, n), rng.uniform(0.8, 1.1, n)
        p[rng.random(n) < 0.05] = np.nan
        q[rng.random(n) < 0.03] = 11.0  # above the price cap
        pairs = pairing_of_next_step(vec)
        out = vec.step(p, q)
        volume += out.tree_volume + out.bond_volume
        infeasible += out.infeasible.sum()
        invalid += out.invalid.sum()
        ref_step(p, q, pairs)
        shares, bonds = ref.holdings()
        np.testing.assert_allclose(shares, vec.shares, atol=1e-15)
        np.testing.assert_allclose(bonds, vec.bonds, atol=1e-15)
        np.testing.assert_allclose([t.reward for t in ref.traders], out.reward, rtol=1e-13)
        if reference == "plain":
            np.testing.assert_allclose([t.consumption for t in ref.traders], out.consumption,
                                       rtol=1e-13, atol=1e-17)
    # The comparison exercised trades, infeasible sides and invalid prices.
    assert volume > 100 and infeasible > 20 and invalid > 20


def test_state_dict_restores_a_dividend_process_with_hidden_regime(backend):
    from lucas_abm.dividends import GrowthMarkovChain

    def market():
        return LucasMarket(MarketConfig(n_agents=4), GrowthMarkovChain.mehra_prescott(y0=0.05),
                           CRRAUtility(1.0), PairwiseMatching(), seed=3, backend=backend)

    a = market()
    a.reset()
    for _ in range(7):
        a.step(np.full(4, 0.8), np.full(4, 0.95))
    state = a.state_dict()
    b = market()
    b.reset(seed=11)
    b.load_state_dict(state)
    ya = [a.step(np.full(4, 0.8), np.full(4, 0.95)).dividend for _ in range(30)]
    yb = [b.step(np.full(4, 0.8), np.full(4, 0.95)).dividend for _ in range(30)]
    assert ya == yb


def test_wrong_number_of_prices_is_an_error(backend):
    m = two_agents(backend)
    with pytest.raises(ValueError, match="tree_price: expected 2 posted prices"):
        m.step(np.ones(3), np.ones(2))


def test_tree_sale_proceeds_cannot_pay_for_a_bond(backend):
    # Agent 0: income 0.001 (one share, y = 0.001); it sells a tree lot at 0.85, bringing
    # 0.0085, and bids for a bond lot costing 0.5 * 0.01 = 0.005. Income plus proceeds
    # (0.0095) would cover it, income alone does not: proceeds are not usable, infeasible.
    m = two_agents(backend, dividend=ConstantDividend(0.001))
    state = m.state_dict()
    state["shares"] = np.array([1.0, 20.0])  # agent 1 (income 0.02) can afford the tree lot
    m.load_state_dict(state)
    out = m.step(np.array([0.8, 0.9]), np.array([0.51, 0.49]))
    assert out.tree_volume == 1 and out.bond_volume == 0
    np.testing.assert_array_equal(out.infeasible, [True, False])
    np.testing.assert_allclose(out.consumption, [0.001 + 0.0085, 0.02 - 0.0085], rtol=1e-13)


def load_market_step():
    return load_benchmark("market_step")   # imports mesa_baseline as a sibling script


def test_benchmark_scaling_exponent_recovers_a_power_law():
    bench = load_market_step()
    rows = [{"n_agents": n, "seconds_per_step": 3e-8 * n ** 1.1} for n in (1200, 1e4, 1e5, 1e6)]
    assert bench.scaling_exponent(rows) == pytest.approx(1.1, abs=1e-12)


def test_benchmark_times_real_trading_steps_and_reports_the_time_per_step():
    bench = load_market_step()
    # The timed markets trade: posted prices uniform on +-20% around (p*, q*) are distinct and
    # affordable (income 0.0448 > 1.2 (p* + q*) x 0.01), so each of the N/2 pairs trades a lot
    # of each asset, and the two backends end with the same holdings.
    n = 64
    actions = bench.random_actions(n)
    assert actions.shape == (bench.ACTION_SETS, 2, n)
    assert np.all(np.abs(actions[:, 0] / 0.851521 - 1) <= 0.2 + 1e-12)
    assert np.all(np.abs(actions[:, 1] / 0.95 - 1) <= 0.2 + 1e-12)
    markets = [bench.vectorised_market(n, backend) for backend in BACKENDS]
    assert [m.backend for m in markets] == BACKENDS
    for k in range(6):
        outs = [m.step(*actions[k % bench.ACTION_SETS]) for m in markets]
        for out in outs:
            assert out.tree_volume == out.bond_volume == n // 2
    np.testing.assert_array_equal(markets[0].shares, markets[1].shares)
    np.testing.assert_array_equal(markets[0].bonds, markets[1].bonds)
    # time_blocks: the best of `repeat` blocks, per step, each function called n_steps times
    # per block after two warm-up calls; a step that sleeps 4 ms takes at least 4 ms.
    calls = {"a": 0, "b": 0}

    def sleeper(name, seconds):
        def step(tree_price, bond_price):
            assert tree_price.shape == bond_price.shape == (n,)
            calls[name] += 1
            time.sleep(seconds)
        return step

    best = bench.time_blocks([sleeper("a", 0.004), sleeper("b", 0.001)], actions, [3, 5], repeat=2)
    assert calls == {"a": 2 + 2 * 3, "b": 2 + 2 * 5}
    assert 0.004 <= best[0] < 0.05 and 0.001 <= best[1] < 0.05
    assert bench.steps_for(1200, 2e6) == 1666 and bench.steps_for(10 ** 7, 2e6) == 3


@pytest.mark.parametrize("position, bad, field", [
    (0, {"n_agents": 10}, "config"), (1, "constant", "dividend"), (2, 1.0, "utility"),
])
def test_a_market_of_the_wrong_parts_is_refused_naming_the_part(position, bad, field):
    # a dict config or a dividend name was an AttributeError; a float utility failed at step 1
    parts = [MarketConfig(n_agents=10), ConstantDividend(0.05), CRRAUtility(1.0), PairwiseMatching()]
    parts[position] = bad
    with pytest.raises(ConfigError) as err:
        LucasMarket(*parts, seed=0)
    assert err.value.field == field
    for seed in (-1, 1.5, "x"):                       # numpy's ValueError / TypeError
        parts[position] = [MarketConfig(n_agents=10), ConstantDividend(0.05), CRRAUtility(1.0)][position]
        with pytest.raises(ConfigError) as err:
            LucasMarket(*parts, seed=seed)
        assert err.value.field == "seed"
