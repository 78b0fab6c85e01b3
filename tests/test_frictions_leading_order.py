"""Leading-order q=3/2 equilibrium: the g-ODE, its asymptotics and the published constants."""
import numpy as np
import pytest

from lucas_abm.frictions.config import MarketConfig, preset
from lucas_abm.frictions.exact import solve_riccati
from lucas_abm.frictions.leading_order import g_asymptote, leading_order, simulate_leading_order, solve_g
from lucas_abm.frictions.metrics import summary
from lucas_abm.frictions.paths import brownian_paths


@pytest.mark.parametrize("q", [1.5, 1.75])
def test_g_solves_its_ode(q):
    g = solve_g(q)
    x = np.linspace(0.05, 3.0, 300)
    h = 1e-3
    d2 = (g(x + h) - 2 * g(x) + g(x - h)) / h ** 2
    d1 = (g(x + h) - g(x - h)) / (2 * h)
    residual = d2 - d1 * np.abs(g(x) / q) ** (1 / (q - 1)) - 2 * x
    assert np.max(np.abs(residual)) < 1e-4
    assert g(0.0) == 0.0
    np.testing.assert_allclose(g(-x), -g(x))
    assert np.all(g(x) < 0)


def test_g_is_linear_for_quadratic_costs():
    g = solve_g(2.0)
    assert g.slope0 == pytest.approx(-2.0, abs=1e-10)
    x = np.linspace(0, 3, 31)
    np.testing.assert_allclose(g(x), -2 * x, atol=1e-8)


def test_g_grows_like_the_power_law():
    q = 1.5
    C, a = g_asymptote(q)
    assert a == pytest.approx(2 / 3)
    assert C == pytest.approx((3 * q ** 2) ** (1 / 3))   # a C^3 / q^2 = 2
    g = solve_g(q)
    ratios = g(np.array([2.0, 3.0, 4.0])) / (-C * np.array([2.0, 3.0, 4.0]) ** a)
    assert np.all(np.abs(ratios - 1) < np.array([0.15, 0.08, 0.05]))
    assert np.all(np.diff(np.abs(ratios - 1)) < 0)          # approaches the asymptote
    assert g.slope0 == pytest.approx(-1.7711332, abs=1e-6)


def test_rescaled_g_solves_the_unscaled_marginal_value_equation():
    """w(D) = (kappa ell^3/b^2) g(D/ell) solves (b^2/2) w'' + v(w) w' = kappa D with the
    optimal rate v(w) = sign(w)(|w|/c q)^(1/(q-1)) for the cost c|v|^q."""
    config = preset("kratsios-2-power1.5")
    lo = leading_order(config)
    q, c = config.power, config.cost_coefficient
    scale = lo.kappa * lo.ell ** 3 / lo.b ** 2
    D = np.linspace(0.02, 2.5 * lo.ell, 100)
    h = 1e-4 * lo.ell

    def w(d):
        return scale * lo.g(d / lo.ell)

    w2 = (w(D + h) - 2 * w(D) + w(D - h)) / h ** 2
    w1 = (w(D + h) - w(D - h)) / (2 * h)
    rate = np.sign(w(D)) * (np.abs(w(D)) / (c * q)) ** (1 / (q - 1))
    np.testing.assert_allclose(0.5 * lo.b ** 2 * w2 + rate * w1, lo.kappa * D, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(lo.trading_rate(D), rate, rtol=1e-10)


def test_quadratic_leading_order_is_the_long_horizon_riccati_limit():
    config = MarketConfig(gammas=(1.0, 2.0), xis=(3.0, -3.0), power=2.0, lam=0.01, horizon=5.0,
                          steps=50)
    lo = leading_order(config)
    ric = solve_riccati(config)
    assert lo.sigma == pytest.approx(ric.sigma[0], rel=1e-8)
    assert lo.trading_rate(0.1) == pytest.approx(-np.sqrt(lo.kappa / config.lam) * 0.1, rel=1e-8)


def test_published_leading_order_numbers():
    config = preset("kratsios-2-power1.5")
    s = summary(config, simulate_leading_order(config, brownian_paths(config, 500, seed=1)), 0.0)
    assert s["sigma0"] == pytest.approx(1.0721, abs=5e-5)
    assert s["mu0"] == pytest.approx(0.7663, abs=5e-5)
    # consistent initial price beta_S T - gbar s sigma^2 T (the published 0.415 is not)
    assert s["S0"] == pytest.approx(0.8 - (2 / 3) * s["sigma0"] ** 2 * 0.4, abs=1e-12)
    assert s["S0"] == pytest.approx(0.4935, abs=5e-5)
    assert s["clearing_error"] == 0.0
    # with the (lam/2)|v|^q cost the same lam is a cost 4/3 times larger: lam_h -> 4/3 lam_h
    half = leading_order(config.replace(cost_norm="half"))
    assert half.sigma == pytest.approx(1.0612, abs=5e-5)
    assert (half.sigma - 1) / (leading_order(config).sigma - 1) == pytest.approx(
        (3 / 4) ** (4 / 7), rel=1e-9)


def test_costs_too_large_for_the_expansion_are_warned_about():
    # lam = 1e6 gave sigma0 = 2688 and S0 = -1.9e6 without a word. The time scale ell^2/b^2
    # (ell = (lam_h b^(2q) / (2^q kappa))^(1/(q+2))) is recomputed here from its formula.
    import warnings

    from lucas_abm.frictions.leading_order import LargeCostWarning

    config = preset("kratsios-2-power1.5")
    kappa, b, q = 1.0 * (1.0 + 2.0) / 2, 3.0, 1.5
    for lam, warned in ((0.01, False), (0.05, False), (0.1, True), (1e6, True)):   # 0.068 .. 2529
        lam_h = 2 * lam / q                      # cost_norm "power": G = (lam/q)|v|^q = (lam_h/2)|v|^q
        ell = (lam_h * b ** (2 * q) / (2 ** q * kappa)) ** (1 / (q + 2))
        ratio = ell ** 2 / b ** 2 / config.horizon
        assert (ratio > 0.25) == warned
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lo = leading_order(config.replace(lam=lam))
        messages = [str(w.message) for w in caught if issubclass(w.category, LargeCostWarning)]
        assert len(messages) == int(warned)
        if warned:
            assert f"is {ratio:.3g} of the horizon T = 0.4" in messages[0]
            assert f"sigma0 = {lo.sigma:.4g} against alpha = 1" in messages[0]
