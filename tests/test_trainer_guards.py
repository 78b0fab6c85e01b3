"""``lucas-abm train`` refuses to overwrite or mix runs, and shares weights by agent type.

The four refusals of the output-directory and resume guards, each a one-line error with
exit code 2 that leaves the directory as it was:

1. a directory holding a run's logs but no checkpoint, without ``--resume``;
2. a directory holding checkpoints, without ``--resume``;
3. ``--resume`` with a configuration other than the one the run was started with;
4. ``--resume`` in the other layout (one process, or processes: ``--actors K``).

Shared weights with ``agent_types = 3`` (contiguous equal blocks of agents, config.py): at
t = 0 of a greedy evaluation every agent sees the same observation (the endowment), so agents
of one type post the same prices and, their networks being initialised differently, the
three types do not all post the same ones.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from orchestrator.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
SETS = ["market.n_agents=9", "market.horizon=12", "training.episodes=2",
        "training.eval_interval=1", "training.checkpoint_interval=1", "replay.capacity=200",
        "replay.min_size=20", "learner.batch_size=8", "learner.hidden=[8, 8]",
        "learner.weight_sharing=shared", "learner.agent_types=3"]


def train_args(out: Path, *extra: str) -> list[str]:
    args = ["train", "--config", str(ROOT / "configs" / "thesis_cpu.yaml"), "--seed", "2",
            "--out", str(out), "--no-progress"]
    return args + sum([["--set", s] for s in SETS], []) + list(extra)


def snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): p.stat().st_size for p in directory.rglob("*")
            if p.is_file()}


def refused(args: list[str], capsys, *fields: str) -> str:
    """Exit code 2 and one line ``lucas-abm: error: FIELD: ...`` naming one of ``fields``."""
    capsys.readouterr()
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    assert any(err.startswith(f"lucas-abm: error: {field}:") for field in fields), err
    return err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("guards") / "run"
    assert cli_main(train_args(out)) == 0
    return out


def test_shared_weights_by_contiguous_agent_type(finished_run):
    summary = json.loads((finished_run / "summary.json").read_text())
    assert summary["weight_sharing"] == "shared" and summary["episodes"] == 2
    for episode in (1, 2):
        ep = np.load(finished_run / "episodes" / f"eval-{episode:06d}.npz")
        np.testing.assert_array_equal(ep["agents"], np.arange(9))   # all nine are sampled
        for prices in (ep["tree_price"][0], ep["bond_price"][0]):
            blocks = prices.reshape(3, 3)                           # types: agents 0-2, 3-5, 6-8
            np.testing.assert_array_equal(blocks, blocks[:, :1].repeat(3, axis=1))
        posted = np.stack([ep["tree_price"][0, ::3], ep["bond_price"][0, ::3]])  # one per type
        assert len({tuple(col) for col in posted.T}) > 1, "the three types post the same prices"


def test_checkpoints_without_resume_are_refused(finished_run, capsys):
    before = snapshot(finished_run)
    assert any(name.startswith("checkpoints/") for name in before)
    err = refused(train_args(finished_run), capsys, "--out")
    assert "--resume" in err
    assert snapshot(finished_run) == before


def test_resume_with_another_configuration_is_refused(finished_run, capsys):
    before = snapshot(finished_run)
    refused(train_args(finished_run, "--resume", "--set", "learner.learning_rate=0.002"), capsys,
            "--config", "--resume")
    assert snapshot(finished_run) == before


def test_logs_without_checkpoints_and_without_resume_are_refused(tmp_path, capsys):
    out = tmp_path / "logs-only"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"episode": 1}\n')
    before = snapshot(out)
    err = refused(train_args(out), capsys, "--out")
    assert "--resume" in err
    assert snapshot(out) == before


def test_a_run_continues_only_in_the_layout_it_was_trained_in(finished_run, tmp_path, capsys):
    """4. ``--resume --actors K`` on a one-process run, whose episodes no actor logged (before:
    the learner role failed on the missing actor keys six times, then exit 4), and plain
    ``--resume`` on a run of processes (one with ``OUT/actors/``, its actors' episode logs)."""
    before = snapshot(finished_run)
    err = refused(train_args(finished_run, "--resume", "--actors", "1"), capsys, "--actors")
    assert err.endswith("a run trained in one process, got 1")
    assert snapshot(finished_run) == before
    processes = tmp_path / "processes"
    processes.mkdir()
    (processes / "metrics.jsonl").write_text((finished_run / "metrics.jsonl").read_text())
    (processes / "actors").mkdir()
    err = refused(train_args(processes, "--resume"), capsys, "--actors")
    assert err == (f"lucas-abm: error: --actors: must be K >= 1 to continue {processes}, a run trained "
                   "as processes (train --actors K or compose), got 0")
