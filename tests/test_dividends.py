"""Dividend processes: simulated moments against the stated laws, validation, make_dividend."""
import math

import numpy as np
import pytest

from lucas_abm.dividends import (DIVIDEND_NAMES, THESIS_YBAR, ConstantDividend, GrowthMarkovChain,
                                 IIDLognormalDividend, LogAR1Dividend, MarkovChainDividend,
                                 make_dividend)
from lucas_abm.errors import ConfigError


def rng(seed=0):
    return np.random.default_rng(seed)


def test_thesis_ybar_is_the_mean_of_the_stated_lognormal():
    assert THESIS_YBAR == pytest.approx(0.0448168907, abs=1e-10)
    assert THESIS_YBAR == pytest.approx(0.01 * math.exp(1 + 0.5), rel=1e-15)


def test_constant_dividend_never_moves():
    d = ConstantDividend(0.3)
    path = d.sample_path(50, rng())
    assert np.all(path == 0.3)
    assert ConstantDividend().ybar == THESIS_YBAR


def test_iid_lognormal_moments():
    d = IIDLognormalDividend(mu=-1.0, sigma=0.3)
    n = 100_000
    logs = np.log(d.sample_path(n, rng(1)))
    assert abs(logs.mean() - (-1.0)) < 4 * 0.3 / math.sqrt(n)
    assert abs(logs.std() - 0.3) < 4 * 0.3 / math.sqrt(2 * n)
    y = np.exp(logs)
    for k in (1.0, -2.0):                      # E[y^k] = exp(k mu + k^2 sigma^2 / 2)
        sample = y ** k
        assert abs(sample.mean() - d.moment(k)) < 4 * sample.std() / math.sqrt(n)
    # independence: no first-order autocorrelation
    assert abs(np.corrcoef(logs[:-1], logs[1:])[0, 1]) < 4 / math.sqrt(n)


def test_markov_chain_transition_frequencies_and_stationary_law():
    p = [[0.7, 0.2, 0.1], [0.3, 0.5, 0.2], [0.0, 0.4, 0.6]]
    d = MarkovChainDividend((1.0, 2.0, 3.0), p)
    pi = d.stationary_distribution
    np.testing.assert_allclose(pi @ np.array(p), pi, atol=1e-12)
    assert pi.sum() == pytest.approx(1.0)
    path = d.sample_path(60_000, rng(2))
    idx = d.state_index(path)
    counts = np.zeros((3, 3))
    np.add.at(counts, (idx[:-1], idx[1:]), 1)
    freq = counts / counts.sum(axis=1, keepdims=True)
    se = np.sqrt(np.array(p) * (1 - np.array(p)) / counts.sum(axis=1, keepdims=True))
    assert np.all(np.abs(freq - np.array(p)) <= 4 * se + 1e-12)
    occupancy = np.bincount(idx, minlength=3) / idx.size
    np.testing.assert_allclose(occupancy, pi, atol=0.02)
    first = [d.initial(rng(s)) for s in range(3000)]
    np.testing.assert_allclose(np.bincount(d.state_index(first), minlength=3) / 3000, pi, atol=0.03)


def test_markov_initial_state_fixes_the_first_dividend():
    """``initial_state`` starts every path in that state, whatever the seed, and the path
    then follows the chain; the config key reaches it through dividend_params; absent, the
    first dividend is still the stationary draw (the same stream as before the option)."""
    from lucas_abm.dividend_params import dividend_from_params

    p = ((0.8, 0.2), (0.3, 0.7))
    fixed = MarkovChainDividend((0.04, 0.05), p, initial_state=1)
    assert {fixed.initial(rng(s)) for s in range(200)} == {0.05}
    idx = fixed.state_index(fixed.sample_path(20_000, rng(3)))
    assert idx[0] == 1 and np.mean(idx[1:][idx[:-1] == 1] == 1) == pytest.approx(0.7, abs=0.02)
    built = dividend_from_params("markov", {"states": [0.04, 0.05], "transition": p, "initial_state": 0})
    assert built.initial(rng(0)) == 0.04
    free = MarkovChainDividend((0.04, 0.05), p)
    assert [free.initial(rng(s)) for s in range(50)] == [
        (0.04, 0.05)[int(rng(s).random() >= free.stationary_distribution[0])] for s in range(50)]
    for bad in (2, -1, 0.5, True, "0"):
        with pytest.raises(ConfigError, match="initial_state"):
            MarkovChainDividend((0.04, 0.05), p, initial_state=bad)
    with pytest.raises(ConfigError, match="economy.dividend_params.initial_state"):
        dividend_from_params("markov", {"states": [1.0, 2.0], "transition": p, "initial_state": 5},
                             field="economy.dividend_params")


def test_markov_state_index_rejects_levels_off_the_chain():
    d = MarkovChainDividend((1.0, 2.0), ((0.5, 0.5), (0.5, 0.5)))
    assert d.state_index([2.0, 1.0]).tolist() == [1, 0]
    with pytest.raises(ValueError):
        d.state_index(1.5)


def test_log_ar1_regression_recovers_parameters():
    d = LogAR1Dividend(alpha=0.8, sigma=0.2, mu=0.1)
    x = np.log(d.sample_path(50_000, rng(3)))
    slope, intercept = np.polyfit(x[:-1], x[1:], 1)
    resid = x[1:] - (intercept + slope * x[:-1])
    assert slope == pytest.approx(0.8, abs=0.01)
    assert intercept == pytest.approx(0.1, abs=0.01)
    assert resid.std() == pytest.approx(0.2, rel=0.01)
    assert x.mean() == pytest.approx(d.stationary_mean_log, abs=0.02)       # 0.5
    assert x.std() == pytest.approx(d.stationary_sd_log, rel=0.03)          # 0.2/0.6


def test_log_ar1_conditional_moment_against_simulation():
    d = LogAR1Dividend(alpha=0.9, sigma=0.15, mu=0.05)
    g = rng(4)
    y0, n_steps, paths = 0.7, 3, 200_000
    x = np.full(paths, math.log(y0))
    for _ in range(n_steps):
        x = d.mu + d.alpha * x + d.sigma * g.standard_normal(paths)
    sample = np.exp(-2.0 * x)
    exact = d.conditional_moment(y0, -2.0, n_steps)
    assert abs(sample.mean() - exact) < 4 * sample.std() / math.sqrt(paths)


def test_growth_chain_regimes_and_persistence():
    d = GrowthMarkovChain.mehra_prescott()
    assert (d.mu, d.delta, d.phi) == (0.018, 0.036, 0.43)
    np.testing.assert_allclose(d.growth, [1.054, 0.982])
    np.testing.assert_allclose(d.stationary_distribution, [0.5, 0.5])
    path = d.sample_path(40_000, rng(5))
    growth = path[1:] / path[:-1]
    high = np.isclose(growth, 1.054)
    assert np.all(high | np.isclose(growth, 0.982))
    stay = np.mean(high[1:] == high[:-1])
    assert stay == pytest.approx(0.43, abs=4 * math.sqrt(0.43 * 0.57 / 40_000))
    assert high.mean() == pytest.approx(0.5, abs=0.02)


def test_paths_are_reproducible_from_the_seed():
    for d in (IIDLognormalDividend(0, 0.1), LogAR1Dividend(0.5, 0.1),
              MarkovChainDividend((1.0, 2.0), ((0.9, 0.1), (0.1, 0.9)))):
        np.testing.assert_array_equal(d.sample_path(20, rng(7)), d.sample_path(20, rng(7)))


@pytest.mark.parametrize("name, params, cls", [
    ("constant", {"ybar": 2.0}, ConstantDividend),
    ("iid-lognormal", {"mu": 0.0, "sigma": 0.1}, IIDLognormalDividend),
    ("markov", {"states": (1, 2), "transition": ((1, 0), (0, 1))}, MarkovChainDividend),
    ("log-ar1", {"alpha": 0.5, "sigma": 0.1}, LogAR1Dividend),
    ("mehra-prescott", {}, GrowthMarkovChain),
])
def test_make_dividend_builds_each_process(name, params, cls):
    d = make_dividend(name, **params)
    assert isinstance(d, cls) and d.name == name
    assert name in DIVIDEND_NAMES


@pytest.mark.parametrize("build, field", [
    (lambda: make_dividend("gbm"), "dividend"),
    (lambda: make_dividend("constant", sigma=0.1), "dividend"),
    (lambda: make_dividend("iid-lognormal", mu=0.0), "sigma"),
    (lambda: ConstantDividend(0.0), "ybar"),
    (lambda: ConstantDividend(float("inf")), "ybar"),
    (lambda: IIDLognormalDividend(0.0, -0.1), "sigma"),
    (lambda: IIDLognormalDividend(float("nan"), 0.1), "mu"),
    (lambda: LogAR1Dividend(1.0, 0.1), "alpha"),
    (lambda: LogAR1Dividend(-1.2, 0.1), "alpha"),
    (lambda: LogAR1Dividend(0.5, -0.1), "sigma"),
    (lambda: MarkovChainDividend((1.0, -2.0), ((1, 0), (0, 1))), "states"),
    (lambda: MarkovChainDividend((1.0, 1.0), ((1, 0), (0, 1))), "states"),
    (lambda: MarkovChainDividend((), ()), "states"),
    (lambda: MarkovChainDividend((1.0, 2.0), ((1, 0),)), "transition"),
    (lambda: MarkovChainDividend((1.0, 2.0), ((0.6, 0.6), (0.5, 0.5))), "transition"),
    (lambda: MarkovChainDividend((1.0, 2.0), ((1.5, -0.5), (0.5, 0.5))), "transition"),
    (lambda: GrowthMarkovChain(phi=1.2), "phi"),
    (lambda: GrowthMarkovChain(delta=-0.1), "delta"),
    (lambda: GrowthMarkovChain(mu=0.0, delta=1.0), "delta"),
])
def test_invalid_parameters_name_the_field(build, field):
    with pytest.raises(ConfigError) as err:
        build()
    assert err.value.field == field


def test_sample_path_length_is_validated():
    with pytest.raises(ConfigError) as err:
        ConstantDividend().sample_path(0, rng())
    assert err.value.field == "length"


@pytest.mark.parametrize("name, extra", [("iid-lognormal", {"sigma": 0.2}), ("log-ar1", {"alpha": 0.5})])
def test_make_dividend_takes_the_configs_mean_dividend_ybar(name, extra):
    # make_dividend("iid-lognormal", ybar=...) was refused: only configs and commands took ybar
    import math

    from lucas_abm.dividend_params import dividend_from_params

    d = make_dividend(name, ybar=0.045, **extra)
    assert d == dividend_from_params(name, {"ybar": 0.045, **extra})
    if name == "iid-lognormal":   # E[y] = exp(mu + sigma^2/2) = ybar
        assert math.exp(d.mu + d.sigma ** 2 / 2) == pytest.approx(0.045, rel=1e-14)
    else:                         # stationary E[y] = exp(m + v/2), m = mu/(1-alpha), v = s^2/(1-a^2)
        m, v = d.mu / (1 - d.alpha), d.sigma ** 2 / (1 - d.alpha ** 2)
        assert math.exp(m + v / 2) == pytest.approx(0.045, rel=1e-14)
    with pytest.raises(ConfigError, match="^ybar: must be left out when mu is given"):
        make_dividend(name, ybar=0.045, mu=0.0)


def test_levels_below_float64s_smallest_normal_number_are_refused():
    # ybar 1e-320 was stored as 9.99989e-321 and priced at 1.89998e-319
    from lucas_abm.dividend_params import dividend_from_params

    with pytest.raises(ConfigError, match=r"^ybar: must be in \[2\.22507e-308, inf\)"):
        make_dividend("constant", ybar=1e-320)
    with pytest.raises(ConfigError, match=r"^ybar: must be in \[2\.22507e-308, inf\)"):
        dividend_from_params("iid-lognormal", {"ybar": 1e-320})
    with pytest.raises(ConfigError, match=r"^states: must be finite numbers >= 2\.225e-308"):
        make_dividend("markov", states=(1e-320, 1.0), transition=((0.5, 0.5), (0.5, 0.5)))
    assert make_dividend("constant", ybar=1e-300).ybar == 1e-300
