"""``simulate --export DIR``: Parquet panels whose returns the exported SDF prices.

Where the traders post the equilibrium prices p(y_t), q(y_t), E_t[m_{t+1} R_{t+1}] = 1 for the
tree and the bond, so the sample means of sdf x tree_return and sdf x bond_return must be 1
within three standard errors. m R - 1 is then a martingale difference (serially uncorrelated
even with a persistent dividend), so the standard error is sd / sqrt(n); the log-AR(1) test
checks that lack of autocorrelation. The tests recompute everything from the loaded columns
with pandas rather than trusting lucas_abm.panels.pricing_errors.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lucas_abm.dividends import MarkovChainDividend
from lucas_abm.equilibrium.negishi import solve_negishi
from lucas_abm.errors import ConfigError
from lucas_abm.market import LucasMarket, MarketConfig
from lucas_abm.mechanisms import build_mechanism
from lucas_abm.panels import PanelRecorder, pricing_errors
from lucas_abm.simulate import SimulationConfig
from lucas_abm.utility import CRRAUtility
from orchestrator.cli import main

BETA, GAMMA = 0.95, 2.0
PRICE_COLUMNS = ["t", "dividend", "tree_price", "bond_price", "tree_settlement_price",
                 "bond_settlement_price", "tree_price_star", "bond_price_star", "tree_return",
                 "bond_return", "sdf", "tree_volume", "bond_volume", "consumption"]


def export(capsys, out, *args) -> dict:
    assert main(["simulate", "--json", "--backend", "numpy", "--export", str(out), *args]) == 0
    return json.loads(capsys.readouterr().out)


def euler(prices: pd.DataFrame, asset: str) -> tuple[float, float, np.ndarray]:
    """Sample mean of m R, its standard error sd/sqrt(n), and the pricing errors m R - 1."""
    x = (prices["sdf"] * prices[f"{asset}_return"]).dropna().to_numpy()
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size)), x - 1.0


def assert_prices_both_assets(prices: pd.DataFrame, label: str) -> None:
    for asset in ("tree", "bond"):
        mean, se, _ = euler(prices, asset)
        print(f"{label}: mean sdf x {asset}_return = {mean:.6f}, s.e. {se:.2g}, "
              f"z = {(mean - 1) / se:+.2f}")
        assert se > 0 and abs(mean - 1.0) < 3 * se


def test_iid_lognormal_panel_prices_tree_and_bond(capsys, tmp_path):
    n, steps = 10, 2000
    out = tmp_path / "panel"
    summary = export(capsys, out, "--agents", str(n), "--steps", str(steps), "--dividend",
                     "iid-lognormal", "--sigma", "0.1", "--gamma", str(GAMMA), "--seed", "1")
    prices = pd.read_parquet(out / "prices.parquet")
    assert len(prices) == steps and (prices.t.to_numpy() == np.arange(steps)).all()
    assert_prices_both_assets(prices, "iid lognormal")

    # the columns by hand: equilibrium posted prices, returns t -> t+1, m = beta (y'/y)^(-gamma)
    y, p, q = prices.dividend.to_numpy(), prices.tree_price.to_numpy(), prices.bond_price.to_numpy()
    np.testing.assert_allclose(p, prices.tree_price_star, rtol=1e-13)
    np.testing.assert_allclose(q, prices.bond_price_star, rtol=1e-13)
    np.testing.assert_allclose(prices.tree_return[:-1], (p[1:] + y[1:]) / p[:-1], rtol=1e-13)
    np.testing.assert_allclose(prices.bond_return, 1.0 / q, rtol=1e-13)
    np.testing.assert_allclose(prices.sdf[:-1], BETA * (y[1:] / y[:-1]) ** -GAMMA, rtol=1e-13)
    assert np.isnan(prices.tree_return.iloc[-1]) and np.isnan(prices.sdf.iloc[-1])
    # nobody trades; every agent eats its dividend: aggregate consumption = N y_t
    assert prices.tree_settlement_price.isna().all() and (prices.tree_volume == 0).all()
    np.testing.assert_allclose(prices.consumption, n * y, rtol=1e-13)
    np.testing.assert_allclose(prices.consumption_all, prices.consumption, rtol=0)

    # the command's own report agrees with the pandas computation; provenance is written
    mean, se, _ = euler(prices, "tree")
    assert summary["export"]["euler"]["tree"]["mean"] == pytest.approx(mean, rel=1e-14)
    assert summary["export"]["euler"]["tree"]["se"] == pytest.approx(se, rel=1e-10)
    record = json.loads((out / "provenance.json").read_text())
    assert record["config"]["dividend"] == "iid-lognormal" and record["config"]["export_agents"] == 10000

    # from Python (the block in docs/panels.md): the same panel as DataFrames, no files
    import lucas_abm
    recorder = lucas_abm.PanelRecorder(seed=1)
    lucas_abm.run_simulation(lucas_abm.SimulationConfig(
        agents=n, steps=steps, dividend="iid-lognormal", sigma=0.1, gamma=GAMMA, seed=1,
        backend="numpy"), progress=False, recorder=recorder)
    in_memory = recorder.panels()
    pd.testing.assert_frame_equal(in_memory.prices, prices, check_dtype=False)
    assert lucas_abm.pricing_errors(in_memory.prices) == summary["export"]["euler"]


def test_log_ar1_panel_prices_tree_and_bond_with_uncorrelated_errors(capsys, tmp_path):
    steps = 800
    export(capsys, tmp_path / "panel", "--agents", "4", "--steps", str(steps), "--dividend",
           "log-ar1", "--alpha", "0.9", "--sigma", "0.1", "--gamma", str(GAMMA), "--seed", "2",
           "--export-agents", "0")
    prices = pd.read_parquet(tmp_path / "panel" / "prices.parquet")
    assert not (tmp_path / "panel" / "agents.parquet").exists()
    log_y = np.log(prices.dividend.to_numpy())
    rho_y = np.corrcoef(log_y[:-1], log_y[1:])[0, 1]
    assert rho_y > 0.8                                  # a persistent dividend ...
    assert_prices_both_assets(prices, "log-AR(1)")
    for asset in ("tree", "bond"):                      # ... but martingale-difference errors
        _, _, e = euler(prices, asset)
        rho = np.corrcoef(e[:-1], e[1:])[0, 1]
        print(f"log-AR(1): lag-1 autocorrelation of log y {rho_y:.3f}, of {asset} errors {rho:+.3f}")
        assert abs(rho) < 3 / math.sqrt(e.size)


def test_negishi_sdf_prices_a_market_posting_the_heterogeneous_equilibrium():
    # Two types (gamma 5 and 1), two dividend states: m = beta mu(y')/mu(y) from the Negishi
    # solver; a real market whose traders post p(y_t), q(y_t) of that equilibrium.
    states, transition = [0.040, 0.050], [[0.8, 0.2], [0.3, 0.7]]
    eq = solve_negishi(states, transition, BETA, [5.0, 1.0], [0.5, 0.5])
    n, steps = 6, 2000
    market = LucasMarket(MarketConfig(n_agents=n, horizon=steps), MarkovChainDividend(states, transition),
                         CRRAUtility(1.0), build_mechanism("pairwise", {}), seed=5, backend="numpy")
    recorder = PanelRecorder(type_index=np.repeat([0, 1], n // 2), type_names=("cautious", "bold"))
    market.reset()
    recorder.start(market, eq)
    for _ in range(steps):
        s = market.dividend_process.state_index(market.dividend)
        tree, bond = np.full(n, eq.tree_prices[s]), np.full(n, eq.bond_prices[s])
        recorder.record(market, tree, bond, market.step(tree, bond))
    panels = recorder.panels()
    prices = panels.prices
    assert_prices_both_assets(prices, "Negishi two-state")
    i = np.searchsorted(states, prices.dividend.to_numpy())
    np.testing.assert_allclose(prices.sdf[:-1], eq.sdf[i[:-1], i[1:]], rtol=1e-14)
    np.testing.assert_allclose(prices.sdf[:-1], BETA * eq.marginal_utility[i[1:]]
                               / eq.marginal_utility[i[:-1]], rtol=1e-13)
    np.testing.assert_allclose(prices.tree_price, eq.tree_prices[i], rtol=0)
    assert prices.sdf.std() > 0.05                       # mu differs across the states
    # per-type consumption: half the agents each, no trade -> each type eats 3 y_t
    for name in ("cautious", "bold"):
        np.testing.assert_allclose(prices[f"consumption_{name}"], 3 * prices.dividend, rtol=1e-13)
    assert set(panels.types.type) == {"cautious", "bold"} and len(panels.types) == 2 * steps
    errors = pricing_errors(prices)
    assert errors["tree"]["n"] == steps - 1 and abs(errors["bond"]["z"]) < 3


def test_exported_holdings_agree_with_the_market(capsys, tmp_path):
    # noisy posted prices: agents trade, so holdings move away from the endowment
    n, steps, k = 40, 60, 15
    args = {"agents": n, "steps": steps, "policy": "noisy-equilibrium", "seed": 7,
            "dividend": "iid-lognormal", "gamma": GAMMA, "backend": "numpy"}
    out = tmp_path / "panel"
    export(capsys, out, "--agents", str(n), "--steps", str(steps), "--policy", "noisy-equilibrium",
           "--seed", "7", "--dividend", "iid-lognormal", "--gamma", str(GAMMA), "--export-agents", str(k))

    # schema: names and Arrow types, whichever pandas reads them
    def schema(name):
        s = pq.read_schema(out / f"{name}.parquet")
        return dict(zip(s.names, s.types))
    prices_schema = schema("prices")
    assert list(prices_schema)[:len(PRICE_COLUMNS)] == PRICE_COLUMNS
    assert prices_schema["t"] == pa.int64() and list(prices_schema)[-1] == "consumption_all"
    assert all(v == pa.float64() for c, v in prices_schema.items() if c != "t")
    assert schema("agents") == {"t": pa.int64(), "agent": pa.int64(), "type": pa.string(),
                                "shares": pa.float64(), "bonds": pa.float64(), "consumption": pa.float64()}
    assert schema("types") == {"t": pa.int64(), "type": pa.string(), "shares": pa.float64(),
                               "bonds": pa.float64(), "consumption": pa.float64()}
    agents = pd.read_parquet(out / "agents.parquet")
    types = pd.read_parquet(out / "types.parquet")
    prices = pd.read_parquet(out / "prices.parquet")
    assert agents.t.dtype == np.int64 and agents.shares.dtype == np.float64
    assert pd.api.types.is_string_dtype(agents["type"]) and set(agents["type"]) == {"all"}

    # the same simulation, stepped here: the market's own holdings after every period
    market, policy, _ = SimulationConfig(**args).build()
    market.reset()
    sample = np.sort(agents.agent.unique())
    assert sample.size == k and len(agents) == k * steps
    trades = 0.0
    for t in range(steps):
        y = market.dividend
        out_t = market.step(*policy(y, n))
        rows = agents[agents.t == t].sort_values("agent")
        np.testing.assert_array_equal(rows.agent, sample)
        np.testing.assert_array_equal(rows.shares, market.shares[sample])
        np.testing.assert_array_equal(rows.bonds, market.bonds[sample])
        np.testing.assert_array_equal(rows.consumption, out_t.consumption[sample])
        tot = types[types.t == t].iloc[0]
        assert tot.shares == pytest.approx(market.shares.sum(), rel=1e-14) == pytest.approx(n, rel=1e-12)
        assert tot.bonds == pytest.approx(market.bonds.sum(), abs=1e-14)
        assert prices.consumption[t] == pytest.approx(n * y, rel=1e-12)   # goods market clears
        trades += out_t.tree_volume
    assert trades > 0 and (agents.shares != 1.0).any()
    # median posted prices are near p(y_t); the SDF still prices them within 3 s.e.
    assert np.abs(prices.tree_price / prices.tree_price_star - 1).max() < 0.05
    assert_prices_both_assets(prices, "noisy equilibrium (median posted)")


@pytest.mark.parametrize("case", ["non-empty dir", "file", "inside a file", "agents alone",
                                  "negative agents"])
def test_export_refusals_are_one_line_before_any_work(capsys, tmp_path, case):
    target = tmp_path / "panel"
    if case == "non-empty dir":
        target.mkdir()
        (target / "prices.parquet").write_text("earlier")
    elif case in ("file", "inside a file"):
        target.write_text("a file")
        target = target / "sub" if case == "inside a file" else target
    args = {"agents alone": ["--export-agents", "5"],
            "negative agents": ["--export", str(target), "--export-agents", "-1"]}.get(
        case, ["--export", str(target)])
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(["simulate", "--steps", "5", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    field = "--export-agents" if "agents" in case else "--export"
    assert len(lines) == 1 and lines[0].startswith(f"lucas-abm: error: {field}: must be")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_recorder_refuses_type_names_that_do_not_match_the_types():
    market = LucasMarket(MarketConfig(n_agents=4, horizon=3), MarkovChainDividend([1.0], [[1.0]]),
                         CRRAUtility(1.0), build_mechanism("pairwise", {}), seed=0, backend="numpy")
    market.reset()
    recorder = PanelRecorder(type_index=np.array([0, 0, 1, 2]), type_names=("a", "b"))
    with pytest.raises(ConfigError, match=r"^type_names: must be 3 names, one per type"):
        recorder.start(market)
    unnamed = PanelRecorder(type_index=np.array([0, 0, 1, 2]))
    unnamed.start(market)
    assert unnamed.type_names == ("type0", "type1", "type2")
