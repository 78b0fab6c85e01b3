"""EnsembleDQN's construction: the seed fixes the initial weights (default 0), the online and
target networks start equal, each asset's Q head uses its own action basis, and the quadratic
basis (actions.price_basis) is a concave parabola with its vertex at the greedy price."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from orchestrator.agents import rbf_basis
from orchestrator.dqn import DQNHyperparameters, EnsembleDQN

HP = DQNHyperparameters(discount=0.95, hidden=(6, 6))


def weights(dqn: EnsembleDQN) -> list[np.ndarray]:
    return [w.numpy() for w in dqn.online.weights]


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_seed_fixes_the_initial_weights_and_the_target_starts_equal():
    def build(**kw):
        return EnsembleDQN(4, 2, 3, 9, 7, HP, **kw)

    default, zero, one = build(), build(seed=0), build(seed=1)
    assert same(weights(default), weights(zero))
    assert not same(weights(zero), weights(one))
    assert same(weights(one), [w.numpy() for w in one.target.weights])


def test_each_asset_uses_its_own_action_basis():
    # 9 tree prices with a basis every 4 grid points: 3 bumps; 7 bond prices every 2: 4 bumps.
    tree_basis, bond_basis = rbf_basis(9, 4), rbf_basis(7, 2)
    assert tree_basis.shape == (3, 9) and bond_basis.shape == (4, 7)
    dqn = EnsembleDQN(4, 2, 3, 9, 7, HP, tree_basis=tree_basis, bond_basis=bond_basis)
    assert (dqn.online.n_tree_out, dqn.online.n_bond_out) == (3, 4)
    assert (dqn.target.n_tree_out, dqn.target.n_bond_out) == (3, 4)
    q = dqn.online(np.zeros((2, 2, 3), np.float32))     # [groups, agents per group, inputs]
    tree, bond = q.tree_advantage.numpy(), q.bond_advantage.numpy()
    assert tree.shape[-1] == 9 and bond.shape[-1] == 7
    # the bond advantages over the grid combine the 4 bond bumps: in their row space
    coef, *_ = np.linalg.lstsq(bond_basis.T, bond.reshape(-1, 7).T, rcond=None)
    np.testing.assert_allclose(bond_basis.T @ coef, bond.reshape(-1, 7).T, atol=1e-5)
    plain = EnsembleDQN(4, 2, 3, 9, 7, HP)
    assert (plain.online.n_tree_out, plain.online.n_bond_out) == (9, 7)


def test_learning_rate_decays_linearly_to_its_final_value():
    # lr(k) = lr0 + (lr_final - lr0) min(k, K) / K over K = decay_updates Adam steps
    hp = DQNHyperparameters(discount=0.95, hidden=(6,), learning_rate=1e-3,
                            final_learning_rate=1e-4, decay_updates=10)
    dqn = EnsembleDQN(2, 2, 3, 5, 5, hp)
    schedule = tf.keras.optimizers.schedules.deserialize(
        dqn.optimizer.get_config()["learning_rate"])
    for k, want in ((0, 1e-3), (5, 5.5e-4), (10, 1e-4), (25, 1e-4)):
        assert float(schedule(k)) == pytest.approx(want, rel=1e-6)
    constant = EnsembleDQN(2, 2, 3, 5, 5, DQNHyperparameters(discount=0.95, hidden=(6,)))
    assert constant.optimizer.get_config()["learning_rate"] == pytest.approx(1e-3, rel=1e-6)


def test_quadratic_advantage_is_a_concave_parabola_with_its_vertex_at_the_greedy_price():
    """``actions.price_basis: quadratic``: each asset's two head outputs (r_1, r_2) give
    A(u_k) = -kappa (u_k - c)^2 + const on the grid u_k in [-1, 1], c = tanh(r_1),
    kappa = softplus(r_2); the greedy index is the grid point nearest c. Checked against a
    hand computation, up to the constant (the dueling mean removes it)."""
    from orchestrator.agents import quadratic_basis

    n_tree, n_bond = 201, 161
    dqn = EnsembleDQN(3, 3, 2, n_tree, n_bond, HP, tree_basis=quadratic_basis(n_tree),
                      bond_basis=quadratic_basis(n_bond), concave=True)
    net = dqn.online
    assert net.head_kernel.shape[-1] == 1 + 2 + 2          # V, (r_1, r_2) per asset
    # heads set by hand: zero kernel, the bias gives each group its own (r_1, r_2) per asset
    r = np.array([[0.3, -0.2, 0.1, 0.4],
                  [5.0, 0.0, -3.0, 1.0],                   # vertices near the ends of the grids
                  [-0.01, -4.0, 0.0, 2.0]], np.float32)    # a nearly flat tree parabola
    net.head_kernel.assign(tf.zeros_like(net.head_kernel))
    net.head_bias.assign(np.concatenate([np.zeros((3, 1, 1), np.float32), r[:, None, :]], -1))
    q = net(tf.zeros([3, 1, 2]))
    tree, bond = (t.numpy().reshape(3, -1) for t in q.greedy())
    for asset, k, (a, b), greedy in (("tree", n_tree, (0, 1), tree), ("bond", n_bond, (2, 3), bond)):
        u = np.linspace(-1, 1, k)
        advantage = getattr(q, f"{asset}_advantage").numpy()[:, 0, :]
        for g in range(3):
            kappa, vertex = np.log1p(np.exp(r[g, b])), np.tanh(r[g, a])
            expected = -kappa * (u - vertex) ** 2
            assert np.allclose(advantage[g] - advantage[g].mean(), expected - expected.mean(), rtol=0, atol=1e-5)
            assert np.all(np.diff(advantage[g], 2) <= 1e-6)            # concave
            assert int(greedy[g, 0]) == int(np.argmin(np.abs(u - vertex)))
    with pytest.raises(ValueError, match="quadratic bases"):
        EnsembleDQN(3, 3, 2, n_tree, n_bond, HP, concave=True)


def test_price_basis_is_checked_and_saved_only_when_quadratic():
    """One-line errors for an unknown basis and for a quadratic one with order sizes; the
    default (rbf) is not written to config.yaml, so earlier runs' configs are unchanged."""
    from pathlib import Path

    import yaml

    from lucas_abm.errors import ConfigError
    from orchestrator.config import ActionGridConfig, config_from_dict

    with pytest.raises(ConfigError, match=r"actions.price_basis: must be one of rbf, quadratic, got 'cubic'"):
        ActionGridConfig(price_basis="cubic")
    with pytest.raises(ConfigError, match=r"actions.price_basis: must be rbf when actions.tree_positions"):
        ActionGridConfig(price_basis="quadratic", tree_positions=[0.0], bond_positions=[0.0])
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs/thesis_cpu.yaml").read_text())
    assert "price_basis" not in config_from_dict(raw).to_dict()["actions"]     # saved as before
    raw["actions"]["price_basis"] = "quadratic"
    assert config_from_dict(raw).to_dict()["actions"]["price_basis"] == "quadratic"
