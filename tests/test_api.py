"""The Python API: the version's single source, lazy top-level names, ``train(config)`` and the
quickstart example run as a user would run it (its own process, from another directory).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import lucas_abm
from lucas_abm.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_version_single_sourced_in_pyproject():
    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert lucas_abm.__version__ == metadata.version("lucas-abm") == declared
    assert not re.search(r"\bversion\s*=", (ROOT / "setup.py").read_text())   # no second copy


def test_import_is_light_and_names_resolve_lazily():
    code = ("import sys, lucas_abm; heavy = [m for m in ('tensorflow', 'numba', 'reverb') if m in sys.modules];"
            "assert not heavy, heavy; print(lucas_abm.solve_equilibrium.__module__, lucas_abm.LucasMarket.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["lucas_abm.solver", "LucasMarket"]
    assert set(lucas_abm.__all__) <= set(dir(lucas_abm))
    with pytest.raises(AttributeError):
        lucas_abm.no_such_name


@pytest.mark.parametrize("config, field", [
    ({"economy": {"beta": 1.5}}, "economy.beta"),
    (str(ROOT / "configs" / "no-such.yaml"), "--config"),
])
def test_train_refuses_bad_config_before_tensorflow(tmp_path, config, field):
    code = ("import sys, lucas_abm\nfrom lucas_abm.errors import ConfigError\n"
            f"try:\n    lucas_abm.train({config!r}, {str(tmp_path / 'run')!r})\n"
            "except ConfigError as e:\n    print(e)\n"
            "assert 'tensorflow' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith(f"{field}: must be")
    assert not (tmp_path / "run").exists()


def test_train_overrides_apply_to_a_dict_without_changing_it():
    raw = {"market": {"n_agents": 4}}
    with pytest.raises(ConfigError, match="training.episodes"):
        lucas_abm.train(raw, overrides=["training.episodes=0"])
    assert raw == {"market": {"n_agents": 4}}


def test_quickstart_example_runs_and_prints_the_equilibrium(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert "equilibrium: p* = 0.851521, q* = 0.9500" in lines
    market = next(line for line in lines if line.startswith("market:"))
    assert "shares still 100.000000" in market
    assert float(re.search(r"violation ([0-9.e+-]+)", market).group(1)) < 1e-12
    train = next(line for line in lines if line.startswith("train:"))
    assert train.startswith("train: 3 episodes of 8 agents")
    assert list(tmp_path.iterdir()) == []        # train(config, None) cleaned its temporary run


def test_populations_example_solves_reproduces_and_sweeps(tmp_path):
    """examples/populations.py, run as a user would: the two-type Negishi equilibrium (held to
    the independent computations of test_equilibrium_hetero.py), equilibrium traders that
    reproduce it to round-off, and h = 1/sqrt(N) for equal sizes with the price volatility at
    its formula within three sampling errors."""
    from lucas_abm.equilibrium.negishi import solve_negishi

    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "populations.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "population: 500 cautious, 500 bold"
    population = lucas_abm.load_population(ROOT / "examples" / "two_types.yaml")
    theta = population.draw().endowments
    eq = solve_negishi([0.04, 0.05], [[0.9, 0.1], [0.2, 0.8]], 0.95, population.gammas(1.0), theta)
    for y, p, q in zip([0.04, 0.05], eq.tree_prices, eq.bond_prices):
        assert f"equilibrium at y = {y}: p = {p:.6f}, q = {q:.6f}" in lines
    for k, name in enumerate(population.names):
        assert (f"  {name}: tree share {eq.shares[k]:.6f}, bonds {eq.bonds[k]:+.6f} per unit of supply"
                in lines)
    market = next(line for line in lines if line.startswith("market:"))
    assert market.startswith("market: 1000 agents x 50 periods")
    errors = [float(x) for x in re.findall(r"error(?: per unit of supply)? ([0-9.e+-]+)", market)]
    assert len(errors) == 2 and max(errors) < 1e-12
    sweep = [line for line in lines if line.startswith("granular:")]
    assert len(sweep) == 6
    for line in sweep:
        law, n, h, ratio, error = re.fullmatch(
            r"granular: (\w+) +N = +(\d+): h = ([0-9.]+), price volatility / theory ([0-9.]+) "
            r"\(sampling error ([0-9.]+)\)", line).groups()
        if law == "equal":
            assert float(h) == pytest.approx(int(n) ** -0.5, abs=5e-5)
        assert abs(float(ratio) - 1) < 3 * float(error)
    assert list(tmp_path.iterdir()) == []
