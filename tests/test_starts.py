"""Exploring starts (orchestrator/starts.py, ``exploration.start_tree_spread`` /
``start_bond_spread``): the spread holdings keep the tree supply and the bonds' zero net
supply exact and stay feasible for any population, their spread is the uniform law's
sigma / sqrt(3), a training episode starts from them while evaluation starts from the
endowment, and spreads outside [0, 0.5] are refused."""
from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from lucas_abm.errors import ConfigError
from orchestrator.starts import START_STREAM, start_holdings


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1),
       tree=st.floats(0.0, 0.5), bond=st.floats(0.0, 0.5))
def test_supply_and_feasibility_for_any_population(n, seed, tree, bond):
    """sum s = sum s0 and sum b = 0 to round-off; s >= 0 and b >= -L for any sizes and limits."""
    rng = np.random.default_rng(seed)
    s0 = rng.pareto(1.2, n) + 0.05
    limits = rng.uniform(0.0, 0.1, n) * s0
    s, b = start_holdings(s0, limits, tree, bond, rng)
    assert abs(s.sum() - s0.sum()) <= 1e-12 * s0.sum()
    assert abs(b.sum()) <= 1e-12 * max(limits.sum(), 1e-300)
    assert s.min() >= 0.0 and np.all(b >= -limits)
    assert np.all(np.abs(s / s0 - 1.0) <= 2.0 * tree + 1e-12)


def test_zero_spreads_are_the_endowment():
    s0 = np.array([0.5, 1.0, 2.5])
    s, b = start_holdings(s0, 0.035 * s0, 0.0, 0.0, np.random.default_rng(0))
    np.testing.assert_array_equal(s, s0)
    np.testing.assert_array_equal(b, np.zeros(3))


def test_spread_is_the_uniform_law():
    """Equal sizes: s/s0 - 1 = sigma (z - zbar), sd sigma / sqrt(3) (the U[-1, 1] law's 1/sqrt(3));
    b / L likewise. N = 200,000 draws: the sample sd is within 1% of it."""
    n, tree, bond = 200_000, 0.1, 0.25
    s0 = np.ones(n)
    s, b = start_holdings(s0, np.full(n, 0.035), tree, bond, np.random.default_rng(3))
    assert np.std(s - 1.0) == pytest.approx(tree / np.sqrt(3.0), rel=0.01)
    assert np.std(b / 0.035) == pytest.approx(bond / np.sqrt(3.0), rel=0.01)
    assert np.corrcoef(s, b)[0, 1] == pytest.approx(0.0, abs=0.01)   # independent draws


def test_config_refuses_spreads_outside_the_feasible_range():
    from orchestrator.config import ExplorationConfig

    assert ExplorationConfig(start_tree_spread=0.5).start_tree_spread == 0.5
    with pytest.raises(ConfigError, match=r"exploration.start_tree_spread: .*\[0, 0.5\]"):
        ExplorationConfig(start_tree_spread=0.6)
    with pytest.raises(ConfigError, match="exploration.start_bond_spread"):
        ExplorationConfig(start_bond_spread=-0.1)


def test_training_starts_spread_and_evaluation_from_the_endowment(tmp_path):
    """Two types on the chain with schedules: the first training episode's sampled agents start
    at start_holdings drawn from the episode's seed; the saved evaluation starts at s0, b = 0."""
    from orchestrator.config import config_from_dict
    from orchestrator.episode import episode_seed
    from orchestrator.local import LocalTrainer
    from tests.test_population_training import GAMMAS, MARKOV, raw

    r = raw(GAMMAS)
    r["economy"] = dict(MARKOV)
    r["actions"] = {"tree_low": 0.5, "tree_high": 1.5, "bond_low": 0.8, "bond_high": 1.2,
                    "tree_schedule_slope": 0.25, "bond_schedule_slope": 0.25}
    r["exploration"] = dict(copy.deepcopy(r.get("exploration", {})), start_tree_spread=0.2,
                            start_bond_spread=0.4)
    cfg = config_from_dict(r)
    cfg.training.episodes = 1
    trainer = LocalTrainer(cfg, tmp_path / "run", progress=False)
    try:
        market = trainer.actor.market
        s0 = market.agents.initial_shares.copy()
        limits = market.rules.borrowing_limits
        _, record = trainer.actor.run_episode(0, 1.0)
        rng = np.random.default_rng([episode_seed(cfg.training.seed, 0, 0), START_STREAM])
        s, b = start_holdings(s0, limits, 0.2, 0.4, rng)
        k = trainer.actor.sampled
        np.testing.assert_array_equal(record.shares[0], s[k])
        np.testing.assert_array_equal(record.bonds[0], b[k])
        assert np.abs(s / s0 - 1.0).max() > 0.05          # the start is not the endowment
        trainer.evaluate()
    finally:
        trainer.close()
    npz = np.load(next((tmp_path / "run" / "episodes").glob("eval-*.npz")))
    np.testing.assert_array_equal(npz["shares"][0], s0[npz["agents"]])
    np.testing.assert_array_equal(npz["bonds"][0], np.zeros(len(npz["agents"])))
