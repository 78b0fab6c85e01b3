"""Afterstate targets (``learner.afterstate_tree_values``; orchestrator.learners.afterstates):
the afterstate of the value an agent posted is the observation it got; the afterstate of
another value is what the market gives when that one agent posts it instead (re-run on a copy
of the market, the same draw), up to the agent's own effect on the price; the DQN's loss with
afterstates is the sum written in its docstring; configs outside the financed market are
refused."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import tensorflow as tf
import yaml

from lucas_abm.errors import ConfigError
from orchestrator.agents import ActionGrid, Features
from orchestrator.config import config_from_dict
from orchestrator.dqn import DQNHyperparameters, EnsembleDQN
from orchestrator.episode import Economy
from orchestrator.learners.afterstates import afterstate_targets

FINANCED = "configs/population_two_types_financed_cpu.yaml"


def financed_config(k: int = 3):
    raw = yaml.safe_load(open(FINANCED))
    raw["market"]["public_information"] = True
    raw["learner"]["afterstate_tree_values"] = k
    return config_from_dict(raw)


class FixedValues:
    """Stands in for the builder's generator: 'draws' the given grid indices [B, N, K]."""

    def __init__(self, index):
        self.index = np.asarray(index)

    def integers(self, low, high, size):
        return np.broadcast_to(self.index, size).copy()


def market_after_orders(config, periods: int, seed: int = 3):
    """A market, its Features and grid, after ``periods`` periods of random schedules near the
    equilibrium prices (so that both assets trade), and the next period's random values."""
    economy = Economy(config)
    market, grid = economy.market(), ActionGrid(config.actions)
    features = Features.build(config, market, economy.dividend)
    market.reset(seed=seed)
    rng = np.random.default_rng(seed)
    n = market.n_agents

    def values():
        return rng.integers(30, 110, n), rng.integers(60, 130, n)

    for _ in range(periods):
        tree, bond = values()
        market.step(grid.tree_prices[tree], grid.bond_prices[bond],
                    *grid.orders({}, market.shares, market.agents.initial_shares))
    return market, features, grid, values()


def step(market, grid, tree, bond):
    return market.step(grid.tree_prices[tree], grid.bond_prices[bond],
                       *grid.orders({}, market.shares, market.agents.initial_shares))


def test_the_taken_value_gives_the_observed_next_state():
    config = financed_config(k=1)
    market, features, grid, (tree, bond) = market_after_orders(config, periods=4)
    builder = afterstate_targets(config, grid, seed=0)
    x_t = features.observation(market.observation())
    taken = step(market, grid, tree, bond)
    x_next = features.observation(market.observation())
    builder.rng = FixedValues(tree.reshape(1, -1, 1))
    values, after, reward, mask = builder(x_t[None], x_next[None], tree[None], bond[None])
    assert values.shape == (1, market.n_agents, 1) and after.shape == (1, market.n_agents, 1, x_t.shape[1])
    assert mask.min() == 1.0                                   # the tree traded
    np.testing.assert_allclose(after[0, :, 0], x_next, atol=1e-4)   # observation units (~1)
    paid = features.reward(taken)
    feasible = taken.penalty == 0
    assert feasible.sum() > 50
    np.testing.assert_allclose(reward[0, feasible, 0], paid[feasible], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("agent", [0, 7, 61, 93])
def test_another_value_gives_what_the_market_would_have_given(agent):
    """Agent ``agent`` posts grid value 40 tree ticks away instead; the market is re-run on a
    copy (same holdings, same dividend draw). Its shares and bonds after the period match the
    afterstate's, and its reward the afterstate's reward, up to the price it moves (1/N of its
    order's weight)."""
    config = financed_config(k=1)
    market, features, grid, (tree, bond) = market_after_orders(config, periods=4)
    builder = afterstate_targets(config, grid, seed=0)
    other = copy.deepcopy(market)
    x_t = features.observation(market.observation())
    taken = step(market, grid, tree, bond)
    x_next = features.observation(market.observation())
    deviated = tree.copy()
    deviated[agent] = tree[agent] + (40 if tree[agent] < 70 else -40)
    rerun = step(other, grid, deviated, bond)
    builder.rng = FixedValues(deviated.reshape(1, -1, 1))
    _, after, reward, _ = builder(x_t[None], x_next[None], tree[None], bond[None])
    j_s, j_b = builder.columns["shares"], builder.columns["bonds"]
    shares = after[0, agent, 0, j_s] * builder._scale[agent, j_s] + builder._offset[agent, j_s]
    bonds = after[0, agent, 0, j_b] * builder._scale[agent, j_b] + builder._offset[agent, j_b]
    trade = abs(other.shares[agent] - market.shares[agent])
    assert trade > 0.02                                   # the deviation changes the order
    assert abs(shares - other.shares[agent]) < 0.05 * trade
    bond_trade = abs(other.bonds[agent] - market.bonds[agent])
    assert abs(bonds - other.bonds[agent]) < 0.05 * bond_trade + 1e-6
    r_taken, r_rerun = features.reward(taken)[agent], features.reward(rerun)[agent]
    assert abs(r_rerun - r_taken) > 0.1                   # here a seller is paid partly in cash
    # the deviation moves the clearing price by < 0.5% (the model holds it fixed); at gamma 5
    # and low consumption that is up to 6% of the reward's change
    assert rerun.tree_clearing_price == pytest.approx(taken.tree_clearing_price, rel=0.005)
    assert reward[0, agent, 0] == pytest.approx(r_rerun, abs=0.08 * abs(r_rerun - r_taken))


def test_the_dqn_loss_with_afterstates_is_the_documented_sum():
    """loss = sum_g mean_samples [huber(G - Q(x, a)) + mask sum_k huber(r_k + beta V'(x'_k) - Q(x, v_k, a_bond))],
    recomputed here in numpy from the networks before the step."""
    rng = np.random.default_rng(0)
    n_agents, dim, n_tree, n_bond, batch, k = 4, 5, 9, 6, 3, 2
    hp = DQNHyperparameters(discount=0.9, n_step=1, hidden=(8,), huber_delta=1.0)
    dqn = EnsembleDQN(n_agents, 2, dim, n_tree, n_bond, hp, seed=1)
    obs = rng.normal(size=(batch, 2, n_agents, dim)).astype(np.float32)
    tree = rng.integers(0, n_tree, (batch, 1, n_agents)).astype(np.int32)
    bond = rng.integers(0, n_bond, (batch, 1, n_agents)).astype(np.int32)
    reward = rng.normal(size=(batch, 1, n_agents)).astype(np.float32)
    values = rng.integers(0, n_tree, (batch, n_agents, k)).astype(np.int32)
    after = rng.normal(size=(batch, n_agents, k, dim)).astype(np.float32)
    after_reward = rng.normal(size=(batch, n_agents, k)).astype(np.float32)
    mask = np.array([[1, 0, 1, 1]] * batch, np.float32)

    def q_all(net, x):   # [B, N, D] -> value [B, N], tree adv [B, N, T], bond adv [B, N, K]
        out = net(dqn.to_groups(tf.constant(x)))
        back = [tf.transpose(tf.reshape(t, [2, batch, 2, -1]), [1, 0, 2, 3]) for t in out]
        return [tf.reshape(t, [batch, n_agents, -1]).numpy() for t in back]

    def q(parts, a_tree, a_bond):
        v, at, ab = parts
        take = lambda adv, a: np.take_along_axis(adv, a[..., None], -1)[..., 0] - adv.mean(-1)
        return v[..., 0] + take(at, a_tree) + take(ab, a_bond)

    def huber(e):
        return np.where(np.abs(e) <= 1, 0.5 * e ** 2, np.abs(e) - 0.5)

    def best(x):   # double DQN: the online argmax, scored by the target
        on, tg = q_all(dqn.online, x), q_all(dqn.target, x)
        return q(tg, on[1].argmax(-1), on[2].argmax(-1))

    now = q_all(dqn.online, obs[:, 0])
    target = reward[:, 0] + 0.9 * best(obs[:, 1])
    per_sample = huber(target - q(now, tree[:, 0], bond[:, 0]))
    for i in range(k):
        y = after_reward[..., i] + 0.9 * best(after[:, :, i])
        per_sample += mask * huber(y - q(now, values[..., i], bond[:, 0]))
    expected = sum(per_sample[:, g * 2:(g + 1) * 2].mean() for g in range(2))
    loss, _, _ = dqn.train_step(tf.constant(obs), tf.constant(tree), tf.constant(bond), tf.constant(reward),
                                (tf.constant(values), tf.constant(after), tf.constant(after_reward),
                                 tf.constant(mask)))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_afterstates_are_refused_outside_the_financed_market_with_last_prices():
    raw = yaml.safe_load(open(FINANCED))
    raw["learner"]["afterstate_tree_values"] = 4
    with pytest.raises(ConfigError, match="learner.afterstate_tree_values: must be 0 unless"):
        config_from_dict(raw)                           # market.public_information is false here
    raw["market"]["public_information"] = True
    raw["economy"]["mechanism_params"] = {"tree_settlement": "cash"}
    with pytest.raises(ConfigError, match="learner.afterstate_tree_values"):
        config_from_dict(raw)
    raw["learner"]["afterstate_tree_values"] = -1
    with pytest.raises(ConfigError, match="learner.afterstate_tree_values: must be an integer >= 0"):
        config_from_dict(raw)
