"""The TF-Agents adapter: specs, TF-Agents' own validator, truncation at the horizon."""
from __future__ import annotations

import numpy as np
from tf_agents.environments import utils as env_utils
from tf_agents.trajectories import time_step as ts

from lucas_abm.dividends import ConstantDividend
from lucas_abm.environment import MarketEnvironment
from lucas_abm.market import LucasMarket, MarketConfig
from lucas_abm.mechanisms import CallAuction, PairwiseMatching
from lucas_abm.utility import CRRAUtility


def make_env(n=6, horizon=4, public=False, mechanism=None):
    config = MarketConfig(n_agents=n, horizon=horizon, public_information=public)
    market = LucasMarket(config, ConstantDividend(), CRRAUtility(1.0),
                         mechanism or PairwiseMatching(), seed=0)
    return MarketEnvironment(market)


def test_specs():
    env = make_env(public=True)
    assert env.batched and env.batch_size == 6
    assert env.observation_spec().shape == (8,)
    assert env.observation_spec().dtype == np.float32
    spec = env.action_spec()
    assert spec.shape == (2,) and spec.dtype == np.float32 and spec.name == "posted_prices"
    assert float(spec.minimum) == 0.0 and float(spec.maximum) == 10.0


def test_validate_py_environment():
    env_utils.validate_py_environment(make_env(), episodes=3)
    env_utils.validate_py_environment(make_env(n=7, public=True, mechanism=CallAuction()),
                                      episodes=2)


def test_last_step_is_a_truncation_with_discount_one_then_auto_reset():
    env = make_env(horizon=4)
    action = np.tile(np.array([0.85, 0.95], np.float32), (6, 1))
    steps = [env.reset()] + [env.step(action) for _ in range(5)]
    kinds = [int(s.step_type[0]) for s in steps]
    assert kinds == [ts.StepType.FIRST, ts.StepType.MID, ts.StepType.MID, ts.StepType.MID,
                     ts.StepType.LAST, ts.StepType.FIRST]
    last = steps[4]
    assert np.all(last.step_type == ts.StepType.LAST)
    np.testing.assert_array_equal(last.discount, np.ones(6, np.float32))
    assert last.reward.dtype == np.float32
    np.testing.assert_allclose(last.reward, np.log(ConstantDividend().ybar), rtol=1e-6)
    assert env.market.t == 0  # the step after LAST reset the market


def test_reward_is_the_market_reward_per_agent():
    env = make_env(n=4, horizon=10)
    env.reset()
    rng = np.random.default_rng(0)
    step = env.step(rng.uniform(0.7, 1.0, (4, 2)).astype(np.float32))
    np.testing.assert_allclose(step.reward, env.last_market_step.reward, rtol=1e-6)
    np.testing.assert_array_equal(step.observation, env.last_market_step.observation)


def test_wraps_into_a_tf_environment():
    import tensorflow as tf
    from tf_agents.environments import tf_py_environment

    env = make_env(n=4, horizon=2)
    tf_env = tf_py_environment.TFPyEnvironment(env)
    assert tf_env.batch_size == 4
    first = tf_env.reset()
    action = tf.constant([[0.9, 0.96], [0.8, 0.94], [0.85, 0.95], [0.85, 0.95]], tf.float32)
    mid = tf_env.step(action)
    np.testing.assert_allclose(mid.reward.numpy(), env.last_market_step.reward, rtol=1e-6)
    last = tf_env.step(action)
    assert first.step_type.numpy().tolist() == [0] * 4
    assert mid.step_type.numpy().tolist() == [1] * 4
    assert last.step_type.numpy().tolist() == [2] * 4
    np.testing.assert_array_equal(last.discount.numpy(), np.ones(4, np.float32))
