"""The ``lucas-abm frictions`` sub-command: JSON output, figures, and one-line input errors."""
import json
import math

import pytest

from orchestrator.cli import main


def test_exact_preset_json(capsys):
    assert main(["frictions", "--preset", "kratsios-10-quadratic", "--method", "exact",
                 "--paths", "500", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sigma0"] == pytest.approx(1.2454, abs=5e-5)
    assert out["S0"] == pytest.approx(0.3612, abs=5e-5)
    assert out["clearing_error"] < 1e-20
    assert set(out) >= {"utility", "clearing_error", "terminal_error", "S0", "mu0", "sigma0",
                        "seconds"}


def test_the_python_block_of_the_docs_is_the_command(capsys):
    """docs/frictions.md's "From Python" block, run as written, gives the command's figures."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "frictions.md").read_text()
    block = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    scope: dict = {}
    exec(compile(block, "docs/frictions.md", "exec"), scope)
    assert main(["frictions", "--preset", "kratsios-10-quadratic", "--method", "exact", "--json"]) == 0
    command = json.loads(capsys.readouterr().out)
    assert command.pop("method") == "exact"
    assert {k: v for k, v in scope["result"].items() if k != "seconds"} == pytest.approx(
        {k: v for k, v in command.items() if k != "seconds"}, rel=1e-12, abs=1e-30)
    assert scope["result"]["utility"] == pytest.approx(-0.214364, abs=5e-7)


def test_explicit_parameters_and_out_dir(tmp_path, capsys):
    args = ["frictions", "--agents", "2", "--power", "1.5", "--gammas", "1,2", "--xis", "3,-3",
            "--lam", "0.01", "--horizon", "0.4", "--steps", "50", "--method", "leading-order",
            "--cost-norm", "power", "--paths", "200", "--json", "--out", str(tmp_path)]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sigma0"] == pytest.approx(1.0721, abs=5e-5)
    assert (tmp_path / "leading-order.png").stat().st_size > 10_000
    assert "leading-order" in (tmp_path / "leading-order_metrics.md").read_text()


def test_a_one_agent_market_draws_its_one_agent(tmp_path, capsys):
    """The figure drew agents 1 and 2 of any market, an IndexError for one agent."""
    assert main(["frictions", "--agents", "1", "--gammas", "1.5", "--xis", "0", "--paths", "50",
                 "--json", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mu0"] == pytest.approx(1.5)          # gamma alpha^2 s: the one agent holds the supply
    assert (tmp_path / "exact.png").stat().st_size > 10_000


@pytest.mark.parametrize("args, field", [
    (["--gammas", "1,2", "--xis", "1,2"], "xis"),
    (["--gammas", "1,-2", "--xis", "1,-1"], "gammas"),
    (["--gammas", "1,2", "--xis", "1,-1,0"], "xis"),
    (["--gammas", "1,2", "--xis", "1,-1", "--power", "2.5"], "power"),
    (["--gammas", "1,2", "--xis", "1,-1", "--power", "1"], "power"),
    (["--gammas", "1,2", "--xis", "1,-1", "--agents", "3"], "agents"),
    (["--gammas", "1,2", "--xis", "1,-1", "--power", "1.5", "--method", "exact"], "method"),
    (["--gammas", "1,2", "--xis", "1,-1", "--lam", "0"], "lam"),
    # an Euler step the feedback overshoots: utility -6e71 and exit 0 before
    (["--preset", "kratsios-10-quadratic", "--horizon", "20", "--paths", "50"], "steps: must be >= 341 "),
    (["--preset", "kratsios-10-quadratic", "--lam", "1e-6", "--paths", "50"], "steps: must be >= 275 "),
    (["--preset", "kratsios-2-power1.5", "--method", "leading-order", "--horizon", "20", "--paths", "50"],
     "steps: must be >= 1,252 "),
    # magnitudes float64 cannot carry through the Riccati system and the paths: tracebacks
    # (LSODA, LinAlgError), a hang (horizon 1e-300) or utility nan with exit 0 before
    (["--gammas", "1,2", "--xis", "3,-3", "--lam", "1e-30", "--paths", "10"],
     "lam: must be large enough for the Riccati equations to be integrated, got 1e-30 (LSODA: "),
    (["--gammas", "1,2", "--xis", "3,-3", "--horizon", "1e308"], "horizon: must be in [1e-09, 1e+06]"),
    (["--gammas", "1,2", "--xis", "3,-3", "--horizon", "1e-300"], "horizon: must be in [1e-09, 1e+06]"),
    (["--gammas", "1,2", "--xis", "3,-3", "--alpha", "1e308"], "alpha: must be in (0, 1e+06]"),
    (["--gammas", "1,2", "--xis", "3,-3", "--supply", "1e308"], "supply: must be in [-1e+06, 1e+06]"),
    (["--gammas", "1e308,2", "--xis", "3,-3"], "gammas: must be numbers in (0, 1e+06]"),
    (["--gammas", "1,2", "--xis", "1e200,-1e200"], "xis: must be numbers in [-1e+06, 1e+06]"),
    (["--preset", "kratsios-2-power1.5", "--method", "leading-order", "--lam", "1e-100", "--paths", "10"],
     "steps: must be >= 2.5e+57 for the Euler scheme"),          # was a 58-digit integer
    # q -> 1: |g/q|^(1/(q-1)) overflowed in the shooting, which printed warnings and a g'(0)
    # at its bracket's end (-10 at q = 1.06) with exit 0
    (["--preset", "kratsios-2-power1.5", "--method", "leading-order", "--power", "1.05"],
     "power: must be in [1.1, 2] for the leading-order method"),
    (["--compare", "--method", "deep-bsde"], "--method"),       # were ignored: --compare runs
    (["--compare", "--preset", "kratsios-10-quadratic"], "--preset"),   # its own list
])
def test_bad_parameters_exit_2_with_one_line(args, field, capsys):
    assert main(["frictions", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"lucas-abm: error: {field}")


@pytest.mark.parametrize("option, value", [("--horizon", "1e-9"), ("--horizon", "1e6"), ("--alpha", "1e6"),
                                           ("--supply", "1e6"), ("--supply", "-1e6")])
def test_the_bounds_of_the_ranges_run_or_are_refused_by_the_euler_step(option, value, capsys):
    code = main(["frictions", "--gammas", "1,2", "--xis", "3,-3", "--paths", "10", "--json", f"{option}={value}"])
    captured = capsys.readouterr()
    if code == 0:
        assert all(math.isfinite(v) for v in json.loads(captured.out).values() if isinstance(v, float))
    else:
        assert code == 2 and captured.err.startswith("lucas-abm: error: steps: must be >= ")


def test_comparison_table_for_reference_methods(tmp_path):
    from lucas_abm.frictions.compare import applicable_methods, run_comparison

    assert applicable_methods("kratsios-10-power1.5") == ["frictionless", "rgan", "combo",
                                                          "deep-bsde"]
    rows = run_comparison(tmp_path, n_paths=200, presets=["kratsios-2-power1.5"],
                          methods=["leading-order", "frictionless"])
    assert [r["method"] for r in rows] == ["leading-order", "frictionless"]
    table = (tmp_path / "table.md").read_text()
    assert "| kratsios-2-power1.5 | leading-order | " in table
    assert json.loads((tmp_path / "results.json").read_text())[0]["sigma0"] == pytest.approx(
        1.0721, abs=5e-5)


def test_a_two_agent_market_below_the_leading_order_range_is_compared_with_the_frictionless_one():
    from lucas_abm.frictions.config import preset
    from lucas_abm.frictions.solvers import reference_method

    config = preset("kratsios-2-power1.5")
    assert reference_method(config) == "leading-order"
    assert reference_method(config.replace(power=1.05)) == "frictionless"
