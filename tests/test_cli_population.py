"""``lucas-abm solve --population FILE``: JSON keys and numbers, and one-line errors (exit code 2)
for bad input. Two tests run the real process; the others call the same entry point in-process
(each process start costs seconds)."""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import yaml

from lucas_abm.equilibrium import solve_harrison_kreps, solve_negishi
from lucas_abm.population import load_population
from lucas_abm.solver import solve_equilibrium
from lucas_abm.dividends import MarkovChainDividend
from orchestrator import cli

CHAIN = ["--dividend", "markov", "--states", "0.04,0.05", "--transition", "0.8,0.2,0.3,0.7"]


def lucas_abm(*argv):
    """The real process."""
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *argv], capture_output=True, text=True)


def in_process(capsys, *argv):
    """The same entry point in this process: (exit code, stdout, stderr)."""
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def write(tmp_path, types, **extra):
    path = tmp_path / "population.yaml"
    path.write_text(yaml.safe_dump({"population": types, **extra}))
    return str(path)


def test_heterogeneous_gamma_json(tmp_path):
    path = write(tmp_path, [{"name": "cautious", "count": 50, "gamma": 5.0, "size": 1.0},
                            {"name": "bold", "count": 50, "gamma": 1.0, "size": {"pareto": {"zeta": 1.5}}}],
                 seed=4)
    proc = lucas_abm("solve", "--population", path, *CHAIN, "--initial-state", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    theta = load_population(path).draw().endowments
    eq = solve_negishi([0.04, 0.05], [[0.8, 0.2], [0.3, 0.7]], 0.95, [5.0, 1.0], theta, initial_state=1)
    assert r["solver"] == "negishi" and r["initial_state"] == 1
    np.testing.assert_allclose(r["tree_price"], eq.tree_prices, rtol=1e-12)
    np.testing.assert_allclose(r["bond_price"], eq.bond_prices, rtol=1e-12)
    shares = np.array([r["holdings"][k]["shares"] for k in ("cautious", "bold")])
    bonds = np.array([r["holdings"][k]["bonds"] for k in ("cautious", "bold")])
    assert shares.shape == bonds.shape == (2, 2)                # types x states
    np.testing.assert_allclose(shares.sum(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(bonds.sum(axis=0), 0.0, atol=1e-15)
    assert bonds[1, 0] < 0 < bonds[0, 0]                        # the bold type borrows from the cautious
    # prices match a representative agent with gamma = representative_gamma
    ra = solve_equilibrium(MarkovChainDividend((0.04, 0.05), ((0.8, 0.2), (0.3, 0.7))), 0.95,
                           r["representative_gamma"])
    np.testing.assert_allclose(r["tree_price"], ra.tree_prices, rtol=1e-12)


def test_equal_gammas_are_the_representative_agent(tmp_path, capsys):
    path = write(tmp_path, [{"name": "a", "count": 30, "size": {"pareto": {"zeta": 1.5}}},
                            {"name": "b", "count": 70, "size": {"lognormal": {"sigma": 1.0}}}])
    r = json.loads(in_process(capsys, "solve", "--population", path, *CHAIN, "--gamma", "2", "--json")[1])
    ra = json.loads(in_process(capsys, "solve", *CHAIN, "--gamma", "2", "--json")[1])
    np.testing.assert_allclose(r["tree_price"], ra["tree_price"], rtol=1e-12)
    np.testing.assert_allclose(r["bond_price"], ra["bond_price"], rtol=1e-12)
    for k in ("a", "b"):
        np.testing.assert_allclose(r["holdings"][k]["shares"], r["endowment"][k], rtol=1e-12)
        np.testing.assert_allclose(r["holdings"][k]["bonds"], 0.0, atol=1e-15)


def test_heterogeneous_beliefs_json(tmp_path, capsys):
    p_a = [[0.5, 0.5], [2 / 3, 1 / 3]]
    p_b = [[2 / 3, 1 / 3], [0.25, 0.75]]
    path = write(tmp_path, [{"name": "a", "gamma": 0, "beliefs": {"transition": p_a}},
                            {"name": "b", "gamma": 0, "beliefs": {"transition": p_b}}])
    code, out, err = in_process(capsys, "solve", "--population", path, "--dividend", "markov", "--states",
                                "0,1", "--transition", "0.5,0.5,0.5,0.5", "--beta", "0.75", "--json")
    assert code == 0, err
    r = json.loads(out)
    eq = solve_harrison_kreps([0, 1], [p_a, p_b], [0.75, 0.75])
    assert r["solver"] == "harrison-kreps" and r["holder"] == ["a", "b"]
    np.testing.assert_allclose(r["tree_price"], [24 / 13, 27 / 13], rtol=1e-12)
    np.testing.assert_allclose([r["valuations"]["a"], r["valuations"]["b"]], eq.valuations, rtol=1e-12)
    assert r["holdings"]["a"]["shares"] == [1.0, 0.0] and r["holdings"]["b"]["shares"] == [0.0, 1.0]


def test_patience_path_json_and_table(tmp_path, capsys):
    path = write(tmp_path, [{"name": "patient", "beta": 0.97}, {"name": "impatient", "beta": 0.9}])
    r = json.loads(in_process(capsys, "solve", "--population", path, "--periods", "200", "--json")[1])
    assert r["solver"] == "patience" and len(r["tree_price"]) == len(r["t"]) == 200
    share = r["consumption_share"]["patient"]
    assert share[0] == pytest.approx(0.03 / 0.13, rel=1e-12) and np.all(np.diff(share) > 0) and share[-1] > 0.99
    code, out, _ = in_process(capsys, "solve", "--population", path, "--periods", "3")
    assert code == 0 and out.splitlines()[1].split()[:3] == ["t", "tree_price", "bond_price"]


@pytest.mark.parametrize("types, argv, message", [
    ([{"name": "a", "count": 0}], [], "population[0].count: must be an integer in [1, 1,000,000,000], got 0"),
    ([{"name": "a", "preset": "dragon"}], [], "population[0].preset: must be one of pension_fund"),
    ([{"name": "a", "gamma": 2}, {"name": "b", "gamma": 3}],
     ["--dividend", "markov", "--states", "1,2,3", "--transition", "1,0,0,0,1,0,0,0,1"],
     "states: must be at most 2 when gammas differ"),
    ([{"name": "a"}], ["--dividend", "log-ar1"], "dividend: must be one of constant, markov"),
    ([{"name": "a"}], ["--initial-state", "x"], "initial_state: must be an integer >= 0"),
    # sizes a float64 cannot hold gave RuntimeWarnings and "endowments: ... got [nan, 0.0]"
    ([{"name": "a", "count": 1000, "size": {"pareto": {"zeta": 0.01}}}, {"name": "b", "gamma": 5}],
     CHAIN, "population[0].size.pareto.zeta: must be large enough that 1000 sizes drawn from it "
            "are positive float64s with a float64 sum, got 0.01 (largest drawn inf"),
    # p = beta/(1-beta) ybar = inf and shares inf/inf = nan were printed with exit 0
    ([{"name": "a", "gamma": 5}, {"name": "b", "gamma": 1}], ["--ybar", "1e308"],
     "ybar: must be dividend levels at which the equilibrium's prices and holdings are float64s, "
     "got 1e+308 (tree_price[0] = inf)"),
    # a gamma from --gamma (types that set none) was blamed on population[0].gamma
    ([{"name": "a", "beta": 0.9}, {"name": "b", "beta": 0.95}], ["--gamma", "2"],
     "gamma: must be 1 (log utility) when betas differ, got 2.0"),
    ([{"name": "a", "beta": 0.9}, {"name": "b", "beta": 0.95, "gamma": 3}], [],
     "population[1].gamma: must be 1 (log utility) when betas differ, got 3.0"),
    ([{"name": "a", "beta": 0.9}, {"name": "b", "beta": 0.95}], ["--ybar", "1e308"],
     "ybar: must be dividend levels at which the equilibrium's prices and holdings are float64s"),
    ([{"name": "a", "count": 10, "size": 1e307}, {"name": "b", "count": 10, "size": 1e307}], [],
     "population: must be sizes whose total over all types is a float64 (the types' totals: "
     "a 1e+308, b 1e+308)"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, types, argv, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # no RuntimeWarning on the way to the refusal
        code, out, err = in_process(capsys, "solve", "--population", write(tmp_path, types), *argv,
                                    "--json")
    assert code == 2 and out == ""
    assert err.startswith("lucas-abm: error: " + message) and err.count("\n") == 1


def test_one_type_is_not_called_types(tmp_path, capsys):
    code, out, _ = in_process(capsys, "solve", "--population", write(tmp_path, [{"name": "a"}]))
    assert code == 0 and out.splitlines()[0] == "negishi equilibrium, 1 type, initial state 0"


def test_bad_input_from_the_real_process(tmp_path):
    proc = lucas_abm("solve", "--population", write(tmp_path, [{"name": "a", "gamma": -1}]), "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "lucas-abm: error: population[0].gamma: must be in [0, inf), got -1\n"
