"""The batched ensemble is exactly N independent learners (or one shared learner per group).

Checked against independent computations:
- the forward pass of group g equals a NumPy MLP with group g's slice of the weights;
- the loss of one train_step equals the n-step double-DQN Huber loss computed in NumPy,
  and the target network moves by the Polyak rule;
- changing only agent k's rewards moves only agent k's weights (bitwise);
- one train_step of the ensemble equals N separate single-agent EnsembleDQNs, each given
  that agent's weights and data slice;
- shared mode (groups < N) equals one network per group trained on its agents' pooled data;
- the learner-throughput benchmark's baseline (a TF-Agents DdqnAgent fed agent k's slice of
  the same windows) minimises that same loss, so the benchmark compares like with like.
"""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from orchestrator.dqn import DQNHyperparameters, EnsembleDQN
from orchestrator.networks import EnsembleQNetwork

D, K_TREE, K_BOND, B, N_STEP, BETA = 4, 6, 3, 8, 3, 0.95
HP = DQNHyperparameters(discount=BETA, n_step=N_STEP)


def numpy_heads(weights: list[np.ndarray], x: np.ndarray, g: int, n_hidden: int,
                tree_basis=None, bond_basis=None, n_tree_out=K_TREE):
    """Plain MLP for one group: h_{l+1} = relu(h_l W_l + b_l); [V | A_tree | A_bond] = h W_head + b_head."""
    kernels, biases = weights[:n_hidden], weights[n_hidden:2 * n_hidden]
    head_kernel, head_bias = weights[-2], weights[-1]
    h = x.astype(np.float64)
    for w, b in zip(kernels, biases):
        h = np.maximum(h @ w[g] + b[g, 0], 0.0)
    out = h @ head_kernel[g] + head_bias[g, 0]
    tree, bond = out[:, 1:1 + n_tree_out], out[:, 1 + n_tree_out:]
    if tree_basis is not None:
        tree = tree @ tree_basis
    if bond_basis is not None:
        bond = bond @ bond_basis
    return out[:, 0], tree, bond


def numpy_q(value, tree, bond, i, j):
    """Q(x, i, j) = V + A_tree(i) - mean A_tree + A_bond(j) - mean A_bond."""
    rows = np.arange(len(value))
    return value + tree[rows, i] - tree.mean(-1) + bond[rows, j] - bond.mean(-1)


def snapshot(variables) -> list[np.ndarray]:
    return [v.numpy().copy() for v in variables]


def make_windows(n_agents: int, seed: int = 0):
    """Random n-step windows: observation [B, n+1, N, D], actions [B, n, N], reward [B, n, N]."""
    rng = np.random.default_rng(seed)
    return dict(
        observation=rng.standard_normal((B, N_STEP + 1, n_agents, D)).astype(np.float32),
        tree_action=rng.integers(0, K_TREE, (B, N_STEP, n_agents)).astype(np.int32),
        bond_action=rng.integers(0, K_BOND, (B, N_STEP, n_agents)).astype(np.int32),
        reward=rng.standard_normal((B, N_STEP, n_agents)).astype(np.float32))


def train(dqn: EnsembleDQN, windows: dict, steps: int = 1):
    out = None
    for _ in range(steps):
        out = dqn.train_step(*(tf.constant(windows[k]) for k in
                               ("observation", "tree_action", "bond_action", "reward")))
    return [t.numpy() for t in out]


def copy_group(dst: EnsembleDQN, src: EnsembleDQN, g: int) -> None:
    """dst (one group) <- src's group g, online and target weights."""
    for net_dst, net_src in ((dst.online, src.online), (dst.target, src.target)):
        for mine, theirs in zip(net_dst.weights, net_src.weights):
            mine.assign(theirs[g:g + 1])


def test_forward_pass_of_each_group_is_a_plain_mlp_with_its_weight_slice():
    groups = 3
    rng = np.random.default_rng(1)
    tree_basis = rng.standard_normal((4, K_TREE)).astype(np.float32)
    for basis in (None, tree_basis):
        net = EnsembleQNetwork(groups, D, K_TREE, K_BOND, seed=1, tree_basis=basis)
        for v in net.biases + [net.head_bias]:      # non-zero biases, so they are tested too
            v.assign(0.1 * rng.standard_normal(v.shape).astype(np.float32))
        x = rng.standard_normal((groups, 7, D)).astype(np.float32)
        q = net(tf.constant(x))
        weights = snapshot(net.weights)
        i = rng.integers(0, K_TREE, (groups, 7)).astype(np.int32)
        j = rng.integers(0, K_BOND, (groups, 7)).astype(np.int32)
        joint = net(tf.constant(x)).joint(tf.constant(i), tf.constant(j)).numpy()
        greedy_tree, greedy_bond = (a.numpy() for a in q.greedy())
        for g in range(groups):
            value, tree, bond = numpy_heads(weights, x[g], g, 4, tree_basis=basis,
                                            n_tree_out=K_TREE if basis is None else 4)
            np.testing.assert_allclose(q.value.numpy()[g], value, atol=1e-5, rtol=1e-5)
            np.testing.assert_allclose(q.tree_advantage.numpy()[g], tree, atol=1e-5, rtol=1e-5)
            np.testing.assert_allclose(q.bond_advantage.numpy()[g], bond, atol=1e-5, rtol=1e-5)
            np.testing.assert_allclose(joint[g], numpy_q(value, tree, bond, i[g], j[g]), atol=1e-5, rtol=1e-5)
            # greedy = argmax over the whole K_tree x K_bond grid, found by brute force
            grid = np.stack([[numpy_q(value, tree, bond, np.full(7, a), np.full(7, c)) for c in range(K_BOND)]
                             for a in range(K_TREE)])                       # [K_tree, K_bond, 7]
            flat = grid.reshape(K_TREE * K_BOND, 7).argmax(0)
            np.testing.assert_array_equal(greedy_tree[g], flat // K_BOND)
            np.testing.assert_array_equal(greedy_bond[g], flat % K_BOND)


def test_price_basis_expanded_over_positions_equals_the_kronecker_basis():
    """With P positions per price, the heads equal the dense basis kron(phi, I_P) (price-major
    action index price * P + position), which the network never builds."""
    groups, n_prices, n_pos = 2, 5, 3
    rng = np.random.default_rng(2)
    tree_basis = rng.standard_normal((2, n_prices)).astype(np.float32)
    bond_basis = rng.standard_normal((3, K_BOND)).astype(np.float32)
    net = EnsembleQNetwork(groups, D, n_prices * n_pos, K_BOND * 2, seed=3, tree_basis=tree_basis,
                           bond_basis=bond_basis, tree_positions=n_pos, bond_positions=2)
    net.head_bias.assign(0.1 * rng.standard_normal(net.head_bias.shape).astype(np.float32))
    x = rng.standard_normal((groups, 7, D)).astype(np.float32)
    q = net(tf.constant(x))
    assert q.tree_advantage.shape == (groups, 7, n_prices * n_pos) and q.bond_advantage.shape == (groups, 7, 2 * K_BOND)
    dense_tree, dense_bond = np.kron(tree_basis, np.eye(n_pos)), np.kron(bond_basis, np.eye(2))
    for g in range(groups):
        value, tree, bond = numpy_heads(snapshot(net.weights), x[g], g, 4, tree_basis=dense_tree,
                                        bond_basis=dense_bond, n_tree_out=2 * n_pos)
        np.testing.assert_allclose(q.tree_advantage.numpy()[g], tree, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(q.bond_advantage.numpy()[g], bond, atol=1e-5, rtol=1e-5)


def test_train_step_loss_is_the_n_step_double_dqn_huber_loss_and_target_is_polyak():
    n_agents = 3
    dqn = EnsembleDQN(n_agents, n_agents, D, K_TREE, K_BOND, HP, seed=2)
    rng = np.random.default_rng(3)
    for v in dqn.target.weights:   # target != online, so that double DQN is distinguishable from DQN
        v.assign(v + 0.05 * rng.standard_normal(v.shape).astype(np.float32))
    online, target = snapshot(dqn.online.weights), snapshot(dqn.target.weights)
    w = make_windows(n_agents, seed=4)
    loss, mean_abs_td, _ = train(dqn, w)
    expected_loss, abs_td = 0.0, []
    for k in range(n_agents):
        ret = sum(BETA ** i * w["reward"][:, i, k].astype(np.float64) for i in range(N_STEP))
        v_n, t_n, b_n = numpy_heads(online, w["observation"][:, N_STEP, k], k, 4)
        a_star, c_star = t_n.argmax(-1), b_n.argmax(-1)                    # online chooses
        q_next = numpy_q(*numpy_heads(target, w["observation"][:, N_STEP, k], k, 4), a_star, c_star)
        g_t = ret + BETA ** N_STEP * q_next                               # target evaluates
        q = numpy_q(*numpy_heads(online, w["observation"][:, 0, k], k, 4),
                    w["tree_action"][:, 0, k], w["bond_action"][:, 0, k])
        err = np.abs(g_t - q)
        expected_loss += np.where(err <= 1.0, 0.5 * err ** 2, err - 0.5).mean()
        abs_td.append(err)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    assert mean_abs_td == pytest.approx(np.mean(abs_td), rel=1e-5)
    tau = HP.target_update_tau
    for new_target, new_online, old_target in zip(snapshot(dqn.target.weights), snapshot(dqn.online.weights),
                                                  target):
        np.testing.assert_allclose(new_target, tau * new_online + (1 - tau) * old_target, atol=1e-7)


def test_changing_one_agents_rewards_moves_only_that_agents_weights():
    n_agents, k = 4, 2
    base = make_windows(n_agents, seed=5)
    changed = {name: a.copy() for name, a in base.items()}
    changed["reward"][:, :, k] += 1.0
    runs = []
    for windows in (base, changed):
        dqn = EnsembleDQN(n_agents, n_agents, D, K_TREE, K_BOND, HP, seed=0)
        train(dqn, windows)
        runs.append(snapshot(dqn.online.weights) + snapshot(dqn.target.weights)
                    + [v.numpy() for v in dqn.optimizer.variables if v.shape.rank == 3])
    moved = 0.0
    for a, b in zip(*runs):
        others = [g for g in range(n_agents) if g != k]
        np.testing.assert_array_equal(a[others], b[others])     # bitwise identical
        moved = max(moved, np.abs(a[k] - b[k]).max())
    assert moved > 1e-4


def test_one_train_step_equals_n_separate_single_agent_updates():
    n_agents, steps = 3, 2
    ensemble = EnsembleDQN(n_agents, n_agents, D, K_TREE, K_BOND, HP, seed=6)
    singles = []
    for g in range(n_agents):
        single = EnsembleDQN(1, 1, D, K_TREE, K_BOND, HP, seed=100 + g)
        copy_group(single, ensemble, g)
        singles.append(single)
    w = make_windows(n_agents, seed=7)
    loss, _, _ = train(ensemble, w, steps)
    single_losses = [train(s, {name: a[:, :, g:g + 1] for name, a in w.items()}, steps)[0]
                     for g, s in enumerate(singles)]
    assert loss == pytest.approx(sum(single_losses), rel=1e-5)
    for g, single in enumerate(singles):
        for net_e, net_s in ((ensemble.online, single.online), (ensemble.target, single.target)):
            for we, ws in zip(net_e.weights, net_s.weights):
                np.testing.assert_allclose(we.numpy()[g:g + 1], ws.numpy(), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("groups", [1, 2])
def test_shared_mode_trains_one_network_per_group_on_its_agents_pooled_data(groups):
    n_agents, steps = 4, 2
    per_group = n_agents // groups
    shared = EnsembleDQN(n_agents, groups, D, K_TREE, K_BOND, HP, seed=8)
    w = make_windows(n_agents, seed=9)
    before = snapshot(shared.online.weights)
    loss, _, _ = train(shared, w, steps)
    total = 0.0
    for g in range(groups):
        pooled = EnsembleDQN(1, 1, D, K_TREE, K_BOND, HP, seed=200 + g)
        for net in (pooled.online, pooled.target):                # at the start target = online
            for v, w0 in zip(net.weights, before):
                v.assign(w0[g:g + 1])
        agents = slice(g * per_group, (g + 1) * per_group)        # contiguous blocks of agents
        data = {}
        for name, a in w.items():                                 # agents into the batch: [B*per_group, T, 1, ...]
            a = np.moveaxis(a[:, :, agents], 2, 1)
            data[name] = a.reshape((B * per_group,) + a.shape[2:3] + (1,) + a.shape[3:])
        total += train(pooled, data, steps)[0]
        for we, ws in zip(shared.online.weights + shared.target.weights,
                          pooled.online.weights + pooled.target.weights):
            np.testing.assert_allclose(we.numpy()[g:g + 1], ws.numpy(), atol=1e-6, rtol=1e-5)
    assert loss == pytest.approx(total, rel=1e-5)
    assert shared.online.kernels[0].shape[0] == groups        # one weight set per group, not per agent


def test_benchmark_baseline_dqn_agent_minimises_the_same_loss_on_the_same_data():
    """The learner-throughput baseline (a TF-Agents DdqnAgent fed agent k's slice of the
    ensemble's windows) computes the n-step double-DQN Huber loss of that slice."""
    from benchmark_scripts import load_benchmark

    lt = load_benchmark("learner_throughput")
    cfg = lt.BenchmarkConfig(agents=(3,), batch=B, n_actions=K_TREE, n_step=N_STEP, discount=BETA)
    windows = lt.make_windows(cfg, 3, np.random.default_rng(10))
    agent = lt.make_dqn_agent(cfg, 0)
    rng = np.random.default_rng(11)
    for v in agent._target_q_network.trainable_weights:   # target != online: double DQN is visible
        v.assign(v + 0.05 * rng.standard_normal(v.shape).astype(np.float32))
    k = 1

    def q_values(net, x):                                 # QNetwork: relu Dense x 4, linear Dense
        w = [v.numpy().astype(np.float64) for v in net.trainable_weights]
        h = x.astype(np.float64)
        for kernel, bias in zip(w[0:-2:2], w[1:-2:2]):
            h = np.maximum(h @ kernel + bias, 0.0)
        return h @ w[-2] + w[-1]

    obs = windows.observation.numpy()[:, :, k]
    reward = windows.reward.numpy()[:, :, k].astype(np.float64)
    ret = sum(BETA ** i * reward[:, i] for i in range(N_STEP))
    rows = np.arange(B)
    a_star = q_values(agent._q_network, obs[:, N_STEP]).argmax(-1)
    g_t = ret + BETA ** N_STEP * q_values(agent._target_q_network, obs[:, N_STEP])[rows, a_star]
    q = q_values(agent._q_network, obs[:, 0])[rows, windows.tree_action.numpy()[:, 0, k]]
    err = np.abs(g_t - q)
    # the loss that agent.train minimises, evaluated before its update (TF-Agents' public
    # agent.loss would evaluate the TD target with gamma = 1, DqnAgent._loss's default)
    loss = agent.train(lt.agent_trajectory(windows, k)).loss.numpy()
    assert loss == pytest.approx(np.where(err <= 1.0, 0.5 * err ** 2, err - 0.5).mean(), rel=1e-5)
