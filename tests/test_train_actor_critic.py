"""``lucas-abm train`` with the actor-critics: ``--set learner.algorithm=td3`` (or ``sac``).

Real processes, real Reverb, real TF ensembles on configs/smoke.yaml (10 agents, 20 steps):

- TD3: a run of 2 episodes, then ``--resume`` to 4: summary.json reports 4 episodes and more
  updates than the first part, metrics.csv has one row per episode 1..4 (none lost or
  repeated), and the evaluated tree prices are continuous (the affine map of
  orchestrator.learners.actions), not on the Q-learners' 0.01 price grid.
- SAC: 2 episodes in one process, the same checks.
- ``learner.algorithm=foo``: one-line ConfigError naming learner.algorithm, exit 2, before
  TensorFlow is imported.
- A run saved before ``learner.algorithm`` existed resumes as dqn (the default); as td3, refused.
Not a convergence test: a few episodes are far too short for that.
"""
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

SMOKE = Path("configs/smoke.yaml")
FAST = ["training.eval_interval=2", "training.checkpoint_interval=2", "replay.min_size=20"]
GRID_STEP = 0.01     # actions.tree_step of configs/smoke.yaml


def train(out: Path, algorithm: str, episodes: int, resume: bool = False) -> subprocess.CompletedProcess:
    sets = [f"learner.algorithm={algorithm}", f"training.episodes={episodes}", *FAST]
    cmd = [sys.executable, "-m", "orchestrator.cli", "train", "--config", str(SMOKE), "--out", str(out),
           "--no-progress", *[a for s in sets for a in ("--set", s)]] + (["--resume"] if resume else [])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def off_grid(prices: np.ndarray, low: float = 0.40) -> bool:
    """True if some price is not low + k * 0.01 (to 1e-6)."""
    k = (prices - low) / GRID_STEP
    return bool(np.any(np.abs(k - np.round(k)) > 1e-4))


def check_run(out: Path, episodes: int) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algorithm"] == yaml.safe_load((out / "config.yaml").read_text())["learner"]["algorithm"]
    assert summary["episodes"] == episodes
    assert summary["updates"] > 0
    metrics = rows(out / "metrics.csv")
    assert [int(r["episode"]) for r in metrics] == list(range(1, episodes + 1))
    evaluations = rows(out / "evaluation.csv")
    assert [int(r["episode"]) for r in evaluations] == list(range(2, episodes + 1, 2))
    tree = np.array([float(r["tree_price_median"]) for r in metrics + evaluations])
    assert np.all((tree >= 0.40 - 1e-9) & (tree <= 2.00 + 1e-9))   # inside [tree_low, tree_high]
    assert off_grid(tree), tree                                     # continuous prices
    assert np.isfinite(summary["tree_price"]) and np.isfinite(summary["bond_price"])
    return summary


def test_td3_trains_and_resumes(tmp_path):
    out = tmp_path / "td3"
    train(out, "td3", 2)
    first = check_run(out, 2)
    train(out, "td3", 4, resume=True)
    second = check_run(out, 4)
    assert second["updates"] > first["updates"]
    saved = (out / "config.yaml").read_text()
    assert "algorithm: td3" in saved


def test_sac_trains(tmp_path):
    out = tmp_path / "sac"
    train(out, "sac", 2)
    check_run(out, 2)


def test_unknown_algorithm_is_refused_before_tensorflow():
    code = ("import sys; from orchestrator.cli import main; "
            "rc = main(['train', '--config', 'configs/smoke.yaml', '--set', 'learner.algorithm=foo', "
            "'--out', '/nonexistent/never-made']); "
            "assert rc == 2 and 'tensorflow' not in sys.modules, rc")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    err = done.stderr.strip()
    assert err.count("\n") == 0 and "learner.algorithm" in err and "dqn, td3, sac" in err, err


def test_run_saved_before_algorithm_existed_resumes_as_dqn(tmp_path):
    """A config.yaml written before learner.algorithm and TD3's keys existed: resuming it with
    the defaults (dqn) is allowed; resuming it as td3 is refused, naming learner.algorithm."""
    import pytest
    import yaml

    from lucas_abm.errors import ConfigError
    from orchestrator.config import load_config
    from orchestrator.resume import check_resumable

    config = load_config(SMOKE).to_dict()
    old = yaml.safe_load(yaml.safe_dump(config, sort_keys=False))
    for key in ("algorithm", "policy_delay", "target_noise", "target_noise_clip", "preactivation_penalty"):
        del old["learner"][key]
    saved = tmp_path / "config.yaml"
    saved.write_text(yaml.safe_dump(old, sort_keys=False))
    check_resumable(saved, config)
    config["learner"]["algorithm"] = "td3"
    with pytest.raises(ConfigError, match=r"changed learner\.algorithm'"):
        check_resumable(saved, config)
