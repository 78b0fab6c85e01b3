"""Exact q=2 equilibrium and frictionless benchmark, held to independent computations."""
import numpy as np
import pytest

from lucas_abm.frictions.config import MarketConfig, preset
from lucas_abm.frictions.exact import riccati_coefficients, simulate_exact, solve_riccati
from lucas_abm.frictions.frictionless import frictionless_holdings, simulate_frictionless
from lucas_abm.frictions.metrics import summary
from lucas_abm.frictions.paths import brownian_paths


@pytest.fixture(scope="module")
def quadratic10():
    config = preset("kratsios-10-quadratic")
    paths = brownian_paths(config, 3000, seed=10_000)
    return config, simulate_exact(config, paths)


def test_published_numbers_of_the_10_agent_quadratic_preset(quadratic10):
    config, market = quadratic10
    s = summary(config, market, 0.0)
    assert s["sigma0"] == pytest.approx(1.2454, abs=5e-5)
    assert s["S0"] == pytest.approx(0.3612, abs=5e-5)
    assert s["mu0"] == pytest.approx(0.2158, abs=5e-5)
    assert s["utility"] == pytest.approx(-0.21, abs=0.01)
    # mu_0 = gbar s sigma_0^2 because phi^n_0 = s gbar / gamma_n and W_0 = 0
    assert s["mu0"] == pytest.approx(config.gbar * config.supply * s["sigma0"] ** 2, rel=1e-12)


def test_market_clears_to_round_off(quadratic10):
    config, market = quadratic10
    scale = np.abs(market.phidot).max()
    assert np.abs(market.phidot.sum(axis=2)).max() < 1e-12 * scale
    assert np.abs(market.phi.sum(axis=2) - config.supply).max() < 1e-10


def test_initial_price_matches_trapezoid_of_sigma_squared():
    config = preset("kratsios-10-quadratic").replace(steps=4000)
    ric = solve_riccati(config)
    trapezoid = np.trapz(ric.sigma ** 2, config.times())
    assert ric.integral_sigma2 == pytest.approx(trapezoid, rel=1e-7)


def test_two_agents_without_endowment_risk_reduce_to_tanh():
    """xi = 0: H = 0, sigma = alpha and F solves the scalar single-agent Riccati equation
    dF/dtau = alpha^2 A - F^2/lam, i.e. F = alpha sqrt(lam A) tanh(alpha sqrt(A/lam) tau)."""
    config = MarketConfig(gammas=(2.0, 1.0), xis=(0.0, 0.0), lam=0.05, horizon=1.0, steps=50,
                          alpha=1.3)
    ric = solve_riccati(config)
    _, A, _, _ = riccati_coefficients(config)
    a = A[0, 0]
    assert a == pytest.approx((2.0 + 1.0) / 2)
    tau = config.horizon - config.times()
    lam, alpha = config.lam, config.alpha
    tanh = alpha * np.sqrt(lam * a) * np.tanh(alpha * np.sqrt(a / lam) * tau)
    np.testing.assert_allclose(ric.F[:, 0, 0], tanh, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(ric.sigma, alpha, atol=1e-14)


def test_one_agent_holds_the_supply():
    config = MarketConfig(gammas=(1.5,), xis=(0.0,), lam=0.1)
    market = simulate_exact(config, brownian_paths(config, 50, seed=1))
    assert np.all(market.phidot == 0.0)
    np.testing.assert_allclose(market.mu, 1.5 * config.alpha ** 2 * config.supply)


def test_small_cost_recovers_frictionless():
    """lam -> 0: sigma - alpha and S0 converge like sqrt(lam); holdings and mu like lam^(1/4)."""
    errors = []
    for lam in (1e-5, 1e-7):
        config = preset("kratsios-10-quadratic").replace(lam=lam, steps=2000)
        paths = brownian_paths(config, 20, seed=3)
        exact, free = simulate_exact(config, paths), simulate_frictionless(config, paths)
        errors.append(np.array([
            np.max(np.abs(exact.sigma[:, :1000] - config.alpha)),
            abs(exact.S0 - free.S0),
            np.mean(np.abs(exact.phi - free.phi)) / np.mean(np.abs(free.phi)),
            np.mean(np.abs(exact.mu[:, :1000] - free.mu[:, :1000])) / free.mu[0, 0]]))
    ratio = errors[0] / errors[1]
    np.testing.assert_allclose(ratio[:2], 10.0, rtol=0.05)      # sqrt(100)
    assert np.all(ratio[2:] > 2.5)                               # ~ 100^(1/4) = 3.2
    assert errors[1][0] < 1e-3 and errors[1][2] < 0.05


def test_agent_order_does_not_matter():
    config = MarketConfig(gammas=(1.0, 3.0, 2.0), xis=(2.0, -5.0, 3.0), lam=0.02, horizon=0.3,
                          steps=30)
    perm = [2, 0, 1]
    other = config.replace(gammas=tuple(config.gammas[i] for i in perm),
                           xis=tuple(config.xis[i] for i in perm))
    paths = brownian_paths(config, 10, seed=4)
    a, b = simulate_exact(config, paths), simulate_exact(other, paths)
    np.testing.assert_allclose(a.phidot[:, :, perm], b.phidot, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(a.sigma, b.sigma, rtol=1e-9)


def test_frictionless_benchmark_formulas():
    config = preset("kratsios-10-quadratic")
    paths = brownian_paths(config, 7, seed=5)
    market = simulate_frictionless(config, paths)
    np.testing.assert_allclose(market.phi[:, -1, 3],
                               config.supply * config.gbar / config.gammas[3]
                               - config.xis[3] / config.alpha * paths.W[:, -1])
    assert np.allclose(frictionless_holdings(config, paths.W).sum(axis=2), config.supply)
    assert market.S0 == pytest.approx(0.4 - config.gbar * 0.2)
