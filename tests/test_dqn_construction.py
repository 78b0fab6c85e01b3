"""EnsembleDQN's construction: the seed fixes the initial weights (default 0), the online and
target networks start equal, and each asset's Q head uses its own action basis."""
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
