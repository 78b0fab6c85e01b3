"""CRRA utility: closed forms, the derivative, the log limit, validation."""
import math

import numpy as np
import pytest

from lucas_abm.errors import ConfigError
from lucas_abm.utility import CRRAUtility


def test_log_utility_at_gamma_one():
    u = CRRAUtility(1.0)
    c = np.array([0.5, 1.0, math.e, 10.0])
    np.testing.assert_allclose(u(c), np.log(c), rtol=0, atol=1e-15)
    np.testing.assert_allclose(u.marginal(c), 1.0 / c, rtol=1e-15)


def test_gamma_two_closed_form():
    u = CRRAUtility(2)
    c = np.array([0.25, 1.0, 4.0])
    np.testing.assert_allclose(u(c), -1.0 / c, rtol=1e-15)
    np.testing.assert_allclose(u.marginal(c), c ** -2.0, rtol=1e-15)


@pytest.mark.parametrize("gamma", [0.3, 1.0, 2.0, 5.0])
def test_marginal_is_the_derivative(gamma):
    u = CRRAUtility(gamma)
    c = np.array([0.05, 0.5, 1.0, 3.0])
    h = 1e-6 * c
    numeric = (u(c + h) - u(c - h)) / (2 * h)
    np.testing.assert_allclose(u.marginal(c), numeric, rtol=1e-7)


def test_log_is_the_limit_of_crra():
    c = np.array([0.1, 0.7, 2.0])
    g = 1.0 + 1e-7
    near = CRRAUtility(g)(c) - CRRAUtility(g)(1.0)   # (c^(1-g) - 1)/(1-g) -> log c
    np.testing.assert_allclose(near, np.log(c), atol=1e-6)


def test_vectorised_shape_and_boundaries():
    u = CRRAUtility(2.0)
    c = np.ones((3, 4))
    assert u(c).shape == (3, 4) and u.marginal(c).shape == (3, 4)
    assert CRRAUtility(1.0)(0.0) == -np.inf
    assert u(0.0) == -np.inf
    assert np.isnan(u(-1.0)) and np.isnan(CRRAUtility(1.0)(-1.0))


@pytest.mark.parametrize("gamma, allowed", [(0, "> 0"), (-1, "> 0"), (float("nan"), "a finite number > 0"),
                                            (float("inf"), "a finite number > 0"), ("abc", "a number > 0")])
def test_invalid_gamma_names_the_field(gamma, allowed):
    # 'abc' and nan were "must be > 0", as if they were numbers <= 0
    with pytest.raises(ConfigError) as err:
        CRRAUtility(gamma)
    assert err.value.field == "gamma" and err.value.allowed == allowed



@pytest.mark.parametrize("gamma", [True, False])
def test_bools_are_not_risk_aversions(gamma):
    # float(True) = 1 made gamma=True log utility (numeric strings stay accepted: the commands
    # pass their options as text and check them here)
    with pytest.raises(ConfigError, match=r"^gamma: must be a number > 0, got "):
        CRRAUtility(gamma)
    assert CRRAUtility("2").gamma == 2.0
