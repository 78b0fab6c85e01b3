"""benchmarks/compare_learners.py's table, from synthetic run directories (no training).

Each synthetic seed holds what ``lucas-abm train`` writes: ``config.yaml`` (the cell's resolved
config), ``summary.json`` made by the real summary writer (orchestrator.evaluator.summary) from
evaluation rows, and the script's own ``compare.json`` (CPU time). Checked: a seed with a
summary is read and never rerun; a run that did not converge reads "not converged by E"; the
errors are the relative errors for a constant dividend and the tracking errors for a stochastic
one, to 4 decimals; a run made with another config is not counted; a cell with no run says so.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from benchmark_scripts import load_benchmark
from orchestrator.config import load_config
from orchestrator.episode import Economy
from orchestrator.evaluator import summary

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compare():
    return load_benchmark("compare_learners")


def cell(compare, name: str):
    return next(c for c in compare.all_cells() if c.name == name)


def evaluation(episode: int, tree: float, bond: float, volume: float, converged: bool,
               tracking: tuple[float, float] = (0.0, 0.0)) -> dict:
    """One evaluation row with the keys the evaluator writes (p* = 0.8515..., q* = 0.95 at ybar)."""
    p_star, q_star = 0.8515209232999992, 0.9500000000000001
    return {"episode": episode, "tree_price_median": tree, "bond_price_median": bond,
            "tree_price_star": p_star, "bond_price_star": q_star,
            "tree_price_rel_error": tree / p_star - 1, "bond_price_rel_error": bond / q_star - 1,
            "tree_price_iqr": 0.0, "bond_price_iqr": 0.0,
            "tree_price_tracking_error": tracking[0], "bond_price_tracking_error": tracking[1],
            "tree_volume_per_agent_per_step": volume, "bond_volume_per_agent_per_step": volume,
            "converged": converged}


def write_run(run_dir: Path, the_cell, evaluations: list[dict], *, wall: float, updates: int,
              cpu: float | None = None, config_change: dict | None = None) -> dict:
    config = load_config(ROOT / the_cell.config, list(the_cell.overrides))
    run_dir.mkdir(parents=True)
    saved = yaml.safe_load(yaml.safe_dump(config.to_dict()))
    for section, values in (config_change or {}).items():
        saved[section].update(values)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(saved))
    result = summary(config, Economy(config), evaluations, episodes=evaluations[-1]["episode"],
                     wall_seconds=wall, agent_steps=0, updates=updates)
    (run_dir / "summary.json").write_text(json.dumps(result))
    if cpu is not None:
        (run_dir / "compare.json").write_text(json.dumps({"cpu_seconds": cpu}))
    return result


def test_table_reuses_runs_and_formats_every_case(compare, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    thesis = cell(compare, "thesis-dqn-independent")
    # converged at 20 and stayed: p = 0.85 (-0.0018), q = 0.95
    write_run(runs / thesis.name / "seed0", thesis,
              [evaluation(10, 0.90, 0.95, 0.2, False), evaluation(20, 0.85, 0.95, 0.0, True),
               evaluation(30, 0.85, 0.95, 0.0, True)], wall=100.0, updates=50, cpu=150.0)
    # not converged: the last evaluation fails the volume criterion
    write_run(runs / thesis.name / "seed1", thesis,
              [evaluation(10, 0.85, 0.95, 0.0, True), evaluation(20, 0.8600, 0.9550, 0.3, False)],
              wall=80.0, updates=40)
    iid = cell(compare, "iid-td3-independent")
    write_run(runs / iid.name / "seed0", iid,
              [evaluation(10, 0.8521, 0.9504, 0.0, True, tracking=(0.00123, 0.00456))], wall=50.0, updates=10)
    shared = cell(compare, "thesis-dqn-shared")       # made with another learning rate: not counted
    write_run(runs / shared.name / "seed0", shared, [evaluation(10, 0.85, 0.95, 0.0, True)], wall=1.0,
              updates=1, config_change={"learner": {"learning_rate": 0.5}})

    def no_training(*args, **kwargs):
        raise AssertionError("a seed with a summary.json must be reused, not rerun")
    monkeypatch.setattr(compare, "run_seed", no_training)
    out = tmp_path / "comparison"
    cells = "thesis-dqn-independent,iid-td3-independent,thesis-dqn-shared"
    # seeds 0 and 1 exist for thesis-dqn-independent: nothing may train (run_seed would raise)
    assert compare.main(["--cells", "thesis-dqn-independent", "--seeds", "0,1", "--runs", str(runs),
                         "--out", str(out)]) == 0
    assert compare.main(["--cells", cells, "--seeds", "0,1", "--runs", str(runs), "--out", str(out),
                         "--no-run"]) == 0
    rows = {line.split(" | ")[0].strip("| "): line for line in out.with_suffix(".md").read_text().splitlines()
            if line.startswith("| ")}
    row = rows["thesis-dqn-independent"]
    assert " 0, 1 | 1 of 2 | 20, not converged by 20 | relative |" in row
    # median [min, max] of -0.0018 and 0.86 / 0.8515 - 1 = +0.0100, to 4 decimals
    assert "+0.0041 [-0.0018, +0.0100]" in row and "+0.0026 [+0.0000, +0.0053]" in row
    assert "| 150 |" in row                             # CPU seconds: only seed 0 has compare.json
    # agent-updates/s = updates x N / wall: 50 x 100 / 100 = 50 and 40 x 100 / 80 = 50
    assert row.endswith("| 50 [50, 50] |")
    iid_row = rows["iid-td3-independent"]
    assert "| 0 | 1 of 1 | 10 | tracking | 0.0012 | 0.0046 |" in iid_row and "not measured" in iid_row
    assert "config differs: learner.learning_rate (seed 0); not run (seed 1)" in rows["thesis-dqn-shared"]
    with out.with_suffix(".csv").open() as f:
        table = list(csv.DictReader(f))
    assert [(r["cell"], r["seed"], r["status"]) for r in table] == [
        ("thesis-dqn-independent", "0", "ok"), ("thesis-dqn-independent", "1", "ok"),
        ("thesis-dqn-shared", "0", "config differs"), ("thesis-dqn-shared", "1", "not run"),
        ("iid-td3-independent", "0", "ok"), ("iid-td3-independent", "1", "not run")]
    assert float(table[0]["tree_error"]) == pytest.approx(0.85 / 0.8515209232999992 - 1)
    assert table[0]["algorithm"] == "dqn" and table[4]["algorithm"] == "td3"


def test_stochastic_cells_take_the_thesis_learner(compare):
    """An i.i.d. cell is its economy's config with the thesis cell's learner and market rule."""
    iid, thesis = cell(compare, "iid-dqn-independent"), cell(compare, "thesis-dqn-independent")
    a, b = iid.resolved(), thesis.resolved()
    for section in ("learner", "exploration", "replay"):
        assert a[section] == b[section]
    assert a["economy"]["mechanism"] == b["economy"]["mechanism"]
    assert a["economy"]["dividend"] == "iid-lognormal" and b["economy"]["dividend"] == "constant"


def test_bad_cell_name_is_a_one_line_error(compare, capsys):
    assert compare.main(["--cells", "no-such-cell", "--dry-run"]) == 2
    assert "--cells" in capsys.readouterr().err


def test_population_actor_critic_cells_take_the_thesis_learner(compare):
    """population-td3-*: the population file with the thesis TD3 cell's learner and market rule;
    population-dqn-*: the file's own learner (it is the thesis DQN learner already)."""
    td3, thesis_td3 = cell(compare, "population-td3-shared"), cell(compare, "thesis-td3-shared")
    a, b = td3.resolved(), thesis_td3.resolved()
    for section in ("learner", "exploration", "replay"):
        assert a[section] == b[section]
    assert a["economy"]["mechanism_params"] == b["economy"]["mechanism_params"]
    assert a["population"] == cell(compare, "population-dqn-shared").resolved()["population"]
    assert cell(compare, "population-dqn-independent").resolved()["learner"]["algorithm"] == "dqn"


def test_a_summary_before_the_first_evaluation_says_there_was_none():
    # train(..., stop_after_episodes=1) returned a summary without prices and without saying why
    config = load_config(ROOT / "configs" / "smoke.yaml")
    result = summary(config, Economy(config), [], episodes=1, wall_seconds=1.0, agent_steps=10,
                     updates=0)
    assert result["evaluations"] == 0 and result["converged"] is False
    assert "tree_price" not in result
