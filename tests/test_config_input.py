"""Config files as users write them: YAML 1.2's implicit types, duplicate keys, top levels that
are not mappings, keys that are numbers, text and booleans where numbers belong, and solver
refusals named by their config field. Each was a traceback, a silent misreading or a refusal
naming the wrong field (an audit of 1,545 config cases)."""
from __future__ import annotations

import math

import pytest

from lucas_abm.errors import ConfigError
from lucas_abm.yaml_io import load_yaml
from orchestrator.cli import main
from orchestrator.config import load_config

SMOKE = "configs/smoke.yaml"


@pytest.mark.parametrize("text, value", [
    ("010", 10),            # YAML 1.1: 8 (octal)
    ("0o17", 15), ("0x1F", 31), ("-12", -12), ("+3", 3),
    ("1:30", "1:30"),       # YAML 1.1: 90 (base 60)
    ("1_000", "1_000"),     # YAML 1.1: 1000
    ("0b11", "0b11"),       # YAML 1.1: 3
    ("yes", "yes"), ("off", "off"), ("on", "on"), ("n", "n"),   # YAML 1.1: booleans
    ("2026-12-04", "2026-12-04"),                               # YAML 1.1: a date
    ("true", True), ("False", False), ("TRUE", True),
    ("1e-3", 0.001), ("1e3", 1000.0), (".5", 0.5), ("1.", 1.0), ("-.inf", -math.inf),
    ("~", None), ("null", None),
])
def test_plain_scalars_follow_yaml_1_2_core_schema(text, value):
    got = load_yaml(f"a: {text}")["a"]
    assert got == value and type(got) is type(value)


def test_nan_and_keys():
    assert math.isnan(load_yaml("a: .NaN")["a"])
    assert load_yaml("on: 1\nyes: 2") == {"on": 1, "yes": 2}    # YAML 1.1: {True: 2}


def test_duplicate_keys_are_refused_with_both_lines(tmp_path, capsys):
    with pytest.raises(Exception, match=r"duplicate key 'gamma' at lines 2 and 4"):
        load_yaml("economy:\n  gamma: 2\n  beta: 0.9\n  gamma: 3\n")
    # a merge may be overridden: that is not a duplicate
    assert load_yaml("b: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 5\n")["d"] == {"x": 5, "y": 2}
    path = tmp_path / "dup.yaml"
    path.write_text("economy:\n  gamma: 2\n  gamma: 3\n")
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "duplicate key 'gamma' at lines 2 and 3" in err[0], err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, kind", [("- 1\n- 2\n", "a list"), ("3\n", "a number"),
                                        ("0\n", "a number"), ("hello\n", "a string")])
@pytest.mark.parametrize("extra", [[], ["--seed", "1"], ["--set", "market.horizon=5"]])
def test_a_config_must_be_a_mapping(tmp_path, capsys, text, kind, extra):
    """A list or number at the top level was an AttributeError with --set or --seed (and 0
    read silently as the defaults)."""
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lucas-abm: error: --config: must be a YAML mapping of sections to "
                          "settings") and f"(its top level is {kind})" in err, err


@pytest.mark.parametrize("text, message", [
    ("1: 2\n", "1: must be a known section"),
    ("economy: {1: 2}\n", "economy.1: must be a known key of section economy"),
    ("training: [1]\n", "training: must be a mapping of settings"),
])
def test_numeric_keys_and_sections_that_are_not_mappings(tmp_path, text, message):
    """Number keys were a TypeError in sorted(); a list as training with --seed a TypeError."""
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="^" + message):
        load_config(path, seed=1)


def test_set_inside_a_section_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("market: 5\n")
    with pytest.raises(ConfigError, match=r"^--set: must be a key inside a mapping, and section "
                                          r"market is int"):
        load_config(path, ["market.horizon=5"])
    path.write_text("market:\n")                                  # empty: the defaults
    assert load_config(path, ["market.horizon=7"]).market.horizon == 7


@pytest.mark.parametrize("overrides, message", [
    (["economy.gamma='0.5'"], r"economy.gamma: must be a number in \(0, inf\) \(in YAML, without "
                              r"quotes\), got '0.5'"),
    (["market.n_agents='10'"], r"market.n_agents: must be an integer in \[2, 1,000,000,000\] \(in "
                               r"YAML, without quotes\), got '10'"),
    (["market.tree_lot='0.1'"], r"market.tree_lot: must be a number"),
    (["learner.reward_clip='3'"], r"learner.reward_clip: must be a number"),
    (["economy.dividend=markov",
      "economy.dividend_params={states: [true, 0.05], transition: [[0.5, 0.5], [0.5, 0.5]]}"],
     r"economy.dividend_params.states: must be a list of positive numbers, got \[True, 0.05\]"),
    (["economy.dividend=markov",
      "economy.dividend_params={states: [0.04, 0.05], transition: [[0.5, '0.5'], [0.5, 0.5]]}"],
     r"economy.dividend_params.transition: must be 2 rows of 2 probabilities"),
    (["economy.dividend=markov",
      "economy.dividend_params={states: [0.04, 0.05], transition: [[true, 0], [0.5, 0.5]]}"],
     r"economy.dividend_params.transition: must be 2 rows of 2 probabilities"),
])
def test_text_and_booleans_are_not_numbers(overrides, message):
    """float() took '0.5' and True: a quoted gamma, or true in a transition matrix, was read."""
    with pytest.raises(ConfigError, match="^" + message):
        load_config(SMOKE, overrides)


@pytest.mark.parametrize("value, shown", [("'2'", "'2'"), ("true", "True")])
def test_population_numbers_name_their_range(value, shown):
    """A boolean was "must be a number, got True" (no range); quoted text was read."""
    with pytest.raises(ConfigError, match=rf"^population\[0\]\.gamma: must be a number in "
                                          rf"\[0, inf\), got {shown}$"):
        load_config("configs/population_two_types_cpu.yaml", [f"population.0.gamma={value}"])


def test_command_line_numbers_still_arrive_as_text(capsys):
    assert main(["solve", "--beta", "0.95", "--json"]) == 0


@pytest.mark.parametrize("overrides, message", [
    (["market.n_agents=1000000000000000000000000000000"],
     r"market.n_agents: must be an integer in \[2, 1,000,000,000\]"),
    (["market.horizon=1000000000000"], r"market.horizon: must be an integer in \[1, 1,000,000,000\]"),
    (["training.episodes=1000000000000000000000000000000"], r"training.episodes: must be an integer in"),
    (["learner.hidden=[100000000]"], r"learner.hidden: must be an integer in \[1, 65,536\]"),
    (["learner.policy_delay=1000000000000000000000000000000"], r"learner.policy_delay: must be"),
    (["learner.afterstate_bond_values=1000000000"], r"learner.afterstate_bond_values: must be an "
                                                    r"integer in \[0, 10,000\]"),
    (["replay.rate_limiter_timeout_ms=9223372036854775808"],
     r"replay.rate_limiter_timeout_ms: must be an integer in \[1, 604,800,000\] \(at most a week\)"),
    (["actions.tree_high=1e308", "market.max_price=1e308"], r"actions.tree_step: must be >= 1.0001e\+304"),
    (["learner.reward_scale=1e308"], r"learner.reward_scale: must be in \(0, 1e\+06\]"),
    (["learner.huber_delta=1e308"], r"learner.huber_delta: must be in \(0, 1e\+06\]"),
    (["learner.target_noise=1e308"], r"learner.target_noise: must be in \[0, 1e\+06\]"),
    (["exploration.local_width=1e308"], r"exploration.local_width: must be in \(0, 1e\+06\]"),
])
def test_sizes_and_scales_have_upper_bounds(overrides, message):
    """Each was accepted, then an OverflowError, a MemoryError, a long wait or inf/nan in
    training (10**30 agents, a 1e308 grid top, a reward scale of 1e308)."""
    with pytest.raises(ConfigError, match="^" + message):
        load_config(SMOKE, overrides)


def test_a_type_count_has_an_upper_bound():
    with pytest.raises(ConfigError, match=r"^population\[0\]\.count: must be an integer in "
                                          r"\[1, 1,000,000,000\]"):
        load_config("configs/population_two_types_cpu.yaml",
                    ["population.0.count=1000000000000000000000000000000"])


@pytest.mark.parametrize("overrides, message", [
    (["economy.dividend_params.ybar=1e308"],
     r"economy.dividend_params.ybar: must be such that the tree price beta/\(1-beta\) ybar is a "
     r"float64, got 1e\+308"),                                   # was "ybar: ..."
    (["economy.dividend=markov",
      "economy.dividend_params={states: [0.04, 1e308], transition: [[0.5, 0.5], [0.5, 0.5]]}"],
     r"economy.dividend_params.states: must be dividend levels whose tree price"),  # was gamma
    (["economy.dividend=markov",
      "economy.dividend_params={states: [0.04, 0.05], transition: [[0.5, 0.6], [0.5, 0.5]]}"],
     r"economy.dividend_params.transition: must be rows that sum to 1 \(row sums 1.1, 1\)"),
])
def test_solver_refusals_name_the_config_field(overrides, message):
    with pytest.raises(ConfigError, match="^" + message):
        load_config(SMOKE, overrides)


def test_solve_keeps_the_row_sums():
    """The detail was dropped on the way through dividend_from_params."""
    from lucas_abm.dividend_params import dividend_from_params

    with pytest.raises(ConfigError, match=r"^transition: must be rows that sum to 1 \(row sums "
                                          r"1.1, 1\)$"):
        dividend_from_params("markov", {"states": [0.9, 1.1], "transition": [[0.8, 0.3], [0.3, 0.7]]})
