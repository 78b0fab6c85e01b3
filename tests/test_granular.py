"""Granular volatility (lucas_abm/granular.py, ``lucas-abm granular``) against its closed forms.

h = sqrt(sum_i w_i^2), sd(E_t) = sigma h, and with demands d_i = S_i (1 + c eps_i - b x)
the clearing log price x_t = (c/b) E_t, so sd(log p) = (c/b) sigma h.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lucas_abm.errors import ConfigError
from lucas_abm.granular import (DemandRule, GranularConfig, _simulate_columns, asymptotic_law,
                                clearing_log_price, excess_demand, fitted_agent_counts, log_log_slope,
                                run_granular, simulate_n)
from orchestrator.cli import main

ROW_KEYS = {"size_law", "n_agents", "h", "aggregate_vol_over_sigma_h", "price_vol", "price_vol_theory"}


def _rows(result, label):
    return [r for r in result["rows"] if r["size_law"] == label]


def test_h_closed_forms_in_the_simulation():
    config = GranularConfig(n_agents=(7,), periods=10, size_draws=2)
    for n in (2, 7, 400, 12_345):
        (equal,) = [r for r in simulate_n(GranularConfig(n_agents=(n,), periods=5, size_draws=2), n)
                    if r["size_law"] == "equal"]
        assert equal["h"] == pytest.approx(n ** -0.5, rel=1e-13)
    # one giant of size a among n - 1 unit traders: h = sqrt(a^2 + n - 1) / (a + n - 1)
    a, n = 50.0, 1000
    sizes = np.ones((n, 2))
    sizes[0, 1] = a
    stats = _simulate_columns(config, n, sizes)
    np.testing.assert_allclose(stats["h"], [n ** -0.5, math.sqrt(a * a + n - 1) / (a + n - 1)], rtol=1e-13)
    # h does not depend on the units of size
    np.testing.assert_allclose(_simulate_columns(config, n, 3.7 * sizes)["h"], stats["h"], rtol=1e-13)


def test_aggregate_shock_volatility_is_sigma_h_within_sampling_error():
    config = GranularConfig(n_agents=(50, 3_000), periods=1_500, size_draws=6, sigma=0.3, seed=4)
    result = run_granular(config)
    se = config.sampling_error                      # 1/sqrt(2(T-1)) = 0.018
    for row in result["rows"]:
        assert row["aggregate_vol_over_sigma_h"] == pytest.approx(1.0, abs=4 * se)
    # pooled over 24 independent seeds the mean ratio is 1 to within 4 s.e. of the pool
    ratios = [row["aggregate_vol_over_sigma_h"]
              for seed in range(24)
              for row in simulate_n(GranularConfig(n_agents=(20,), periods=200, size_draws=1,
                                                   size_laws={"equal": 1.0}, seed=seed), 20)]
    pooled_se = 1 / math.sqrt(2 * 199 * 24)
    assert np.mean(ratios) == pytest.approx(1.0, abs=4 * pooled_se)


def test_clearing_price_clears_and_matches_bisection():
    rule = DemandRule(elasticity=1.7, loading=0.6)
    rng = np.random.default_rng(11)
    sizes = (1.0 - rng.random(5_000)) ** (-1 / 1.5)
    for _ in range(5):
        eps = 0.2 * rng.standard_normal(sizes.size)
        supply = sizes.sum()
        x = float(clearing_log_price(rule, np.array(sizes @ eps), np.array(supply), np.array(supply)))
        assert abs(excess_demand(rule, sizes, eps, x, supply)) / supply < 1e-13
        lo, hi = -10.0, 10.0                         # bisection on the agents' summed demands
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if excess_demand(rule, sizes, eps, mid, supply) > 0 else (lo, mid)
        assert x == pytest.approx(0.5 * (lo + hi), abs=1e-12)
        assert x == pytest.approx(rule.loading / rule.elasticity * (sizes @ eps) / supply, rel=1e-12)


def test_price_volatility_matches_the_derived_theory():
    base = GranularConfig(n_agents=(200, 20_000), periods=800, size_draws=4, seed=2)
    result = run_granular(base)
    for row in result["rows"]:
        assert row["clearing_residual"] < 1e-12
        assert row["price_vol_over_theory"] == pytest.approx(1.0, abs=4 * base.sampling_error)
        assert row["price_vol_over_theory"] == pytest.approx(row["aggregate_vol_over_sigma_h"], rel=1e-9)
        if row["size_law"] == "equal":
            assert row["price_vol_theory"] == pytest.approx(0.5 * 0.1 * row["n_agents"] ** -0.5, rel=1e-12)
    # same shocks, loading doubled and elasticity halved: price volatility x 4, shock volatility unchanged
    scaled = run_granular(GranularConfig(n_agents=(200, 20_000), periods=800, size_draws=4, seed=2,
                                         demand=DemandRule(elasticity=1.0, loading=2.0)))
    for a, b in zip(result["rows"], scaled["rows"]):
        assert b["price_vol"] == pytest.approx(4 * a["price_vol"], rel=1e-9)
        assert b["aggregate_vol_over_sigma_h"] == pytest.approx(a["aggregate_vol_over_sigma_h"], rel=1e-12)


def test_slopes_near_theory():
    equal = run_granular(GranularConfig(n_agents=(100, 1_000, 10_000, 100_000), periods=400,
                                        size_laws={"equal": 1.0}, seed=3))
    assert equal["slopes_theory"]["equal"] == pytest.approx(-0.5, abs=1e-12)
    assert equal["slopes"]["equal"] == pytest.approx(-0.5, abs=0.03)
    pareto = run_granular(GranularConfig(n_agents=(100, 1_000, 10_000, 100_000), periods=60,
                                         size_draws=32, size_laws={"pareto-1.5": {"pareto": {"zeta": 1.5}}},
                                         seed=5))
    assert pareto["slopes_theory"]["pareto-1.5"] == pytest.approx(-1 / 3)
    assert pareto["slopes"]["pareto-1.5"] == pytest.approx(-1 / 3, abs=0.05)  # seeds 0-7: -0.32 to -0.36


def test_asymptotic_laws():
    n = np.array([100, 1_000, 10_000])
    assert asymptotic_law(GranularConfig().laws()["zipf"])[0] == "1/ln N"
    label, rate = asymptotic_law(GranularConfig().laws()["pareto-1.5"])
    assert label == "N^(-1/3)" and log_log_slope(n, rate(n)) == pytest.approx(-1 / 3)
    zipf_slope = log_log_slope(n, asymptotic_law(GranularConfig().laws()["zipf"])[1](n))
    assert zipf_slope == pytest.approx(np.polyfit(np.log(n), -np.log(np.log(n)), 1)[0])


def test_batches_of_size_vectors_share_the_shocks():
    config = GranularConfig(n_agents=(300,), periods=30, size_draws=5, seed=9)
    small_batches = GranularConfig(n_agents=(300,), periods=30, size_draws=5, seed=9, size_cells=600,
                                   chunk_cells=1_000)
    for one, many in zip(simulate_n(config, 300), simulate_n(small_batches, 300)):
        assert one.keys() == many.keys()
        for key, value in one.items():  # equal up to the summation order of the matrix product
            expected = value if isinstance(value, str) else pytest.approx(value, rel=1e-12, abs=1e-15)
            assert many[key] == expected


def test_cli_json_structure_and_files(tmp_path, capsys):
    assert main(["granular", "--sizes", "10,100,1000", "--periods", "30", "--size-draws", "3",
                 "--out", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["rows"]) == 9
    for row in result["rows"]:
        assert ROW_KEYS <= set(row) and all(np.isfinite(row[k]) for k in ROW_KEYS - {"size_law"})
    assert {r["size_law"] for r in result["rows"]} == {"equal", "pareto-1.5", "zipf"}
    assert set(result["slopes"]) == {"equal", "pareto-1.5", "zipf"}
    assert all(isinstance(v, float) for v in result["slopes"].values())
    for name in ("granular.csv", "granular.md", "granular.png", "granular.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "granular.csv").read_text().count("\n") == 10


def test_a_negative_loading_moves_the_price_the_other_way_with_the_same_volatility(tmp_path, capsys):
    # c = -1 gave a negative theory, and matplotlib refused the figure's negative error bars
    assert main(["granular", "--sizes", "10,100", "--periods", "30", "--size-draws", "2",
                 "--loading", "-1", "--out", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    same = run_granular(GranularConfig(n_agents=(10, 100), periods=30, size_draws=2))["rows"]
    for neg, pos in zip(rows, same):
        assert neg["price_vol_theory"] == pytest.approx(pos["price_vol_theory"], rel=1e-12)
        assert neg["price_vol_theory"] > 0
        assert neg["price_vol"] == pytest.approx(pos["price_vol"], rel=1e-9)
    assert (tmp_path / "granular.png").stat().st_size > 0


@pytest.mark.parametrize("sigma, elasticity, loading", [
    (1e100, 2.0, 1.0), (1e-100, 2.0, 1.0), (0.1, 1e-100, 1.0), (0.1, 1e100, 1.0), (0.1, 2.0, 1e100),
    (1e100, 1e-100, 1e100), (1e-100, 1e100, 1e-100)])     # the corners: (c/b) sigma = 1e300, 1e-300
def test_results_scale_exactly_with_extreme_shocks_and_elasticities(sigma, elasticity, loading):
    # x_t = (c/b) E_t is linear in sigma and c/b, so price_vol / theory and sd(E)/(sigma h) do
    # not depend on them. Before, sigma 1e160 and b 1e-200 gave inf/nan (squares overflowed),
    # b 1e305 gave 0 (squares underflowed), c 1e308 gave nan, and sigma 1e-200 a price that
    # never moved (1 + c eps rounded to 1 before the supply was subtracted).
    import warnings

    base = dict(n_agents=(10, 100), periods=30, size_draws=2)
    reference = run_granular(GranularConfig(**base))["rows"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = run_granular(GranularConfig(**base, sigma=sigma, demand=DemandRule(
            elasticity=elasticity, loading=loading)))["rows"]
    scale = (sigma / 0.1) * (loading / elasticity) * 2.0
    for row, ref in zip(rows, reference):
        assert row["aggregate_vol_over_sigma_h"] == pytest.approx(ref["aggregate_vol_over_sigma_h"],
                                                                  rel=1e-12)
        assert row["price_vol"] == pytest.approx(ref["price_vol"] * scale, rel=1e-12)
        assert row["price_vol_theory"] == pytest.approx(ref["price_vol_theory"] * scale, rel=1e-12)
        assert row["price_vol_log_sd"] == pytest.approx(ref["price_vol_log_sd"], rel=1e-9, abs=1e-12)


def test_h_is_finite_when_squared_sizes_overflow():
    sizes = np.full((50, 1), 1e200)
    stats = _simulate_columns(GranularConfig(n_agents=(50,), periods=10), 50, sizes)
    assert stats["h"][0] == pytest.approx(50 ** -0.5, rel=1e-14)


def test_the_output_names_the_agent_counts_the_slopes_are_fitted_on(tmp_path, capsys):
    # a --fit-min-n above all but one N falls back to every N: the output says so, where it
    # used to print "N >= 100000000" over slopes fitted on N = 10, 100, 1000
    assert fitted_agent_counts(GranularConfig(n_agents=(1000, 10, 100))) == [100, 1000]
    assert main(["granular", "--sizes", "10,100,1000", "--periods", "30", "--size-draws", "2",
                 "--fit-min-n", "100000000", "--out", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["fit_n_agents"] == [10, 100, 1000]
    equal = {r["n_agents"]: r["price_vol"] for r in result["rows"] if r["size_law"] == "equal"}
    n = np.array(sorted(equal))
    assert result["slopes"]["equal"] == pytest.approx(log_log_slope(n, [equal[k] for k in n]), rel=1e-12)
    assert "Slopes of log price vol on log N (N >= 10):" in (tmp_path / "granular.md").read_text()


@pytest.mark.parametrize("argv, field", [
    (["--sigma", "0"], "sigma"), (["--periods", "1"], "periods"), (["--sizes", "10,abc"], "sizes"),
    (["--sizes", "0,10"], "sizes"), (["--size-draws", "0"], "size_draws"),
    (["--elasticity", "-1"], "elasticity"),
    (["--loading", "0"], "loading"),               # nan slopes and 7 warnings
    (["--sizes", "1,10"], "sizes"),                # Zipf's 1/ln N at N = 1: a nan theory slope
    (["--loading", "1e308"], "loading"),           # nan volatilities and slopes, exit 0
    (["--elasticity", "1e308"], "elasticity"),     # volatilities 0, nan slopes, exit 0
    (["--sigma", "1e-300"], "sigma"),
])
def test_cli_bad_input_one_line_error(argv, field, tmp_path, capsys):
    assert main(["granular", "--out", str(tmp_path / "never"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lucas-abm: error: {field}:") and err.count("\n") == 1
    assert not (tmp_path / "never").exists()


def test_config_refuses_list_laws():
    with pytest.raises(ConfigError, match=r"^size_laws.fixed:"):
        GranularConfig(size_laws={"fixed": [1.0, 2.0]})


def test_price_response_recovers_the_scripted_loading_and_h():
    """The scripted market's clearing price is x_t = (c/b) E_t: loading c/b, R^2 = 1; with
    independent noise added, the fitted loading is within 4 standard errors of c/b."""
    from lucas_abm.granular import price_response
    from lucas_abm.sizes import draw_sizes, parse_size_law

    rng = np.random.default_rng(3)
    sizes = draw_sizes(parse_size_law({"pareto": {"zeta": 1.5}}, "size"), 30, rng)
    w = sizes / sizes.sum()
    sigma, rule = 0.3, DemandRule(elasticity=4.0, loading=1.0)
    eps = sigma * rng.standard_normal((400, 30))
    x = clearing_log_price(rule, eps @ sizes, sizes.sum(), sizes.sum())
    exact = price_response(x, eps @ w, sizes, sigma, rule)
    assert exact["loading"] == pytest.approx(0.25, rel=1e-10) and exact["r2"] == pytest.approx(1.0)
    assert exact["h"] == pytest.approx(math.sqrt(np.sum(w ** 2)), rel=1e-12)
    assert exact["price_vol"] == pytest.approx(0.25 * np.std(eps @ w, ddof=1), rel=1e-10)
    assert exact["scripted_vol"] == pytest.approx(0.25 * sigma * exact["h"], rel=1e-12)
    noisy = price_response(x + 0.01 * rng.standard_normal(400), eps @ w, sizes, sigma, rule)
    assert abs(noisy["loading"] - 0.25) < 4 * noisy["loading_se"]
    assert 0.0 < noisy["r2"] < 1.0 and noisy["residual_vol"] == pytest.approx(0.01, rel=0.15)
    with pytest.raises(ValueError):
        price_response(x[:2], (eps @ w)[:2], sizes, sigma)
