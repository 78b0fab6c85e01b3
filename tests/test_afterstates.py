"""Afterstate targets (``learner.afterstate_tree_values``, ``afterstate_bond_values``;
orchestrator.learners.afterstates): the afterstate of the values an agent posted is the
observation it got; the afterstate of
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
from orchestrator.learners.afterstates import Afterstates, afterstate_targets

FINANCED = "configs/population_two_types_financed_cpu.yaml"


def financed_config(k_tree: int = 1, k_bond: int = 1):
    raw = yaml.safe_load(open(FINANCED))
    raw["market"]["public_information"] = True
    raw["learner"]["afterstate_tree_values"] = k_tree
    raw["learner"]["afterstate_bond_values"] = k_bond
    return config_from_dict(raw)


class FixedValues:
    """Stands in for the builder's generator: 'draws' the given grid indices [B, N, K], the
    tree's and then the bond's."""

    def __init__(self, *index):
        self.index = list(index)

    def integers(self, low, high, size):
        return np.broadcast_to(self.index.pop(0), size).copy()


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


def holdings(builder, state, agent):
    """(shares, bonds) of ``agent`` in the normalised afterstate ``state`` [N, D]."""
    j_s, j_b = builder.columns["shares"], builder.columns["bonds"]
    return tuple(state[agent, j] * builder._scale[agent, j] + builder._offset[agent, j] for j in (j_s, j_b))


def test_the_posted_values_give_the_observed_next_state():
    config = financed_config()
    market, features, grid, (tree, bond) = market_after_orders(config, periods=4)
    builder = afterstate_targets(config, grid, seed=0)
    x_t = features.observation(market.observation())
    taken = step(market, grid, tree, bond)
    x_next = features.observation(market.observation())
    builder.rng = FixedValues(tree.reshape(1, -1, 1), bond.reshape(1, -1, 1))
    after = builder(x_t[None], x_next[None], tree[None], bond[None])
    assert after.tree_values.shape == (1, market.n_agents, 1)
    assert after.tree_states.shape == after.bond_states.shape == (1, market.n_agents, 1, x_t.shape[1])
    assert after.mask.min() == 1.0                                   # both assets traded
    paid = features.reward(taken)
    feasible = taken.penalty == 0
    assert feasible.sum() > 50
    for states, reward in ((after.tree_states, after.tree_rewards), (after.bond_states, after.bond_rewards)):
        np.testing.assert_allclose(states[0, :, 0], x_next, atol=1e-4)   # observation units (~1)
        np.testing.assert_allclose(reward[0, feasible, 0], paid[feasible], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("asset, agent, ticks", [("tree", 0, -40), ("tree", 7, 40), ("tree", 61, 40),
                                                 ("tree", 93, -40), ("bond", 0, 60), ("bond", 20, -60),
                                                 ("bond", 45, 60), ("bond", 61, -60)])
def test_another_value_gives_what_the_market_would_have_given(asset, agent, ticks):
    """Agent ``agent`` posts a value ``ticks`` grid steps away instead; the market is re-run on
    a copy (same holdings, same dividend draw). Its shares and bonds after the period match the
    afterstate's, and its reward the afterstate's reward, up to the prices it moves (about 1/N
    of its change)."""
    config = financed_config()
    market, features, grid, (tree, bond) = market_after_orders(config, periods=4)
    builder = afterstate_targets(config, grid, seed=0)
    other = copy.deepcopy(market)
    x_t = features.observation(market.observation())
    taken = step(market, grid, tree, bond)
    x_next = features.observation(market.observation())
    tree_dev, bond_dev = tree.copy(), bond.copy()
    (tree_dev if asset == "tree" else bond_dev)[agent] += ticks
    rerun = step(other, grid, tree_dev, bond_dev)
    builder.rng = FixedValues(tree_dev.reshape(1, -1, 1), bond_dev.reshape(1, -1, 1))
    after = builder(x_t[None], x_next[None], tree[None], bond[None])
    states, reward = getattr(after, f"{asset}_states"), getattr(after, f"{asset}_rewards")
    shares, bonds = holdings(builder, states[0, :, 0], agent)
    trade = abs(other.shares[agent] - market.shares[agent])
    bond_trade = abs(other.bonds[agent] - market.bonds[agent])
    assert max(trade, bond_trade) > 0.002                      # the deviation changes the orders
    assert abs(shares - other.shares[agent]) < 0.05 * trade + 1e-6
    assert abs(bonds - other.bonds[agent]) < 0.05 * bond_trade + 1e-6
    r_taken, r_rerun = features.reward(taken)[agent], features.reward(rerun)[agent]
    assert abs(r_rerun - r_taken) > 0.3
    # the deviation moves the clearing prices by < 0.5% (the model holds them fixed); at
    # gamma 5 and low consumption that is up to 6% of the reward's change
    assert rerun.tree_clearing_price == pytest.approx(taken.tree_clearing_price, rel=0.005)
    assert rerun.bond_clearing_price == pytest.approx(taken.bond_clearing_price, rel=0.005)
    assert reward[0, agent, 0] == pytest.approx(r_rerun, abs=0.08 * abs(r_rerun - r_taken))


def test_the_dqn_loss_with_afterstates_is_the_documented_sum():
    """loss = sum_g mean_samples [huber(G - Q(x, a)) + mask (sum_i huber(r_i + beta V'(x'_i) - Q(x, v_i, a_bond))
    + sum_j huber(r_j + beta V'(x'_j) - Q(x, a_tree, w_j)))], recomputed here in numpy from the
    networks before the step."""
    rng = np.random.default_rng(0)
    n_agents, dim, n_tree, n_bond, batch, k_tree, k_bond = 4, 5, 9, 6, 3, 2, 3
    hp = DQNHyperparameters(discount=0.9, n_step=1, hidden=(8,), huber_delta=1.0)
    dqn = EnsembleDQN(n_agents, 2, dim, n_tree, n_bond, hp, seed=1)
    obs = rng.normal(size=(batch, 2, n_agents, dim)).astype(np.float32)
    tree = rng.integers(0, n_tree, (batch, 1, n_agents)).astype(np.int32)
    bond = rng.integers(0, n_bond, (batch, 1, n_agents)).astype(np.int32)
    reward = rng.normal(size=(batch, 1, n_agents)).astype(np.float32)
    after = Afterstates(rng.integers(0, n_tree, (batch, n_agents, k_tree)).astype(np.int32),
                        rng.normal(size=(batch, n_agents, k_tree, dim)).astype(np.float32),
                        rng.normal(size=(batch, n_agents, k_tree)).astype(np.float32),
                        rng.integers(0, n_bond, (batch, n_agents, k_bond)).astype(np.int32),
                        rng.normal(size=(batch, n_agents, k_bond, dim)).astype(np.float32),
                        rng.normal(size=(batch, n_agents, k_bond)).astype(np.float32),
                        np.array([[1, 0, 1, 1]] * batch, np.float32))

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
    for i in range(k_tree):
        y = after.tree_rewards[..., i] + 0.9 * best(after.tree_states[:, :, i])
        per_sample += after.mask * huber(y - q(now, after.tree_values[..., i], bond[:, 0]))
    for j in range(k_bond):
        y = after.bond_rewards[..., j] + 0.9 * best(after.bond_states[:, :, j])
        per_sample += after.mask * huber(y - q(now, tree[:, 0], after.bond_values[..., j]))
    expected = sum(per_sample[:, g * 2:(g + 1) * 2].mean() for g in range(2))
    loss, _, _ = dqn.train_step(tf.constant(obs), tf.constant(tree), tf.constant(bond), tf.constant(reward),
                                Afterstates(*map(tf.constant, after)))
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
    raw["economy"]["mechanism_params"] = {"tree_settlement": "bonds", "financed_fraction": 0.75}
    with pytest.raises(ConfigError, match="learner.afterstate_tree_values.*fully financed"):
        config_from_dict(raw)                           # the afterstates assume whole purchases financed
    raw["economy"]["mechanism_params"] = {"tree_settlement": "cash"}
    raw["learner"]["afterstate_tree_values"] = 0
    raw["learner"]["afterstate_bond_values"] = 2
    with pytest.raises(ConfigError, match="learner.afterstate_bond_values: must be 0 unless"):
        config_from_dict(raw)
    raw["learner"]["afterstate_tree_values"] = -1
    with pytest.raises(ConfigError, match="learner.afterstate_tree_values: must be an integer in \\[0, 10,000\\]"):
        config_from_dict(raw)


def test_local_draws_stay_near_the_posted_value():
    """``learner.afterstate_spread`` s: the drawn indices are the posted one moved by
    round(N(0, s^2)) ticks, clipped to the grid; s = 0 draws uniformly over the grid."""
    config = financed_config(k_tree=4000, k_bond=1)
    builder = afterstate_targets(config, ActionGrid(config.actions), seed=0)
    posted = np.array([[0, 100, 200]])
    uniform = builder._draw(posted, 201, 4000)
    assert uniform.min() == 0 and uniform.max() == 200 and abs(uniform.mean() - 100) < 3
    builder.spread = 6.0
    local = builder._draw(posted, 201, 4000)
    assert local.min() >= 0 and local.max() <= 200
    assert abs(local[0, 1].mean() - 100) < 0.5 and local[0, 1].std() == pytest.approx(6.0, rel=0.05)
    assert local[0, 0].mean() == pytest.approx(6.0 * np.sqrt(2 / np.pi) / 2, abs=0.3)   # half clipped to 0


def test_a_resumed_run_draws_the_afterstates_an_uninterrupted_one_would(tmp_path):
    """The afterstates' generator is a checkpoint object of the DQN rule: restored from a
    checkpoint, a fresh rule draws the same values as the rule that wrote it goes on to draw."""
    from orchestrator.algorithms import make_algorithm
    from orchestrator.checkpoint import CheckpointManager

    config = financed_config(k_tree=4, k_bond=2)
    dim = Economy(config).observation_dim
    rule = make_algorithm(config, dim)
    posted = np.zeros((2, config.market.n_agents), np.int32)
    rule.afterstates._draw(posted, 201, 4)                     # advance past the seed's start
    ckpts = CheckpointManager(tmp_path)
    ckpts.save(1, rule.checkpoint_objects(), {"episode": 1}, {})
    uninterrupted = [rule.afterstates._draw(posted, 201, 4) for _ in range(3)]

    resumed = make_algorithm(config, dim)                      # the same seed: back at its start
    assert not np.array_equal(resumed.afterstates._draw(posted, 201, 4), uninterrupted[0])
    ckpts.restore(ckpts.latest(), resumed.checkpoint_objects())
    for expected in uninterrupted:
        np.testing.assert_array_equal(resumed.afterstates._draw(posted, 201, 4), expected)
