"""Size laws (lucas_abm/sizes.py): parsing, seeded draws, tail exponents, errors."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from lucas_abm.errors import ConfigError
from lucas_abm.sizes import SizeLaw, draw_sizes, herfindahl_root, parse_size_law


def hill_estimate(sample: np.ndarray, k: int) -> float:
    """Hill's estimator of the tail exponent from the k largest draws: 1 / mean log(X_(i) / X_(k+1))."""
    top = np.sort(sample)[::-1][: k + 1]
    return 1.0 / float(np.mean(np.log(top[:k] / top[k])))


@pytest.mark.parametrize("value, zeta", [({"pareto": {"zeta": 1.5}}, 1.5), ({"pareto": {"zeta": 3.0}}, 3.0),
                                         ({"zipf": {}}, 1.0)])
def test_pareto_tail_exponent_recovered_by_hill(value, zeta):
    law = parse_size_law(value, "size")
    sizes = draw_sizes(law, 200_000, np.random.default_rng(7))
    k = 2_000  # Hill's standard error is zeta / sqrt(k) ~ 0.022 zeta; allow ~4.5 of them
    assert hill_estimate(sizes, k) == pytest.approx(zeta, rel=0.1)
    assert sizes.min() >= 1.0  # x_min = 1
    # the whole law, not only the tail: P(S > 2) = 2^-zeta (binomial sd ~ 0.001)
    assert np.mean(sizes > 2.0) == pytest.approx(2.0 ** -zeta, abs=0.005)


def test_lognormal_moments_of_log_size():
    law = parse_size_law({"lognormal": {"sigma": 0.8}}, "size")
    assert law == SizeLaw("lognormal", {"sigma": 0.8, "mu": 0.0})
    logs = np.log(draw_sizes(law, 100_000, np.random.default_rng(1)))
    assert logs.mean() == pytest.approx(0.0, abs=4 * 0.8 / math.sqrt(1e5))
    assert logs.std() == pytest.approx(0.8, rel=0.01)


def test_constant_list_and_zipf_forms():
    assert parse_size_law(2, "size") == SizeLaw("constant", {"value": 2.0})
    assert parse_size_law({"constant": 0.5}, "size") == SizeLaw("constant", {"value": 0.5})
    assert parse_size_law({"zipf": {}}, "size") == SizeLaw("zipf", {"zeta": 1.0})
    assert parse_size_law({"zipf": None}, "size").tail_exponent == 1.0
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(draw_sizes(parse_size_law(2.0, "size"), 3, rng), [2.0, 2.0, 2.0])
    listed = draw_sizes(parse_size_law([1, 4.0, 0.5], "size"), 3, rng)
    assert listed.dtype == np.float64
    np.testing.assert_array_equal(listed, [1.0, 4.0, 0.5])


def test_seeded_draws_reproducible_and_positive_float64():
    for value in (1.0, {"pareto": {"zeta": 1.5}}, {"lognormal": {"sigma": 1.0}}, {"zipf": {}}):
        law = parse_size_law(value, "size")
        a = draw_sizes(law, 1000, np.random.default_rng(42))
        b = draw_sizes(law, 1000, np.random.default_rng(42))
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.float64 and a.shape == (1000,) and np.all(a > 0) and np.all(np.isfinite(a))
    pareto = parse_size_law({"pareto": {"zeta": 1.5}}, "size")
    assert not np.array_equal(draw_sizes(pareto, 100, np.random.default_rng(1)),
                              draw_sizes(pareto, 100, np.random.default_rng(2)))


def test_herfindahl_root_closed_forms():
    assert herfindahl_root(np.full(400, 3.0)) == pytest.approx(1 / 20, rel=1e-14)
    assert herfindahl_root(np.full(400, 1e200)) == pytest.approx(1 / 20, rel=1e-14)  # S^2 overflows
    assert herfindahl_root(np.array([1.0, 0.0, 0.0])) == 1.0
    assert herfindahl_root(np.array([3.0, 4.0])) == pytest.approx(5.0 / 7.0)


@pytest.mark.parametrize("value, field", [
    ({"pareto": {"zeta": 0}}, "population[0].size.pareto.zeta"),
    ({"pareto": {"zeta": -1.5}}, "population[0].size.pareto.zeta"),
    ({"pareto": {}}, "population[0].size.pareto.zeta"),
    ({"pareto": {"zeta": 1.5, "xmin": 2}}, "population[0].size.pareto.xmin"),
    ({"lognormal": {"sigma": -1}}, "population[0].size.lognormal.sigma"),
    ({"zipf": {"zeta": 2}}, "population[0].size.zipf.zeta"),
    ({"cauchy": {}}, "population[0].size"),
    (0, "population[0].size"),
    (-2.0, "population[0].size"),
    (float("inf"), "population[0].size"),
    (True, "population[0].size"),
    ([1.0, -1.0], "population[0].size[1]"),
    ([], "population[0].size"),
    ("big", "population[0].size"),
])
def test_bad_size_laws_name_the_field(value, field):
    with pytest.raises(ConfigError) as err:
        parse_size_law(value, "population[0].size")
    assert err.value.field == field
    assert str(err.value).startswith(field + ":") and "\n" not in str(err.value)


def test_list_length_must_match_count_and_n_positive():
    law = parse_size_law([1.0, 2.0], "population[3].size")
    with pytest.raises(ConfigError, match=r"^population\[3\].size: must be a list of 3 sizes"):
        draw_sizes(law, 3, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="^n:"):
        draw_sizes(parse_size_law(1.0, "size"), 0, np.random.default_rng(0))


def test_lognormal_mu_has_a_range_and_is_named():
    """mu only scales sizes (holdings are proportional to them): 1e308 was refused naming sigma."""
    for mu in (1e308, -701.0, 701.0):
        with pytest.raises(ConfigError, match=r"^population\[0\]\.size\.lognormal\.mu: must be "
                                              r"in \[-700, 700\], got"):
            parse_size_law({"lognormal": {"sigma": 1.0, "mu": mu}}, "population[0].size")
    sizes = draw_sizes(parse_size_law({"lognormal": {"sigma": 1.0, "mu": 700.0}}, "s"), 1000,
                       np.random.default_rng(0))
    assert np.isfinite(sizes.sum()) and sizes.min() > 0


@pytest.mark.parametrize("law, field", [
    ({"pareto": {"zeta": 0.01}}, "population[0].size.pareto.zeta"),       # U^(-100) overflows
    ({"lognormal": {"sigma": 800}}, "population[0].size.lognormal.sigma"),  # exp(800 z): inf and 0
    (1e306, "population[0].size"),                                          # 1000 x 1e306
])
def test_sizes_a_float64_cannot_hold_are_refused_naming_the_parameter(law, field):
    parsed = parse_size_law(law, "population[0].size")
    with np.errstate(all="raise"):               # refused before any overflow reaches the caller
        with pytest.raises(ConfigError, match=rf"^{re.escape(field)}: must be .*1000 "):
            draw_sizes(parsed, 1000, np.random.default_rng(0))
    assert draw_sizes(parse_size_law({"pareto": {"zeta": 0.2}}, "s"), 1000,
                      np.random.default_rng(0)).sum() < np.inf     # a small zeta that fits
