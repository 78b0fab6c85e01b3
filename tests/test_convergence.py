"""The convergence rule on synthetic evaluation rows, and one short stochastic-dividend training
run through the CLI, its evaluation rows checked against closed-form prices.

The rule (docs/learning.md): an evaluation meets the criteria when |median p / p* - 1| <=
tree_tolerance, |median q / q* - 1| <= bond_tolerance, the volume per agent per step of each
asset is <= volume_tolerance and, for a stochastic dividend only, the mean tracking error
|p_k / p(y_t) - 1| of each asset is <= tracking_tolerance. The run converged at the first
evaluation after which every evaluation met them; with ``stop_after_converged_evals = k > 0``
it stops once the last k evaluations all met them.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from orchestrator.cli import main as cli_main
from orchestrator.config import load_config
from orchestrator.convergence import episodes_to_converge, final_numbers

try:  # the training roles (orchestrator/evaluator.py)
    from orchestrator.evaluator import converged_long_enough, criteria_met
except ImportError:  # pragma: no cover - before the driver's split into roles
    from types import SimpleNamespace

    from orchestrator.driver import Trainer

    def criteria_met(row, config, stochastic):
        return Trainer.criteria_met(SimpleNamespace(
            config=config, economy=SimpleNamespace(stochastic=stochastic)), row)

    def converged_long_enough(evaluations, config):
        return Trainer._converged_long_enough(SimpleNamespace(config=config,
                                                              evaluations=evaluations))

ROOT = Path(__file__).resolve().parents[1]
TOL = {"tree": 0.02, "bond": 0.01, "volume": 0.005, "tracking": 0.03}


def config(k=0, **tol):
    tol = {**TOL, **tol}
    return load_config(ROOT / "configs" / "thesis_cpu.yaml", [
        f"training.tree_tolerance={tol['tree']}", f"training.bond_tolerance={tol['bond']}",
        f"training.volume_tolerance={tol['volume']}",
        f"training.tracking_tolerance={tol['tracking']}",
        f"training.stop_after_converged_evals={k}"], seed=0)


def row(episode=10, tree=0.0, bond=0.0, tree_volume=0.0, bond_volume=0.0, tree_tracking=0.0,
        bond_tracking=0.0, converged=None) -> dict:
    out = {"episode": episode, "tree_price_rel_error": tree, "bond_price_rel_error": bond,
           "tree_volume_per_agent_per_step": tree_volume,
           "bond_volume_per_agent_per_step": bond_volume,
           "tree_price_tracking_error": tree_tracking, "bond_price_tracking_error": bond_tracking}
    if converged is not None:
        out["converged"] = converged
    return out


@pytest.mark.parametrize("field,limit", [("tree", 0.02), ("bond", 0.01)])
def test_price_errors_count_in_absolute_value_up_to_the_tolerance(field, limit):
    cfg = config()
    for stochastic in (False, True):
        for sign in (1, -1):
            assert criteria_met(row(**{field: sign * limit}), cfg, stochastic)
            assert not criteria_met(row(**{field: sign * limit * (1 + 1e-9)}), cfg, stochastic)
    assert criteria_met(row(), cfg, False)


@pytest.mark.parametrize("field", ["tree_volume", "bond_volume"])
def test_volume_of_each_asset_up_to_the_tolerance(field):
    cfg = config()
    assert criteria_met(row(**{field: 0.005}), cfg, False)
    assert not criteria_met(row(**{field: 0.0051}), cfg, False)
    assert not criteria_met(row(**{field: 0.0051}), cfg, True)


@pytest.mark.parametrize("field", ["tree_tracking", "bond_tracking"])
def test_tracking_tolerance_binds_only_for_a_stochastic_dividend(field):
    cfg = config()
    assert criteria_met(row(**{field: 0.03}), cfg, True)
    assert not criteria_met(row(**{field: 0.0301}), cfg, True)
    assert criteria_met(row(**{field: 0.5}), cfg, False)      # constant dividend: ignored
    loose = config(tracking=0.6)
    assert criteria_met(row(**{field: 0.5}), loose, True)


def test_first_converged_episode_is_the_start_of_the_final_converged_run():
    flags = [True, False, True, True, False, True, True, True]
    rows = [row(episode=10 * (i + 1), converged=c) for i, c in enumerate(flags)]
    assert episodes_to_converge(rows) == 60
    assert episodes_to_converge(rows[:5]) is None       # ends unconverged
    assert episodes_to_converge(rows[:4]) == 30
    assert episodes_to_converge([]) is None


def test_stop_after_converged_evals_needs_k_in_a_row():
    flags = [True, False, True, True]
    rows = [row(episode=10 * (i + 1), converged=c) for i, c in enumerate(flags)]
    assert not converged_long_enough(rows, config(k=0))          # 0: never stop early
    assert converged_long_enough(rows, config(k=1))
    assert converged_long_enough(rows, config(k=2))
    assert not converged_long_enough(rows, config(k=3))          # broken by the False
    assert not converged_long_enough(rows[:1], config(k=2))      # too few evaluations
    assert converged_long_enough(rows[:1], config(k=1))


def test_final_numbers_take_the_last_row_and_tracking_only_when_stochastic():
    last = {"tree_price_median": 0.86, "tree_price_star": 0.85, "tree_price_rel_error": 0.01,
            "bond_price_median": 0.94, "bond_price_star": 0.95, "bond_price_rel_error": -0.01,
            "tree_volume_per_agent_per_step": 0.001, "bond_volume_per_agent_per_step": 0.002,
            "tree_price_tracking_error": 0.02, "bond_price_tracking_error": 0.03}
    out = final_numbers(last, stochastic=True)
    assert out["tree_price"] == 0.86 and out["bond_price_rel_error"] == -0.01
    assert out["volume_per_agent_per_step"] == {"tree": 0.001, "bond": 0.002}
    assert out["tree_price_tracking_error"] == 0.02 and out["bond_price_tracking_error"] == 0.03
    assert "tree_price_tracking_error" not in final_numbers(last, stochastic=False)


# ---------------------------------------------------------------------------- a short run
BETA, ALPHA, SIGMA, MU = 0.95, 0.9, 0.03, -0.3105170186      # configs/log_ar1_cpu.yaml


def test_short_stochastic_dividend_run_scores_against_closed_form_prices(tmp_path):
    # Log utility: p(y) = beta/(1-beta) y, q(y) = beta y E[1/y' | y]
    #            = beta exp((1 - alpha) log y - mu + sigma^2/2)  (closed forms, not the solver).
    # Loose price and volume tolerances and a loose tracking tolerance: every evaluation meets
    # the criteria, so stop_after_converged_evals = 2 ends the run after episode 2 of 5.
    out = tmp_path / "run"
    sets = ["market.n_agents=10", "market.horizon=12", "training.episodes=5",
            "training.eval_interval=1", "training.checkpoint_interval=5", "replay.capacity=200",
            "replay.min_size=20", "learner.batch_size=8", "learner.hidden=[8, 8]",
            "training.tree_tolerance=10", "training.bond_tolerance=10",
            "training.volume_tolerance=10", "training.tracking_tolerance=10",
            "training.stop_after_converged_evals=2"]
    args = ["train", "--config", str(ROOT / "configs" / "log_ar1_cpu.yaml"), "--seed", "3",
            "--out", str(out), "--no-progress"] + sum([["--set", s] for s in sets], [])
    assert cli_main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 2 and summary["episodes_to_converge"] == 1
    assert summary["converged"] is True
    rows = [json.loads(line) for line in (out / "evaluation.jsonl").read_text().splitlines()
            if line.strip()]
    assert [r["episode"] for r in rows] == [1, 2] and all(r["converged"] for r in rows)
    for r in rows:
        ep = np.load(out / "episodes" / f"eval-{r['episode']:06d}.npz")
        y, p, q = ep["dividend"], ep["tree_price"], ep["bond_price"]
        assert p.shape == (12, 10)                     # all ten agents are the sampled ones
        assert np.ptp(y) > 0                           # the dividend moved
        p_star = BETA / (1 - BETA) * y
        q_star = BETA * np.exp((1 - ALPHA) * np.log(y) - MU + SIGMA ** 2 / 2)
        assert r["tree_price_star"] == pytest.approx(np.median(p_star), rel=1e-9)
        assert r["bond_price_star"] == pytest.approx(np.median(q_star), rel=1e-9)
        tracking_tree = np.mean(np.abs(p / p_star[:, None] - 1))
        tracking_bond = np.mean(np.abs(q / q_star[:, None] - 1))
        assert r["tree_price_tracking_error"] == pytest.approx(tracking_tree, rel=1e-9)
        assert r["bond_price_tracking_error"] == pytest.approx(tracking_bond, rel=1e-9)
        assert r["tree_price_rel_error"] == pytest.approx(
            np.median(p) / np.median(p_star) - 1, rel=1e-9, abs=1e-12)
        # the same row with the tracking tolerance just below / above its tracking error
        worst = max(tracking_tree, tracking_bond)
        assert not criteria_met(r, config(tree=10, bond=10, volume=10,
                                          tracking=worst * (1 - 1e-6)), True)
        assert criteria_met(r, config(tree=10, bond=10, volume=10,
                                      tracking=worst * (1 + 1e-6)), True)
    assert summary["tree_price_tracking_error"] == rows[-1]["tree_price_tracking_error"]
    assert math.isfinite(summary["bond_price_tracking_error"])
