"""``lucas-abm report`` on a synthetic run directory with known numbers (no training).

The run: constant dividend ybar = 0.0448168907, beta = 0.95, so p* = 19 ybar = 0.851521 and
q* = 0.95; three evaluations (episodes 10, 20, 30) of T = 5 steps with 10 sampled agents whose
holdings follow their trades; summary.json says tree price 0.8463, episodes_to_converge 20.
"""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import yaml

from orchestrator.cli import main
from orchestrator.figures import FIGURES
from orchestrator.report import markdown_report
from orchestrator.run_data import EvaluationEpisode, load_run, select_episodes, traded_lots

BETA, YBAR = 0.95, 0.0448168907
P_STAR, Q_STAR = BETA / (1 - BETA) * YBAR, BETA
T, K, N = 5, 10, 20
TREE_LOT, BOND_LOT = 0.0005, 0.0002
EVAL_EPISODES = (10, 20, 30)
CONVERGED = (False, True, True)


def _config() -> dict:
    return {
        "economy": {"beta": BETA, "gamma": 1.0, "dividend": "constant", "dividend_params": {"ybar": YBAR},
                    "mechanism": "pairwise", "mechanism_params": {}},
        "market": {"n_agents": N, "horizon": T, "tree_lot": TREE_LOT, "bond_lot": BOND_LOT,
                   "borrowing_limit": 0.01, "initial_shares": 1.0, "initial_bonds": 0.0},
        "learner": {"weight_sharing": "independent", "agent_types": 1},
        "training": {"episodes": 30, "eval_interval": 10, "seed": 0, "tree_tolerance": 0.02,
                     "bond_tolerance": 0.01, "volume_tolerance": 0.005, "tracking_tolerance": 0.03},
    }


def _episode(episode: int, rng: np.random.Generator) -> dict:
    """Posted prices scattered around p*, q* (less so later); trades of whole lots."""
    spread = 0.3 / episode
    tree = np.round(P_STAR * (1 + spread * rng.standard_normal((T, K))), 2)
    bond = np.round(Q_STAR * (1 + spread * rng.standard_normal((T, K))), 3)
    tree_trade = TREE_LOT * rng.integers(-1, 2, size=(T, K)) * (episode < 20)
    bond_trade = BOND_LOT * rng.integers(-1, 2, size=(T, K)) * (episode < 20)
    shares = 1.0 + np.vstack([np.zeros((1, K)), np.cumsum(tree_trade, axis=0)])
    bonds = np.vstack([np.zeros((1, K)), np.cumsum(bond_trade, axis=0)])
    return {"episode": episode, "agents": np.arange(0, 2 * K, 2), "tree_price": tree, "bond_price": bond,
            "shares": shares, "bonds": bonds, "tree_trade": tree_trade, "bond_trade": bond_trade,
            "dividend": np.full(T, YBAR), "tree_price_star": np.full(T, P_STAR),
            "bond_price_star": np.full(T, Q_STAR), "tree_lot": TREE_LOT, "bond_lot": BOND_LOT}


def _row(data: dict, converged: bool) -> dict:
    row = {"episode": data["episode"]}
    for asset in ("tree", "bond"):
        q25, q50, q75 = np.percentile(data[f"{asset}_price"], [25, 50, 75])
        star = float(data[f"{asset}_price_star"][0])
        lot = data[f"{asset}_lot"]
        row.update({f"{asset}_price_median": q50, f"{asset}_price_q25": q25, f"{asset}_price_q75": q75,
                    f"{asset}_price_iqr": q75 - q25, f"{asset}_price_star": star,
                    f"{asset}_price_rel_error": q50 / star - 1,
                    f"{asset}_volume_per_agent_per_step":
                        float(np.abs(data[f"{asset}_trade"]).sum() / lot / (2 * K * T))})
    row["converged"] = converged
    return row


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(7)
    (d / "config.yaml").write_text(yaml.safe_dump(_config(), sort_keys=False))
    (d / "episodes").mkdir()
    rows = []
    for episode, converged in zip(EVAL_EPISODES, CONVERGED):
        data = _episode(episode, rng)
        np.savez_compressed(d / "episodes" / f"eval-{episode:06d}.npz", **data)
        rows.append(_row(data, converged))
    (d / "evaluation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    training = [{"episode": e, "tree_price_median": P_STAR * (1 + 0.5 / e), "tree_price_q25": P_STAR,
                 "tree_price_q75": P_STAR * 1.1, "bond_price_median": Q_STAR * (1 - 0.2 / e),
                 "bond_price_q25": Q_STAR * 0.98, "bond_price_q75": Q_STAR,
                 "tree_volume_per_agent_per_step": 0.3 / e, "bond_volume_per_agent_per_step": 0.1 / e}
                for e in range(1, 31)]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in training))
    summary = {"episodes": 30, "episodes_to_converge": 20, "converged": True, "wall_seconds": 123.4,
               "agent_steps_per_second": 45678.9, "n_agents": N, "weight_sharing": "independent",
               "seed": 0, "updates": 321, "tree_price": 0.8463, "tree_price_star": P_STAR,
               "tree_price_rel_error": 0.8463 / P_STAR - 1, "bond_price": 0.9475,
               "bond_price_star": Q_STAR, "bond_price_rel_error": 0.9475 / Q_STAR - 1,
               "volume_per_agent_per_step": {"tree": 0.0012, "bond": 0.0},
               "tree_price_iqr": 0.01, "bond_price_iqr": 0.005, "cpu_seconds": 250.04,
               "cpu_seconds_by_role": {"actor-0": 60.4, "evaluator": 9.6, "learner-0": 170.0, "replay": 10.04}}
    (d / "summary.json").write_text(json.dumps(summary))
    return d


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def default_report(run_dir):
    assert main(["report", str(run_dir)]) == 0
    return run_dir / "report"


def test_figures_are_nonblank_images_of_sensible_size(default_report):
    import matplotlib.image as mpimg

    for name in FIGURES:
        path = default_report / name
        width, height = _png_size(path)
        assert 600 <= width <= 2500 and 400 <= height <= 2500, (name, width, height)
        pixels = mpimg.imread(path)[..., :3]
        assert pixels.std() > 0.05, f"{name} looks blank"
        # more than axes and text: a fair share of pixels is neither white nor grey-ish
        coloured = (pixels.max(axis=-1) - pixels.min(axis=-1)) > 0.2
        assert coloured.mean() > 0.002, name


def test_markdown_has_the_summary_numbers_and_figures(default_report):
    md = (default_report / "report.md").read_text()
    assert "| tree price | 0.8463 | p* = 0.8515 | -0.61% | within ±2% | yes |" in md
    assert "| bond price | 0.9475 | q* = 0.9500 | -0.26% | within ±1% | yes |" in md
    assert "| tree volume (lots per agent per step) | 0.0012 | 0 (no trade) | | <= 0.005 | yes |" in md
    assert "| bond volume (lots per agent per step) | 0 | 0 (no trade) | | <= 0.005 | yes |" in md
    assert "| episodes to converge | 20 |" in md
    assert "| wall-clock | 123.4 s (2.1 min) |" in md
    assert "| agent-steps per second | 45,679 |" in md
    assert "| CPU (user + system) | 250.0 s (actor-0 60 s, evaluator 10 s, learner-0 170 s, replay 10 s) |" in md
    assert "| agents N | 20 |" in md and "| steps per episode T | 5 |" in md
    assert "| discount factor beta | 0.95 |" in md
    assert "pairwise" in md and "independent" in md
    assert "Evaluation episodes shown: 10, 20, 30" in md
    # one row per evaluation, numbers recomputed here from the saved trajectories
    run = load_run(default_report.parent)
    for row, converged in zip(run.evaluations, CONVERGED):
        data = np.load(default_report.parent / "episodes" / f"eval-{row['episode']:06d}.npz")
        median = np.median(data["tree_price"])
        assert f"| {row['episode']} | {median:.4f} | {median / P_STAR - 1:+.2%} |" in md
        assert md.count(f"| {row['episode']} | ") == 1
        assert f"| {'yes' if converged else 'no'} |" in md.split(f"| {row['episode']} | ")[1].split("\n")[0]
    for name in FIGURES:
        assert f"]({name})" in md
    assert "Run unfinished" not in md


def test_p_star_in_the_report_of_a_real_run_is_the_closed_form(tmp_path):
    # A one-episode training run of the thesis economy through the CLI, then its report: the
    # p* and q* it prints come from the driver's solver and must be the closed forms
    # beta/(1-beta) ybar = 0.8515209 and beta (thesis_cpu.yaml: ybar = 0.0448168907).
    out = tmp_path / "run"
    sets = ["market.n_agents=4", "market.horizon=5", "training.episodes=1",
            "training.eval_interval=1", "training.checkpoint_interval=1", "replay.capacity=50",
            "replay.min_size=8", "learner.batch_size=4", "learner.hidden=[4]"]
    assert main(["train", "--config", "configs/thesis_cpu.yaml", "--seed", "0", "--out", str(out),
                 "--no-progress"] + sum([["--set", s] for s in sets], [])) == 0
    p_star = 0.95 / 0.05 * 0.0448168907
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tree_price_star"] == pytest.approx(p_star, rel=1e-12)
    assert summary["bond_price_star"] == pytest.approx(0.95, rel=1e-12)
    assert main(["report", str(out)]) == 0
    md = (out / "report" / "report.md").read_text()
    assert f"{p_star:.4f}" == "0.8515"
    assert "| p* = 0.8515 |" in md and "| q* = 0.9500 |" in md
    tree_row = next(line for line in md.splitlines() if line.startswith("| tree price |"))
    price = summary["tree_price"]
    assert f"| {price:.4f} | p* = 0.8515 | {price / p_star - 1:+.2%} |" in tree_row


def test_percentages_do_not_print_negative_zero():
    from orchestrator.figures import format_value

    assert format_value(0.95 / 0.9500000000000001 - 1, "+.2%") == "+0.00%"
    assert format_value(-0.0105263, "+.2%") == "-1.05%"
    assert format_value(None) == "n/a"


def test_traded_lots_counts_lots_of_all_agents():
    trade = np.array([[0.0005, -0.0005, 0.0], [0.0, 0.0, 0.0], [0.001, 0.0, -0.0005]])
    np.testing.assert_allclose(traded_lots(trade, 0.0005), [2.0, 0.0, 3.0])


def test_default_episodes_spread_from_first_to_last():
    available = list(range(10, 301, 10))
    chosen = select_episodes(available, None)
    assert chosen[0] == 10 and chosen[-1] == 300 and len(chosen) == 4
    assert chosen == sorted(chosen)
    gaps = np.diff(chosen)
    assert gaps.max() - gaps.min() <= 10          # evenly spread, up to one evaluation interval
    assert select_episodes([10, 20, 30], None) == [10, 20, 30]
    assert select_episodes([5], None) == [5]
    assert select_episodes(available, [300, 10]) == [300, 10]


def test_loaded_episode_holdings_follow_trades(run_dir):
    ep = EvaluationEpisode.load(run_dir / "episodes" / "eval-000010.npz")
    np.testing.assert_allclose(np.diff(ep.shares, axis=0), ep.tree_trade, atol=1e-15)
    three = ep.select_agents(3)
    assert three.tree_price.shape == (T, 3) and list(three.agents) == [0, 2, 4]


def test_chosen_episodes_agents_and_out_dir(run_dir, tmp_path, capsys):
    out = tmp_path / "custom"
    assert main(["report", str(run_dir), "--out", str(out), "--episodes", "30,10", "--agents", "3"]) == 0
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(str(out / n) for n in FIGURES + ("report.md",))
    assert "Evaluation episodes shown: 30, 10" in (out / "report.md").read_text()


def test_unfinished_run_reports_the_last_evaluation(run_dir, tmp_path):
    import shutil

    d = tmp_path / "unfinished"
    shutil.copytree(run_dir, d, ignore=shutil.ignore_patterns("report", "summary.json"))
    run = load_run(d)
    final = run.final()
    last = run.evaluations[-1]
    assert final["tree_price"] == last["tree_price_median"]
    assert final["episodes_to_converge"] == 20          # converged flags False, True, True
    assert final["episodes"] == 30                      # last training row
    md = markdown_report(run, {}, [30])
    assert "Run unfinished" in md and f"| tree price | {last['tree_price_median']:.4f} |" in md
    assert "| wall-clock | n/a |" in md and "| episodes to converge | 20 |" in md
    assert "| CPU (user + system) | n/a |" in md


@pytest.mark.parametrize("args, field", [
    (["{missing}"], "DIR"),
    (["{empty}"], "DIR"),
    (["{run}", "--episodes", "15"], "--episodes"),
    (["{run}", "--episodes", "ten"], "--episodes"),
    (["{run}", "--agents", "0"], "--agents"),
    (["{run}", "--agents", "11"], "--agents"),
])
def test_bad_input_is_a_one_line_error_and_exit_2(run_dir, tmp_path, capsys, args, field):
    (tmp_path / "empty").mkdir()
    paths = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "run": run_dir}
    argv = ["report"] + [a.format(**paths) for a in args] + ["--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"lucas-abm: error: {field}:") and "\n" not in err, err
    assert not (tmp_path / "out").exists()               # nothing written on bad input


def test_stochastic_run_reports_tracking_errors_and_moving_prices(run_dir, tmp_path):
    """log-AR(1) dividends: p(y_t) = 19 y_t moves within an episode; the report names the
    analytical value as the episode median of p*(y_t) and adds the tracking-error criterion."""
    import shutil

    d = tmp_path / "stochastic"
    shutil.copytree(run_dir, d, ignore=shutil.ignore_patterns("report"))
    config = yaml.safe_load((d / "config.yaml").read_text())
    config["economy"].update(dividend="log-ar1", dividend_params={"alpha": 0.9, "sigma": 0.03, "mu": -0.31})
    (d / "config.yaml").write_text(yaml.safe_dump(config))
    rng = np.random.default_rng(3)
    for path in sorted((d / "episodes").glob("*.npz")):
        data = dict(np.load(path))
        data["dividend"] = YBAR * np.exp(np.cumsum(0.03 * rng.standard_normal(T)))
        data["tree_price_star"] = BETA / (1 - BETA) * data["dividend"]
        np.savez_compressed(path, **data)
    summary = json.loads((d / "summary.json").read_text())
    summary.update(tree_price_tracking_error=0.025, bond_price_tracking_error=0.0412)
    (d / "summary.json").write_text(json.dumps(summary))
    rows = [json.loads(line) for line in (d / "evaluation.jsonl").read_text().splitlines()]
    for i, row in enumerate(rows):
        row.update(tree_price_tracking_error=0.1 / (i + 1), bond_price_tracking_error=0.05 / (i + 1))
    (d / "evaluation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    assert main(["report", str(d)]) == 0
    md = (d / "report" / "report.md").read_text()
    assert "| tree price | 0.8463 | median p*(y_t) = 0.8515 |" in md
    assert "| tree tracking error mean abs(p_k / p(y_t) - 1) | 2.50% | 0 | | <= 3% | yes |" in md
    assert "| bond tracking error mean abs(q_k / q(y_t) - 1) | 4.12% | 0 | | <= 3% | no |" in md
    assert "mean |q_k / q(y_t) - 1| <= 0.03" in md
    # one more panel (tracking errors) than the constant-dividend convergence figure
    _, height = _png_size(d / "report" / "convergence.png")
    _, constant_height = _png_size(run_dir / "report" / "convergence.png")
    assert height > constant_height * 1.2


def test_unreadable_episode_file_is_a_dir_error(run_dir, tmp_path, capsys):
    import shutil

    d = tmp_path / "broken"
    shutil.copytree(run_dir, d, ignore=shutil.ignore_patterns("report"))
    (d / "episodes" / "eval-000040.npz").write_bytes(b"not a zip archive")
    assert main(["report", str(d), "--out", str(tmp_path / "out")]) == 2   # default: last one, 40
    err = capsys.readouterr().err.strip()
    assert err.startswith("lucas-abm: error: DIR: must be a run directory with readable episodes/*.npz")
    assert "eval-000040.npz" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("row", ['{"tree_price_median": 0.85}', '[1, 2]', '{"episode": "10"}'])
def test_an_evaluation_row_without_an_episode_is_a_dir_error(run_dir, tmp_path, capsys, row):
    import shutil

    d = tmp_path / "edited"
    shutil.copytree(run_dir, d, ignore=shutil.ignore_patterns("report"))
    with open(d / "evaluation.jsonl", "a") as fh:        # was a KeyError traceback
        fh.write(row + "\n")
    assert main(["report", str(d), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lucas-abm: error: DIR: must be a run directory whose evaluation.jsonl "
                          "rows each have an integer 'episode'") and "\n" not in err
    assert "(line 4: " in err and not (tmp_path / "out").exists()   # after 3 good rows


def test_a_price_not_posted_does_not_break_the_figures(run_dir, tmp_path):
    """An agent that posts no price (NaN: an adaptive valuer whose consumption would not stay
    positive) is left out of the y range and the panel's median, not an error: the other
    prices still set the axis."""
    import matplotlib.pyplot as plt

    from orchestrator.figures import plot_posted_prices

    ep = EvaluationEpisode.load(run_dir / "episodes" / "eval-000010.npz")
    ep.tree_price[:5, 0] = np.nan
    path = plot_posted_prices([ep], "tree", tmp_path / "posted_tree_prices.png")
    assert path.stat().st_size > 10_000
    fig, ax = plt.subplots()
    from orchestrator.figures import _pad_ylim

    _pad_ylim(ax, np.array([np.nan, 0.8, 0.9]))
    lo, hi = ax.get_ylim()
    assert np.isfinite([lo, hi]).all() and lo < 0.8 and hi > 0.9
    plt.close(fig)

