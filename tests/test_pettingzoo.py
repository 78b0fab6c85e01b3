"""The market as a PettingZoo ParallelEnv: PettingZoo's own API and seed tests, and the economics
of one period recomputed by hand (the higher poster buys one lot at the midpoint).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

pytest.importorskip("pettingzoo")
from pettingzoo.test import parallel_api_test, parallel_seed_test  # noqa: E402

from lucas_abm.dividends import THESIS_YBAR  # noqa: E402
from lucas_abm.pettingzoo_env import LucasMarketParallelEnv  # noqa: E402

P_STAR = 0.95 / 0.05 * THESIS_YBAR


def test_pettingzoo_parallel_api_test_passes():
    env = LucasMarketParallelEnv(n_agents=6, horizon=25, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # PettingZoo reports soft API breaches as warnings
        parallel_api_test(env, num_cycles=100)   # random posted prices: trades, penalties, truncation
    for mechanism in ("bargaining", "call-auction"):
        parallel_api_test(LucasMarketParallelEnv(n_agents=5, horizon=10, mechanism=mechanism, seed=1),
                          num_cycles=30)


def test_pettingzoo_parallel_seed_test_passes():
    parallel_seed_test(lambda: LucasMarketParallelEnv(n_agents=6, horizon=10), num_cycles=20)


def test_agents_are_named_players_with_price_actions():
    env = LucasMarketParallelEnv(n_agents=3, horizon=2, max_price=5.0)
    obs, infos = env.reset(seed=0)
    assert env.possible_agents == ["player_0", "player_1", "player_2"] == env.agents
    space = env.action_space("player_1")
    assert space.shape == (2,) and space.low.tolist() == [0, 0] and space.high.tolist() == [5, 5]
    # observation: shares 1, bonds 0, dividend ybar, income ybar
    np.testing.assert_allclose(obs["player_2"], [1.0, 0.0, THESIS_YBAR, THESIS_YBAR], rtol=1e-6)
    assert all(env.observation_space(a).contains(o) for a, o in obs.items())


def test_one_period_matches_the_hand_computation():
    """Two agents: player_0 posts the higher tree price, so it buys one lot from player_1 at the
    midpoint m = (p0 + p1)/2: c0 = y - m lot, c1 = y + m lot, rewards log c; equal bond prices
    mean no bond trade. The second period reaches the horizon: a truncation, not a termination."""
    lot = 0.01
    env = LucasMarketParallelEnv(n_agents=2, horizon=2, tree_lot=lot, seed=3)
    env.reset(seed=3)
    p0, p1 = P_STAR * 1.02, P_STAR * 0.98
    obs, rew, term, trunc, info = env.step({"player_0": np.array([p0, 0.95], np.float32),
                                            "player_1": np.array([p1, 0.95], np.float32)})
    mid = (np.float32(p0) + np.float32(p1)) / 2
    y = THESIS_YBAR
    assert rew["player_0"] == pytest.approx(math.log(y - mid * lot), rel=1e-9)
    assert rew["player_1"] == pytest.approx(math.log(y + mid * lot), rel=1e-9)
    assert info["player_0"]["tree_trade"] == pytest.approx(lot) and info["player_0"]["bond_trade"] == 0
    assert obs["player_0"][0] == pytest.approx(1 + lot) and obs["player_1"][0] == pytest.approx(1 - lot)
    assert not any(term.values()) and not any(trunc.values()) and env.agents
    # everyone posts p*, q*: no trade, consumption = dividend income
    same = np.array([P_STAR, 0.95], np.float32)
    obs, rew, term, trunc, info = env.step({"player_0": same, "player_1": same})
    assert info["player_1"]["tree_trade"] == 0 and info["player_1"]["consumption"] == pytest.approx(
        (1 - lot) * y)
    assert all(trunc.values()) and not any(term.values()) and env.agents == []
    with pytest.raises(RuntimeError):
        env.step({})


def test_missing_action_is_refused():
    env = LucasMarketParallelEnv(n_agents=2, horizon=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="player_1"):
        env.step({"player_0": np.array([0.85, 0.95])})


def test_actions_for_unknown_agents_and_actions_that_are_not_pairs_are_refused():
    # An action for "player_9" was ignored; four scalars were reshaped into two (p, q) pairs.
    env = LucasMarketParallelEnv(n_agents=4, horizon=3)
    env.reset(seed=0)
    good = {f"player_{i}": np.array([0.85, 0.95]) for i in range(4)}
    with pytest.raises(ValueError, match=r"actions for agents that are not live: \['player_9'\]"):
        env.step({**good, "player_9": np.array([0.85, 0.95])})
    with pytest.raises(ValueError, match=r"a pair \(p, q\) of posted prices.*got 0.85 for player_0"):
        env.step({f"player_{i}": 0.85 for i in range(4)})
    with pytest.raises(ValueError, match=r"got array\(\[0.85, 0.95, 1.  \]\) for player_2"):
        env.step({**good, "player_2": np.array([0.85, 0.95, 1.0])})
    env.step(good)                               # nothing was consumed by the refused calls
    assert env.market.t == 1
