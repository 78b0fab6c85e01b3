"""``lucas-abm simulate``: outputs, equilibrium no-trade, statistics of scripted prices,
files written, and one-line errors with exit code 2 for bad input."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from orchestrator.cli import main
from lucas_abm.simulate import SimulationConfig, run_simulation

P_STAR = 0.95 / 0.05 * 0.01 * math.exp(1.5)


def simulate_json(capsys, *args):
    assert main(["simulate", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("mechanism", ["pairwise", "bargaining", "call-auction"])
def test_equilibrium_policy_never_trades(capsys, mechanism):
    out = simulate_json(capsys, "--agents", "200", "--steps", "30", "--mechanism", mechanism)
    assert out["tree_volume_per_agent_per_step"] == 0.0 and out["bond_volume_per_agent_per_step"] == 0.0
    assert out["tree_price_star"] == pytest.approx(P_STAR, rel=1e-12)
    assert out["bond_price_star"] == pytest.approx(0.95, rel=1e-12)
    assert out["mean_tree_price"] == pytest.approx(P_STAR, rel=1e-12)
    assert out["max_invariant_violation"] < 1e-15
    assert out["agent_steps_per_second"] > 0


def test_random_policy_prices_and_volume(capsys):
    n, steps = 300, 40
    out = simulate_json(capsys, "--agents", str(n), "--steps", str(steps), "--policy", "random",
                        "--seed", "3")
    # Posted p* U[0.5, 1.5]: mean p*, sd p*/sqrt(12) per draw.
    se = P_STAR / math.sqrt(12 * n * steps)
    assert abs(out["mean_tree_price"] - P_STAR) < 5 * se
    assert abs(out["mean_bond_price"] - 0.95) < 5 * 0.95 / math.sqrt(12 * n * steps)
    # Continuous prices: every pair trades (income 0.0448 > 1.5 p* x lot) -> N/2 lots, 1/2 per agent.
    assert out["tree_volume_per_agent_per_step"] == 0.5
    assert out["max_invariant_violation"] < 1e-15


def test_noisy_equilibrium_settles_near_p_star():
    result = run_simulation(SimulationConfig(agents=400, steps=30, policy="noisy-equilibrium",
                                             mechanism="call-auction", seed=1))
    s = result.summary
    # Clearing price ~ median of p*(1 + 0.05 Z): within a few s.e. of p*.
    assert abs(s["mean_tree_settlement_price"] - P_STAR) < 0.003 * P_STAR
    assert s["tree_volume_per_agent_per_step"] == pytest.approx(200 / 400, abs=2 / 400)


def log_ar1_prices_by_hand(y, beta, gamma, alpha, sigma, mu, terms=2000):
    """p(y) = y^g sum_n beta^n E[y_n^(1-g) | y] and q(y) = beta y^g E[y'^(-g) | y], with
    log y_n | y ~ N(mu (1-alpha^n)/(1-alpha) + alpha^n log y, sigma^2 (1-alpha^2n)/(1-alpha^2))."""
    k = 1.0 - gamma
    n = np.arange(1, terms + 1)[:, None]
    m = mu * (1 - alpha ** n) / (1 - alpha) + alpha ** n * np.log(y)[None, :]
    v = sigma ** 2 * (1 - alpha ** (2 * n)) / (1 - alpha ** 2)
    p = y ** gamma * np.sum(beta ** n * np.exp(k * m + 0.5 * k * k * v), axis=0)
    q = beta * y ** gamma * np.exp(-gamma * (mu + alpha * np.log(y)) + 0.5 * gamma ** 2 * sigma ** 2)
    return p, q


def test_stochastic_dividend_equilibrium_prices_against_a_hand_computed_series():
    # The dividend, its parameters and gamma reach the solver through SimulationConfig: the
    # equilibrium policy must post p(y_t), q(y_t) of *this* process (computed here by hand).
    beta, gamma, alpha, sigma, mu = 0.95, 2.0, 0.9, 0.1, -0.3
    result = run_simulation(SimulationConfig(agents=10, steps=50, dividend="log-ar1", gamma=gamma,
                                             alpha=alpha, sigma=sigma, mu=mu, seed=5))
    s = result.series
    y = s.dividend.to_numpy()
    assert s.dividend.nunique() == 50
    eps = (np.log(y[1:]) - mu - alpha * np.log(y[:-1])) / sigma   # the shocks: ~ N(0, 1)
    assert abs(eps.mean()) < 5 / math.sqrt(49) and abs(eps.std() - 1) < 0.5
    p, q = log_ar1_prices_by_hand(y, beta, gamma, alpha, sigma, mu)
    np.testing.assert_allclose(s.tree_price_star, p, rtol=1e-10)
    np.testing.assert_allclose(s.bond_price_star, q, rtol=1e-12)
    np.testing.assert_allclose(s.mean_tree_price, p, rtol=1e-10)
    np.testing.assert_allclose(s.mean_bond_price, q, rtol=1e-12)
    assert (s.tree_volume == 0).all() and (s.bond_volume == 0).all()


def test_seed_reproducible():
    a = run_simulation(SimulationConfig(agents=50, steps=10, policy="random", seed=4)).series
    b = run_simulation(SimulationConfig(agents=50, steps=10, policy="random", seed=4)).series
    pd.testing.assert_frame_equal(a, b)


def test_out_writes_series_and_plot(tmp_path, capsys):
    assert main(["simulate", "--agents", "20", "--steps", "15", "--policy",
                 "noisy-equilibrium", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "mean posted tree price" in text and "agent-steps/s" in text
    series = pd.read_csv(tmp_path / "series.csv")
    assert len(series) == 15 and {"tree_volume", "mean_tree_price"} <= set(series.columns)
    png = (tmp_path / "prices.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


@pytest.mark.parametrize("args,field", [
    (["--agents", "1"], "agents"),
    (["--steps", "0"], "steps"),
    (["--tree-lot", "0"], "tree_lot"),
    (["--bond-lot", "-0.01"], "bond_lot"),
    (["--mechanism", "walrasian"], "mechanism"),
    (["--policy", "smart"], "policy"),
    (["--beta", "1.0"], "beta"),
    (["--beta", "0"], "beta"),
    (["--gamma", "0"], "gamma"),
    (["--gamma", "-1"], "gamma"),
    (["--theta", "2"], "theta"),
    (["--mechanism", "bargaining", "--theta", "0.3", "--mechanism-param", "theta=0.7"], "theta"),
    (["--dividend", "sunspot"], "dividend"),
])
def test_bad_input_is_a_one_line_error_with_exit_code_2(capsys, args, field):
    assert main(["simulate", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lucas-abm: error: {field}: must be")


@pytest.mark.parametrize("theta", [0.2, 0.5, 0.9])
def test_bargaining_settlement_mean_matches_order_statistics(theta):
    # Random policy: posted p* U, U ~ U[0.5, 1.5]; in a pair E[max] = 1 + 1/6, E[min] = 1 - 1/6,
    # so the mean settlement price is p* (1 + (2 theta - 1)/6). Every pair trades.
    n, steps = 2000, 20
    s = run_simulation(SimulationConfig(agents=n, steps=steps, policy="random",
                                        mechanism="bargaining", theta=theta, seed=2)).summary
    expected = P_STAR * (1 + (2 * theta - 1) / 6)
    # Per-trade sd below p* * 0.3; n/2 trades per step.
    se = P_STAR * 0.3 / math.sqrt(n / 2 * steps)
    assert abs(s["mean_tree_settlement_price"] - expected) < 5 * se
    assert abs(s["mean_bond_settlement_price"] - 0.95 * (1 + (2 * theta - 1) / 6)) < 5 * se


def test_python_config_leaves_agents_to_the_population_and_checks_seed_and_horizon():
    # agents defaulted to 1200, so a population of 110 was refused unless agents=None was passed
    from lucas_abm.errors import ConfigError

    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "two_types.yaml"
    market, _, _ = SimulationConfig(population=str(example), steps=2, mechanism="call-auction",
                                    dividend="markov", states=[0.04, 0.05],
                                    transition=[[0.8, 0.2], [0.3, 0.7]]).build()
    assert market.config.n_agents == 1000
    assert SimulationConfig().agents == 1200
    for kwargs, field in (({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"horizon": 0}, "horizon"),
                          ({"mechanism_params": [1]}, "mechanism_params")):   # was a TypeError
        with pytest.raises(ConfigError) as err:                # numpy's ValueError; 0 -> steps
            SimulationConfig(agents=10, steps=2, **kwargs).build()
        assert err.value.field == field
