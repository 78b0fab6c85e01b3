"""Changing one assumption must not silently break a run (lucas_abm/guards.py and the CLIs).

Price grids and caps that miss the equilibrium prices, lots no agent can trade, flags that do
nothing and an ``--out`` that names a file are refused before any work with one line naming
the key and the value needed; the numbers in the messages are checked against closed forms
(p* = beta/(1-beta) ybar; i.i.d. lognormal q(y) = beta y E[1/y'] with E[1/y'] = exp(-mu + sigma^2/2)).
One dividend parametrisation: a config, ``simulate`` and ``solve`` build the same process.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lucas_abm.dividend_params import dividend_from_params
from lucas_abm.dividends import THESIS_YBAR
from lucas_abm.errors import ConfigError
from lucas_abm.simulate import SimulationConfig
from orchestrator.cli import main
from orchestrator.config import load_config

CPU = Path(__file__).resolve().parent.parent / "configs" / "thesis_cpu.yaml"


def refused(overrides: list[str]) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(CPU, overrides)
    return str(err.value)


def cli_error(capsys, *args: str) -> str:
    assert main(list(args)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lucas-abm: error: ")
    return lines[0][len("lucas-abm: error: "):]


def test_beta_099_asks_for_a_tree_grid_containing_p_star():
    p_star = 0.99 / 0.01 * THESIS_YBAR                      # 4.43687
    message = refused(["economy.beta=0.99"])
    need = math.ceil(p_star * 1.05 * 1000) / 1000           # 5% margin, rounded up: 4.659
    assert message.startswith(f"actions.tree_high: must be >= {need:.4g} ")
    assert f"p* reaches {p_star:.4g}" in message and message.endswith("got 2.0")
    # the value it asks for is accepted (with a cap above it)
    load_config(CPU, ["economy.beta=0.99", f"actions.tree_high={need}"])


def test_grid_low_end_and_price_cap():
    p_star = 0.95 / 0.05 * THESIS_YBAR                       # 0.851521
    message = refused(["actions.tree_low=0.9"])
    assert message.startswith(f"actions.tree_low: must be <= {math.floor(p_star * 0.95 * 1e4) / 1e4:.4g} ")
    assert refused(["market.max_price=1.5"]).startswith("market.max_price: must be >= actions.tree_high = 2")


def test_stochastic_dividend_whose_bond_prices_leave_the_grid():
    """i.i.d. lognormal, mean dividend ybar, sigma 0.1: q(y) = beta exp(k sigma + sigma^2/2)
    at y = exp(mu + k sigma); at k = 2 it is 0.95 exp(0.205) = 1.1662, above bond_high 1.1."""
    sigma = 0.1
    q_high = 0.95 * math.exp(2 * sigma + sigma ** 2 / 2)
    message = refused(["economy.dividend=iid-lognormal"])
    assert message.startswith(f"actions.bond_high: must be >= {math.ceil(q_high * 1.05 * 1e3) / 1e3:.4g} ")
    assert f"q* reaches {q_high:.4g}" in message
    # with the grid of configs/iid_lognormal_cpu.yaml it is accepted
    load_config(CPU, ["economy.dividend=iid-lognormal", "actions.bond_low=0.7", "actions.bond_high=1.3"])


@pytest.mark.parametrize("override, start", [
    ("market.tree_lot=2", "market.tree_lot: must be <= market.initial_shares = 1 "),
    # one lot at p* costs more than the endowment's dividend: lot <= y / p* = (1 - beta)/beta
    ("market.tree_lot=0.06", f"market.tree_lot: must be <= {math.floor(0.05 / 0.95 * 1e5) / 1e5:.4g} "),
    ("market.bond_lot=0.02", "market.bond_lot: must be <= market.borrowing_limit = 0.01 "),
])
def test_lots_larger_than_the_endowment(override, start):
    assert refused([override]).startswith(start)


@pytest.mark.parametrize("override, start", [
    ("economy.dividend_params.sigma=-1", "economy.dividend_params.sigma: must be in [0, inf)"),
    ("economy.dividend_params.ybarr=1", "economy.dividend_params.ybarr: must be a parameter of dividend"),
    ("economy.mechanism_params.theta=0.3", "economy.mechanism_params.theta: must be left out"),
])
def test_parameter_errors_name_the_config_key(override, start):
    # the mechanism case: the thesis' pairwise matching, which takes no parameters
    # (configs/thesis_cpu.yaml's pairwise-tick takes tree_tick and bond_tick)
    extra = (["economy.dividend=iid-lognormal"] if "dividend_params" in override else
             ["economy.mechanism=pairwise", "economy.mechanism_params={}"] if "mechanism_params" in override
             else [])
    assert refused(extra + [override]).startswith(start)


def test_one_dividend_parametrisation_for_configs_simulate_and_solve(capsys):
    for name, extra in (("iid-lognormal", []), ("log-ar1", ["--alpha", "0.9"])):
        config = load_config(CPU, [f"economy.dividend={name}", "actions.bond_low=0.7",
                                   "actions.bond_high=1.3", "economy.dividend_params={ybar: 0.05}"])
        trained = dividend_from_params(name, config.economy.dividend_params)
        simulated = SimulationConfig(dividend=name, ybar=0.05).dividend_process()
        assert main(["solve", "--dividend", name, "--ybar", "0.05", "--json", *extra]) == 0
        solved = json.loads(capsys.readouterr().out)
        assert trained == simulated
        assert trained.mu == pytest.approx(solved["mu"], rel=1e-15)
    # the mean of the stationary law is ybar: iid E[y] = exp(mu + sigma^2/2); log-ar1 likewise
    assert math.exp(trained.stationary_mean_log + trained.stationary_sd_log ** 2 / 2) == pytest.approx(0.05)


@pytest.mark.parametrize("args, start", [
    (["--theta", "0.3"], "theta: must be left out unless --mechanism bargaining"),
    (["--noise", "0.1"], "noise: must be left out unless --policy noisy-equilibrium"),
    (["--spread", "0.1", "--policy", "noisy-equilibrium"], "spread: must be left out unless --policy random"),
    (["--dividend", "iid-lognormal", "--alpha", "0.5"], "alpha: must be a parameter of dividend 'iid-lognormal'"),
    (["--dividend", "iid-lognormal", "--ybar", "0.05", "--mu", "-3"], "ybar: must be left out when mu is given"),
    (["--mechanism-param", "theta=0.3"], "mechanism_params.theta: must be left out"),
    (["--mechanism", "bargaining", "--mechanism-param", "thetta=0.3"], "mechanism_params.thetta: must be a parameter"),
    (["--tree-lot", "2"], "tree_lot: must be <= initial_shares = 1 "),
    (["--max-price", "0.5"], "max_price: must be >= 0.9975 (the equilibrium prices reach 0.95 "),
])
def test_simulate_refuses_before_any_work(capsys, args, start):
    assert cli_error(capsys, "simulate", "--agents", "10", "--steps", "2", *args).startswith(start)


def test_simulate_out_naming_a_file_is_refused_before_the_run(tmp_path, capsys):
    target = tmp_path / "results.csv"
    target.write_text("keep me")
    message = cli_error(capsys, "simulate", "--agents", "10", "--steps", "2", "--out", str(target))
    assert message.startswith("--out: must be a directory")
    assert target.read_text() == "keep me"


def test_simulate_reports_invalid_prices(capsys):
    """Random policy, posted p* U and q* V with U, V ~ U[0.5, 1.5], cap 1.0: a tree price is
    invalid with probability P(U > 1/p*) = 1.5 - 1/p*, a bond price with 1.5 - 1/q*; either."""
    p_star, q_star = 0.95 / 0.05 * THESIS_YBAR, 0.95
    expected = 1 - (1 - (1.5 - 1 / p_star)) * (1 - (1.5 - 1 / q_star))     # 0.6274
    n, steps = 200, 20
    assert main(["simulate", "--agents", str(n), "--steps", str(steps), "--policy", "random",
                 "--max-price", "1.0", "--seed", "5"]) == 0
    text = capsys.readouterr().out
    line = next(ln for ln in text.splitlines() if "INVALID posted prices" in ln)
    share = float(line.split("INVALID posted prices: ")[1].split("%")[0]) / 100
    se = math.sqrt(expected * (1 - expected) / (n * steps))
    assert abs(share - expected) < 5 * se
    assert main(["simulate", "--agents", "20", "--steps", "3"]) == 0
    assert "INVALID" not in capsys.readouterr().out


def test_a_utility_beyond_float64_is_refused_where_every_reward_would_be_inf():
    # u(c) = c^(1-gamma)/(1-gamma) at c = ybar = 0.0448: e^923 at gamma 300 (rewards were -inf)
    from lucas_abm.dividends import ConstantDividend
    from lucas_abm.guards import check_utility_finite
    from lucas_abm.solver import solve_equilibrium

    for gamma, ybar, refused in ((300.0, THESIS_YBAR, True), (200.0, THESIS_YBAR, False),
                                 (300.0, 1.0, False), (0.5, 1e-300, False)):
        prices = solve_equilibrium(ConstantDividend(ybar), 0.95, gamma)
        log_u = (1 - gamma) * math.log(ybar) - math.log(abs(1 - gamma))
        assert (abs(log_u) > 709) == refused
        if refused:
            with pytest.raises(ConfigError) as err:
                check_utility_finite(prices, 1.0)
            assert err.value.field == "economy.gamma" and "e^923" in str(err.value)
        else:
            check_utility_finite(prices, 1.0)
    assert main(["simulate", "--gamma", "300", "--steps", "2"]) == 2


def test_prices_beyond_float64_at_the_edge_of_the_dividend_range_are_refused_naming_gamma(capsys):
    # The solver checks the median level; at exp(mu + 2 sigma) the i.i.d. q(y) = beta y^gamma
    # E[y'^-gamma] = beta exp(gamma (log y - mu) + gamma^2 sigma^2 / 2) is e^(74 + 684) = inf
    # at gamma 10, sigma 3.7, and the lot guard then died in math.log10(0).
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")             # no overflow warning on the way either
        message = cli_error(capsys, "simulate", "--agents", "10", "--steps", "5", "--dividend",
                            "iid-lognormal", "--gamma", "10", "--sigma", "3.7", "--max-price", "1e308",
                            "--tree-lot", "1e-272", "--bond-lot", "1e-300")
    assert message.startswith("gamma: must be small enough that the equilibrium prices at beta "
                              "0.95, gamma 10, over y in [2.917e-08, 0.07807] are positive float64s")
    mu = math.log(THESIS_YBAR) - 3.7 ** 2 / 2
    y = float(message.split(" at y = ")[1].split(";")[0])
    assert 10 * (math.log(y) - mu) + 100 * 3.7 ** 2 / 2 > math.log(1.79e308) - math.log(0.95)  # q(y) overflows
    with pytest.raises(ConfigError, match=r"^economy\.gamma: must be small enough that the "
                                          r"equilibrium prices"):
        load_config(CPU, ["economy.dividend=iid-lognormal", "economy.gamma=10",
                          "economy.dividend_params.sigma=3.7"])


def test_a_population_type_whose_utility_is_beyond_float64_is_refused_naming_it(tmp_path, capsys):
    # Populations skipped check_utility_finite: a gamma-300 type at y = 0.0448 gave
    # mean_reward -inf in every row of series.csv. Its |u| = c^(-299)/299 = e^923.
    import yaml

    path = tmp_path / "population.yaml"
    path.write_text(yaml.safe_dump({"population": [{"name": "a", "count": 10, "gamma": 1.0},
                                                   {"name": "b", "count": 10, "gamma": 300.0}]}))
    message = cli_error(capsys, "simulate", "--population", str(path), "--mechanism", "call-auction",
                        "--policy", "random", "--steps", "3")
    log_u = 299 * -math.log(THESIS_YBAR) - math.log(299)
    assert message.startswith("population[1].gamma: must be small enough that the utility of the "
                              "equilibrium consumption c = s0 y (s0 = 1, y in [0.04482, 0.04482])")
    assert message.endswith(f"got 300.0 (|u| reaches e^{log_u:.0f} for type b)") and round(log_u) == 923
    two_types = CPU.parent / "population_two_types_cpu.yaml"
    with pytest.raises(ConfigError, match=r"^population\[0\]\.gamma: .*reaches e\^957 for type cautious"):
        load_config(two_types, ["population.0.gamma=300"])
    load_config(two_types, ["population.0.gamma=200"])    # e^634: allowed


def test_a_population_price_cap_is_checked_over_a_lognormal_dividend_range(tmp_path, capsys):
    # The population check looked up p(nan) for lognormal laws (no ybar attribute) and let every
    # cap pass; p = beta/(1-beta) y = 19 y (gamma 1) reaches 19 exp(mu + 2 sigma) = 2.043 here.
    import yaml

    path = tmp_path / "population.yaml"
    path.write_text(yaml.safe_dump({"population": [{"name": "a", "count": 5}, {"name": "b", "count": 5}]}))
    top = 19 * math.exp(math.log(THESIS_YBAR) - 0.5 ** 2 / 2 + 2 * 0.5)
    argv = ["simulate", "--population", str(path), "--policy", "random", "--steps", "2",
            "--dividend", "iid-lognormal", "--sigma", "0.5"]
    message = cli_error(capsys, *argv, "--max-price", "1.0")
    assert message.startswith(f"max_price: must be above the equilibrium tree price {top:.6g}")
    assert round(top, 3) == 2.043
    assert main([*argv, "--max-price", "2.1"]) == 0


def test_messages_print_a_beta_that_six_digits_would_round_to_one(capsys):
    message = cli_error(capsys, "simulate", "--beta", "0.99999999", "--steps", "2", "--backend", "numpy")
    assert "at beta 0.99999999, gamma 1," in message          # was "at beta 1"


def test_a_population_type_with_the_economys_gamma_is_refused_naming_gamma(tmp_path, capsys):
    # it named population[0].gamma, which the file does not set
    import yaml

    path = tmp_path / "population.yaml"
    path.write_text(yaml.safe_dump({"population": [{"name": "a", "count": 10},
                                                   {"name": "b", "count": 10, "gamma": 1.0}]}))
    message = cli_error(capsys, "simulate", "--population", str(path), "--gamma", "300",
                        "--mechanism", "call-auction", "--policy", "random", "--steps", "2")
    assert message.startswith("gamma: must be small enough that the utility")
    assert message.endswith("got 300.0 (|u| reaches e^923 for type a)")
