"""Autarky reward shaping (learner.reward_shaping: autarky, orchestrator/agents.py) against hand
computations: a period without a trade pays 0 (log utility, any dividend law), a trade pays its
autarky surplus, and the shaping telescopes to beta^T Phi(x_T) - Phi(x_0) along any path, which
is why it leaves every optimal policy unchanged."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lucas_abm.dividends import ConstantDividend, LogAR1Dividend
from lucas_abm.errors import ConfigError
from lucas_abm.market import LucasMarket
from lucas_abm.mechanisms import PairwiseMatching
from lucas_abm.utility import CRRAUtility
from orchestrator.agents import Features
from orchestrator.config import load_config

ROOT = Path(__file__).resolve().parents[1]
Y, BETA, LOT, BOND_LOT = 0.0448168907, 0.95, 0.0005, 0.0002


def build(config_file, dividend, gamma=1.0, n=4, shaping="autarky", unit=1):
    """The market and features of a shipped config; ``unit``: learner.reward_scale (1: rewards
    in units of R; None: the config's own)."""
    config = load_config(ROOT / "configs" / config_file,
                         [f"market.n_agents={n}", f"learner.reward_shaping={shaping}",
                          f"economy.gamma={gamma}"] + ([] if unit is None else [f"learner.reward_scale={unit}"]))
    market = LucasMarket(config.market, dividend, CRRAUtility(gamma), PairwiseMatching(), seed=0)
    return market, Features.build(config, market, dividend)


def test_no_trade_pays_zero_and_a_trade_pays_its_autarky_surplus():
    market, f = build("thesis_cpu.yaml", ConstantDividend(Y))
    assert f.reward_scale == pytest.approx((1 - BETA) / LOT, rel=1e-9)   # 1 / R, log utility
    market.reset(seed=1)
    assert np.all(f.reward(market.step(np.full(4, 0.85), np.full(4, 0.95))) == 0.0)
    # agents 0 and 2 post high: they buy a tree lot at 0.85 and a bond lot at 0.95
    step = market.step(np.array([0.9, 0.8, 0.9, 0.8]), np.array([0.96, 0.94, 0.96, 0.94]))
    assert np.array_equal(step.tree_trade, [LOT, -LOT, LOT, -LOT])
    buyer = (math.log(1 - (0.85 * LOT + 0.95 * BOND_LOT) / Y)            # pay now
             + BETA / (1 - BETA) * math.log(1 + LOT)                     # dividends of delta_s
             + BETA * math.log(1 + BOND_LOT / ((1 + LOT) * Y)))          # the bond pays next
    seller = (math.log(1 + (0.85 * LOT + 0.95 * BOND_LOT) / Y)
              + BETA / (1 - BETA) * math.log(1 - LOT)
              + BETA * math.log(1 - BOND_LOT / ((1 - LOT) * Y)))
    got = f.reward(step)
    assert got[0] == pytest.approx(buyer * (1 - BETA) / LOT, rel=1e-5)
    assert got[1] == pytest.approx(seller * (1 - BETA) / LOT, rel=1e-5)
    # at p* = 0.8515 a trade inside the no-trade band loses a little for both (concavity)
    assert -0.02 < got[1] < got[0] < 0.0
    # the next period, the bond matures and nobody trades: 0 again
    assert np.all(f.reward(market.step(np.full(4, 0.85), np.full(4, 0.95))) == 0.0)


def test_no_trade_pays_zero_with_a_stochastic_dividend_under_log_utility():
    # Phi's holding term u(s y) - u(s0 y) = log(s / s0) does not depend on y
    market, f = build("log_ar1_cpu.yaml", LogAR1Dividend(alpha=0.9, sigma=0.03, mu=-0.3105170186))
    market.reset(seed=2)
    market.step(np.array([0.9, 0.8, 0.9, 0.8]), np.array([0.96, 0.94, 0.96, 0.94]))  # move holdings
    for _ in range(5):
        step = market.step(np.full(4, 0.85), np.full(4, 0.95))
        np.testing.assert_allclose(f.reward(step), 0.0, atol=1e-9)


def test_shaping_telescopes_along_any_path():
    """sum_t beta^t (r~_autarky - r~_endowment) R = beta^T Phi(x_T) - Phi(x_0), Phi by hand,
    for CRRA gamma = 2 and random posted prices on a log-AR(1) market."""
    gamma = 2.0
    dividend = LogAR1Dividend(alpha=0.9, sigma=0.03, mu=-0.3105170186)
    market, f = build("log_ar1_cpu.yaml", dividend, gamma=gamma, n=6)
    _, plain = build("log_ar1_cpu.yaml", dividend, gamma=gamma, n=6, shaping="endowment")
    s0 = market.config.initial_shares

    def phi(s, b, y):   # u(c) = -1/c
        u = lambda c: -1.0 / c
        return u(s * y + b) - u(s0 * y) + BETA / (1 - BETA) * (u(s * y) - u(s0 * y))

    rng = np.random.default_rng(4)
    market.reset(seed=8)
    start = phi(market.shares.copy(), market.bonds.copy(), market.dividend)
    total, T = np.zeros(6), 12
    for t in range(T):
        step = market.step(rng.uniform(0.7, 1.0, 6), rng.uniform(0.90, 1.0, 6))
        total += BETA ** t * (f.shaping_term(step))
        np.testing.assert_allclose((f.reward(step) - plain.reward(step)) / f.reward_scale,
                                   f.shaping_term(step), rtol=1e-4, atol=1e-6)
    end = phi(market.shares, market.bonds, market.dividend)
    assert np.abs(market.shares - s0).max() > 0      # the path traded
    np.testing.assert_allclose(total, BETA ** T * end - start, rtol=1e-9, atol=1e-12)


def test_reward_scale_multiplies_the_learners_reward():
    market, f = build("thesis_cpu.yaml", ConstantDividend(Y))
    config = load_config(ROOT / "configs" / "thesis_cpu.yaml",
                         ["market.n_agents=4", "learner.reward_shaping=autarky",
                          "learner.reward_scale=20"])
    f20 = Features.build(config, market, ConstantDividend(Y))
    assert f20.reward_scale == pytest.approx(20 * f.reward_scale, rel=1e-12)
    _, shipped = build("thesis_cpu.yaml", ConstantDividend(Y), unit=None)   # its reward unit: 500
    assert shipped.reward_scale == pytest.approx(500 * (1 - BETA) / LOT, rel=1e-9)
    market.reset(seed=1)
    step = market.step(np.array([0.9, 0.8, 0.9, 0.8]), np.array([0.96, 0.94, 0.96, 0.94]))
    np.testing.assert_allclose(f20.reward(step), 20 * f.reward(step), rtol=1e-6)
    with pytest.raises(ConfigError, match="learner.reward_scale"):
        load_config(ROOT / "configs" / "thesis_cpu.yaml", ["learner.reward_scale=0"])


def test_unknown_shaping_is_a_config_error():
    with pytest.raises(ConfigError, match="learner.reward_shaping"):
        load_config(ROOT / "configs" / "thesis_cpu.yaml", ["learner.reward_shaping=potential"])


# ---- autarky-markov: the chain's own expectation (two types on the acceptance-B chain) --------

SCHEDULES = ROOT / "configs" / "population_two_types_schedules_cpu.yaml"
STATES, P_CHAIN = np.array([0.04, 0.05]), np.array([[0.8, 0.2], [0.3, 0.7]])


def markov_economy(shaping="autarky-markov", *overrides):
    from orchestrator.episode import Economy

    economy = Economy(load_config(SCHEDULES, [f"learner.reward_shaping={shaping}", *overrides]))
    market = economy.market()
    return economy, market, Features.build(economy.config, market, economy.dividend)


def autarky_valuation(gamma):
    """The tree's value to a type consuming its endowment's dividend s0 y forever:
    p = (I - M)^(-1) M y, M_jk = beta P_jk (y_k / y_j)^(-gamma) (docs/heterogeneity.md)."""
    M = BETA * P_CHAIN * (STATES[None, :] / STATES[:, None]) ** (-gamma)
    return np.linalg.solve(np.eye(2) - M, M @ STATES)


def test_markov_autarky_potential_prices_a_share_at_each_types_autarky_valuation():
    """d Phi / ds / u'(s0 y_j) - y_j is the type's autarky valuation of the tree in state j: the
    potential hands the network the state dependence of each type's value (cautious 0.589 and
    1.732, bold 0.760 and 0.950, as docs/acceptance_b.md prints)."""
    economy, market, f = markov_economy()
    s0 = np.asarray(market.agents.initial_shares, float)
    gammas = np.asarray(market.agents.gammas, float)
    bonds, h = np.zeros_like(s0), 1e-6
    np.testing.assert_allclose(autarky_valuation(5.0), [0.58907, 1.73248], atol=1e-5)
    np.testing.assert_allclose(autarky_valuation(1.0), [0.76, 0.95], atol=1e-12)
    for j, y in enumerate(STATES):
        slope = (f.potential(s0 * (1 + h), bonds, y) - f.potential(s0 * (1 - h), bonds, y)) / (2 * h * s0)
        value = slope / (s0 * y) ** (-gammas) - y
        for gamma in (5.0, 1.0):
            np.testing.assert_allclose(value[gammas == gamma], autarky_valuation(gamma)[j], rtol=1e-6)
        # at the endowment the potential is 0 (no gain over it, now or later)
        np.testing.assert_allclose(f.potential(s0, bonds, y), 0.0, atol=1e-9 * np.abs(f.utility(s0 * y)).max())


def test_markov_autarky_hold_weights_are_the_discounted_visits_to_each_state():
    """H = beta P (I - beta P)^(-1) against its series sum_{n>=1} beta^n P^n (a second method);
    its rows sum to beta / (1 - beta), so with log utility the potential is the plain autarky one."""
    _, market, f = markov_economy()
    series, power = np.zeros((2, 2)), np.eye(2)
    for n in range(1, 2000):
        power = power @ P_CHAIN
        series += BETA ** n * power
    np.testing.assert_allclose(f.hold_weights, series, rtol=1e-10)
    np.testing.assert_allclose(f.hold_weights.sum(axis=1), BETA / (1 - BETA), rtol=1e-12)
    _, _, plain = markov_economy("autarky")
    rng = np.random.default_rng(3)
    s0 = np.asarray(market.agents.initial_shares, float)
    shares, bonds = s0 * rng.uniform(0.5, 1.5, s0.size), s0 * rng.uniform(-0.03, 0.03, s0.size)
    bold = np.asarray(market.agents.gammas) == 1.0
    for y in STATES:
        np.testing.assert_allclose(f.potential(shares, bonds, y)[bold], plain.potential(shares, bonds, y)[bold],
                                   rtol=1e-10)
        assert np.abs(f.potential(shares, bonds, y)[~bold] - plain.potential(shares, bonds, y)[~bold]).max() > 0


def test_markov_autarky_shaping_telescopes_on_the_chain():
    """sum_t beta^t (r~ - r~_endowment) R = beta^T Phi(x_T) - Phi(x_0) along a path of random
    demand schedules in the call auction, Phi by hand from the series H."""
    no_clip = "learner.reward_clip=1e300"     # random schedules earn rewards past the config's clip
    economy, market, f = markov_economy("autarky-markov", no_clip)
    _, _, plain = markov_economy("endowment", no_clip)
    plain.market = market
    s0 = np.asarray(market.agents.initial_shares, float)
    gammas = np.asarray(market.agents.gammas, float)
    H = sum(BETA ** n * np.linalg.matrix_power(P_CHAIN, n) for n in range(1, 2000))

    def u(c):
        power = np.where(gammas == 1.0, 0.5, 1 - gammas)
        return np.where(gammas == 1.0, np.log(c), c ** power / power)

    def phi(s, b, y):
        j = int(np.argmin(np.abs(STATES - y)))
        hold = sum(H[j, k] * (u(s * STATES[k]) - u(s0 * STATES[k])) for k in range(2))
        return u(s * y + b) - u(s0 * y) + hold

    rng = np.random.default_rng(5)
    market.reset(seed=9)
    start = phi(market.shares.copy(), market.bonds.copy(), market.dividend)
    total, T, slope = np.zeros(s0.size), 15, 0.05 * s0   # small orders: consumption stays positive
    seen = set()
    for t in range(T):
        step = market.step(rng.uniform(0.6, 1.2, s0.size), rng.uniform(0.85, 1.1, s0.size), None, None, slope, slope)
        seen.add(step.dividend)
        total += BETA ** t * f.shaping_term(step)
        np.testing.assert_allclose((f.reward(step) - plain.reward(step)) / f.reward_scale,
                                   f.shaping_term(step), rtol=1e-4, atol=1e-6 * np.abs(start).max())
    end = phi(market.shares, market.bonds, market.dividend)
    assert np.abs(market.shares - s0).max() > 0 and len(seen) == 2      # it traded, in both states
    np.testing.assert_allclose(total, BETA ** T * end - start, rtol=1e-8, atol=1e-10 * np.abs(start).max())


def test_markov_autarky_needs_a_markov_chain():
    with pytest.raises(ConfigError, match="learner.reward_shaping.*markov"):
        load_config(ROOT / "configs" / "log_ar1_cpu.yaml", ["learner.reward_shaping=autarky-markov"])
