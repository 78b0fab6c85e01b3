"""One network per dividend state (``learner.state_networks``; orchestrator.networks.StateGatedQNetwork):
each sample is scored by its own state's network, exactly as K separate ensembles would score
it; a gradient step on one state's samples leaves the other state's networks unchanged; the
gate reads the dividend column at the levels the observation takes; bad configs are refused."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import tensorflow as tf

from lucas_abm.errors import ConfigError
from orchestrator.dqn import DQNHyperparameters, EnsembleDQN
from orchestrator.networks import EnsembleQNetwork, StateGatedQNetwork

LEVELS = [-0.8, 1.2]
COLUMN = 2


def observations(rng, groups, batch, dim, states):
    x = rng.normal(size=(groups, batch, dim)).astype(np.float32)
    x[..., COLUMN] = np.asarray(LEVELS, np.float32)[states]
    return x


def state_slice(gated: StateGatedQNetwork, k: int) -> EnsembleQNetwork:
    """A plain ensemble holding the weights of state k's networks (groups k G .. (k+1) G - 1)."""
    g = gated.state_groups
    plain = EnsembleQNetwork(g, gated.input_dim, gated.n_tree, gated.n_bond, hidden=gated.hidden)
    for mine, theirs in zip(plain.weights, gated.weights):
        mine.assign(theirs[k * g:(k + 1) * g])
    return plain


def test_each_sample_is_scored_by_its_own_states_network():
    rng = np.random.default_rng(0)
    gated = StateGatedQNetwork(3, 5, 7, 4, hidden=(8, 8), seed=1, gate_column=COLUMN, gate_levels=LEVELS)
    assert gated.weights[0].shape[0] == 6                       # K * G weight sets
    states = rng.integers(0, 2, size=(3, 11))
    x = observations(rng, 3, 11, 5, states)
    out = gated(tf.constant(x))
    np.testing.assert_array_equal(gated.state_of(tf.constant(x)).numpy(), states)
    for k in range(2):
        ref = state_slice(gated, k)(tf.constant(x))
        mask = states == k
        np.testing.assert_allclose(out.value.numpy()[mask], ref.value.numpy()[mask], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(out.tree_advantage.numpy()[mask], ref.tree_advantage.numpy()[mask],
                                   rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(out.bond_advantage.numpy()[mask], ref.bond_advantage.numpy()[mask],
                                   rtol=1e-6, atol=1e-6)
    # the two states' networks differ (independent initialisations), so the gate matters
    assert not np.allclose(state_slice(gated, 0)(tf.constant(x)).value, state_slice(gated, 1)(tf.constant(x)).value)


def test_learning_in_one_state_leaves_the_other_states_networks_alone():
    """A TD step on windows that start and end in state 0 changes only state 0's weights."""
    rng = np.random.default_rng(2)
    n_agents, dim, n = 4, 5, 2
    hp = DQNHyperparameters(discount=0.95, n_step=n, hidden=(8, 8))
    dqn = EnsembleDQN(n_agents, 2, dim, 7, 4, hp, seed=0, state_gate=(COLUMN, LEVELS))
    before = [w.numpy().copy() for w in dqn.online.weights]
    obs = rng.normal(size=(6, n + 1, n_agents, dim)).astype(np.float32)
    obs[..., COLUMN] = LEVELS[0]
    tree = rng.integers(0, 7, size=(6, n, n_agents)).astype(np.int32)
    bond = rng.integers(0, 4, size=(6, n, n_agents)).astype(np.int32)
    reward = rng.normal(size=(6, n, n_agents)).astype(np.float32)
    loss, td, _ = dqn.train_step(obs, tree, bond, reward)
    assert np.isfinite(float(loss)) and float(td) > 0
    for old, new in zip(before, dqn.online.weights):
        new = new.numpy()
        assert not np.array_equal(old[:2], new[:2])              # state 0's two groups learned
        np.testing.assert_array_equal(old[2:], new[2:])           # state 1's are untouched


def test_gate_levels_are_the_observations_dividend_values():
    """dividend_state_levels: the value the learners' observation takes in each chain state."""
    from orchestrator.agents import Features, dividend_state_levels
    from orchestrator.config import config_from_dict
    from orchestrator.episode import Economy
    from tests.test_population_training import GAMMAS, MARKOV, raw

    r = raw(GAMMAS)
    r["economy"] = dict(MARKOV)
    r["actions"] = {"tree_low": 0.5, "tree_high": 1.5, "bond_low": 0.8, "bond_high": 1.2}
    cfg = config_from_dict(r)
    column, levels = dividend_state_levels(cfg)
    economy = Economy(cfg)
    market = economy.market()
    features = Features.build(cfg, market, economy.dividend)
    assert features.names[column] == "dividend"
    seen = {}
    for seed in range(12):
        market.reset(seed=seed)
        k = list(economy.dividend.states).index(market.dividend)
        seen[k] = features.observation(market.observation())[:, column]
    assert set(seen) == {0, 1}
    for k, x in seen.items():
        np.testing.assert_allclose(x, levels[k], atol=1e-6)
    assert levels[0] < levels[1]


def test_state_networks_config():
    from orchestrator.config import config_from_dict
    from tests.test_population_training import GAMMAS, MARKOV, raw

    r = raw(GAMMAS)
    r["economy"] = dict(MARKOV)
    r["actions"] = {"tree_low": 0.5, "tree_high": 1.5, "bond_low": 0.8, "bond_high": 1.2}
    r["learner"]["state_networks"] = True
    assert config_from_dict(r).learner.state_networks is True
    bad = copy.deepcopy(r)
    bad["learner"]["state_networks"] = "yes"
    with pytest.raises(ConfigError, match="learner.state_networks: must be true or false"):
        config_from_dict(bad)
    bad = raw()
    bad["learner"]["state_networks"] = True
    with pytest.raises(ConfigError, match="learner.state_networks: must be false unless economy.dividend is markov"):
        config_from_dict(bad)
