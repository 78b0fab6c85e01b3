"""Populations: parsing and validation (one-line errors naming the field), presets as data,
seeded size draws and the normalisation of initial holdings."""
import numpy as np
import pytest
import yaml

from lucas_abm.errors import ConfigError
from lucas_abm.market import MarketConfig
from lucas_abm.population import (DEFAULT_BORROWING_LIMIT, PRESETS_FILE, TYPE_KEYS, load_population,
                                  load_presets, parse_population)
from lucas_abm.sizes import draw_sizes, parse_size_law

ISSUE_EXAMPLE = [
    {"name": "cautious", "count": 50, "gamma": 5.0, "size": 1.0},
    {"name": "bold", "count": 50, "gamma": 1.0, "size": {"pareto": {"zeta": 1.5}}},
    {"name": "optimist", "count": 10, "gamma": 0, "beliefs": {"transition": [[0.5, 0.5], [0.25, 0.75]]}},
]


def test_issue_example_parses_to_per_agent_arrays():
    pop = parse_population(ISSUE_EXAMPLE, seed=7)
    arrays = pop.draw(beta=0.9, gamma=2.0)
    assert pop.names == ("cautious", "bold", "optimist") and arrays.n_agents == 110
    np.testing.assert_array_equal(arrays.type_index, np.repeat([0, 1, 2], [50, 50, 10]))
    np.testing.assert_array_equal(arrays.gamma, np.repeat([5.0, 1.0, 0.0], [50, 50, 10]))
    np.testing.assert_array_equal(arrays.beta, 0.9)                # the economy's, none set
    assert pop.types[2].beliefs == ((0.5, 0.5), (0.25, 0.75))
    # sizes: the seeded generator, type by type, through lucas_abm.sizes
    rng = np.random.default_rng(7)
    expected = np.concatenate([draw_sizes(parse_size_law(1.0, "s"), 50, rng),
                               draw_sizes(parse_size_law({"pareto": {"zeta": 1.5}}, "s"), 50, rng),
                               draw_sizes(parse_size_law(1.0, "s"), 10, rng)])
    np.testing.assert_array_equal(arrays.size, expected)
    np.testing.assert_array_equal(pop.draw().size, arrays.size)   # the same seed, the same sizes
    # holdings: s0_i = N S_i / sum S (supply N); theta_k = the type's share of total size
    np.testing.assert_allclose(arrays.initial_shares, 110 * expected / expected.sum(), rtol=1e-15)
    assert arrays.initial_shares.sum() == pytest.approx(110.0, rel=1e-13)
    np.testing.assert_allclose(arrays.endowments, [expected[:50].sum(), expected[50:100].sum(),
                                                   expected[100:].sum()] / expected.sum(), rtol=1e-13)
    np.testing.assert_allclose(arrays.borrowing_limit, DEFAULT_BORROWING_LIMIT * arrays.initial_shares)


def test_equal_sizes_give_exactly_one_share_each():
    arrays = parse_population([{"name": "a", "count": 7, "size": 0.1}, {"name": "b", "count": 3, "size": 0.1}]).draw()
    assert arrays.initial_shares.tolist() == [1.0] * 10            # bitwise, as the identical-agent market
    np.testing.assert_allclose(arrays.endowments, [0.7, 0.3], rtol=1e-15)


def test_default_borrowing_limit_is_the_markets():
    assert DEFAULT_BORROWING_LIMIT == MarketConfig().borrowing_limit


@pytest.mark.parametrize("entry, message", [
    ({"name": "a", "count": 0}, r"^population\[0\]\.count: must be an integer in \[1, 1,000,000,000\], got 0$"),
    ({"name": "a", "count": 2.5}, r"^population\[0\]\.count: must be an integer in \[1, 1,000,000,000\]"),
    ({"name": "a", "gamma": -1}, r"^population\[0\]\.gamma: must be in \[0, inf\), got -1$"),
    ({"name": "a", "beta": 1.0}, r"^population\[0\]\.beta: must be in \(0, 1\), got 1\.0$"),
    ({"name": "a", "beta": 0}, r"^population\[0\]\.beta: must be in \(0, 1\)"),
    ({"name": "a", "size": {"pareto": {"zeta": 0}}}, r"^population\[0\]\.size\.pareto\.zeta: must be in \(0, inf\)"),
    ({"name": "a", "size": {"pareto": {"zeta": -1.5}}}, r"^population\[0\]\.size\.pareto\.zeta"),
    ({"name": "a", "preset": "central_bank"}, r"^population\[0\]\.preset: must be one of pension_fund, "),
    ({"name": "a", "beliefs": {"transition": [[0.5, 0.6], [0.5, 0.5]]}},
     r"^population\[0\]\.beliefs\.transition: must be rows that sum to 1"),
    ({"name": "a", "beliefs": {"transition": [[0.5, 0.5]]}}, r"^population\[0\]\.beliefs\.transition: must be 1 rows"),
    ({"name": "a", "beliefs": {"transition": [[1.5, -0.5], [0.5, 0.5]]}},
     r"^population\[0\]\.beliefs\.transition: must be probabilities in \[0, 1\]"),
    ({"name": "a", "beliefs": [[1.0]]}, r"^population\[0\]\.beliefs: must be a mapping \{transition"),
    ({"name": "a", "borrowing_limit": -1}, r"^population\[0\]\.borrowing_limit: must be in \[0, inf\)"),
    ({"name": "a", "income": {"persistence": 1.0}}, r"^population\[0\]\.income\.persistence: must be in \(-1, 1\)"),
    ({"name": "a", "income": {"volatility": -0.1}}, r"^population\[0\]\.income\.volatility"),
    ({"name": "a", "income": {"drift": 0.1}}, r"^population\[0\]\.income\.drift: must be one of the keys"),
    ({"name": "a", "risk": 1}, r"^population\[0\]\.risk: must be one of the keys name, count"),
])
def test_bad_types_are_refused_with_one_line_naming_the_field(entry, message):
    with pytest.raises(ConfigError, match=message) as err:
        parse_population([entry])
    assert "\n" not in str(err.value)


def test_bad_population_lists():
    with pytest.raises(ConfigError, match=r"^population: must be a non-empty list"):
        parse_population([])
    with pytest.raises(ConfigError, match=r"^population\[1\]\.name: must be unique"):
        parse_population([{"name": "a"}, {"name": "a"}])
    with pytest.raises(ConfigError, match=r"^seed: must be an integer >= 0"):
        parse_population([{"name": "a"}], seed=-1)


def test_every_preset_is_documented_and_valid():
    presets = load_presets()
    assert set(presets) == {"pension_fund", "insurer", "bank_dealer", "hedge_fund", "retail", "market_maker"}
    for name, fields in presets.items():
        assert len(fields["reason"]) > 80 and len(fields["source"]) > 20, name
        assert set(fields) - {"reason", "source"} <= set(TYPE_KEYS)
    pop = parse_population([{"preset": name} for name in presets])
    assert pop.names == tuple(presets)                           # the name defaults to the preset's
    arrays = pop.draw()
    assert np.all(arrays.size > 0) and arrays.endowments.sum() == pytest.approx(1.0)
    # institutions dwarf retail households
    retail = pop.names.index("retail")
    assert arrays.size[arrays.type_index == retail].mean() < 0.1 * arrays.size[arrays.type_index == 0].mean()


def test_a_types_own_keys_override_its_preset():
    (t,) = parse_population([{"preset": "hedge_fund", "name": "hf", "count": 3, "gamma": 2.0}]).types
    preset = load_presets()["hedge_fund"]
    assert (t.name, t.count, t.gamma, t.beta, t.preset) == ("hf", 3, 2.0, preset["beta"], "hedge_fund")
    assert t.borrowing_limit == preset["borrowing_limit"]


def test_presets_ship_as_package_data():
    assert PRESETS_FILE.is_file()
    setup = (PRESETS_FILE.parents[2] / "setup.py").read_text()
    assert "presets/*.yaml" in setup


def test_numbers_written_without_a_dot_are_numbers(tmp_path):
    # PyYAML (YAML 1.1) reads 1e-2 as the string '1e-2': `size: 1e-2` was refused as
    # "got '1e-2'" while `size: 1.0e-2` was taken; lucas_abm.yaml_io reads both as YAML 1.2 does
    (tmp_path / "e.yaml").write_text("population:\n  - {name: a, count: 2, size: 1e-2, gamma: 5e0}\n"
                                     "  - {name: b, count: 2, size: 2E-2, beta: 9.5e-1}\n")
    (tmp_path / "dot.yaml").write_text("population:\n  - {name: a, count: 2, size: 0.01, gamma: 5.0}\n"
                                       "  - {name: b, count: 2, size: 0.02, beta: 0.95}\n")
    e, dot = load_population(tmp_path / "e.yaml").draw(), load_population(tmp_path / "dot.yaml").draw()
    for field in ("size", "gamma", "beta"):
        np.testing.assert_array_equal(getattr(e, field), getattr(dot, field))


def test_load_population_file_and_save_arrays(tmp_path):
    path = tmp_path / "pop.yaml"
    path.write_text(yaml.safe_dump({"population": ISSUE_EXAMPLE, "seed": 3}))
    pop = load_population(path)
    assert pop.seed == 3 and pop.n_agents == 110
    saved = np.load(pop.draw().save(tmp_path / "agents.npz"))
    np.testing.assert_array_equal(saved["size"], pop.draw().size)
    assert saved["names"].tolist() == ["cautious", "bold", "optimist"]
    (tmp_path / "bad.yaml").write_text("economy: {}\n")
    with pytest.raises(ConfigError, match=r"^population: must be a YAML file with a top-level"):
        load_population(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match=r"^population: must be a readable YAML file"):
        load_population(tmp_path / "missing.yaml")
