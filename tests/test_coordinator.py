"""The distributed run's bookkeeping (orchestrator/coordinator.py) on real files, in-process:
durable JSON lines (torn lines ignored), exactly-once episode counting across actors and
restarts, the stop rule and summary.json's counts, checked against hand counts.

tests/test_distributed.py runs the same coordinator inside real processes that are killed;
these are the fast cases (about a second after the imports) that the mutation runs use.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from orchestrator.config import load_config
from orchestrator.coordinator import (Coordinator, actor_log, append_row, checkpoint_manager,
                                      read_rows)
from orchestrator.episode import Economy
from orchestrator.metrics import MetricsLog

SMOKE = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"   # 10 agents, horizon 20


def config(episodes=5, stop_after=0):
    return load_config(SMOKE, [f"training.episodes={episodes}",
                               f"training.stop_after_converged_evals={stop_after}"])


def coordinator(tmp_path, cfg):
    return Coordinator(cfg, tmp_path, MetricsLog(tmp_path, "metrics", None), Economy(cfg))


def evaluation(episode, converged):
    return {"episode": episode, "converged": converged,
            "tree_price_median": 0.9, "tree_price_star": 0.8515, "tree_price_rel_error": 0.057,
            "bond_price_median": 0.95, "bond_price_star": 0.95, "bond_price_rel_error": 0.0,
            "tree_volume_per_agent_per_step": 0.25, "bond_volume_per_agent_per_step": 0.5}


def test_read_rows_keeps_complete_lines_only(tmp_path):
    path = tmp_path / "rows.jsonl"
    assert read_rows(path) == []
    path.write_text('{"a": 1}\n\n   \n{"a": 2}\nnot json\n{"a": 3}\n{"a": 4')   # last line torn
    assert read_rows(path) == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_a_torn_metrics_line_does_not_stop_a_restart(tmp_path):
    """A run killed mid-write leaves a torn last line in metrics.jsonl; the log reopens with
    the complete rows, and a coordinator restarted on it counts exactly those episodes."""
    (tmp_path / "metrics.jsonl").write_text(
        '{"episode": 1, "actor": 0, "actor_episode": 0}\n'
        '{"episode": 2, "actor": 0, "actor_episode": 1}\n{"episode": 3, "act')
    log = MetricsLog(tmp_path, "metrics", None)
    assert [r["episode"] for r in log.rows()] == [1, 2]
    assert coordinator(tmp_path, config()).episode == 2
    assert read_rows(tmp_path / "metrics.jsonl") == log.rows()       # the torn tail is gone
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") == 2


def test_append_row_writes_one_whole_line_each(tmp_path):
    path = tmp_path / "log.jsonl"
    append_row(path, {"actor": 0, "actor_episode": 0})
    append_row(path, {"actor": 0, "actor_episode": 1, "x": 0.5})
    assert path.read_text() == ('{"actor": 0, "actor_episode": 0}\n'
                                '{"actor": 0, "actor_episode": 1, "x": 0.5}\n')
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644 & ~_umask())
    assert read_rows(path)[1]["x"] == 0.5


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_paths_of_actor_logs_and_checkpoints(tmp_path):
    assert actor_log(tmp_path, 3) == tmp_path / "actors" / "actor-3.jsonl"
    assert checkpoint_manager(tmp_path, 0).directory == tmp_path / "checkpoints"
    assert checkpoint_manager(tmp_path, 2).directory == tmp_path / "checkpoints-shard2"
    assert (tmp_path / "checkpoints-shard2").is_dir()


def test_each_completed_episode_is_counted_once_up_to_the_budget(tmp_path):
    c = coordinator(tmp_path, config(episodes=5))
    assert (tmp_path / "actors").is_dir() and c.episode == 0 and c.seen == set()
    assert c.poll({"lr": 1.0}) == 0
    for k in range(2):
        append_row(actor_log(tmp_path, 1), {"actor": 1, "actor_episode": k, "reward": 10 + k})
    for k in range(3):
        append_row(actor_log(tmp_path, 0), {"actor": 0, "actor_episode": k, "reward": k})
    assert c.poll({"lr": 0.5}) == 5
    assert c.poll({"lr": 0.5}) == 0                        # nothing new: nothing counted twice
    rows = read_rows(tmp_path / "metrics.jsonl")
    # actor files in sorted order, each in its own order; global numbers 1..5
    assert [(r["episode"], r["actor"], r["actor_episode"]) for r in rows] == [
        (1, 0, 0), (2, 0, 1), (3, 0, 2), (4, 1, 0), (5, 1, 1)]
    assert all(r["lr"] == 0.5 for r in rows) and rows[3]["reward"] == 10
    assert not c.done() or c.episode == 5
    assert c.done()
    append_row(actor_log(tmp_path, 0), {"actor": 0, "actor_episode": 3, "reward": 3})
    assert c.poll({}) == 0 and c.episode == 5              # the budget is spent


def test_a_restarted_coordinator_skips_what_it_logged_and_counts_the_rest(tmp_path):
    cfg = config(episodes=10)
    first = coordinator(tmp_path, cfg)
    for k in range(3):
        append_row(actor_log(tmp_path, 0), {"actor": 0, "actor_episode": k})
    assert first.poll({}) == 3
    append_row(actor_log(tmp_path, 2), {"actor": 2, "actor_episode": 0})
    with open(actor_log(tmp_path, 2), "a") as fh:         # a torn line of a killed actor
        fh.write('{"actor": 2, "actor_episode"')
    again = coordinator(tmp_path, cfg)
    assert again.episode == 3 and again.actor_episodes == 3
    assert again.seen == {(0, 0), (0, 1), (0, 2)}
    assert again.poll({}) == 1 and again.episode == 4
    rows = read_rows(tmp_path / "metrics.jsonl")
    assert [(r["episode"], r["actor"], r["actor_episode"]) for r in rows] == [
        (1, 0, 0), (2, 0, 1), (3, 0, 2), (4, 2, 0)]
    csv_lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 4                          # header and four rows, no duplicate
    assert not again.done()


@pytest.mark.parametrize("stop_after, converged, done", [
    (0, [True, True, True], False),     # 0: never stop early
    (2, [False, True, True], True),
    (2, [True, True, False], False),    # the last k must all be converged
    (3, [True, True], False),           # fewer evaluations than k
    (2, [True], False),
])
def test_done_after_k_converged_evaluations_in_a_row(tmp_path, stop_after, converged, done):
    c = coordinator(tmp_path, config(episodes=100, stop_after=stop_after))
    for i, ok in enumerate(converged):
        append_row(tmp_path / "evaluation.jsonl", evaluation(10 * (i + 1), ok))
    assert len(c.evaluations()) == len(converged)
    assert c.done() is done


def test_summary_counts_agent_steps_of_training_and_evaluation(tmp_path):
    c = coordinator(tmp_path, config(episodes=50, stop_after=2))
    for k in range(7):
        append_row(actor_log(tmp_path, 0), {"actor": 0, "actor_episode": k})
    c.poll({})
    for i, ok in enumerate([True, False, True]):
        append_row(tmp_path / "evaluation.jsonl", evaluation(10 * (i + 1), ok))
    c.base_wall = 100.0
    result = c.write_summary(updates=33, role="coordinator")
    assert json.loads((tmp_path / "summary.json").read_text()) == result
    assert not (tmp_path / ".summary.json.tmp").exists()
    assert result["episodes"] == 7 and result["updates"] == 33 and result["role"] == "coordinator"
    assert result["n_agents"] == 10
    assert result["episodes_to_converge"] == 30 and result["converged"] is True
    assert 100.0 <= result["wall_seconds"] < 160.0
    agent_steps = 10 * 20 * (7 + 3)                          # N T (episodes + evaluations)
    assert result["agent_steps_per_second"] * result["wall_seconds"] == pytest.approx(agent_steps, rel=1e-12)
    assert result["tree_price"] == 0.9 and result["volume_per_agent_per_step"] == {"tree": 0.25, "bond": 0.5}
