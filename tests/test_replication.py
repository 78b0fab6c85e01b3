"""benchmarks/replication.py: real ``lucas-abm train`` processes, one per seed, tabulated.

Two seeds of configs/smoke.yaml (10 agents, 20 steps, 4 episodes: far from converged, which is
what the table must then say). The table's rows are each seed's own summary.json, its price
errors are against the closed-form p* = beta y / (1 - beta), q* = beta of a constant dividend,
a second call reuses the finished seeds, and bad input stops the script before any run.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.benchmark_scripts import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"
SHORT = ["training.episodes=4", "training.eval_interval=2"]

replication = load_benchmark("replication")


def _args(out: Path, seeds: str = "0,1", overrides: list[str] = SHORT) -> list[str]:
    return ["--config", str(SMOKE), "--seeds", seeds, "--out", str(out)] + sum([["--set", s] for s in overrides], [])


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    out = tmp_path_factory.mktemp("replication")
    assert replication.main(_args(out)) == 0
    return out


def test_rows_are_the_seeds_summaries_with_closed_form_errors(table):
    rows = json.loads((table / "replication.json").read_text())
    assert [r["seed"] for r in rows] == [0, 1]
    economy = yaml.safe_load(SMOKE.read_text())["economy"]
    beta, ybar = economy["beta"], economy["dividend_params"]["ybar"]
    p_star, q_star = beta * ybar / (1 - beta), beta      # constant dividend, any gamma
    for row in rows:
        summary = json.loads((table / f"seed-{row['seed']}" / "summary.json").read_text())
        assert {k: row[k] for k in summary} == summary
        assert row["tree_volume"] == summary["volume_per_agent_per_step"]["tree"]
        assert row["bond_volume"] == summary["volume_per_agent_per_step"]["bond"]
        assert row["tree_price_rel_error"] == pytest.approx(row["tree_price"] / p_star - 1, abs=1e-9)
        assert row["bond_price_rel_error"] == pytest.approx(row["bond_price"] / q_star - 1, abs=1e-9)
        assert row["agent_steps_per_second"] > 0 and row["wall_seconds"] > 0
    markdown = (table / "replication.md").read_text()
    assert markdown.count("\n| 0 |") + markdown.count("\n| 1 |") == 2
    converged = sum(bool(r["converged"]) for r in rows)
    assert f"{converged} of 2 seeds converged ({SMOKE}, training.episodes=4, training.eval_interval=2)" in markdown
    for row in rows:   # the tree error as printed, from the summary's own price
        assert f"{row['tree_price'] / p_star - 1:+.2%}" in markdown


def test_a_second_call_reuses_finished_seeds(table, capsys):
    stamps = {s: (table / f"seed-{s}" / "summary.json").stat().st_mtime_ns for s in (0, 1)}
    before = (table / "replication.json").read_text()
    capsys.readouterr()
    assert replication.main(_args(table)) == 0
    assert "running:" not in capsys.readouterr().out
    assert {s: (table / f"seed-{s}" / "summary.json").stat().st_mtime_ns for s in (0, 1)} == stamps
    assert (table / "replication.json").read_text() == before


@pytest.mark.parametrize("seeds, overrides, extra, message", [
    ("0,x", SHORT, [], "--seeds: must be distinct non-negative integers separated by commas, got '0,x'"),
    ("0,0", SHORT, [], "--seeds: must be distinct"),
    ("-1", SHORT, [], "--seeds: must be distinct"),
    ("0", ["training.episodes=0"], [], "training.episodes: must be an integer in [1, 1,000,000,000], got 0"),
    ("0", ["market.n_agent=5"], [], "market.n_agent: must be a known key of section market"),
    ("0", SHORT, ["--since", "10"], "--since: must be absent unless the config has a population: section, got 10"),
])
def test_bad_input_stops_before_any_run(tmp_path, capsys, seeds, overrides, extra, message):
    out = tmp_path / "never"
    assert replication.main(_args(out, seeds, overrides) + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("replication: error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_population_config_is_scored_against_its_equilibrium(tmp_path, capsys):
    """--since E: acceptance B's goals seed by seed (benchmarks/population_learning.py), in
    OUT/goals.md; each row's counts are those of the seed's own measured evaluations. Two
    seeds of the adaptive valuers' config, 4 episodes each (far from the goals)."""
    config = ROOT / "configs" / "population_two_types_adaptive_cpu.yaml"
    out = tmp_path / "adaptive"
    argv = ["--config", str(config), "--seeds", "0,1", "--out", str(out), "--since", "2",
            "--set", "training.episodes=4", "--set", "training.eval_interval=2"]
    assert replication.main(argv) == 0
    printed = capsys.readouterr().out
    goals = (out / "goals.md").read_text()
    assert goals.strip() in printed
    rows = {int(line.split("|")[1]): [c.strip() for c in line.split("|")[1:-1]]
            for line in goals.splitlines() if line.startswith("| 0 ") or line.startswith("| 1 ")}
    measure = replication.population_learning.measure
    for seed, cells in rows.items():
        evaluations = [e for e in measure(out / f"seed-{seed}", last=10**9)["evaluations"] if e["episode"] >= 2]
        assert [e["episode"] for e in evaluations] == [2, 4]
        assert int(cells[1]) == len(evaluations)
        assert int(cells[5]) == sum(all(e["goals"].values()) for e in evaluations)
        bold = evaluations[-1]["types"]["bold"]
        assert cells[9] == f"{bold['shares']:.4f} ({bold['shares_equilibrium']:.4f})"
        assert bold["shares_equilibrium"] == pytest.approx(0.5227, abs=1e-4)   # lucas-abm solve, y_0 = 0.04
    assert "all three goals at the last evaluation on" in goals and "of 4 evaluations from episode 2." in goals
