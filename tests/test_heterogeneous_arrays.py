"""Per-agent arrays of a heterogeneous market (lucas_abm/heterogeneous.py) against hand
computations: the mean dividend that sets the income unit, the arrays built from a
population, the refusal of a population of the wrong size, and the non-tradable income's
AR(1) (its stationary start and its recursion, draw by draw and in law).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from lucas_abm.dividends import (ConstantDividend, DividendProcess, GrowthMarkovChain,
                                 IIDLognormalDividend, LogAR1Dividend, MarkovChainDividend)
from lucas_abm.errors import ConfigError
from lucas_abm.heterogeneous import Endowment, agent_arrays, mean_dividend
from lucas_abm.population import PopulationArrays


def population(income_mean=(0.0, 0.0, 0.0, 0.0), income_volatility=(0.0, 0.0, 0.0, 0.0)):
    return PopulationArrays(
        names=("small", "large"), type_index=np.array([0, 0, 1, 1], np.int32),
        size=np.array([1.0, 1.0, 3.0, 3.0]), gamma=np.array([1, 1, 3, 3]),
        beta=np.full(4, 0.95), borrowing_limit=np.array([0.25, 0.25, 0.75, 0.75]),
        initial_shares=np.array([0.5, 0.5, 1.5, 1.5]), income_mean=np.array(income_mean),
        income_volatility=np.array(income_volatility),
        income_persistence=np.array([0.0, 0.0, 0.5, 0.9]), endowments=np.array([0.25, 0.75]))


class NoMean(DividendProcess):
    name = "no-mean"

    def initial(self, rng):
        return 3.0

    def next(self, y, rng):
        return 3.0


def test_mean_dividend_of_every_process():
    assert mean_dividend(ConstantDividend(0.05)) == pytest.approx(0.05, rel=1e-15)
    assert mean_dividend(IIDLognormalDividend(mu=-3.0, sigma=0.2)) == pytest.approx(math.exp(-3.0 + 0.02), rel=1e-14)
    # stationary law of [[0.9, 0.1], [0.3, 0.7]] is (3/4, 1/4)
    chain = MarkovChainDividend(states=(1.0, 2.0), transition=((0.9, 0.1), (0.3, 0.7)))
    assert mean_dividend(chain) == pytest.approx(0.75 * 1.0 + 0.25 * 2.0, rel=1e-12)
    # log y ~ N(mu / (1 - alpha), sigma^2 / (1 - alpha^2)) = N(-2, 0.01 / 0.75)
    ar1 = LogAR1Dividend(alpha=0.5, sigma=0.1, mu=-1.0)
    assert mean_dividend(ar1) == pytest.approx(math.exp(-2.0 + 0.5 * 0.01 / 0.75), rel=1e-14)
    assert mean_dividend(GrowthMarkovChain(y0=2.5)) == 2.5      # no stationary level: y0
    assert mean_dividend(NoMean()) == 1.0


def test_arrays_of_a_population_without_income():
    arrays = agent_arrays(population(), 4, ConstantDividend(0.05))
    np.testing.assert_array_equal(arrays.initial_shares, [0.5, 0.5, 1.5, 1.5])
    np.testing.assert_array_equal(arrays.borrowing_limits, [0.25, 0.25, 0.75, 0.75])
    np.testing.assert_array_equal(arrays.gammas, [1.0, 1.0, 3.0, 3.0])
    assert arrays.gammas.dtype == np.float64 and arrays.initial_shares.dtype == np.float64
    np.testing.assert_array_equal(arrays.lot_scale, [0.5, 0.5, 1.5, 1.5])   # lots scale with s0
    assert arrays.endowment is None
    np.testing.assert_array_equal(arrays.type_index, [0, 0, 1, 1])
    assert arrays.names == ("small", "large")
    assert agent_arrays(population(), 4, ConstantDividend(0.05), scale_lots=False).lot_scale is None


def test_a_population_of_another_size_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"^population: must be 5 agents \(market.n_agents\), got 4$"):
        agent_arrays(population(), 5, ConstantDividend(0.05))


@pytest.mark.parametrize("mean, volatility", [((0.1, 0.1, 0.2, 0.2), (0, 0, 0, 0)),
                                              ((0, 0, 0, 0), (0.0, 0.0, 0.0, 0.1))])
def test_income_is_scaled_by_shares_times_the_mean_dividend(mean, volatility):
    arrays = agent_arrays(population(mean, volatility), 4, ConstantDividend(0.05))
    e = arrays.endowment
    np.testing.assert_allclose(e.scale, [0.025, 0.025, 0.075, 0.075], rtol=1e-15)
    np.testing.assert_array_equal(e.mean, mean)
    np.testing.assert_array_equal(e.volatility, volatility)
    np.testing.assert_array_equal(e.persistence, [0.0, 0.0, 0.5, 0.9])
    assert e.state is None


def test_endowment_starts_stationary_and_follows_its_ar1_draw_by_draw():
    e = Endowment(scale=np.array([2.0, 4.0]), mean=np.array([1.0, 0.5]),
                  volatility=np.array([0.1, 0.3]), persistence=np.array([0.0, 0.8]))
    e.reset(np.random.default_rng(7))
    z = np.random.default_rng(7).standard_normal(2)
    sd = np.array([0.1, 0.3 / math.sqrt(1 - 0.64)])             # sigma / sqrt(1 - rho^2)
    np.testing.assert_allclose(e.state, sd * z, rtol=1e-15)
    np.testing.assert_allclose(e.current(), [2.0 * (1.0 + sd[0] * z[0]), 4.0 * (0.5 + sd[1] * z[1])],
                               rtol=1e-14)
    u0 = e.state.copy()
    e.advance(np.random.default_rng(8))
    eps = np.random.default_rng(8).standard_normal(2)
    np.testing.assert_allclose(e.state, [0.1 * eps[0], 0.8 * u0[1] + 0.3 * eps[1]], rtol=1e-14)


def test_endowment_law_stationary_sd_and_autocorrelation():
    n = 200_000
    e = Endowment(scale=np.ones(n), mean=np.zeros(n), volatility=np.full(n, 0.1),
                  persistence=np.full(n, 0.9))
    rng = np.random.default_rng(3)
    e.reset(rng)
    u0 = e.state.copy()
    e.advance(rng)
    sd = 0.1 / math.sqrt(1 - 0.81)
    assert np.std(u0) == pytest.approx(sd, rel=0.01)            # 4 standard errors ~ 0.6%
    assert np.std(e.state) == pytest.approx(sd, rel=0.01)       # stays stationary
    assert np.corrcoef(u0, e.state)[0, 1] == pytest.approx(0.9, abs=0.003)
