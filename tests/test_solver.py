"""Equilibrium prices held to independent computations: closed forms, Monte Carlo sums of
SDF-weighted dividends, value iteration, and the Euler equations themselves."""
import math
import warnings

import numpy as np
import pytest

from lucas_abm.dividends import (THESIS_YBAR, ConstantDividend, GrowthMarkovChain, IIDLognormalDividend,
                                 LogAR1Dividend, MarkovChainDividend)
from lucas_abm.errors import ConfigError
from lucas_abm.solver import (GrowthEquilibrium, LogAR1Equilibrium, NotConvergedError,
                              OutsideGridWarning, series_tree_price, solve_equilibrium)


# --- constant dividend: the thesis' replication values (docs/model.md section 1) ---------------

def test_constant_dividend_thesis_values():
    eq = solve_equilibrium(ConstantDividend(THESIS_YBAR), beta=0.95, gamma=1.0)
    assert float(eq.tree_price(THESIS_YBAR)) == pytest.approx(0.851521, abs=5e-7)
    assert float(eq.bond_price(THESIS_YBAR)) == pytest.approx(0.95, abs=1e-14)   # q* = beta, not 1/beta


@pytest.mark.parametrize("gamma", [0.5, 1.0, 3.0])
def test_constant_dividend_closed_form_any_gamma(gamma):
    ybar = 2.5
    eq = solve_equilibrium(ConstantDividend(ybar), beta=0.9, gamma=gamma)
    assert float(eq.tree_price(ybar)) == pytest.approx(0.9 / 0.1 * ybar, rel=1e-14)
    assert float(eq.bond_price(ybar)) == pytest.approx(0.9, rel=1e-14)


# --- large risk aversion: the prices, not their factors, must be float64s ----------------------

@pytest.mark.parametrize("gamma", [300.0, 1e6, 1e308])
def test_constant_dividend_prices_do_not_overflow_for_any_gamma(gamma):
    # ybar^(-gamma) alone is 1e405 at gamma 300; p = beta/(1-beta) ybar and q = beta for every gamma
    eq = solve_equilibrium(ConstantDividend(THESIS_YBAR), beta=0.95, gamma=gamma)
    assert float(eq.tree_price(THESIS_YBAR)) == 0.95 / (1 - 0.95) * THESIS_YBAR
    assert float(eq.bond_price(THESIS_YBAR)) == 0.95


def _log_moment_by_quadrature(mu, sigma, k, nodes=80):
    """log E[y^k], log y ~ N(mu, sigma^2), by Gauss–Hermite nodes summed in logs (log-sum-exp)."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    terms = np.log(w / w.sum()) + k * (mu + sigma * x)
    top = terms.max()
    return top + math.log(np.exp(terms - top).sum())


@pytest.mark.parametrize("gamma, sigma", [(300.0, 0.01), (250.0, 0.02), (1000.0, 0.001)])
def test_iid_lognormal_prices_at_large_gamma_match_quadrature_in_logs(gamma, sigma):
    mu, beta = math.log(THESIS_YBAR), 0.95
    eq = solve_equilibrium(IIDLognormalDividend(mu=mu, sigma=sigma), beta, gamma)
    y = np.exp(mu + sigma * np.array([-1.0, 0.0, 1.5]))
    log_p = (math.log(beta / (1 - beta)) + gamma * np.log(y)
             + _log_moment_by_quadrature(mu, sigma, 1.0 - gamma))
    log_q = math.log(beta) + gamma * np.log(y) + _log_moment_by_quadrature(mu, sigma, -gamma)
    np.testing.assert_allclose(np.log(eq.tree_price(y)), log_p, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.log(eq.bond_price(y)), log_q, rtol=0, atol=1e-9)


def _log_series_by_brute_force(d, beta, gamma, y, terms):
    """log p(y) = log sum_{n=1}^{terms} beta^n y^gamma E[y_n^(1-gamma) | y], by log-sum-exp."""
    n = np.arange(1, terms + 1)[:, None]
    m, v = d.log_mean_var(np.log(y)[None, :], n)
    k = 1.0 - gamma
    logs = n * math.log(beta) + gamma * np.log(y)[None, :] + k * m + 0.5 * k * k * v
    top = logs.max(axis=0)
    return top + np.log(np.exp(logs - top).sum(axis=0))


def test_log_ar1_series_at_large_gamma_matches_a_brute_force_sum_in_logs():
    d = LogAR1Dividend(alpha=0.9, sigma=0.001, mu=0.1 * math.log(THESIS_YBAR))
    beta, gamma = 0.95, 300.0
    y = np.exp(d.stationary_mean_log + d.stationary_sd_log * np.array([-1.0, 0.0, 2.0]))
    eq = solve_equilibrium(d, beta, gamma)
    np.testing.assert_allclose(np.log(eq.tree_price(y)), _log_series_by_brute_force(d, beta, gamma, y, 2000),
                               rtol=0, atol=1e-10)
    m1, v1 = d.log_mean_var(np.log(y), 1)
    np.testing.assert_allclose(np.log(eq.bond_price(y)),
                               math.log(beta) + gamma * (np.log(y) - m1) + 0.5 * gamma ** 2 * v1,
                               rtol=0, atol=1e-10)


@pytest.mark.parametrize("beta", [0.999999, 0.9999999])
def test_log_ar1_series_near_beta_one_keeps_the_log_utility_ratio(beta):
    # p/y = beta/(1-beta) for gamma 1: the series used to stop at 1e7 terms, 37% low at 0.9999999
    d = LogAR1Dividend(alpha=0.9, sigma=0.1, mu=-0.31)
    y = np.array([0.03, 0.0437, 0.07])
    np.testing.assert_allclose(series_tree_price(d, beta, 1.0, y) / y, beta / (1 - beta), rtol=1e-11)


def test_log_ar1_series_far_below_the_mean_is_the_brute_force_sum_not_nan():
    # y^gamma underflowed to 0 while E[y_n^(1-gamma)] overflowed: 0 * inf = nan
    d = LogAR1Dividend(alpha=0.9, sigma=0.1, mu=-0.313149)
    beta, gamma, y = 0.95, 100.0, np.array([1e-10])
    np.testing.assert_allclose(np.log(series_tree_price(d, beta, gamma, y)),
                               _log_series_by_brute_force(d, beta, gamma, y, 3000), rtol=0, atol=1e-10)


def test_markov_rows_within_the_tolerance_are_renormalised():
    # rows summing to 1 + 5e-9 are accepted; unnormalised, they put p/y 5% off at beta 1 - 1e-7
    beta = 0.9999999
    leaky = MarkovChainDividend((1.0, 2.0), ((0.5, 0.500000005), (0.5, 0.500000005)))
    assert np.allclose(leaky.transition_matrix.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    eq = solve_equilibrium(leaky, beta, 1.0)
    np.testing.assert_allclose(eq.tree_prices / np.array([1.0, 2.0]), beta / (1 - beta), rtol=1e-6)
    exact = MarkovChainDividend((1.0, 2.0), ((0.8, 0.2), (0.3, 0.7)))
    assert exact.transition == ((0.8, 0.2), (0.3, 0.7))       # rows that sum to 1 stay bitwise


@pytest.mark.parametrize("dividend, field", [
    (IIDLognormalDividend(mu=math.log(THESIS_YBAR) - 0.5 * 100.0 ** 2, sigma=100.0), "mu"),  # e^mu = 0
    (IIDLognormalDividend(mu=math.log(THESIS_YBAR), sigma=0.1), "gamma"),       # exp(gamma^2 s^2/2)
    (LogAR1Dividend(alpha=0.9, sigma=0.1, mu=-0.3), "gamma"),
    (MarkovChainDividend((0.9, 1.1), ((0.5, 0.5), (0.5, 0.5))), "gamma"),
    (GrowthMarkovChain(), "gamma"),
])
def test_prices_beyond_float64_are_refused_naming_the_field(dividend, field):
    gamma = 1.0 if field == "mu" else 1e308
    with pytest.raises(ConfigError) as err:
        solve_equilibrium(dividend, 0.95, gamma)
    assert err.value.field == field and "float64" in str(err.value)


# --- log utility: p/y = beta/(1-beta) whatever the dividend process ------------------------------

@pytest.mark.parametrize("dividend, levels", [
    (ConstantDividend(0.3), [0.3]),
    (IIDLognormalDividend(mu=-1.0, sigma=0.4), [0.1, 0.37, 2.0]),
    (MarkovChainDividend((0.5, 1.0, 1.7), ((0.6, 0.3, 0.1), (0.2, 0.6, 0.2), (0.1, 0.3, 0.6))), [0.5, 1.0, 1.7]),
    (LogAR1Dividend(alpha=0.85, sigma=0.2, mu=-0.1), [0.2, 0.5, 1.3]),
])
@pytest.mark.parametrize("method", ["series", "quadrature"])
def test_log_utility_price_dividend_ratio(dividend, levels, method):
    numerics = {"method": method} if isinstance(dividend, LogAR1Dividend) else {}
    eq = solve_equilibrium(dividend, beta=0.93, gamma=1.0, **numerics)
    y = np.array(levels)
    np.testing.assert_allclose(eq.tree_price(y) / y, 0.93 / 0.07, rtol=1e-10)


def test_log_utility_growth_chain_ratio():
    eq = solve_equilibrium(GrowthMarkovChain.mehra_prescott(), beta=0.95, gamma=1.0)
    np.testing.assert_allclose(eq.price_dividend_ratio, 19.0, rtol=1e-12)


# --- Monte Carlo: p(y) = E[sum_n beta^n (y_n/y)^(-gamma) y_n], q(y) = E[beta (y'/y)^(-gamma)] ----

def _monte_carlo_prices(dividend, y0, beta, gamma, paths=4000, horizon=260, seed=0):
    """Mean and standard error of the SDF-weighted discounted dividend sum and of the one-step SDF."""
    g = np.random.default_rng(seed)
    if isinstance(dividend, LogAR1Dividend):
        def step(y):
            return np.exp(dividend.mu + dividend.alpha * np.log(y) + dividend.sigma * g.standard_normal(y.size))
    else:
        def step(y):
            return np.exp(dividend.mu + dividend.sigma * g.standard_normal(y.size))
    y = np.full(paths, y0)
    total = np.zeros(paths)
    for n in range(1, horizon + 1):
        y = step(y)
        weight = beta ** n * (y / y0) ** (-gamma)
        total += weight * y
        if n == 1:
            sdf = weight
    return (total.mean(), total.std() / math.sqrt(paths)), (sdf.mean(), sdf.std() / math.sqrt(paths))


@pytest.mark.parametrize("dividend, y0", [
    (IIDLognormalDividend(mu=0.0, sigma=0.2), 1.3),
    (LogAR1Dividend(alpha=0.8, sigma=0.15, mu=0.1), 0.9),
])
def test_prices_match_monte_carlo(dividend, y0):
    beta, gamma = 0.9, 3.0                      # beta^260 < 1e-11: truncation is negligible
    eq = solve_equilibrium(dividend, beta, gamma)
    (p_mc, p_se), (q_mc, q_se) = _monte_carlo_prices(dividend, y0, beta, gamma)
    assert abs(float(eq.tree_price(y0)) - p_mc) < 4 * p_se
    assert abs(float(eq.bond_price(y0)) - q_mc) < 4 * q_se
    assert p_se / p_mc < 0.01                   # the test has power: 4 s.e. is under 4% of the price


def test_iid_lognormal_closed_form_by_hand():
    mu, sigma, beta, gamma, y = -0.5, 0.3, 0.95, 2.0, 0.8
    eq = solve_equilibrium(IIDLognormalDividend(mu, sigma), beta, gamma)
    m_tree = math.exp((1 - gamma) * mu + 0.5 * ((1 - gamma) * sigma) ** 2)
    m_bond = math.exp(-gamma * mu + 0.5 * (gamma * sigma) ** 2)
    assert float(eq.tree_price(y)) == pytest.approx(beta / (1 - beta) * y ** gamma * m_tree, rel=1e-14)
    assert float(eq.bond_price(y)) == pytest.approx(beta * y ** gamma * m_bond, rel=1e-14)


def test_thesis_lognormal_sigma_one_gives_bond_prices_far_above_one():
    # docs/model.md: (1/100) Lognormal(1, 1) i.i.d. makes q >> 1 at the mean dividend for gamma >= 1
    eq = solve_equilibrium(IIDLognormalDividend(mu=math.log(0.01) + 1.0, sigma=1.0), 0.95, 2.0)
    assert float(eq.bond_price(THESIS_YBAR)) > 5.0


# --- log-AR(1): series against quadrature, and the series truncation -----------------------------

@pytest.mark.parametrize("alpha, sigma, gamma, beta", [
    (0.9, 0.1, 2.0, 0.95),
    (0.95, 0.05, 5.0, 0.95),
    (0.5, 0.3, 3.0, 0.9),
    (-0.4, 0.2, 2.0, 0.95),
    (0.9, 0.1, 0.5, 0.97),
])
def test_log_ar1_series_agrees_with_quadrature_in_the_interior(alpha, sigma, gamma, beta):
    d = LogAR1Dividend(alpha=alpha, sigma=sigma, mu=0.2)
    series = solve_equilibrium(d, beta, gamma)
    quad = solve_equilibrium(d, beta, gamma, method="quadrature")
    assert isinstance(quad, LogAR1Equilibrium) and quad.iterations > 1
    y = np.exp(d.stationary_mean_log + d.stationary_sd_log * np.linspace(-3, 3, 25))
    rel = np.abs(quad.tree_price(y) / series.tree_price(y) - 1.0)
    assert rel.max() < 2e-3


def test_the_quadrature_accuracy_table_of_the_docs_is_what_the_solver_gives():
    """docs/solver.md's table (it had drifted to 2.6e-5 etc. from an older grid): recomputed
    here, each error to the two digits shown and the iteration count to one."""
    import re
    from pathlib import Path

    from lucas_abm.dividend_params import dividend_from_params

    doc = (Path(__file__).resolve().parents[1] / "docs" / "solver.md").read_text()
    rows = re.findall(r"^  \| ([-0-9.]+), ([0-9.]+), ([0-9.]+), ([0-9.]+) \| ([0-9.e-]+) \| "
                      r"([0-9.e-]+) \| (\d+) \|$", doc, re.M)
    assert len(rows) == 4
    for alpha, sigma, gamma, beta, err3, err6, iterations in rows:
        d = dividend_from_params("log-ar1", {"alpha": float(alpha), "sigma": float(sigma)})
        series = solve_equilibrium(d, float(beta), float(gamma))
        quad = solve_equilibrium(d, float(beta), float(gamma), method="quadrature")
        # the iteration at which the sup-norm change first falls below the tolerance follows the
        # last bits of numpy's exp and power, which differ with the CPU's SIMD (425 printed, 424
        # with AVX-512 for the second row)
        assert abs(quad.iterations - int(iterations)) <= 1
        for k, shown in ((3, err3), (6, err6)):
            y = np.exp(np.linspace(d.stationary_mean_log - k * d.stationary_sd_log,
                                   d.stationary_mean_log + k * d.stationary_sd_log, 201))
            error = np.max(np.abs(quad.tree_price(y) / series.tree_price(y) - 1.0))
            assert f"{error:.1e}".replace("e-0", "e-") == shown, (alpha, k)


def test_log_ar1_series_truncation_against_a_long_brute_force_sum():
    d = LogAR1Dividend(alpha=0.9, sigma=0.1, mu=0.0)
    beta, gamma = 0.97, 4.0
    y = np.array([0.6, 1.0, 1.8])
    n = np.arange(1, 4001)[:, None]
    m, v = d.log_mean_var(np.log(y)[None, :], n)
    brute = y ** gamma * np.sum(beta ** n * np.exp((1 - gamma) * m + 0.5 * (1 - gamma) ** 2 * v), axis=0)
    np.testing.assert_allclose(series_tree_price(d, beta, gamma, y), brute, rtol=1e-12)


def test_log_ar1_euler_equation_by_quadrature():
    # p(y) = E[beta (y'/y)^(-gamma) (p(y') + y')], evaluated with 60 Gauss-Hermite nodes
    d = LogAR1Dividend(alpha=0.7, sigma=0.2, mu=0.0)
    beta, gamma = 0.95, 2.5
    eq = solve_equilibrium(d, beta, gamma)
    eps, w = np.polynomial.hermite_e.hermegauss(60)
    w = w / w.sum()
    for y in (0.5, 1.0, 2.0):
        y_next = np.exp(d.mu + d.alpha * math.log(y) + d.sigma * eps)
        sdf = beta * (y_next / y) ** (-gamma)
        assert float(eq.tree_price(y)) == pytest.approx(float(w @ (sdf * (eq.tree_price(y_next) + y_next))),
                                                        rel=1e-10)
        assert float(eq.bond_price(y)) == pytest.approx(float(w @ sdf), rel=1e-12)


# --- finite Markov chain: linear solve against value iteration ----------------------------------

def test_markov_chain_linear_solve_matches_value_iteration():
    y = np.array([0.8, 1.0, 1.25])
    p = np.array([[0.5, 0.4, 0.1], [0.25, 0.5, 0.25], [0.1, 0.4, 0.5]])
    beta, gamma = 0.96, 3.0
    eq = solve_equilibrium(MarkovChainDividend(tuple(y), p), beta, gamma)
    m = beta * (y[None, :] / y[:, None]) ** (-gamma)          # m_ij = beta u'(y_j)/u'(y_i)
    price = np.zeros(3)
    for _ in range(2000):                                      # p_i <- sum_j P_ij m_ij (p_j + y_j)
        price = (p * m) @ (price + y)
    np.testing.assert_allclose(eq.tree_prices, price, rtol=1e-11)
    np.testing.assert_allclose(eq.bond_prices, (p * m).sum(axis=1), rtol=1e-14)
    np.testing.assert_allclose(eq.tree_price([1.25, 0.8]), price[[2, 0]], rtol=1e-11)


def test_markov_chain_with_identical_rows_is_the_iid_formula():
    y = np.array([0.5, 1.0, 2.0])
    probs = np.array([0.2, 0.5, 0.3])
    beta, gamma = 0.9, 2.0
    eq = solve_equilibrium(MarkovChainDividend(tuple(y), np.tile(probs, (3, 1))), beta, gamma)
    np.testing.assert_allclose(eq.tree_prices, beta / (1 - beta) * y ** gamma * (probs @ y ** (1 - gamma)),
                               rtol=1e-12)
    np.testing.assert_allclose(eq.bond_prices, beta * y ** gamma * (probs @ y ** -gamma), rtol=1e-12)


# --- Mehra-Prescott growth chain -----------------------------------------------------------------

def test_growth_chain_value_iteration_and_euler_equations():
    d = GrowthMarkovChain.mehra_prescott()
    beta, gamma = 0.99, 10.0
    eq = solve_equilibrium(d, beta, gamma)
    assert isinstance(eq, GrowthEquilibrium)
    lam, p = d.growth, d.transition_matrix
    w = np.zeros(2)
    for _ in range(20_000):                      # w_i <- beta sum_j P_ij lambda_j^(1-gamma) (w_j + 1)
        w = beta * (p * lam ** (1 - gamma)) @ (w + 1)
    np.testing.assert_allclose(eq.price_dividend_ratio, w, rtol=1e-10)
    sdf = beta * lam[None, :] ** (-gamma)        # m_ij, the same for every i
    gross_equity = lam[None, :] * (w[None, :] + 1) / w[:, None]
    np.testing.assert_allclose((p * sdf * gross_equity).sum(axis=1), 1.0, rtol=1e-12)   # E_i[m R^e] = 1
    np.testing.assert_allclose((p * sdf).sum(axis=1) * (1 + eq.risk_free_rate_by_state), 1.0, rtol=1e-12)
    assert eq.equity_premium == pytest.approx(eq.equity_return - eq.risk_free_rate, abs=1e-15)


def test_growth_chain_iid_case_closed_form():
    # phi = 1/2 makes growth i.i.d.: w = b/(1-b) with b = beta E[lambda^(1-gamma)]
    d = GrowthMarkovChain(mu=0.02, delta=0.05, phi=0.5)
    beta, gamma = 0.97, 3.0
    eq = solve_equilibrium(d, beta, gamma)
    b = beta * np.mean(d.growth ** (1 - gamma))
    np.testing.assert_allclose(eq.price_dividend_ratio, b / (1 - b), rtol=1e-12)
    rf = 1 / (beta * np.mean(d.growth ** -gamma)) - 1
    assert eq.risk_free_rate == pytest.approx(rf, rel=1e-12)
    assert eq.equity_return == pytest.approx(np.mean(d.growth) / b - 1, rel=1e-12)   # (w+1)/w = 1/b


def test_growth_chain_returns_match_a_simulated_path():
    d = GrowthMarkovChain.mehra_prescott()
    eq = solve_equilibrium(d, 0.99, 10.0)
    g = np.random.default_rng(11)
    n = 200_000
    switch = g.random(n) >= d.phi
    regime = np.cumsum(switch) % 2               # regime 0 or 1; the stationary law is (1/2, 1/2)
    w = eq.price_dividend_ratio
    lam = d.growth
    realised = lam[regime[1:]] * (w[regime[1:]] + 1) / w[regime[:-1]] - 1     # R^e_{t+1} - 1
    riskless = eq.risk_free_rate_by_state[regime[:-1]]
    excess = realised - riskless
    se = excess.std() / math.sqrt(n)
    assert abs(realised.mean() - eq.equity_return) < 5 * realised.std() / math.sqrt(n)
    assert abs(riskless.mean() - eq.risk_free_rate) < 5 * riskless.std() / math.sqrt(n)
    assert abs(excess.mean() - eq.equity_premium) < 5 * se


def test_growth_chain_prices_by_monte_carlo_discounting():
    # w_i = E[sum_n beta^n prod_{k<=n} lambda_k^(1-gamma) | regime i], simulated
    d = GrowthMarkovChain.mehra_prescott()
    beta, gamma = 0.9, 4.0
    eq = solve_equilibrium(d, beta, gamma)
    g = np.random.default_rng(12)
    paths, horizon = 20_000, 250
    for start in (0, 1):
        regime = np.full(paths, start)
        discount = np.ones(paths)
        total = np.zeros(paths)
        for _ in range(horizon):
            regime = np.where(g.random(paths) < d.phi, regime, 1 - regime)
            discount *= beta * d.growth[regime] ** (1 - gamma)
            total += discount
        se = total.std() / math.sqrt(paths)
        assert abs(total.mean() - eq.price_dividend_ratio[start]) < 4 * se + 1e-9


def test_mehra_prescott_equity_premium_puzzle():
    """Mehra and Prescott (1985): with risk aversion at most 10 and beta < 1, a risk-free rate at or
    below 4% comes with an equity premium of at most about 0.35% (the observed premium was ~6%)."""
    d = GrowthMarkovChain.mehra_prescott()
    best = 0.0
    for gamma in np.linspace(0.1, 10.0, 100):
        for beta in (0.9999, 0.999, 0.99, 0.98, 0.95):
            try:
                eq = solve_equilibrium(d, beta, gamma)
            except ConfigError:
                continue
            if eq.risk_free_rate <= 0.04:
                best = max(best, eq.equity_premium)
    assert 0.003 < best < 0.004
    # the usual illustration: beta = 0.99, gamma = 2 gives a premium under 0.3%
    eq = solve_equilibrium(d, 0.99, 2.0)
    assert eq.equity_premium == pytest.approx(0.0028685, abs=1e-7)
    assert eq.risk_free_rate == pytest.approx(0.0429732, abs=1e-7)


def test_growth_chain_regime_defaults_to_the_process_state():
    d = GrowthMarkovChain.mehra_prescott()
    eq = solve_equilibrium(d, 0.95, 2.0)
    g = np.random.default_rng(0)
    y = d.initial(g)
    for _ in range(5):
        y = d.next(y, g)
        assert float(eq.tree_price(y)) == pytest.approx(eq.price_dividend_ratio[d.regime] * y)
        assert float(eq.bond_price()) == pytest.approx(eq.bond_prices[d.regime])
    # an explicit regime overrides the process state, elementwise
    other = 1 - d.regime
    y = np.array([0.5, 2.0])
    np.testing.assert_allclose(eq.tree_price(y, regime=[other, other]),
                               eq.price_dividend_ratio[other] * y, rtol=1e-15)
    np.testing.assert_allclose(eq.tree_price(y, regime=[0, 1]), eq.price_dividend_ratio * y,
                               rtol=1e-15)
    got = eq.bond_price(y, regime=other)
    assert got.shape == (2,) and got.dtype == np.float64
    np.testing.assert_allclose(got, eq.bond_prices[other], rtol=1e-15)
    assert eq.bond_prices[0] != eq.bond_prices[1]


# --- validation before work ------------------------------------------------------------------------

@pytest.mark.parametrize("beta", [0.0, 1.0, 1.2, -0.5, float("nan")])
def test_beta_outside_unit_interval(beta):
    with pytest.raises(ConfigError) as err:
        solve_equilibrium(ConstantDividend(1.0), beta, 1.0)
    assert err.value.field == "beta" and "(0, 1)" in str(err.value)


@pytest.mark.parametrize("gamma", [0.0, -2.0, float("inf")])
def test_gamma_not_positive(gamma):
    with pytest.raises(ConfigError) as err:
        solve_equilibrium(ConstantDividend(1.0), 0.95, gamma)
    assert err.value.field == "gamma"


def test_growth_chain_without_finite_price_is_refused():
    d = GrowthMarkovChain(mu=0.3, delta=0.05, phi=0.5)
    beta, gamma = 0.95, 0.2
    rho = beta * max(abs(np.linalg.eigvals(d.transition_matrix * d.growth ** (1 - gamma))))
    assert rho >= 1
    with pytest.raises(ConfigError) as err:
        solve_equilibrium(d, beta, gamma)
    assert err.value.field == "beta" and "spectral radius" in str(err.value)


def test_unknown_numerics_option_is_refused():
    with pytest.raises(ConfigError) as err:
        solve_equilibrium(LogAR1Dividend(0.5, 0.1), 0.95, 2.0, methd="series")
    assert str(err.value) == ("numerics: must be among method, series_tol, grid_size, grid_width, "
                              "nodes, tol, max_iter, got ['methd']")


@pytest.mark.parametrize("field,bad,good", [
    ("method", "simpson", "quadrature"),
    ("series_tol", 0.0, 1e-13), ("series_tol", 1.0, 0.5), ("series_tol", -1e-9, 1e-13),
    ("grid_size", 2, 3), ("grid_width", 0.0, 6.0), ("nodes", 0, 1),
    ("tol", 0.0, 1e-12), ("tol", 1.0, 1e-12), ("max_iter", 0, 100_000),
])
def test_log_ar1_numerics_are_validated_naming_the_field(field, bad, good):
    d = LogAR1Dividend(alpha=0.5, sigma=0.1)
    method = {} if field in ("method", "series_tol") else {"method": "quadrature"}
    with pytest.raises(ConfigError, match=f"^{field}: must be"):
        solve_equilibrium(d, 0.95, 2.0, **method, **{field: bad})
    eq = solve_equilibrium(d, 0.95, 2.0, **method, **{field: good})   # the boundary is allowed
    assert np.isfinite(eq.tree_price(1.0))


# --- numerics that must not fail silently ---------------------------------------------------------

def test_quadrature_that_runs_out_of_iterations_raises_instead_of_returning_wrong_prices():
    # This fixed point needs 354 iterations to reach tol = 1e-12; after 50 its p(1) would be
    # off by about 1e-4 relative to the series, after 20 by 1%.
    d = LogAR1Dividend(alpha=0.9, sigma=0.1, mu=0.0)
    for max_iter in (20, 50, 353):
        with pytest.raises(NotConvergedError, match=rf"^max_iter: must be more than {max_iter} "):
            solve_equilibrium(d, 0.95, 2.0, method="quadrature", max_iter=max_iter)
    with pytest.raises(ConfigError, match="did not converge"):   # the CLI's one-line error
        solve_equilibrium(d, 0.95, 2.0, method="quadrature", max_iter=20)
    quad = solve_equilibrium(d, 0.95, 2.0, method="quadrature", max_iter=354)
    assert quad.iterations == 354 and quad.method == "quadrature"
    assert solve_equilibrium(d, 0.95, 2.0).method == "series"
    assert float(quad.tree_price(1.0)) == pytest.approx(19.417027, rel=5e-5)  # the series value
    assert float(solve_equilibrium(d, 0.95, 2.0).tree_price(1.0)) == pytest.approx(19.417027,
                                                                                  rel=1e-7)


@pytest.mark.parametrize("dividend", [ConstantDividend(1.0), IIDLognormalDividend(mu=0.0, sigma=0.1),
                                      MarkovChainDividend([1.0, 2.0], [[0.5, 0.5], [0.5, 0.5]])])
def test_numerics_for_a_process_that_has_none_are_refused_not_ignored(dividend):
    with pytest.raises(ConfigError, match=rf"^method: must be left out for a {dividend.name} dividend"):
        solve_equilibrium(dividend, 0.95, 2.0, method="quadrature")


def test_quadrature_refuses_a_tolerance_below_float64_resolution_before_iterating():
    # The fixed point stops at a sup relative change <= tol (1 - beta) / beta: 1e-16 at beta
    # 0.9999, below one ulp, so it ran all 100,000 iterations (18 s) and then blamed max_iter.
    d = LogAR1Dividend(alpha=0.9, sigma=0.1, mu=0.0)
    with pytest.raises(NotConvergedError, match=r"^tol: must be >= 2\.22e-12 at beta = 0\.9999, "
                                                r"got 1e-12 .*below float64's resolution"):
        solve_equilibrium(d, 0.9999, 3.0, method="quadrature", max_iter=10)
    eq = solve_equilibrium(d, 0.9999, 3.0, method="quadrature", tol=1e-6)  # a tolerance it can meet
    series = solve_equilibrium(d, 0.9999, 3.0)
    # 2.7e-4 apart: the grid's interpolation error, p/y being ~1e4 at this beta
    assert float(eq.tree_price(1.0)) == pytest.approx(float(series.tree_price(1.0)), rel=1e-3)


def test_quadrature_prices_outside_the_grid_are_warned_about():
    d = LogAR1Dividend(alpha=0.9, sigma=0.1, mu=0.0)
    quad = solve_equilibrium(d, 0.95, 2.0, method="quadrature", grid_width=2.0)
    lo, hi = math.exp(quad.grid_log_y[0]), math.exp(quad.grid_log_y[-1])
    assert lo == pytest.approx(math.exp(-2 * d.stationary_sd_log), rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # inside the grid (ends included): no warning
        quad.tree_price(np.array([lo, 1.0, hi]))
    with pytest.warns(OutsideGridWarning, match=r"^2 of 3 dividend levels lie outside"):
        quad.tree_price(np.array([0.99 * lo, 1.0, 1.01 * hi]))
    # extrapolated linearly in (log y, log f): half a standard deviation beyond either end it
    # is still within 0.5% of the series (0.16% and 0.13%); a scalar level stays a scalar
    series = solve_equilibrium(d, 0.95, 2.0)
    half = math.exp(0.5 * d.stationary_sd_log)
    for y in (lo / half, hi * half):
        with pytest.warns(OutsideGridWarning, match=r"^1 of 1 dividend levels"):
            p = quad.tree_price(y)
        assert np.shape(p) == ()
        assert float(p) == pytest.approx(float(series.tree_price(y)), rel=5e-3)


def test_series_batches_more_than_4096_levels_into_the_same_prices():
    # 2 x 4,101 levels (> 4,096: the batched branch) against the brute-force sum over n.
    d = LogAR1Dividend(alpha=0.5, sigma=0.2, mu=0.1)
    beta, gamma = 0.9, 3.0
    y = np.exp(np.linspace(-1.0, 1.2, 2 * 4101)).reshape(2, 4101)
    n = np.arange(1, 401)[:, None]            # beta^400 / (1 - beta) < 1e-17
    m, v = d.log_mean_var(np.log(y).ravel()[None, :], n)
    brute = (y.ravel() ** gamma
             * np.sum(beta ** n * np.exp((1 - gamma) * m + 0.5 * (1 - gamma) ** 2 * v), axis=0))
    got = series_tree_price(d, beta, gamma, y)
    assert got.shape == y.shape
    np.testing.assert_allclose(got.ravel(), brute, rtol=1e-12)


@pytest.mark.parametrize("dividend", [ConstantDividend(1.0), IIDLognormalDividend(mu=0.0, sigma=0.1),
                                      LogAR1Dividend(alpha=0.9, sigma=0.1, mu=0.0)])
def test_prices_at_a_dividend_level_that_is_not_positive_are_refused(dividend):
    # p(-1) was nan and p(0) was 0, each with a RuntimeWarning from log
    eq = solve_equilibrium(dividend, 0.95, 2.0)
    for bad in (-1.0, 0.0, float("nan"), [1.0, -2.0]):
        for price in (eq.tree_price, eq.bond_price):
            with pytest.raises(ConfigError, match=r"^y: must be dividend levels > 0, got "):
                price(bad)
    assert np.all(np.asarray(eq.tree_price([0.5, 1.0])) > 0)
