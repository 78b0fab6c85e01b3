"""The market meets the theory (docs/heterogeneity.md): scripted equilibrium traders in the call
auction reproduce the exact equilibrium's p(y_t), q(y_t) and every type's holdings along a
simulated path; the identical-agent economy with Pareto sizes trades nothing at p*, q*."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lucas_abm.equilibrium import solve_population
from lucas_abm.errors import ConfigError
from lucas_abm.population import load_population
from lucas_abm.simulate import SimulationConfig, run_simulation
from lucas_abm.solver import solve_equilibrium
from orchestrator.cli import main

STATES, TRANSITION = [0.04, 0.05], [[0.9, 0.1], [0.2, 0.8]]
TWO_TYPES = """population:
  - {name: cautious, count: 30, gamma: 5.0, size: 1.0, borrowing_limit: 10}
  - {name: bold, count: 50, gamma: 1.0, size: {pareto: {zeta: 1.5}}, borrowing_limit: 10}
"""
PARETO = """population:
  - {name: all, count: 60, gamma: 2.0, size: {pareto: {zeta: 1.5}}}
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "two.yaml").write_text(TWO_TYPES)
    (tmp_path / "pareto.yaml").write_text(PARETO)
    return tmp_path


def markov(path, **kw) -> SimulationConfig:
    return SimulationConfig(agents=None, population=str(path), dividend="markov", states=STATES,
                            transition=TRANSITION, mechanism="call-auction", policy="equilibrium",
                            **kw)


@pytest.mark.parametrize("seed", [0, 4])
def test_equilibrium_traders_reproduce_negishi_prices_and_holdings(files, seed):
    result = run_simulation(markov(files / "two.yaml", steps=60, seed=seed))
    s, info = result.series, result.summary
    y0 = s.dividend[0]
    solved = solve_population(load_population(files / "two.yaml"), STATES, TRANSITION, beta=0.95,
                              initial_state=STATES.index(y0))
    i = np.array([STATES.index(y) for y in s.dividend])
    assert len(set(i)) == 2                                   # the path visits both states
    p, q = np.array(solved["tree_price"])[i], np.array(solved["bond_price"])[i]
    np.testing.assert_allclose(s.tree_clearing_price, p, rtol=1e-14)
    np.testing.assert_allclose(s.bond_clearing_price, q, rtol=1e-14)
    assert s.tree_volume[0] > 0 and s.bond_volume.min() > 0   # rebalance at t = 0, bonds rolled
    assert s.tree_volume[1:].max() * 0.0005 < 1e-12           # then the tree is held
    for name in ("cautious", "bold"):
        for asset in ("shares", "bonds"):
            assert info["holdings"][name][asset] == pytest.approx(
                solved["holdings"][name][asset][0], rel=1e-12, abs=1e-15)
    assert solved["holdings"]["bold"]["bonds"][0] < 0         # the bold type borrows
    assert info["max_holding_error"] < 1e-13                  # every agent, every period
    assert info["max_invariant_violation"] < 1e-15
    assert info["infeasible_per_step"] == 0


def test_pareto_sizes_identical_preferences_no_trade_at_p_star(files):
    for mechanism, dividend in (("call-auction", "iid-lognormal"), ("pairwise", "iid-lognormal"),
                                ("call-auction", "markov")):
        extra = dict(states=STATES, transition=TRANSITION) if dividend == "markov" else {}
        config = SimulationConfig(agents=None, population=str(files / "pareto.yaml"), gamma=2.0,
                                  dividend=dividend, mechanism=mechanism, policy="equilibrium",
                                  steps=25, **extra)
        result = run_simulation(config)
        s = result.series
        rep = solve_equilibrium(config.dividend_process(), 0.95, 2.0)
        price = s.tree_clearing_price if mechanism == "call-auction" else s.mean_tree_price
        bond = s.bond_clearing_price if mechanism == "call-auction" else s.mean_bond_price
        np.testing.assert_allclose(price, rep.tree_price(s.dividend.to_numpy()), rtol=1e-14)
        np.testing.assert_allclose(bond, rep.bond_price(s.dividend.to_numpy()), rtol=1e-14)
        assert s.tree_volume.max() == 0 and s.bond_volume.max() == 0
        assert result.summary["max_holding_error"] == 0.0


def test_refusals_name_the_field(files):
    tight = files / "tight.yaml"
    tight.write_text(TWO_TYPES.replace("{pareto: {zeta: 1.5}}, borrowing_limit: 10",
                                       "{pareto: {zeta: 1.5}}, borrowing_limit: 0.001"))
    with pytest.raises(ConfigError, match=r"population\[1\]\.borrowing_limit: must be >= "):
        markov(tight, steps=2).build()
    with pytest.raises(ConfigError, match="^mechanism: must be an order mechanism"):
        SimulationConfig(agents=None, population=str(files / "two.yaml"), dividend="markov",
                         states=STATES, transition=TRANSITION, policy="equilibrium").build()
    with pytest.raises(ConfigError, match=r"^agents: must be 80 \(the population's count\)"):
        SimulationConfig(agents=10, population=str(files / "two.yaml")).build()
    with pytest.raises(ConfigError, match="^dividend: must be constant or markov"):
        SimulationConfig(agents=None, population=str(files / "two.yaml"), dividend="log-ar1",
                         mechanism="call-auction").build()


def test_cli_population_equilibrium_and_random_orders(files, capsys):
    args = ["simulate", "--population", str(files / "two.yaml"), "--dividend", "markov", "--states",
            "0.04,0.05", "--transition", "0.9,0.1,0.2,0.8", "--mechanism", "call-auction", "--steps", "20"]
    out = json.loads(subprocess.run([sys.executable, "-m", "orchestrator.cli", *args, "--json",
                                     "--policy", "equilibrium"], check=True, capture_output=True,
                                    text=True).stdout)
    assert out["agents"] == 80 and out["max_tree_price_error"] < 1e-14
    assert out["max_bond_price_error"] < 1e-14 and out["max_holding_error"] < 1e-13
    assert main([*args, "--policy", "random", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["agent_steps_per_second"] > 0 and out["tree_volume_per_agent_per_step"] > 0
    assert main([*args, "--agents", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lucas-abm: error: agents: must be 80")
