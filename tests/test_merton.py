"""Merton's problem: the closed form against the HJB, the homothetic HJB against automatic
differentiation of the wealth form, the error summary, and a short actor-critic training."""
import json
import subprocess
import sys

import numpy as np
import pytest

from lucas_abm.errors import ConfigError
from lucas_abm.merton.evaluate import MertonSolution, error_summary
from lucas_abm.merton.problem import MertonProblem, wealth_grid
from orchestrator.cli import main

PROBLEMS = [MertonProblem(), MertonProblem(gamma=5.0), MertonProblem(gamma=0.5),
            MertonProblem(gamma=3.0, rho=0.1, r=0.03, mu=0.01, sigma=0.35)]


def test_closed_form_numbers_for_the_default_problem():
    p = MertonProblem()
    # pi* = 0.04 / (2 * 0.04); nu* = 0.025 + 0.5 (0.02 + 0.04 / 4); K = 0.04^-2
    assert p.merton_share == pytest.approx(0.5, rel=1e-14)
    assert p.consumption_rate == pytest.approx(0.04, rel=1e-14)
    assert p.value_constant == pytest.approx(625.0, rel=1e-13)
    p5 = MertonProblem(gamma=5.0)        # nu* = 0.01 + 0.8 (0.02 + 0.04 / 10) = 0.0292
    assert (p5.merton_share, p5.consumption_rate) == pytest.approx((0.2, 0.0292), rel=1e-14)


@pytest.mark.parametrize("p", PROBLEMS, ids=lambda p: f"gamma{p.gamma:g}-mu{p.mu:g}")
def test_closed_form_solves_the_hjb_to_round_off(p):
    """The closed-form V and its first-order-condition controls make rho V = max H at 2,001 W
    in [1e-3, 1e3], and those controls are the closed-form pi*, c = nu* W."""
    W = np.geomspace(p.w_min, p.w_max, 2001)
    V = p.value(W)
    V_W, V_WW = p.value_derivatives(W)
    pi, c = p.foc_controls(W, V_W, V_WW)
    np.testing.assert_allclose(pi, p.merton_share, rtol=1e-13)
    np.testing.assert_allclose(c / W, p.consumption_rate, rtol=1e-13)
    residual = p.hjb_residual(W, V, V_W, V_WW, pi, c) / np.abs(p.rho * V)
    assert np.max(np.abs(residual)) < 1e-13
    # ... and they maximise the Hamiltonian: any other (pi, c) does worse
    rng = np.random.default_rng(0)
    for _ in range(20):
        dpi, dc = rng.normal(0, 0.3, 2)
        other = p.hamiltonian(W, V_W, V_WW, pi * (1 + dpi) + 0.01 * dpi, c * np.exp(dc))
        assert np.all(other < p.hamiltonian(W, V_W, V_WW, pi, c))


@pytest.mark.parametrize("p", PROBLEMS[:3], ids=lambda p: f"gamma{p.gamma:g}")
def test_homothetic_hjb_equals_the_wealth_hjb_by_automatic_differentiation(p):
    """For a non-constant g(x) = K exp(0.1 sin x) and an arbitrary policy, the homothetic
    residual (rho - h)/rho (derived by hand) equals (rho V - H)/|rho V| with V_W, V_WW of
    V = W^(1-gamma) g(log W)/(1-gamma) from TensorFlow's automatic differentiation."""
    import tensorflow as tf

    W = tf.constant(np.geomspace(p.w_min, p.w_max, 301), tf.float64)
    x = tf.math.log(W)
    with tf.GradientTape() as outer:
        outer.watch(W)
        with tf.GradientTape() as inner:
            inner.watch(W)
            V = W ** (1 - p.gamma) / (1 - p.gamma) * p.value_constant * tf.exp(
                0.1 * tf.sin(tf.math.log(W)))
        V_W = inner.gradient(V, W)
    V_WW = outer.gradient(V_W, W)
    pi, nu = 0.3 + 0.2 * tf.cos(x), 0.03 * tf.exp(0.1 * tf.sin(2 * x))
    wealth_form = p.hjb_residual(W, V, V_W, V_WW, pi, nu * W) / tf.abs(p.rho * V)

    log_g = np.log(p.value_constant) + 0.1 * np.sin(x.numpy())
    m, l1, l2 = np.exp(-log_g / p.gamma), 0.1 * np.cos(x.numpy()), -0.1 * np.sin(x.numpy())
    homothetic = p.residual_homothetic(m, l1, l2, pi.numpy(), nu.numpy())
    np.testing.assert_allclose(homothetic, wealth_form.numpy(), rtol=1e-9, atol=1e-11)
    assert np.max(np.abs(homothetic)) > 0.01          # the policy is not optimal: a real test

    foc_w = p.foc_controls(W, V_W, V_WW)
    foc_h = p.foc_controls_homothetic(m, l1, l2)
    np.testing.assert_allclose(foc_h[0], foc_w[0].numpy(), rtol=1e-9)
    np.testing.assert_allclose(foc_h[1], (foc_w[1] / W).numpy(), rtol=1e-9)


def test_error_summary_by_hand():
    p = MertonProblem()                            # pi* = 0.5, nu* = 0.04
    W = wealth_grid(p, 7)                          # one point per decade 1e-3 .. 1e3
    pi = 0.5 * np.array([1.0, 1.02, 0.99, 1.0, 1.001, 0.5, 1.0])
    nu = 0.04 * np.array([1.0, 1.0, 1.0, 1.03, 1.0, 1.0, np.nan])
    sol = MertonSolution("test", W, pi, nu, np.array([0, 1e-3, -2e-3, 0, 0, 0, np.nan]), 1.5, 10)
    s = error_summary(p, sol)
    assert s["pi_max_rel_err"] == pytest.approx(0.5)
    assert s["pi_median_rel_err"] == pytest.approx(0.001, rel=1e-9)   # of 0,.02,.01,0,.001,.5,0
    assert s["c_max_rel_err"] == np.inf and s["c_median_rel_err"] == 0.0
    assert s["hjb_max"] == np.inf and s["hjb_median"] == pytest.approx(0.0)
    assert s["share_within_1pct"] == pytest.approx(3 / 7)      # W = 1e-3, 1, 10 (1.0% is out)
    assert s["undefined_fraction"] == pytest.approx(1 / 7)
    assert [d["pi_max"] for d in s["by_decade"]] == pytest.approx(
        [0.02, 0.02, 0.01, 0.001, 0.5, 0.5])        # the last decade: W = 1000 is undefined
    assert [d["c_max"] for d in s["by_decade"]] == pytest.approx([0, 0, 0.03, 0.03, 0, 0])
    assert [d["undefined"] for d in s["by_decade"]] == [0, 0, 0, 0, 0, 0.5]
    assert s["by_decade"][0]["decade"] == "[1e-3, 1e-2]"


def test_actor_critic_short_training_gets_the_policy_within_5_percent():
    """1,500 policy-iteration steps (4 to 15 s) per gamma: pi and c/W within 5% of the closed
    form at every one of 241 wealth levels in [1e-3, 1e3] (seeds 1-3 at this budget: at most
    2.2%, HJB residual at most 0.049; the full budget of 20,000 gets below 0.05%)."""
    from lucas_abm.merton.solvers import solve

    for gamma in (2.0, 5.0):
        p = MertonProblem(gamma=gamma)
        s = error_summary(p, solve(p, "actor-critic", seed=1, iterations=1500))
        assert s["pi_max_rel_err"] < 0.05 and s["c_max_rel_err"] < 0.05, s
        assert s["hjb_max"] < 0.1, s


def test_cli_json_prints_the_policy_on_the_grid(capsys, tmp_path):
    assert main(["merton", "--method", "repaired-pinn", "--iterations", "300", "--json",
                 "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(c))
    assert len(out["wealth"]) == len(out["pi"]) == len(out["consumption_rate"]) == 241
    assert out["wealth"][0] == pytest.approx(1e-3) and out["wealth"][-1] == pytest.approx(1e3)
    assert set(out["summary"]) >= {"pi_max_rel_err", "pi_median_rel_err", "c_max_rel_err",
                                   "c_median_rel_err", "hjb_max", "hjb_median", "seconds"}
    assert (tmp_path / "errors.png").stat().st_size > 20_000
    assert json.loads((tmp_path / "result.json").read_text())["method"] == "repaired-pinn"


@pytest.mark.parametrize("args, field", [
    (["--gamma", "0.5", "--rho", "0.01"], "gamma/rho/r/mu/sigma"),
    (["--gamma", "1"], "gamma"),
    (["--gamma", "-2"], "gamma"),
    (["--sigma", "0"], "sigma"),
    (["--rho", "0"], "rho"),
    (["--iterations", "0"], "iterations"),
    (["--gamma", "200", "--iterations", "1"], "gamma"),   # K = nu*^-gamma = e^780: OverflowError after training
    # after TensorFlow had started: a math domain error (rho 1e308), an OverflowError in
    # theta^2 (sigma 1e-300), every control undefined with exit 0 (rho 1e-300)
    (["--rho", "1e308", "--iterations", "1"], "rho"),
    (["--rho", "1e-300", "--iterations", "1"], "rho"),
    (["--sigma", "1e-300", "--iterations", "1"], "sigma"),
])
def test_bad_parameters_exit_2_with_one_line(args, field, capsys):
    assert main(["merton", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"lucas-abm: error: {field}:")


def test_rho_and_sigma_ranges_are_the_help_texts(capsys):
    assert main(["merton", "--rho", "1e-300"]) == 2 and main(["merton", "--sigma", "1e-300"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "lucas-abm: error: rho: must be in [1e-06, 10], got 1e-300",
        "lucas-abm: error: sigma: must be in [0.001, 10), got 1e-300"]
    help_text = " ".join(cli_help("merton").split())
    assert "time preference rate in [1e-6, 10]" in help_text and "volatility in [0.001, 10)" in help_text


def cli_help(command: str) -> str:
    from orchestrator.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices[command].format_help()


def test_ill_posed_problem_is_refused_before_tensorflow_is_imported():
    code = ("import sys; from orchestrator.cli import main; "
            "rc = main(['merton', '--gamma', '0.5', '--rho', '0.01']); "
            "assert rc == 2 and 'tensorflow' not in sys.modules, rc")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "c/W = rho/gamma" in done.stderr
    with pytest.raises(ConfigError, match="c/W"):
        MertonProblem(gamma=0.5, rho=0.01)
