"""``lucas-abm solve`` through the real CLI entry point."""
import json
import math

import numpy as np
import pytest

from lucas_abm.dividends import THESIS_YBAR, GrowthMarkovChain, MarkovChainDividend
from lucas_abm.solver import solve_equilibrium
from orchestrator import cli


def solve_json(capsys, *argv):
    assert cli.main(["solve", *argv, "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1                  # exactly one JSON object
    return json.loads(out)


def test_acceptance_thesis_constant_dividend(capsys):
    r = solve_json(capsys, "--dividend", "constant", "--ybar", "0.0448168907", "--beta", "0.95", "--gamma", "1")
    assert round(r["tree_price"], 6) == 0.851521
    assert r["bond_price"] == pytest.approx(0.95, abs=1e-12)
    assert r["dividend"] == pytest.approx(0.0448168907)


def test_defaults_are_the_thesis_replication(capsys):
    r = solve_json(capsys)
    assert (r["beta"], r["gamma"], r["dividend"]) == (0.95, 1.0, pytest.approx(THESIS_YBAR))
    assert r["tree_price"] == pytest.approx(0.851521, abs=5e-7)


def test_table_output_is_aligned_and_readable(capsys):
    assert cli.main(["solve"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "constant" in lines[0]
    assert lines[1].split() == ["dividend", "tree_price", "bond_price", "p/y", "R_f-1"]
    assert len(lines[1]) == len(lines[2])
    assert lines[2].split()[1:3] == ["0.851521", "0.95"]


def test_markov_prices_aligned_with_states(capsys):
    r = solve_json(capsys, "--dividend", "markov", "--states", "0.04,0.05",
                   "--transition", "0.8,0.2,0.3,0.7", "--gamma", "2")
    eq = solve_equilibrium(MarkovChainDividend((0.04, 0.05), ((0.8, 0.2), (0.3, 0.7))), 0.95, 2.0)
    assert r["dividend"] == [0.04, 0.05]
    np.testing.assert_allclose(r["tree_price"], eq.tree_prices, rtol=1e-14)
    np.testing.assert_allclose(r["bond_price"], eq.bond_prices, rtol=1e-14)
    r = solve_json(capsys, "--dividend", "markov", "--states", "0.04,0.05",
                   "--transition", "0.8,0.2,0.3,0.7", "--gamma", "2", "--at", "0.05")
    np.testing.assert_allclose(r["tree_price"], eq.tree_prices[1:], rtol=1e-14)


def test_mehra_prescott_reports_returns(capsys):
    r = solve_json(capsys, "--dividend", "mehra-prescott", "--beta", "0.99", "--gamma", "10")
    eq = solve_equilibrium(GrowthMarkovChain.mehra_prescott(), 0.99, 10.0)
    for key in ("equity_return", "risk_free_rate", "equity_premium"):
        assert r[key] == pytest.approx(getattr(eq, key), rel=1e-14)
    np.testing.assert_allclose(r["price_dividend_ratio"], eq.price_dividend_ratio, rtol=1e-14)
    assert r["dividend_growth"] == pytest.approx([1.054, 0.982])
    assert r["equity_premium"] == pytest.approx(r["equity_return"] - r["risk_free_rate"])
    assert len(r["tree_price"]) == len(r["bond_price"]) == 2
    r = solve_json(capsys, "--dividend", "mehra-prescott", "--delta", "0", "--gamma", "3")
    assert r["equity_premium"] == pytest.approx(0.0, abs=1e-14)     # no growth risk, no premium


def test_mehra_prescott_table(capsys):
    assert cli.main(["solve", "--dividend", "mehra-prescott", "--beta", "0.99", "--gamma", "2"]) == 0
    out = capsys.readouterr().out
    assert "equity premium 0.2869%" in out and "risk-free rate 4.2973%" in out


def test_log_ar1_at_levels_and_methods_agree(capsys):
    args = ["--dividend", "log-ar1", "--alpha", "0.9", "--sigma", "0.1", "--mu", "0", "--gamma", "2",
            "--at", "0.8,1,1.25"]
    series = solve_json(capsys, *args)
    quad = solve_json(capsys, *args, "--method", "quadrature")
    assert series["dividend"] == [0.8, 1.0, 1.25]
    np.testing.assert_allclose(quad["tree_price"], series["tree_price"], rtol=2e-3)
    np.testing.assert_allclose(series["bond_price"],
                               0.95 * np.array([0.8, 1, 1.25]) ** 2
                               * np.exp(-2 * 0.9 * np.log([0.8, 1, 1.25]) + 2 * 0.01), rtol=1e-12)


def test_default_mu_makes_the_mean_dividend_ybar(capsys):
    r = solve_json(capsys, "--dividend", "iid-lognormal", "--sigma", "0.2", "--ybar", "2")
    assert math.exp(r["mu"] + 0.5 * r["sigma"] ** 2) == pytest.approx(2.0)
    assert len(r["dividend"]) == 5 and r["dividend"][2] == pytest.approx(math.exp(r["mu"]))
    r = solve_json(capsys, "--dividend", "log-ar1", "--sigma", "0.1", "--alpha", "0.5", "--ybar", "2")
    m, v = r["mu"] / 0.5, 0.01 / 0.75
    assert math.exp(m + v / 2) == pytest.approx(2.0)


@pytest.mark.parametrize("argv, field", [
    (["--beta", "1.2"], "beta"),
    (["--beta", "0"], "beta"),
    (["--beta", "abc"], "beta"),
    (["--gamma", "0"], "gamma"),
    (["--gamma", "-1"], "gamma"),
    (["--dividend", "garch"], "dividend"),
    (["--ybar", "-1"], "ybar"),
    (["--dividend", "markov", "--states", "1,2", "--transition", "0.5,0.6,0.5,0.5"], "transition"),
    (["--dividend", "markov", "--states", "1,2", "--transition", "0.5,0.5,0.5"], "transition"),
    (["--dividend", "markov", "--states", "1,2,3", "--transition", "1,0,0,1"], "transition"),
    (["--dividend", "markov", "--states", "1;2", "--transition", "1,0,0,1"], "states"),
    (["--dividend", "markov", "--states", "1,x", "--transition", "1,0,0,1"], "states"),
    (["--dividend", "markov", "--states", "1,-2", "--transition", "1,0,0,1"], "states"),
    (["--dividend", "markov", "--transition", "1,0,0,1"], "states"),
    (["--dividend", "markov", "--states", "1,2"], "transition"),
    (["--dividend", "markov", "--states", "1,2", "--transition", "1,0,0,1", "--at", "3"], "at"),
    (["--dividend", "iid-lognormal", "--sigma", "-0.1"], "sigma"),
    (["--dividend", "log-ar1", "--alpha", "1"], "alpha"),
    (["--dividend", "log-ar1", "--method", "spline"], "method"),
    (["--dividend", "mehra-prescott", "--phi", "1.5"], "phi"),
    (["--dividend", "mehra-prescott", "--beta", "0.99", "--gamma", "0.1", "--mu", "0.3"], "beta"),
    (["--dividend", "constant", "--alpha", "0.5"], "alpha"),
    (["--at", "1,,2"], "at"),
    # prices that a float64 cannot hold: inf/nan in the table and bare NaN/Infinity in --json
    (["--ybar", "1e308", "--beta", "0.99"], "ybar"),          # p = 99e308; gamma plays no part
    (["--dividend", "mehra-prescott", "--ybar", "1e308"], "ybar"),
    (["--dividend", "iid-lognormal", "--sigma", "37"], "sigma"),   # median e^-2s rounds to 0
    (["--dividend", "iid-lognormal", "--gamma", "10", "--sigma", "3.7", "--json"], "gamma"),
    (["--dividend", "iid-lognormal", "--gamma", "5", "--at", "1e-300,1e300"], "at"),
    # sigma^2 in the default mu overflowed: OverflowError tracebacks
    (["--dividend", "iid-lognormal", "--sigma", "1e200"], "sigma"),
    (["--dividend", "log-ar1", "--sigma", "1e200"], "sigma"),
    # the stationary variance sigma^2/(1 - alpha^2) puts the median at e^-14000: was blamed on mu
    (["--dividend", "log-ar1", "--alpha", "0.9999999"], "sigma"),
    # growth 1 + mu = 1e308: q = 9.5e-309 and returns inf were printed (Infinity in --json)
    (["--dividend", "mehra-prescott", "--mu", "1e308", "--json"], "mu"),
    (["--dividend", "mehra-prescott", "--mu=-2"], "mu"),      # was "delta: must be < 1 + mu = -1"
])
def test_bad_input_is_one_line_exit_2(capsys, argv, field):
    assert cli.main(["solve", *argv]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == ""
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith(f"lucas-abm: error: {field}: must be ")


@pytest.mark.parametrize("argv, start", [
    # the quadrature cannot meet its tolerance at beta 0.9999 (refused before iterating)
    (["--method", "quadrature", "--beta", "0.9999", "--gamma", "3"],
     "method: must be 'series' for this process and beta, got 'quadrature' (the quadrature stops"),
    # the series needs more than 10^7 terms with beta and alpha this close to 1, and the
    # quadrature cannot resolve its tolerance at that beta either
    (["--alpha", "0.9999999", "--sigma", "1e-5", "--gamma", "3", "--beta", "0.9999999"],
     "alpha: must be further from 1 at beta = 0.9999999, got 0.9999999 (|alpha| = 0.9999999 is"),
])
def test_a_method_that_cannot_converge_names_an_option_the_command_has(capsys, argv, start):
    # The solver names its numerics (tol, series_tol), which the command does not expose.
    assert cli.main(["solve", "--dividend", "log-ar1", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lucas-abm: error: " + start)
    assert "\n" not in err and "; or use" not in err and "tol" not in err.split("(")[0]


def test_header_prints_parameters_that_six_digits_would_round(capsys):
    assert cli.main(["solve", "--dividend", "log-ar1", "--beta", "0.9999999", "--alpha", "0.5"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "beta = 0.9999999," in header and "alpha = 0.5," in header   # was "beta = 1"


def test_growth_chain_without_finite_price_message(capsys):
    assert cli.main(["solve", "--dividend", "mehra-prescott", "--beta", "0.99", "--gamma", "0.1",
                     "--mu", "0.3"]) == 2
    err = capsys.readouterr().err
    assert "spectral radius" in err and "beta: must be < " in err


def test_every_option_has_help():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    solve = sub.choices["solve"]
    options = [a for a in solve._actions if a.option_strings and a.dest != "help"]
    assert {a.dest for a in options} >= {"dividend", "beta", "gamma", "ybar", "mu", "sigma", "alpha", "states",
                                         "transition", "delta", "phi", "at", "json"}
    for action in options:
        assert action.help and len(action.help) > 15, action.dest


def test_the_sigma_bound_from_ybar_is_the_median_at_e_to_the_minus_708(capsys):
    # E[y] = ybar sets mu = log(ybar) - sigma^2/2 (i.i.d.): e^mu >= e^-708 iff
    # sigma <= sqrt(2 (log ybar + 708)) = 37.55 at the thesis' ybar
    bound = math.sqrt(2 * (math.log(THESIS_YBAR) + 708))
    assert cli.main(["solve", "--dividend", "iid-lognormal", "--sigma", f"{bound * 1.001}"]) == 2
    assert f"sigma: must be <= {bound:.4g} with this ybar" in capsys.readouterr().err
    bound_ar = bound * math.sqrt(1 - 0.9 ** 2)           # log-ar1: sigma^2/(1 - alpha^2)
    assert cli.main(["solve", "--dividend", "log-ar1", "--sigma", f"{bound_ar * 1.001}"]) == 2
    assert f"sigma: must be <= {bound_ar:.4g} with this ybar and alpha" in capsys.readouterr().err


def test_a_median_from_an_explicit_mu_names_mu_with_its_own_formula(capsys):
    # the hint was the i.i.d. "mu = log(ybar) - sigma^2/2, so lower sigma" for every case
    assert cli.main(["solve", "--dividend", "log-ar1", "--mu", "100"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "got 100.0 (m = mu/(1 - alpha) = 1000 at alpha = 0.9)")


def test_an_option_the_process_does_not_use_lists_only_the_commands_options(capsys):
    assert cli.main(["solve", "--dividend", "markov", "--sigma", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "(it uses --states, --transition)" in err and "initial_state" not in err


def solver_doc_transcripts() -> list[tuple[list[str], list[str]]]:
    """The ``$ lucas-abm solve ...`` commands of docs/solver.md's "Command line" block, each
    with the lines the doc shows it printing (``...`` stands for lines left out)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "solver.md").read_text()
    block = text.split("## Command line", 1)[1].split("```")[1]
    cases: list[tuple[list[str], list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ lucas-abm "):
            cases.append((line[len("$ lucas-abm "):].split("#")[0].split(), []))
        elif cases and line.strip():
            cases[-1][1].append(line.rstrip())
    return cases


@pytest.mark.parametrize("argv, shown", solver_doc_transcripts(),
                         ids=[" ".join(argv) for argv, _ in solver_doc_transcripts()])
def test_the_commands_in_the_docs_print_what_the_docs_show(capsys, argv, shown):
    """docs/solver.md showed bond_price 0.9500000000000001 and a header rounded to six digits
    after the code had changed; every transcript there is now run."""
    assert cli.main(argv) in (0, 2)
    captured = capsys.readouterr()
    printed = [line.rstrip() for line in (captured.out + captured.err).splitlines() if line.strip()]
    if "..." in shown:   # lines left out: what follows must end the output
        shown = shown[shown.index("...") + 1:]
        printed = printed[-len(shown):]
    assert printed == shown
