"""The actor-critic rules' wiring (orchestrator/learners/rules.py) against hand values: the
hyperparameters taken from a config, the number of weight groups per shard, SAC's sampled
action draw by draw against numpy, and the checkpoint keys an exact resume depends on.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orchestrator.config import load_config
from orchestrator.learners.rules import SACRule, TD3Rule, hyperparameters
from orchestrator.learners.sac import SACHyperparameters
from orchestrator.learners.td3 import TD3Hyperparameters

SMOKE = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"   # 10 agents, T = 20, 10 episodes
D = 4


def config(algorithm="td3", *extra):
    return load_config(SMOKE, [f"learner.algorithm={algorithm}", "learner.hidden=[8, 8]",
                               "learner.learning_rate=0.002", "learner.n_step=3",
                               "learner.target_update_tau=0.01", "learner.huber_delta=2.0",
                               "learner.policy_delay=3", *extra])


def test_hyperparameters_come_from_the_config():
    hp = hyperparameters(TD3Hyperparameters, config("td3", "learner.final_learning_rate=0.0005"))
    assert hp.discount == 0.95 and hp.n_step == 3 and hp.hidden == (8, 8)
    assert hp.actor_learning_rate == 0.002 and hp.critic_learning_rate == 0.002
    assert hp.final_learning_rate_fraction == pytest.approx(0.25, rel=1e-15)
    assert hp.decay_updates == 10 * 20 // 2                    # episodes x horizon / update_every
    assert hp.target_update_tau == 0.01 and hp.huber_delta == 2.0
    assert hp.policy_delay == 3                                # a learner field of the same name
    assert hp.target_noise == 0.2                              # not in the config: TD3's default
    constant = hyperparameters(TD3Hyperparameters, config("td3"))
    assert constant.final_learning_rate_fraction is None
    sac = hyperparameters(SACHyperparameters, config("sac", "learner.final_learning_rate=0.001"))
    assert sac.alpha_learning_rate == 0.002 and sac.final_learning_rate_fraction == pytest.approx(0.5)


@pytest.mark.parametrize("sharing, shards, shard, groups, agents", [
    (["learner.weight_sharing=shared", "learner.agent_types=1"], 1, 0, 1, 10),
    (["learner.weight_sharing=shared", "learner.agent_types=2"], 1, 0, 2, 10),
    (["learner.weight_sharing=shared", "learner.agent_types=2"], 2, 1, 1, 5),
    (["learner.weight_sharing=independent"], 2, 1, 5, 5),
])
def test_each_shard_has_its_share_of_the_weight_groups(sharing, shards, shard, groups, agents):
    rule = TD3Rule(config("td3", *sharing), D, shards=shards, shard=shard)
    assert rule.learner.groups == groups and rule.learner.n_agents == agents
    assert (rule.lo, rule.hi) == ((0, 10) if shards == 1 else (5, 10))
    assert rule.sliced is (shards > 1)
    x = np.random.default_rng(0).normal(size=(10, D)).astype(np.float32)
    out = rule.policy(x, 0.0, None)
    np.testing.assert_array_equal(np.stack([out["tree_action"], out["bond_action"]], -1),
                                  rule.learner.greedy(x[rule.lo:rule.hi]))


def test_sac_samples_tanh_of_mean_plus_std_times_its_normal_draws():
    rule = SACRule(config("sac", "learner.weight_sharing=independent"), D)
    x = np.random.default_rng(1).normal(size=(10, D)).astype(np.float32)
    mean, std = (t.numpy() for t in rule.learner._mean_and_std(x))
    z = np.random.default_rng(5).standard_normal(mean.shape)
    out = rule.policy(x, 0.3, np.random.default_rng(5))
    expected = np.tanh(mean + std * z)                 # SAC samples its policy whenever explore > 0
    np.testing.assert_allclose(out["tree_action"], expected[:, 0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out["bond_action"], expected[:, 1], rtol=1e-6, atol=1e-7)
    half = rule.learner.act(x, np.random.default_rng(5), scale=0.5)
    np.testing.assert_allclose(half, np.tanh(mean + 0.5 * std * z), rtol=1e-6, atol=1e-7)


def test_checkpoint_keys_are_those_of_saved_runs():
    """A resume restores by these names: renaming one would orphan every saved checkpoint."""
    td3 = TD3Rule(config("td3"), D)
    assert set(td3.checkpoint_objects()) == {"actor", "critic", "target_actor", "target_critic",
                                             "actor_optimizer", "critic_optimizer", "updates",
                                             "last_actor_loss", "target_noise"}
    sac = SACRule(config("sac"), D)
    assert set(sac.checkpoint_objects()) == {"actor", "critic", "target_critic", "log_alpha",
                                             "actor_optimizer", "critic_optimizer", "alpha_optimizer",
                                             "updates", "noise"}
    assert td3.variables == list(td3.learner.actor.weights)
