"""Adaptive valuers (``learner.algorithm: adaptive``, orchestrator/learners/adaptive.py;
docs/heterogeneity.md, "Adaptive valuers"): their estimates are the posterior means of what
the replay's windows show, with exact estimates they post the Negishi prices at the Negishi
portfolio (the solver's numbers, an independent computation), bad configs are refused in one
line, and a short real training run (TF, Reverb, the call auction) reaches acceptance B's
goals. Real parts throughout."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from lucas_abm.errors import ConfigError
from orchestrator.config import config_from_dict

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "population_two_types_adaptive_cpu.yaml"


def raw_config(estimate: str = "mean", **training) -> dict:
    raw = yaml.safe_load(CONFIG.read_text())
    raw["training"].update(training)
    if estimate != "mean":
        raw["learner"]["bond_price_estimate"] = estimate
    return raw


def rule_and_features(raw: dict):
    from orchestrator.agents import Features
    from orchestrator.algorithms import make_algorithm
    from orchestrator.episode import Economy

    config = config_from_dict(raw)
    economy = Economy(config)
    market = economy.market()
    return config, economy, make_algorithm(config, economy.observation_dim), Features.build(config, market, economy.dividend)


def raw_observation(shares, bonds, y, bond_price=0.9, bond_volume=0.0) -> np.ndarray:
    """The market's [N, 8] observation columns (lucas_abm.market.LucasMarket.observation)."""
    n = len(shares)
    obs = np.zeros((n, 8), np.float32)
    obs[:, 0], obs[:, 1], obs[:, 2] = shares, bonds, y
    obs[:, 3] = np.asarray(shares) * y + np.asarray(bonds)
    obs[:, 4], obs[:, 5], obs[:, 6], obs[:, 7] = 0.8, bond_price, 0.0, bond_volume
    return obs


@pytest.mark.parametrize("estimate", ["mean", "median"])
def test_with_exact_estimates_the_negishi_portfolio_is_a_rest_point(estimate):
    """Estimates set to the true P and q(y) (a 1e12 weight drowns the prior; for the median,
    every price seen is q(y)): at the section-3 portfolio every agent of both types posts p(y)
    and q(y) of the Negishi solver in each state, to float32 round-off."""
    config, economy, rule, features = rule_and_features(raw_config(estimate))
    eq = economy.population_equilibrium
    transition = np.asarray(config.economy.dividend_params["transition"])
    big = 1e12
    rule.transition_counts.assign(transition * big)
    rule.bond_price_sums.assign(np.asarray(eq["bond_price"]) * big)
    rule.bond_price_counts.assign(np.full(2, big))
    if estimate == "median":
        counts, sums = np.zeros((2, rule.bond_bins)), np.zeros((2, rule.bond_bins))
        for j, q in enumerate(eq["bond_price"]):
            counts[j, rule.bond_bin(q)], sums[j, rule.bond_bin(q)] = big, big * q
        rule.bond_histogram.assign(counts)
        rule.bond_histogram_sums.assign(sums)
    p_hat, q_hat = rule.estimates()
    np.testing.assert_allclose(p_hat, transition, atol=1e-11)
    np.testing.assert_allclose(q_hat, eq["bond_price"], rtol=1e-11)
    total = config.market.n_agents     # every agent's size is 1: s0_i = 1, N trees in all
    shares = np.concatenate([np.full(50, eq["holdings"][k]["shares"][0] * total / 50) for k in ("cautious", "bold")])
    bonds = np.concatenate([np.full(50, eq["holdings"][k]["bonds"][0] * total / 50) for k in ("cautious", "bold")])
    for j, y in enumerate(config.economy.dividend_params["states"]):
        x = features.observation(raw_observation(shares, bonds, y))
        tree, bond = rule.prices(rule.policy(x, 0.0, None))
        np.testing.assert_allclose(tree, eq["tree_price"][j], rtol=1e-6)
        np.testing.assert_allclose(bond, eq["bond_price"][j], rtol=1e-6)


def test_estimates_are_the_posterior_means_of_the_windows():
    """One batch of windows along a simulated chain path: the counts are the path's
    transitions, P_hat = (w B + C) / (w + n) with the uniform prior, q_hat the prior-weighted
    mean of the bond prices of the periods with a bond trade, in the state they were set in;
    on a path of 30,000 transitions P_hat is within 3 standard errors of the true P."""
    config, _, rule, features = rule_and_features(raw_config())
    states = np.asarray(config.economy.dividend_params["states"])
    transition = np.asarray(config.economy.dividend_params["transition"])
    rng = np.random.default_rng(7)
    n_step, windows = config.learner.n_step, 10_000
    path = [0]
    for _ in range(windows + n_step):
        path.append(int(rng.random() > transition[path[-1], 0]))
    path = np.array(path)
    true_q = np.array([0.89, 1.07])
    volume = (rng.random(path.size) < 0.7).astype(float)
    price = true_q[np.roll(path, 1)] + 0.01 * rng.standard_normal(path.size)   # set in the previous state
    steps = np.stack([features.observation(raw_observation(np.ones(100), np.zeros(100), states[j],
                                                           price[t], volume[t]))
                      for t, j in enumerate(path)])                             # [T, N, D]
    batch = {"observation": np.stack([steps[w:w + n_step + 1] for w in range(windows)])}   # [B, n+1, N, D]
    metrics = rule.train_step(batch)
    counts = np.zeros((2, 2))
    seen_sum, seen = np.zeros(2), np.zeros(2)
    for w in range(windows):
        for k in range(n_step):
            a, b = path[w + k], path[w + k + 1]
            counts[a, b] += 1
            if volume[w + k + 1] > 0:
                seen_sum[a] += np.float32(price[w + k + 1])
                seen[a] += 1
    np.testing.assert_allclose(rule.transition_counts.numpy(), counts)
    p_hat, q_hat = rule.estimates()
    np.testing.assert_allclose(p_hat, (0.5 + counts) / (1.0 + counts.sum(1, keepdims=True)), rtol=1e-12)
    bond_scale = config.actions.bond_high - config.actions.bond_low      # float32 round trip of the feature
    np.testing.assert_allclose(q_hat, (0.95 + seen_sum) / (1.0 + seen), atol=1e-6 * bond_scale)
    np.testing.assert_allclose(q_hat, true_q, atol=0.001)
    assert metrics["transitions"] == windows * n_step
    n_from = counts.sum(1) / n_step            # each transition is in n windows
    se = np.sqrt(transition * (1 - transition) / n_from[:, None])
    assert np.all(np.abs(p_hat - transition) <= 3 * se), (p_hat, transition, se)


def test_median_estimate_is_the_median_of_the_prices_seen():
    """``learner.bond_price_estimate: median``: fed bond prices of which a fifth are whole
    episodes' worth 5% above q(y) (the paths that go astray), q_hat is within one histogram
    bin of the median of the prices seen and the prior's beta, state by state, and within 0.1%
    of q(y), where the mean of the same prices is 0.5% or more above it; the transition counts are the
    mean rule's."""
    from orchestrator.learners.adaptive import BOND_PRICE_BIN

    config, _, rule, features = rule_and_features(raw_config("median"))
    states = np.asarray(config.economy.dividend_params["states"])
    rng = np.random.default_rng(11)
    path = (rng.random(4_001) < 0.4).astype(int)
    true_q = np.array([0.89, 1.07])
    astray = np.repeat(rng.random(path.size // 100 + 1) < 0.2, 100)[:path.size]   # 100-period spells
    price = true_q[np.roll(path, 1)] * (1 + 0.05 * astray) + 0.002 * rng.standard_normal(path.size)
    steps = np.stack([features.observation(raw_observation(np.ones(100), np.zeros(100), states[j], price[t], 1.0))
                      for t, j in enumerate(path)])
    rule.train_step({"observation": np.stack([steps[:-1], steps[1:]], axis=1)})   # windows of one step
    decoded = rule._decode(steps[1:, 0, :], agent=0)[:, 3]                         # the prices as it reads them
    p_hat, q_hat = rule.estimates()
    for j in range(2):
        prices = np.append(decoded[path[:-1] == j], config.economy.beta)
        assert abs(q_hat[j] - np.median(prices)) <= BOND_PRICE_BIN, (j, q_hat[j], np.median(prices))
        assert np.mean(prices) / true_q[j] - 1 > 0.005
    np.testing.assert_allclose(q_hat, true_q, rtol=1e-3)
    counts = np.zeros((2, 2))
    np.add.at(counts, (path[:-1], path[1:]), 1.0)
    np.testing.assert_array_equal(rule.transition_counts.numpy(), counts)


def test_median_estimates_resume_exactly(tmp_path):
    """A median run resumed from its episode-4 checkpoint restores the histogram exactly."""
    from orchestrator.driver import Trainer

    trainer = Trainer(config_from_dict(raw_config("median", episodes=4, checkpoint_interval=2)),
                      tmp_path / "run", progress=False)
    try:
        trainer.run()
        saved = [v.numpy().copy() for v in trainer.algorithm.variables]
        assert len(saved) == 5 and saved[3].sum() > 0
    finally:
        trainer.close()
    trainer = Trainer(config_from_dict(raw_config("median", episodes=5, checkpoint_interval=2)),
                      tmp_path / "run", progress=False, resume=True)
    try:
        for restored, value in zip(trainer.algorithm.variables, saved):
            np.testing.assert_array_equal(restored.numpy(), value)
        trainer.run()
        assert trainer.algorithm.bond_histogram.numpy().sum() > saved[3].sum()
    finally:
        trainer.close()
    _the_report_draws_the_estimates(tmp_path / "run")


def _the_report_draws_the_estimates(run_dir: Path) -> None:
    """`lucas-abm report` on an adaptive run writes estimates.png: each P_hat entry and q_hat(y)
    after every training episode (metrics.jsonl's columns), against the config's P and the
    equilibrium's q(y) (population.json), and names it in report.md."""
    import matplotlib.pyplot as plt

    from orchestrator.estimates_figure import estimates_figure
    from orchestrator.population_figures import read_population_json
    from orchestrator.report import ReportRequest, make_report
    from orchestrator.run_data import load_run

    written = make_report(ReportRequest(run_dir=run_dir))
    assert written["estimates.png"].stat().st_size > 10_000
    text = written["report.md"].read_text()
    assert "![" in text and "estimates.png" in text
    # the equilibrium holds bonds (rolled over every period): holdings replace the volume criterion
    assert "each type's tree shares per unit of supply within 0.01 of its equilibrium's" in text
    assert "| bold: bonds per unit of tree supply |" in text and "not a criterion" in text
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    population = read_population_json(run_dir)
    fig = estimates_figure(load_run(run_dir), population)
    left, right = fig.axes[:2]
    lines = {line.get_label(): line for ax in (left, right) for line in ax.get_lines()}
    transition = yaml.safe_load((run_dir / "config.yaml").read_text())["economy"]["dividend_params"]["transition"]
    for j, a in enumerate(("0.04", "0.05")):
        for l, b in enumerate(("0.04", "0.05")):
            learned = lines[f"P_hat[{a} -> {b}]"]
            assert list(learned.get_xdata()) == [r["episode"] for r in rows]
            assert list(learned.get_ydata()) == [r[f"p_hat[{a}->{b}]"] for r in rows]
            assert lines[f"P[{a} -> {b}] = {transition[j][l]:.3g}"].get_ydata()[0] == transition[j][l]
        q = population["equilibrium"]["bond_price"][j]
        assert list(lines[f"q_hat(y={a})"].get_ydata()) == [r[f"q_hat[y={a}]"] for r in rows]
        assert lines[f"q(y={a}) = {q:.4f}"].get_ydata()[0] == q
    plt.close(fig)


def _identical_agents(raw: dict) -> None:
    del raw["population"]
    raw["market"]["n_agents"] = 100


@pytest.mark.parametrize("change, field", [
    (_identical_agents, "population"),
    (lambda r: r["economy"].update(dividend="constant", dividend_params={"ybar": 0.045}), "economy.dividend"),
    (lambda r: (r["actions"].pop("tree_schedule_slope"), r["actions"].pop("bond_schedule_slope"),
                r["economy"].pop("mechanism_params")), "actions.tree_schedule_slope"),
    (lambda r: r["market"].update(public_information=False), "market.public_information"),
    (lambda r: r["population"][1].update(income={"mean": 0.1, "volatility": 0.05}), "population.bold.income"),
    (lambda r: r["learner"].update(bond_price_estimate="mode"), "learner.bond_price_estimate"),
    (lambda r: r["learner"].update(algorithm="dqn", bond_price_estimate="median"), "learner.bond_price_estimate"),
])
def test_adaptive_configs_are_refused_in_one_line(change, field):
    raw = raw_config()
    change(raw)
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert str(info.value).startswith(field + ":") and "\n" not in str(info.value)


def test_adaptive_valuers_reach_acceptance_b_and_resume(tmp_path):
    """40 training episodes of the config (real Reverb, the call auction): of the nine greedy
    evaluations from episode 24, more than half meet all three goals of acceptance B
    (benchmarks/population_learning.py's scoring; on some dividend paths the bold type sells
    its trees, as correct price-takers do on some), the median bold share is within 0.01 of
    the equilibrium's and the median debt within 20%, and the estimates are close to the
    truth, as metrics.jsonl reports them. A run resumed from its episode-4 checkpoint restores
    the estimates exactly.

    The path is not reproducible to the bit: Reverb samples the windows with its own unseeded
    generator (and TensorFlow's oneDNN kernels may round differently on another CPU), so the
    margins are set from ten runs here (seeds 0-4, seed 0 six times): 6 to 8 of the 9
    evaluations met all goals, the median bold share was within 0.0015 of the equilibrium's,
    the median debt 5% to 13% short, q_hat within 1.2% of q(y) and P_hat within 0.03 of P.
    (Twenty episodes, the earlier version of this test, left the debt 15-18% short, too near
    the 20% goal: one CI run met all goals at only 2 of 6 evaluations.)"""
    from benchmark_scripts import load_benchmark
    from orchestrator.driver import Trainer

    short = raw_config(episodes=4, checkpoint_interval=2)
    trainer = Trainer(config_from_dict(short), tmp_path / "run", progress=False)
    try:
        trainer.run()
        saved = [v.numpy().copy() for v in trainer.algorithm.variables]
    finally:
        trainer.close()
    config = config_from_dict(raw_config(episodes=40, checkpoint_interval=2))
    trainer = Trainer(config, tmp_path / "run", progress=False, resume=True)
    try:
        for restored, value in zip(trainer.algorithm.variables, saved):
            np.testing.assert_array_equal(restored.numpy(), value)
        assert trainer.episode == 4
        trainer.run()
        p_hat, q_hat = trainer.algorithm.estimates()
    finally:
        trainer.close()
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["episode"] == 40
    assert [last[f"p_hat[{a}->{b}]"] for a in ("0.04", "0.05") for b in ("0.04", "0.05")] == p_hat.ravel().tolist()
    assert [last["q_hat[y=0.04]"], last["q_hat[y=0.05]"]] == q_hat.tolist()
    transition = np.asarray(config.economy.dividend_params["transition"])
    assert np.abs(p_hat - transition).max() < 0.05
    eq = trainer.economy.population_equilibrium
    np.testing.assert_allclose(q_hat, eq["bond_price"], rtol=0.03)
    evaluations = load_benchmark("population_learning").measure(tmp_path / "run", last=9)["evaluations"]
    assert [e["episode"] for e in evaluations] == list(range(24, 41, 2))
    met = [all(e["goals"].values()) for e in evaluations]
    # the evaluator's convergence flag: prices, and every type's holdings (not volume: the
    # equilibrium's bonds roll over); it is never set without acceptance B's holdings goals
    rows = [json.loads(line) for line in (tmp_path / "run" / "evaluation.jsonl").read_text().splitlines()]
    assert sum(r["converged"] for r in rows[-9:]) >= 5
    for r in rows:
        if r["converged"]:
            for name in ("cautious", "bold"):
                held = eq["holdings"][name]
                assert abs(r[f"shares[{name}]"] - held["shares"][0]) <= 0.01
                assert abs(r[f"bonds[{name}]"] / held["bonds"][0] - 1) <= 0.2
    assert sum(met) >= 5, [e["goals"] for e in evaluations]
    bold = [e["types"]["bold"] for e in evaluations]
    assert abs(np.median([t["shares"] for t in bold]) - bold[0]["shares_equilibrium"]) <= 0.01
    assert abs(np.median([t["bonds"] for t in bold]) / bold[0]["bonds_equilibrium"] - 1) <= 0.2
    # the seeds table (population_learning.py CELL --seeds --since 24) counts the same goals
    cell = tmp_path / "cell"
    cell.mkdir()
    (cell / "seed-0").symlink_to(tmp_path / "run", target_is_directory=True)
    table = load_benchmark("population_learning").goals_table(cell, since=24)
    row = table.splitlines()[2].split(" | ")
    counts = [sum(bool(e["goals"][k]) for e in evaluations)
              for k in ("prices_within_3pct", "bold_share_within_0.01", "bold_bond_right_sign_within_20pct")]
    assert row[1:7] == ["9", *map(str, counts), str(sum(met)), "40"]
    assert row[11] == ("yes" if met[-1] else "no")
    assert table.endswith(f"on {int(met[-1])} of 1 seeds, and at {sum(met)} of 9 evaluations from episode 24.")
    _a_market_at_rest_has_a_price(tmp_path / "run", eq)


def _a_market_at_rest_has_a_price(run: Path, eq: dict) -> None:
    """population_learning's price rule for schedules: the last evaluation's tree is made to
    rest in the high state (no volume, every sampled agent posting the clearing price, here
    p(y) (1 + 0.2%)); that state's tree error is then +0.2%, not "no price"; with one agent's
    value 1e-5 off the clearing price it has none again."""
    import shutil

    from benchmark_scripts import load_benchmark

    measure = load_benchmark("population_learning").measure
    last = json.loads((run / "evaluation.jsonl").read_text().splitlines()[-1])
    episode = f"eval-{int(last['episode']):06d}.npz"
    for offset, expected in ((0.0, 0.002), (1e-5, None)):
        scored = run.parent / f"at-rest-{offset:g}"
        (scored / "episodes").mkdir(parents=True)
        for name in ("config.yaml", "population.csv", "population.json"):
            shutil.copy(run / name, scored / name)
        (scored / "evaluation.jsonl").write_text(json.dumps(last) + "\n")
        data = dict(np.load(run / "episodes" / episode))
        high = np.isclose(data["dividend"], 0.05)
        assert high.any()
        price = eq["tree_price"][1] * 1.002
        data["tree_clearing_price"][high] = price
        data["tree_volume"][high] = 0.0
        data["tree_trade"][high] = 0.0
        data["tree_price"][high] = price
        data["tree_price"][high, 0] *= 1.0 + offset
        np.savez(scored / "episodes" / episode, **data)
        error = measure(scored, last=1)["evaluations"][0]["tree_price_rel_error_by_state"][1]
        assert error == (None if expected is None else pytest.approx(expected, abs=1e-9)), error


def test_adaptive_refusal_comes_before_tensorflow():
    """Through the CLI: the one-line error, exit status 2, and TensorFlow never imported."""
    import subprocess
    import sys

    code = ("import sys; from orchestrator.cli import main; "
            f"rc = main(['train', '--config', {str(CONFIG)!r}, '--set', 'market.public_information=false', "
            "'--out', '/nonexistent/never-made']); "
            "assert rc == 2 and 'tensorflow' not in sys.modules, rc")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    err = done.stderr.strip()
    assert err.count("\n") == 0 and err.startswith("lucas-abm: error: market.public_information:"), err


def test_equal_gammas_do_not_trade(tmp_path):
    """Both types gamma 5: equal gammas give the representative agent's equilibrium, no trade
    for any sizes (docs/heterogeneity.md, Negishi facts). Adaptive valuers with equal
    holdings and gammas post equal values, so nothing trades and the evaluation ends at the
    endowment; population_learning names the type its goals read, the first."""
    from benchmark_scripts import load_benchmark
    from orchestrator.driver import Trainer

    raw = raw_config(episodes=2)
    raw["population"][1]["gamma"] = 5.0
    trainer = Trainer(config_from_dict(raw), tmp_path / "run", progress=False)
    try:
        trainer.run()
    finally:
        trainer.close()
    e = load_benchmark("population_learning").measure(tmp_path / "run", last=1)["evaluations"][0]
    assert e["bold_type"] == "cautious" and e["bold_label"] == "cautious (equal gammas: the first type)"
    for name in ("cautious", "bold"):
        t = e["types"][name]
        assert abs(t["shares"] - 0.5) < 1e-12 and abs(t["bonds"]) < 1e-12
        assert abs(t["shares_equilibrium"] - 0.5) < 1e-9 and abs(t["bonds_equilibrium"]) < 1e-9
