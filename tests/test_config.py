"""Training configs: every shipped YAML validates; bad keys and values name the key."""
from pathlib import Path

import pytest

from lucas_abm.errors import ConfigError
from orchestrator.cli import main
from orchestrator.config import config_from_dict, load_config

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


def test_all_shipped_configs_validate():
    names = {p.name for p in CONFIGS}
    assert {"thesis.yaml", "thesis_cpu.yaml", "thesis_cpu_shared.yaml", "iid_lognormal_cpu.yaml",
            "log_ar1_cpu.yaml"} <= names
    for path in CONFIGS:
        load_config(path)


def test_every_algorithm_choice_has_a_rule_with_the_replay_dtype():
    """learner.algorithm's choices (the replay signature's action dtypes) and the registry of
    learning rules name the same algorithms, and each rule's actions have its signature's dtype."""
    import numpy as np

    from orchestrator.algorithms import registered_rules
    from orchestrator.config import ALGORITHMS
    from replay.signature import action_dtype

    rules = registered_rules()
    assert sorted(rules) == sorted(ALGORITHMS) == ["adaptive", "dqn", "sac", "td3"]
    for name, rule in rules.items():
        assert np.dtype(rule.action_dtype) == np.dtype(action_dtype(name)), name


def test_thesis_scale_and_cpu_scale():
    thesis = load_config(Path("configs/thesis.yaml"))
    assert thesis.market.n_agents == 1200 and thesis.market.horizon == 300
    assert thesis.learner.weight_sharing == "independent" and thesis.groups == 1200
    cpu = load_config(Path("configs/thesis_cpu.yaml"))
    assert cpu.market.n_agents >= 100 and cpu.market.horizon >= 100
    # the thesis' design: one network per agent
    assert cpu.learner.weight_sharing == "independent" and cpu.groups == cpu.market.n_agents
    for cfg in (thesis, cpu):
        assert cfg.economy.beta == 0.95 and cfg.economy.gamma == 1.0
        assert cfg.economy.dividend_params["ybar"] == pytest.approx(0.0448168907)
        assert cfg.learner.hidden == [50, 50, 50, 50] and cfg.learner.learning_rate == 1e-3
    assert load_config(Path("configs/iid_lognormal_cpu.yaml")).economy.dividend_params["sigma"] == 0.1
    assert load_config(Path("configs/log_ar1_cpu.yaml")).economy.dividend == "log-ar1"


@pytest.mark.parametrize("override, field", [
    ("learner.n_step=0", "learner.n_step"),
    ("learner.weight_sharing=global", "learner.weight_sharing"),
    ("economy.beta=1.5", "economy.beta"),
    ("market.n_agents=1", "market.n_agents"),
    ("market.tree_lot=-1", "market.tree_lot"),
    ("learner.bogus=3", "learner.bogus"),
    ("exploration.epsilon_end=2", "exploration.epsilon_end"),
    ("replay.capacity=0", "replay.capacity"),
    ("economy.mechanism=auction", "economy.mechanism"),
    ("economy.mechanism=no_such_module:Walras", "economy.mechanism"),
    ("economy.mechanism_params={theta: 2}", "economy.mechanism_params.theta"),
    ("market.backend=fast", "market.backend"),
    ("economy.gamma=true", "economy.gamma"),                  # YAML true was read as 1
    ("training.tree_tolerance=true", "training.tree_tolerance"),
    ("actions.tree_step=1e-9", "actions.tree_step"),                # a 1.6e9-point grid: out of memory
])
def test_bad_values_name_the_key(override, field):
    with pytest.raises(ConfigError) as err:
        load_config(Path("configs/thesis_cpu.yaml"), [override])
    assert str(err.value).startswith(field + ":")


def test_unknown_section_and_cross_checks(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optimizer: {lr: 1}\n")
    with pytest.raises(ConfigError, match="^optimizer:"):
        load_config(bad)
    with pytest.raises(ConfigError, match="^learner.agent_types:"):
        load_config(Path("configs/thesis_cpu_shared.yaml"), ["learner.agent_types=3"])   # 100 % 3


def test_backend_and_mechanism_keys():
    cfg = load_config(Path("configs/thesis_cpu.yaml"), ["market.backend=numpy", "economy.mechanism=bargaining",
                                                        "economy.mechanism_params={theta: 0.25}"])
    assert cfg.market.backend == "numpy" and cfg.economy.mechanism_params == {"theta": 0.25}
    assert load_config(Path("configs/thesis_cpu.yaml")).market.backend == "auto"


def test_overrides_and_seed():
    cfg = load_config(Path("configs/thesis_cpu.yaml"), ["learner.weight_sharing=shared",
                                                        "training.episodes=7"], seed=11)
    assert cfg.learner.weight_sharing == "shared" and cfg.groups == cfg.learner.agent_types == 1
    assert cfg.training.episodes == 7 and cfg.training.seed == 11


def test_cpu_thesis_config_is_the_shared_one_plus_the_documented_additions():
    """configs/thesis_cpu.yaml (independent, the thesis' design) differs from the shared mode
    (configs/thesis_cpu_shared.yaml) exactly in the weight sharing and the three additions its
    header documents: the one-tick market rule, autarky shaping and the reward unit."""
    independent = load_config(Path("configs/thesis_cpu.yaml")).to_dict()
    shared = load_config(Path("configs/thesis_cpu_shared.yaml")).to_dict()
    differ = {(section, key) for section in independent for key in independent[section]
              if independent[section][key] != shared[section].get(key)}
    assert differ == {("learner", "weight_sharing"), ("economy", "mechanism"),
                      ("economy", "mechanism_params"), ("learner", "reward_shaping"),
                      ("learner", "reward_scale")}
    assert (independent["learner"]["weight_sharing"], shared["learner"]["weight_sharing"]) == ("independent", "shared")
    assert (independent["economy"]["mechanism"], shared["economy"]["mechanism"]) == ("pairwise-tick", "pairwise")
    # the tick is the action grid's step
    assert independent["economy"]["mechanism_params"] == {"tree_tick": independent["actions"]["tree_step"],
                                                          "bond_tick": independent["actions"]["bond_step"]}
    assert independent["learner"]["reward_shaping"] == "autarky" and independent["learner"]["reward_scale"] == 500


def test_train_cli_bad_input_exits_2_before_work(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--config", "configs/thesis_cpu.yaml", "--out", str(out),
                 "--set", "learner.learning_rate=-1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "learner.learning_rate: must be" in err
    assert not out.exists()
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_set_population_keys():
    """--set population.I.key=value sets a key of type I; bad indices and configs without a
    population are refused with the field named."""
    from orchestrator.config import load_config

    path = "configs/population_two_types_schedules_cpu.yaml"
    cfg = load_config(path, ["population.0.gamma=2", "population.1.gamma=2.0"])
    assert list(cfg.population_types.gammas(cfg.economy.gamma)) == [2.0, 2.0]
    assert [t["gamma"] for t in cfg.to_dict()["population"]] == [2.0, 2.0]
    with pytest.raises(ConfigError, match=r"--set: must be population.I.key=value with I in \[0, 1\]"):
        load_config(path, ["population.2.gamma=2"])
    with pytest.raises(ConfigError, match="--set: must be population.I.key=value with I"):
        load_config(path, ["population.gamma=2"])
    with pytest.raises(ConfigError, match="only for a config with a population"):
        load_config("configs/thesis_cpu.yaml", ["population.0.gamma=2"])
    with pytest.raises(ConfigError, match=r"population\[0\].gamma: must be in \[0, inf\)"):
        load_config(path, ["population.0.gamma=-1"])


@pytest.mark.parametrize("section", [[], 0, False, ""])
def test_a_section_that_is_not_a_mapping_is_refused_not_read_as_the_defaults(section):
    # `market: []` (or 0, false, "") used to train the default market silently
    with pytest.raises(ConfigError) as err:
        config_from_dict({"market": section})
    assert err.value.field == "market"
    assert config_from_dict({"market": None}) == config_from_dict({})   # `market:` alone: defaults


@pytest.mark.parametrize("kwargs, field", [
    ({"config": 123}, "config"), ({"out_dir": 5}, "out_dir"),
    ({"stop_after_episodes": 0}, "stop_after_episodes"), ({"stop_after_episodes": "a"}, "stop_after_episodes"),
    ({"seed": -1}, "seed"),
])
def test_the_python_train_refuses_bad_arguments_before_any_work(tmp_path, kwargs, field):
    import lucas_abm

    args = {"config": {"training": {"episodes": 1}}, "out_dir": tmp_path / "run", **kwargs}
    with pytest.raises(ConfigError) as err:     # were TypeErrors, some after a whole episode
        lucas_abm.train(args.pop("config"), args.pop("out_dir"), **args)
    assert err.value.field == field and not (tmp_path / "run").exists()
