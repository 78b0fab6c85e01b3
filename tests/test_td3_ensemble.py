"""The batched TD3 ensemble is exactly N independent TD3 learners (or one per weight group).

Checked against independent computations:
- each member of an EnsembleMLP is a plain NumPy MLP with its slice of the weights;
- the critic and actor losses of one update equal the TD3 losses computed in NumPy (clipped
  double-Q target with clipped, bounded target smoothing), and the targets move by Polyak;
- actors and targets move only on every ``policy_delay``-th update;
- changing only agent k's rewards moves only agent k's weights (bitwise);
- updates of the ensemble equal N separate single-agent ensembles given that agent's weights,
  data and noise; shared mode equals one learner per group on its agents' pooled data;
- with the same weights and data, the ensemble's update equals that of N separate TF-Agents
  ``Td3Agent``s (the throughput benchmark's baseline), so the benchmark compares like with like;
- the action map sends [-1, 1] onto the config's price bounds and back.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from benchmark_scripts import load_benchmark
from orchestrator.config import ActionGridConfig
from orchestrator.learners.actions import PriceBox, gaussian_exploration
from orchestrator.learners.ensemble import EnsembleMLP
from orchestrator.learners.td3 import EnsembleTD3, TD3Hyperparameters

D, K, B, N_STEP, BETA = 4, 2, 8, 3, 0.95
HIDDEN = (16, 16)
HP = TD3Hyperparameters(discount=BETA, n_step=N_STEP, hidden=HIDDEN, policy_delay=2)


def numpy_mlp(weights: list[np.ndarray], x: np.ndarray, index: tuple, tanh: bool = False) -> np.ndarray:
    """h_{l+1} = relu(h_l W_l + b_l), y = h_L W_L + b_L (tanh for an actor), member ``index``."""
    h = x.astype(np.float64)
    pairs = list(zip(weights[0::2], weights[1::2]))
    for layer, (w, b) in enumerate(pairs):
        h = h @ w[index] + b[index][0]
        if layer < len(pairs) - 1:
            h = np.maximum(h, 0.0)
    return np.tanh(h) if tanh else h


def snapshot(variables) -> list[np.ndarray]:
    return [v.numpy().copy() for v in variables]


def make_windows(n_agents: int, seed: int, n_step: int = N_STEP) -> dict:
    """observation [B, n+1, N, D], action [B, n, N, K] in [-1, 1], reward [B, n, N], noise [B, N, K]."""
    rng = np.random.default_rng(seed)
    return dict(observation=rng.standard_normal((B, n_step + 1, n_agents, D)).astype(np.float32),
                action=rng.uniform(-1, 1, (B, n_step, n_agents, K)).astype(np.float32),
                reward=rng.standard_normal((B, n_step, n_agents)).astype(np.float32),
                noise=(0.4 * rng.standard_normal((B, n_agents, K))).astype(np.float32))


def train(learner: EnsembleTD3, windows: dict, steps: int = 1) -> list[float]:
    out = None
    for _ in range(steps):
        out = learner.update(*(tf.constant(windows[k]) for k in ("observation", "action", "reward", "noise")))
    return [float(t) for t in out]


def all_variables(learner: EnsembleTD3) -> list[tf.Variable]:
    """Networks, targets and both Adams' moment slots (every per-group variable)."""
    slots = [v for opt in (learner.actor_optimizer, learner.critic_optimizer) for v in opt.variables
             if v.shape.rank >= 3]
    return learner.variables + slots


def assert_only_agent_moved(runs: list, k: int, n_agents: int) -> None:
    """Two runs' (is_critic, array) lists: agent k's slices differ, every other agent's are bitwise equal."""
    moved = 0.0
    for (critic, a), (_, b) in zip(*runs):
        for g in range(n_agents):
            mine, theirs = (a[:, g], b[:, g]) if critic else (a[g], b[g])
            if g == k:
                moved = max(moved, np.abs(mine - theirs).max())
            else:
                np.testing.assert_array_equal(mine, theirs)   # bitwise identical
    assert moved > 1e-4


def group_slice(w: np.ndarray, g: int, critic: bool) -> np.ndarray:
    return w[:, g:g + 1] if critic else w[g:g + 1]


def copy_group(dst: EnsembleTD3, src: EnsembleTD3, g: int) -> None:
    """dst (one group) <- src's group g: actors, critics and their targets."""
    for critic, nets in ((False, ("actor", "target_actor")), (True, ("critic", "target_critic"))):
        for name in nets:
            for mine, theirs in zip(getattr(dst, name).weights, getattr(src, name).weights):
                mine.assign(group_slice(theirs.numpy(), g, critic))


def test_each_member_of_the_ensemble_is_a_plain_mlp_with_its_weight_slice():
    rng = np.random.default_rng(0)
    net = EnsembleMLP((2, 3), D, K, hidden=HIDDEN, output_activation=tf.tanh, seed=1)
    for v in net.biases:
        v.assign(0.1 * rng.standard_normal(v.shape).astype(np.float32))
    x = rng.standard_normal((2, 3, 5, D)).astype(np.float32)
    y, y0 = net(tf.constant(x)).numpy(), net(tf.constant(x[0]), member=0).numpy()
    weights = snapshot(net.weights)
    for j in range(2):
        for g in range(3):
            np.testing.assert_allclose(y[j, g], numpy_mlp(weights, x[j, g], (j, g), tanh=True), atol=1e-6)
    np.testing.assert_allclose(y0, y[0], atol=1e-7)


def test_losses_are_the_td3_losses_computed_in_numpy_and_targets_move_by_polyak():
    n_agents = 3
    hp = TD3Hyperparameters(discount=BETA, n_step=N_STEP, hidden=HIDDEN, policy_delay=1, huber_delta=0.5)
    td3 = EnsembleTD3(n_agents, n_agents, D, K, hp, seed=2)
    rng = np.random.default_rng(3)
    for net in (td3.target_actor, td3.target_critic):   # targets != online, target actions near the bounds
        for v in net.weights:
            v.assign(v + 0.3 * rng.standard_normal(v.shape).astype(np.float32))
    td3.target_actor.kernels[-1].assign(30.0 * td3.target_actor.kernels[-1])
    actor, critic = snapshot(td3.actor.weights), snapshot(td3.critic.weights)
    t_actor, t_critic = snapshot(td3.target_actor.weights), snapshot(td3.target_critic.weights)
    w = make_windows(n_agents, seed=4)
    loss, td_error, _, critic_loss, actor_loss = train(td3, w)
    new_critic = snapshot(td3.critic.weights)

    def huber(e):
        return np.where(np.abs(e) <= 0.5, 0.5 * e ** 2, 0.5 * (np.abs(e) - 0.25))

    c, expected_critic, expected_actor, abs_err, clipped = hp.target_noise_clip, 0.0, 0.0, [], 0
    for k in range(n_agents):
        x_t, x_n = w["observation"][:, 0, k], w["observation"][:, N_STEP, k]
        ret = sum(BETA ** i * w["reward"][:, i, k].astype(np.float64) for i in range(N_STEP))
        eps = np.clip(w["noise"][:, k], -c, c)
        raw = numpy_mlp(t_actor, x_n, (k,), tanh=True) + eps
        clipped += int((np.abs(raw) > 1).sum() + (np.abs(w["noise"][:, k]) > c).sum())
        a_next = np.clip(raw, -1.0, 1.0)
        q_next = np.minimum(*(numpy_mlp(t_critic, np.hstack([x_n, a_next]), (j, k))[:, 0] for j in range(2)))
        y = ret + BETA ** N_STEP * q_next
        errs = [y - numpy_mlp(critic, np.hstack([x_t, w["action"][:, 0, k]]), (j, k))[:, 0] for j in range(2)]
        expected_critic += np.mean(huber(errs[0]) + huber(errs[1]))
        abs_err += [np.abs(e) for e in errs]
        mu = numpy_mlp(actor, x_t, (k,), tanh=True)                            # actor before its step,
        expected_actor += -np.mean(numpy_mlp(new_critic, np.hstack([x_t, mu]), (0, k))[:, 0])  # critic after
    assert clipped > 10                                   # both clips are exercised
    assert critic_loss == pytest.approx(expected_critic, rel=1e-5)
    assert actor_loss == pytest.approx(expected_actor, rel=1e-5, abs=1e-6)
    assert loss == pytest.approx(critic_loss + actor_loss, rel=1e-6)
    assert td_error == pytest.approx(np.mean(abs_err), rel=1e-5)
    tau = hp.target_update_tau
    for new_target, new_online, old_target in zip(snapshot(td3.target_actor.weights + td3.target_critic.weights),
                                                  snapshot(td3.actor.weights + td3.critic.weights),
                                                  t_actor + t_critic):
        np.testing.assert_allclose(new_target, tau * new_online + (1 - tau) * old_target, atol=1e-6)


def test_actors_and_targets_move_only_every_policy_delay_updates():
    td3 = EnsembleTD3(2, 2, D, K, HP, seed=5)
    w = make_windows(2, seed=6)
    before = snapshot(td3.actor.weights + td3.target_actor.weights + td3.target_critic.weights)
    critic_before = snapshot(td3.critic.weights)
    train(td3, w)                                         # update 1: critics only
    for a, b in zip(before, snapshot(td3.actor.weights + td3.target_actor.weights + td3.target_critic.weights)):
        np.testing.assert_array_equal(a, b)
    assert max(np.abs(a - b).max() for a, b in zip(critic_before, snapshot(td3.critic.weights))) > 1e-4
    train(td3, w)                                         # update 2: critics, actors, targets
    for a, b in zip(before, snapshot(td3.actor.weights + td3.target_actor.weights + td3.target_critic.weights)):
        assert np.abs(a - b).max() > 0


def test_changing_one_agents_rewards_moves_only_that_agents_weights():
    n_agents, k = 4, 2
    base = make_windows(n_agents, seed=7)
    changed = {name: a.copy() for name, a in base.items()}
    changed["reward"][:, :, k] += 1.0
    runs = []
    for windows in (base, changed):
        td3 = EnsembleTD3(n_agents, n_agents, D, K, HP, seed=0)
        train(td3, windows, steps=2)                      # the second update also moves actors and targets
        runs.append([(v.shape.rank == 4 and v.shape[0] == 2, v.numpy()) for v in all_variables(td3)])
    assert_only_agent_moved(runs, k, n_agents)


def test_ensemble_updates_equal_n_separate_single_agent_updates():
    n_agents, steps = 3, 4
    ensemble = EnsembleTD3(n_agents, n_agents, D, K, HP, seed=8)
    singles = []
    for g in range(n_agents):
        single = EnsembleTD3(1, 1, D, K, HP, seed=100 + g)
        copy_group(single, ensemble, g)
        singles.append(single)
    w = make_windows(n_agents, seed=9)
    out = train(ensemble, w, steps)
    single_out = [train(s, {name: (a[:, g:g + 1] if name == "noise" else a[:, :, g:g + 1])
                            for name, a in w.items()}, steps) for g, s in enumerate(singles)]
    assert out[3] == pytest.approx(sum(o[3] for o in single_out), rel=1e-5)     # critic loss
    assert out[4] == pytest.approx(sum(o[4] for o in single_out), rel=1e-5)     # actor loss
    for g, single in enumerate(singles):
        for name, critic in (("actor", False), ("target_actor", False), ("critic", True), ("target_critic", True)):
            for we, ws in zip(getattr(ensemble, name).weights, getattr(single, name).weights):
                np.testing.assert_allclose(group_slice(we.numpy(), g, critic), ws.numpy(), atol=1e-5, rtol=1e-5)


def test_shared_mode_trains_one_learner_per_group_on_its_agents_pooled_data():
    n_agents, groups, steps = 4, 2, 2
    per_group = n_agents // groups
    shared = EnsembleTD3(n_agents, groups, D, K, HP, seed=10)
    pooled = [EnsembleTD3(1, 1, D, K, HP, seed=200 + g) for g in range(groups)]
    for g, p in enumerate(pooled):
        copy_group(p, shared, g)
    w = make_windows(n_agents, seed=11)
    out = train(shared, w, steps)
    total = 0.0
    for g, p in enumerate(pooled):
        agents = slice(g * per_group, (g + 1) * per_group)       # contiguous blocks of agents
        data = {}
        for name, a in w.items():                                # agents into the batch (row b * per + i)
            if name == "noise":
                data[name] = a[:, agents].reshape(B * per_group, 1, K)
            else:
                a = np.moveaxis(a[:, :, agents], 2, 1)
                data[name] = a.reshape((B * per_group, a.shape[2], 1) + a.shape[3:])
        total += train(p, data, steps)[3]
        for name, critic in (("actor", False), ("critic", True), ("target_critic", True)):
            for we, ws in zip(getattr(shared, name).weights, getattr(p, name).weights):
                np.testing.assert_allclose(group_slice(we.numpy(), g, critic), ws.numpy(), atol=1e-5, rtol=1e-5)
    assert out[3] == pytest.approx(total, rel=1e-5)
    assert shared.actor.kernels[0].shape[0] == groups and shared.critic.kernels[0].shape[:2] == (2, groups)


def load_ac_throughput():
    return load_benchmark("ac_throughput")


def test_ensemble_update_equals_n_separate_tf_agents_td3_agents():
    """The benchmark's baseline: TF-Agents Td3Agents, given each agent's slice of the ensemble's
    weights and data, end two updates with the ensemble's weights. (Zero target-policy noise,
    since each side draws its own; actor and targets every step, as TF-Agents phases its
    target updates one step after its actor updates.)"""
    ac = load_ac_throughput()
    n_agents = 2
    cfg = ac.BenchmarkConfig(agents=(n_agents,), batch=B, policy_delay=1, target_noise=0.0)
    hp = cfg.hyperparameters
    ensemble = EnsembleTD3(n_agents, n_agents, cfg.observation_dim, cfg.action_dim, hp, seed=12)
    data = ac.make_transitions(cfg, n_agents, np.random.default_rng(13))
    agents = [ac.make_td3_agent(cfg, k, compile_train=False) for k in range(n_agents)]
    for k, agent in enumerate(agents):
        nets = ((agent._actor_network, ensemble.actor, None), (agent._critic_network_1, ensemble.critic, 0),
                (agent._critic_network_2, ensemble.critic, 1))
        for keras_net, ours, j in nets:
            for v, w in zip(keras_net.trainable_weights, ours.weights):
                w = w.numpy()[k] if j is None else w.numpy()[j, k]
                v.assign(w.reshape(v.shape))
        agent.initialize()                                # targets <- online
    zeros = tf.zeros([B, n_agents, cfg.action_dim])
    for _ in range(2):
        info = ensemble.update(data.observation, data.action, data.reward, zeros)
        losses = [agent.train(ac.agent_trajectory(data, k)).extra for k, agent in enumerate(agents)]
    assert float(info.critic_loss) == pytest.approx(sum(float(x.critic_loss) for x in losses), rel=1e-5)
    assert float(info.actor_loss) == pytest.approx(sum(float(x.actor_loss) for x in losses), rel=1e-5)
    for k, agent in enumerate(agents):
        nets = ((agent._actor_network, ensemble.actor, None), (agent._critic_network_1, ensemble.critic, 0),
                (agent._critic_network_2, ensemble.critic, 1), (agent._target_actor_network, ensemble.target_actor,
                                                                None),
                (agent._target_critic_network_1, ensemble.target_critic, 0),
                (agent._target_critic_network_2, ensemble.target_critic, 1))
        for keras_net, ours, j in nets:
            for v, w in zip(keras_net.trainable_weights, ours.weights):
                w = w.numpy()[k] if j is None else w.numpy()[j, k]
                np.testing.assert_allclose(w.reshape(v.shape), v.numpy(), atol=1e-5, rtol=1e-5)


def test_each_agent_learns_its_own_optimum_of_a_quadratic_bandit():
    """r_k = -|a - c_k|^2 with a different optimum c_k per agent, beta = 0 (Q = r), actions drawn
    uniformly (off-policy): after 1,000 updates every actor's greedy action is near its own c_k
(within 0.1 on average over observations; the critics' own maxima are about that far off).
    With preactivation_penalty = 0 the third actor, pushed to the bound early while the critic
    still extrapolates linearly, stays at (1.0, 0.99) (measured); 1e-3 lets it come back."""
    n_agents, batch = 3, 64
    c = np.array([[-0.6, 0.3], [0.0, -0.4], [0.5, 0.7]], np.float32)
    hp = TD3Hyperparameters(discount=0.0, hidden=(32, 32), target_update_tau=0.05, actor_learning_rate=1e-2,
                            critic_learning_rate=1e-2, preactivation_penalty=1e-3)
    td3 = EnsembleTD3(n_agents, n_agents, 2, K, hp, seed=0)
    rng = np.random.default_rng(1)
    for _ in range(1000):
        a = rng.uniform(-1, 1, (batch, 1, n_agents, K)).astype(np.float32)
        td3.train_step(tf.constant(rng.standard_normal((batch, 2, n_agents, 2)), tf.float32), tf.constant(a),
                       tf.constant(-((a[:, 0] - c) ** 2).sum(-1)[:, None]))
    greedy = np.stack([td3.greedy(rng.standard_normal((n_agents, 2)).astype(np.float32)) for _ in range(10)])
    assert np.abs(greedy.mean(0) - c).max() < 0.1 and np.abs(greedy - c).max() < 0.2
    distance = np.linalg.norm(greedy.mean(0)[:, None] - c[None], axis=-1)      # [agent, optimum]
    np.testing.assert_array_equal(distance.argmin(1), np.arange(n_agents))


@pytest.mark.parametrize("algorithm", ["td3", "sac"])
def test_a_restored_checkpoint_continues_bitwise_and_train_reads_a_replay_sample(algorithm, tmp_path):
    """tf.train.Checkpoint(**checkpoint_objects()) carries everything the next update depends on
    (weights, targets, Adam moments, update counter, noise generator); ``train`` reads a replay
    sample with the actions as ``tree_action`` and ``bond_action`` columns."""
    from orchestrator.learners.sac import EnsembleSAC, SACHyperparameters

    def build(seed):
        if algorithm == "td3":
            return EnsembleTD3(2, 2, D, K, HP, seed=seed)
        return EnsembleSAC(2, 2, D, K, SACHyperparameters(discount=BETA, n_step=N_STEP, hidden=HIDDEN), seed=seed)

    w = make_windows(2, seed=14)
    batch = {"observation": tf.constant(w["observation"]), "reward": tf.constant(w["reward"]),
             "tree_action": tf.constant(w["action"][..., 0]), "bond_action": tf.constant(w["action"][..., 1])}
    learner = build(0)
    learner.train(batch)
    path = tf.train.Checkpoint(**learner.checkpoint_objects()).write(str(tmp_path / "ckpt"))
    restored = build(1)
    tf.train.Checkpoint(**restored.checkpoint_objects()).read(path).assert_consumed()
    expected = learner.train_step(tf.constant(w["observation"]), tf.constant(w["action"]), tf.constant(w["reward"]))
    got = restored.train(batch)
    assert [float(x) for x in got] == [float(x) for x in expected]
    for a, b in zip(learner.variables, restored.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("name", ["td3", "sac"])
def test_rules_implement_the_algorithm_interface_the_training_roles_call(name):
    from orchestrator.config import load_config
    from orchestrator.core import Algorithm
    from orchestrator.learners.rules import RULES

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "thesis_cpu.yaml",
                         ["market.n_agents=4", "learner.weight_sharing=independent", "learner.n_step=3"])
    rule = RULES[name](config, D)
    assert isinstance(rule, Algorithm)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, D)).astype(np.float32)
    greedy = rule.policy(x, 0.0, rng)
    np.testing.assert_array_equal(np.stack([greedy["tree_action"], greedy["bond_action"]], -1),
                                  rule.learner.greedy(x))
    explored = rule.policy(x, 0.5, rng)
    assert explored["tree_action"].dtype == np.float32 and not np.array_equal(explored["tree_action"],
                                                                               greedy["tree_action"])
    tree, bond = rule.prices(explored)
    a = config.actions
    np.testing.assert_allclose(tree, a.tree_low + (explored["tree_action"] + 1) / 2 * (a.tree_high - a.tree_low))
    assert np.all((bond >= a.bond_low) & (bond <= a.bond_high))
    w = make_windows(4, seed=15)
    metrics = rule.train_step({"observation": w["observation"], "reward": w["reward"],
                               "tree_action": w["action"][..., 0], "bond_action": w["action"][..., 1]})
    assert {"loss", "td_error", "max_weight"} <= set(metrics) and all(np.isfinite(list(metrics.values())))
    assert rule.variables == rule.learner.actor.weights
    half = RULES[name](config, D, shards=2, shard=1)                 # agents [2, 4)
    assert half.policy(x, 0.0, rng)["tree_action"].shape == (2,)
    assert half.learner.actor.kernels[0].shape[0] == 2


def test_actions_map_affinely_onto_the_configured_price_bounds():
    box = PriceBox.from_config(ActionGridConfig(tree_low=0.4, tree_high=2.0, bond_low=0.8, bond_high=1.1))
    tree, bond = box.prices(np.array([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.5]]))
    np.testing.assert_allclose(tree, [0.4, 2.0, 1.2])
    np.testing.assert_allclose(bond, [0.8, 1.1, 1.025])
    np.testing.assert_allclose(box.actions(tree, bond), [[-1, -1], [1, 1], [0, 0.5]], atol=1e-7)
    spec = box.action_spec()
    assert tuple(spec.shape) == (2,) and float(spec.minimum) == -1.0 and float(spec.maximum) == 1.0
    noisy = gaussian_exploration(np.full((1000, 2), 0.95, np.float32), 0.1, np.random.default_rng(0))
    assert noisy.max() == 1.0 and noisy.min() > 0.5 and noisy.dtype == np.float32
    assert np.std(noisy[noisy < 1.0] - 0.95) < 0.1          # the clip only cuts the upper tail


def test_exploration_floor_is_k_market_ticks_of_each_price():
    """PriceBox.tick = 2 step / (high - low): one tick of 0.01 on [0.4, 2.0] is 0.0125 action units,
    one of 0.005 on [0.8, 1.1] is 0.0333; a floor of k ticks moves each posted price by k ticks
    (standard deviation, measured on the prices) whatever the schedule's sigma below it."""
    box = PriceBox.from_config(ActionGridConfig(tree_low=0.4, tree_high=2.0, tree_step=0.01,
                                                bond_low=0.8, bond_high=1.1, bond_step=0.005))
    np.testing.assert_allclose(box.tick, [0.0125, 0.1 / 3])
    np.testing.assert_allclose(box.noise_scale(0.001, 2.0), [0.025, 0.2 / 3])
    np.testing.assert_allclose(box.noise_scale(0.5, 2.0), [0.5, 0.5])      # above the floor: sigma
    np.testing.assert_allclose(box.noise_scale(0.1), [0.1, 0.1])           # no floor
    centre = box.actions(np.full(20000, 0.85), np.full(20000, 0.95))
    noisy = gaussian_exploration(centre, box.noise_scale(0.0, 2.0), np.random.default_rng(1))
    tree, bond = box.prices(noisy)
    np.testing.assert_allclose([tree.std() / 0.01, bond.std() / 0.005], [2.0, 2.0], rtol=0.03)
    np.testing.assert_allclose([tree.mean(), bond.mean()], [0.85, 0.95], atol=5e-4)


def test_epsilon_local_exploration_is_the_q_learners_rule_on_continuous_prices():
    """With probability epsilon a price moves: local_fraction of these by N(0, w^2) (w = local_width
    ticks in action units), the rest uniformly over [-1, 1]; every other price is mu(x) exactly.
    Frequencies and widths against their values (binomial / sampling tolerances, 40,000 draws)."""
    from orchestrator.learners.actions import epsilon_local_exploration

    box = PriceBox.from_config(ActionGridConfig())                      # ticks 0.01 / 0.005
    mu = box.actions(np.full(40000, 0.85), np.full(40000, 0.95))
    a = epsilon_local_exploration(mu, 0.1, 0.8, 3.0 * box.tick, np.random.default_rng(2))
    assert a.dtype == np.float32 and a.shape == mu.shape and np.all(np.abs(a) <= 1.0)
    moved = a != mu
    np.testing.assert_allclose(moved.mean(0), [0.1, 0.1], atol=0.005)    # epsilon
    np.testing.assert_allclose((np.abs(a - mu)[moved] < 15 * np.repeat(box.tick[None], len(a), 0)[moved]).mean(),
                               0.8 + 0.2 * np.mean(15 * box.tick), atol=0.01)   # local, or uniform near mu
    local = box.prices(epsilon_local_exploration(mu, 1.0, 1.0, 3.0 * box.tick, np.random.default_rng(4)))
    np.testing.assert_allclose([local[0].std() / 0.01, local[1].std() / 0.005], [3.0, 3.0], rtol=0.03)
    uniform = epsilon_local_exploration(mu, 1.0, 0.0, 3.0 * box.tick, np.random.default_rng(5))
    np.testing.assert_allclose([uniform.mean(0), uniform.std(0)], [[0, 0], [3 ** -0.5] * 2], atol=0.01)
    assert np.array_equal(epsilon_local_exploration(mu, 0.0, 0.8, box.tick, np.random.default_rng(3)), mu)


def test_td3_rule_explores_by_the_configured_action_noise_and_refuses_an_unknown_one():
    from lucas_abm.errors import ConfigError
    from orchestrator.config import config_from_dict
    from orchestrator.learners.rules import TD3Rule

    raw = {"market": {"n_agents": 4, "horizon": 10}, "learner": {"algorithm": "td3", "hidden": [8]}}
    x = np.zeros((4, D), np.float32)
    for noise, moved_fraction in (("gaussian", 1.0), ("epsilon-local", 0.1)):
        cfg = config_from_dict({**raw, "learner": {**raw["learner"], "action_noise": noise}})
        rule = TD3Rule(cfg, D)
        greedy = rule.policy(x, 0.0, None)["tree_action"]
        rng = np.random.default_rng(0)
        moved = np.mean([np.mean(rule.policy(x, 0.1, rng)["tree_action"] != greedy) for _ in range(500)])
        assert abs(moved - moved_fraction) < 0.03, (noise, moved)
    with pytest.raises(ConfigError, match="learner.action_noise"):
        config_from_dict({**raw, "learner": {**raw["learner"], "action_noise": "ou"}})
