"""The learners' inputs (orchestrator/agents.py) against hand computations: the observation
scaling, the reward baseline and scale for a stochastic dividend and initial shares other than
one, and the distribution of the local-exploration draw."""
from __future__ import annotations

import dataclasses

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from lucas_abm.dividends import LogAR1Dividend
from lucas_abm.market import LucasMarket
from lucas_abm.mechanisms import PairwiseMatching
from lucas_abm.utility import CRRAUtility
from lucas_abm.errors import ConfigError
from orchestrator.agents import Features, dividend_moments, explore
from orchestrator.config import ExplorationConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
ALPHA, SIGMA, MU = 0.9, 0.03, -0.3105170186          # configs/log_ar1_cpu.yaml
S0, GAMMA, BETA = 2.0, 2.0, 0.95
TREE_LOT, BOND_LOT = 0.0005, 0.0002


@pytest.fixture(scope="module")
def setup():
    config = load_config(ROOT / "configs" / "log_ar1_cpu.yaml",
                         [f"market.initial_shares={S0}", f"economy.gamma={GAMMA}",
                          "market.n_agents=4", "market.public_information=true"], seed=0)
    dividend = LogAR1Dividend(alpha=ALPHA, sigma=SIGMA, mu=MU)
    market = LucasMarket(config.market, dividend, CRRAUtility(GAMMA), PairwiseMatching(), seed=0)
    return config, market, dividend, Features.build(config, market, dividend)


def test_dividend_moments_are_the_stationary_log_ar1_moments():
    # log y stationary: mean mu/(1-alpha), sd sigma/sqrt(1-alpha^2); E[y] = exp(m + v/2).
    # 4,000 draws with autocorrelation 0.9 are worth about 4000 (1-0.9)/(1+0.9) = 210 draws.
    d = LogAR1Dividend(alpha=ALPHA, sigma=SIGMA, mu=MU)
    mean_y, mean_log, sd_log = dividend_moments(d)
    m, sd = MU / (1 - ALPHA), SIGMA / math.sqrt(1 - ALPHA ** 2)
    assert m == pytest.approx(math.log(0.01 * math.exp(1.5)), abs=1e-9)
    se = sd / math.sqrt(210)
    assert abs(mean_log - m) < 5 * se
    assert abs(mean_y / math.exp(m + sd ** 2 / 2) - 1) < 5 * se
    assert abs(sd_log / sd - 1) < 0.15


def test_observation_scaling_hand_computed(setup):
    config, market, dividend, features = setup
    mean_y, mean_log, sd_log = dividend_moments(dividend)
    assert features.names == market.observation_names == (
        "shares", "bonds", "dividend", "income", "last_tree_price", "last_bond_price",
        "last_tree_volume", "last_bond_volume")
    a = config.actions
    # agent 0: holds s0 + 3 lots and lends 2 bond lots; agent 1: sold 5 lots, borrowed 1 lot
    y = 1.1 * math.exp(mean_log)
    raw = np.array([[S0 + 3 * TREE_LOT, 2 * BOND_LOT, y, (S0 + 3 * TREE_LOT) * y + 2 * BOND_LOT,
                     0.9, 0.97, 0.25, 0.5],
                    [S0 - 5 * TREE_LOT, -BOND_LOT, y, (S0 - 5 * TREE_LOT) * y - BOND_LOT,
                     a.tree_low, a.bond_high, 0.0, 0.0]], dtype=np.float32)
    got = features.observation(raw)
    assert got.dtype == np.float32
    r = raw.astype(np.float64)
    tree_mid, tree_span = (a.tree_low + a.tree_high) / 2, a.tree_high - a.tree_low
    bond_mid, bond_span = (a.bond_low + a.bond_high) / 2, a.bond_high - a.bond_low
    want = np.stack([
        (r[:, 0] - S0) / (10 * TREE_LOT),                   # shares: in units of 10 lots
        r[:, 1] / (10 * BOND_LOT),                          # bonds: in units of 10 bond lots
        (np.log(r[:, 2]) - mean_log) / sd_log,              # log dividend, standardised
        (r[:, 3] / r[:, 2] - S0) / (10 * TREE_LOT),         # income in units of the dividend
        (r[:, 4] - tree_mid) / tree_span, (r[:, 5] - bond_mid) / bond_span,
        r[:, 6], r[:, 7]], axis=1)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)
    # by hand for agent 0: +3 lots -> 0.3; 2 bond lots -> 0.2; log y 0.0953 above the mean
    np.testing.assert_allclose(got[0, [0, 1]], [0.3, 0.2], atol=3e-3)  # float32 holdings
    assert got[0, 2] == pytest.approx(math.log(1.1) / sd_log, rel=1e-5)
    assert got[1, 4] == pytest.approx(-0.5, abs=1e-6) and got[1, 5] == pytest.approx(0.5, abs=1e-6)


def test_holdings_unit_lots_sets_the_observation_unit_of_holdings_and_income(setup):
    """learner.holdings_unit_lots = L feeds shares, bonds and income in units of L lots
    (configs/thesis_cpu_ac.yaml: L = 1,000, so 3 lots read 0.003 instead of 0.3)."""
    config, market, dividend, features = setup
    coarse = Features.build(load_config(ROOT / "configs" / "log_ar1_cpu.yaml",
                                        [f"market.initial_shares={S0}", f"economy.gamma={GAMMA}",
                                         "market.n_agents=4", "market.public_information=true",
                                         "learner.holdings_unit_lots=1000"], seed=0),
                            market, dividend)
    y = math.exp(dividend_moments(dividend)[1])
    raw = np.array([[S0 + 3 * TREE_LOT, 2 * BOND_LOT, y, (S0 + 3 * TREE_LOT) * y + 2 * BOND_LOT,
                     0.9, 0.97, 0.25, 0.5]], dtype=np.float32)
    fine, got = features.observation(raw)[0], coarse.observation(raw)[0]
    np.testing.assert_allclose(got[[0, 1, 3]], fine[[0, 1, 3]] / 100, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(got[[0, 1]], [0.003, 0.002], atol=3e-5)
    np.testing.assert_array_equal(got[[2, 4, 5, 6, 7]], fine[[2, 4, 5, 6, 7]])   # the rest unchanged


@pytest.mark.parametrize("value", [0, -10])
def test_holdings_unit_lots_must_be_positive(value):
    with pytest.raises(ConfigError, match="learner.holdings_unit_lots"):
        load_config(ROOT / "configs" / "smoke.yaml", [f"learner.holdings_unit_lots={value}"])


def test_reward_baseline_and_scale_hand_computed(setup):
    # gamma = 2: u(c) = -1/c, u'(c) = c^-2. c_ref = s0 E[y];
    # R = u'(c_ref) c_ref lot / (s0 (1 - beta)) = lot / (s0^2 E[y] (1 - beta));
    # r~ = (r - u(s0 y_t)) / R = (r + 1/(s0 y_t)) s0^2 E[y] (1 - beta) / lot.
    config, market, dividend, features = setup
    mean_y = dividend_moments(dividend)[0]
    scale = S0 ** 2 * mean_y * (1 - BETA) / TREE_LOT
    assert features.reward_scale == pytest.approx(scale, rel=1e-12)
    assert features.initial_shares == S0
    market.reset(seed=3)
    # at the endowment, with no trade, consumption is s0 y_t: the scaled reward is exactly 0
    no_trade = market.step(np.full(4, 0.85), np.full(4, 0.95))
    np.testing.assert_allclose(features.reward(no_trade), 0.0, atol=1e-6)
    # a buyer of one lot at the midpoint 0.85 gives up 0.85 lot of consumption:
    # r~ = (-1/(s0 y - 0.85 lot) + 1/(s0 y)) * scale, the seller the mirror image
    y = market.dividend
    step = market.step(np.array([0.9, 0.8, 0.9, 0.8]), np.full(4, 0.95))
    assert step.dividend == y and step.tree_volume >= 1
    got = features.reward(step)
    assert got.dtype == np.float32
    c = S0 * y
    for k in range(4):
        traded = step.tree_trade[k] / TREE_LOT     # +1 bought, -1 sold, 0 not matched
        want = (-1.0 / (c - traded * 0.85 * TREE_LOT) + 1.0 / c) * scale
        assert got[k] == pytest.approx(want, rel=1e-5, abs=1e-6)
    assert got[np.argmax(step.tree_trade)] == pytest.approx(-0.85 * TREE_LOT / c ** 2 * scale,
                                                            rel=0.01)
    for _ in range(3):   # later periods: other dividends, holdings away from s0
        step = market.step(np.array([0.9, 0.8, 0.85, 0.85]), np.full(4, 0.95))
        want = (step.reward + 1.0 / (S0 * step.dividend)) * scale
        np.testing.assert_allclose(features.reward(step), want, rtol=1e-5, atol=1e-5)


def test_reward_clip_bounds_the_scaled_reward_and_leaves_the_rest(setup):
    """learner.reward_clip = c clips r~ to [-c, c]: a trade that crushes consumption (here the
    buyer of 1,000 lots at the cap's price) is scored -c, a modest one exactly as unclipped."""
    config, market, dividend, features = setup
    clipped = dataclasses.replace(features, reward_clip=5.0)
    market.reset(seed=3)
    small = market.step(np.array([0.9, 0.8, 0.9, 0.8]), np.full(4, 0.95))
    free, got = features.reward(small), clipped.reward(small)
    assert 0 < np.abs(free).max() < 5.0
    np.testing.assert_array_equal(got, free)
    crushed = dataclasses.replace(small, reward=small.reward - 1e6)   # utility far below anything sensible
    np.testing.assert_array_equal(clipped.reward(crushed), np.full(4, -5.0, np.float32))
    assert features.reward(crushed).min() < -1e3


@pytest.mark.parametrize("value", [0, -1])
def test_reward_clip_must_be_positive(value):
    with pytest.raises(ConfigError, match="learner.reward_clip"):
        load_config(ROOT / "configs" / "smoke.yaml", [f"learner.reward_clip={value}"])


N_ACTIONS = 101
CONFIG = ExplorationConfig(local_fraction=0.8, local_width=3.0)


def exploration_law(greedy: int, epsilon: float, config: ExplorationConfig) -> np.ndarray:
    """P(action) by hand: greedy w.p. 1 - eps; w.p. eps * lf a move by round(N(0, w^2))
    grid steps, clipped to the grid; w.p. eps (1 - lf) a uniform grid index."""
    k = np.arange(N_ACTIONS) - greedy
    w = config.local_width
    local = norm.cdf((k + 0.5) / w) - norm.cdf((k - 0.5) / w)
    local[0] += norm.cdf((-greedy - 0.5) / w)                        # clipped at index 0
    local[-1] += norm.sf((N_ACTIONS - 1 - greedy + 0.5) / w)         # clipped at the top
    law = epsilon * (config.local_fraction * local + (1 - config.local_fraction) / N_ACTIONS)
    law[greedy] += 1 - epsilon
    return law


@pytest.mark.parametrize("greedy", [50, 1])
def test_local_exploration_draw_has_the_stated_distribution(greedy):
    n, epsilon = 400_000, 0.3
    actions = explore(np.full(n, greedy), N_ACTIONS, epsilon, CONFIG, np.random.default_rng(7))
    assert actions.dtype == np.int32 and actions.shape == (n,)
    assert actions.min() >= 0 and actions.max() < N_ACTIONS
    law = exploration_law(greedy, epsilon, CONFIG)
    assert law.sum() == pytest.approx(1.0, abs=1e-12)
    freq = np.bincount(actions, minlength=N_ACTIONS) / n
    sd = np.sqrt(law * (1 - law) / n)
    assert np.all(np.abs(freq - law) <= 5 * sd + 1e-12)
    assert 0.5 * np.abs(freq - law).sum() < 0.01               # total variation
    off = actions != greedy
    # moves by one step are local draws only (and uniform ones): P = eps (lf p_1 + (1-lf)/101)
    p1 = norm.cdf(1.5 / 3) - norm.cdf(0.5 / 3)
    assert np.mean(actions == greedy + 1) == pytest.approx(
        epsilon * (0.8 * p1 + 0.2 / N_ACTIONS), abs=5 * math.sqrt(0.04 / n))
    assert off.mean() < epsilon


def test_exploration_off_and_per_agent_greedy_actions():
    rng = np.random.default_rng(0)
    greedy = rng.integers(0, N_ACTIONS, 1000)
    np.testing.assert_array_equal(explore(greedy, N_ACTIONS, 0.0, CONFIG, rng), greedy)
    # all exploring, all uniform: each agent's draw is uniform whatever its greedy action
    uniform = ExplorationConfig(local_fraction=0.0)
    a = explore(np.zeros(200_000, np.int64), N_ACTIONS, 1.0, uniform, rng)
    freq = np.bincount(a, minlength=N_ACTIONS) / a.size
    assert np.all(np.abs(freq - 1 / N_ACTIONS) < 5 * math.sqrt(1 / N_ACTIONS / a.size))
    # all exploring, all local with a width far below one step: the greedy action itself
    stay = ExplorationConfig(local_fraction=1.0, local_width=1e-9)
    np.testing.assert_array_equal(explore(greedy, N_ACTIONS, 1.0, stay, rng), greedy)
