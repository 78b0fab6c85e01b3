"""Learning on populations (orchestrator/population.py, docs/heterogeneity.md "Learning on
populations"): the config's population section, the run directory's record of the size draw,
weight groups of unequal types, characteristics in the observation, and the identical-agent
configs unchanged. Real TF, real Reverb, real files."""
from __future__ import annotations

import copy
import csv
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml

from benchmark_scripts import load_benchmark
from lucas_abm.errors import ConfigError
from orchestrator.config import config_from_dict

BASE = {"economy": {"mechanism": "pairwise-tick", "mechanism_params": {"tree_tick": 0.01, "bond_tick": 0.005}},
        "market": {"n_agents": 8, "horizon": 12, "tree_lot": 0.0005, "bond_lot": 0.0002},
        "learner": {"hidden": [8, 8], "n_step": 2, "batch_size": 4, "reward_shaping": "autarky",
                    "reward_scale": 500},
        "replay": {"capacity": 1000, "min_size": 1000},
        "training": {"episodes": 3, "eval_interval": 1, "checkpoint_interval": 10, "seed": 3}}

TWO_TYPES = [{"name": "small", "count": 3, "size": 1.0},
             {"name": "pareto", "count": 5, "size": {"pareto": {"zeta": 1.5}}}]


def raw(population=None, **learner) -> dict:
    r = copy.deepcopy(BASE)
    r["learner"].update(learner)
    if population is not None:
        r["population"] = copy.deepcopy(population)
        del r["market"]["n_agents"]
    return r


def test_identical_config_unchanged(tmp_path):
    """No population section: the numbers of the code before populations existed (the same
    seed, three episodes with greedy evaluations, and three updates on a fixed batch; recorded
    from commit 0e5220e with this test's configuration)."""
    from orchestrator.algorithms import make_algorithm
    from orchestrator.driver import Trainer

    cfg = config_from_dict(raw())
    assert "population" not in cfg.to_dict() and cfg.population_types is None
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    try:
        s = trainer.run()
    finally:
        trainer.close()
    assert not (tmp_path / "run" / "population.csv").exists()
    assert (s["tree_price"], s["bond_price"]) == (1.44, 0.9624999999999999)
    assert s["volume_per_agent_per_step"] == {"tree": 0.5, "bond": 0.4895833333333333}
    assert s["tree_price_iqr"] == 0.5374999999999999
    rule = make_algorithm(cfg, 4)
    rng = np.random.default_rng(0)
    batch = {"observation": rng.normal(size=(4, 3, 8, 4)).astype(np.float32),
             "tree_action": rng.integers(0, 161, (4, 2, 8)).astype(np.int32),
             "bond_action": rng.integers(0, 61, (4, 2, 8)).astype(np.int32),
             "reward": rng.normal(size=(4, 2, 8)).astype(np.float32)}
    losses = [rule.train_step(batch)["loss"] for _ in range(3)]
    np.testing.assert_allclose(losses, [5.918656349182129, 5.822271347045898, 5.724226951599121], rtol=1e-6)


def test_equal_population_is_the_identical_market():
    """A population of N agents of size 1 and the economy's gamma: the same observations,
    rewards (features) and holdings, bitwise, as the identical-agent market."""
    from orchestrator.agents import Features
    from orchestrator.episode import Economy

    plain = Economy(config_from_dict(raw()))
    pop = Economy(config_from_dict(raw([{"name": "all", "count": 8}])))
    assert pop.population is not None and np.array_equal(pop.population.initial_shares, np.ones(8))
    markets = [e.market() for e in (plain, pop)]
    feats = [Features.build(e.config, m, e.dividend) for e, m in zip((plain, pop), markets)]
    obs = [m.reset(seed=11) for m in markets]
    rng = np.random.default_rng(5)
    for _ in range(10):
        p, q = 0.85 + 0.02 * rng.standard_normal(8), 0.95 + 0.01 * rng.standard_normal(8)
        x = [f.observation(o) for f, o in zip(feats, obs)]
        assert np.array_equal(x[0], x[1])
        steps = [m.step(p, q) for m in markets]
        assert np.array_equal(feats[0].reward(steps[0]), feats[1].reward(steps[1]))
        assert np.array_equal(markets[0].shares, markets[1].shares)
        obs = [s.observation for s in steps]


def test_population_section_validated_before_any_work():
    cases = [
        (raw([{"name": "a", "count": 0}]), "population[0].count: must be an integer in [1, 1,000,000,000]"),
        (raw([{"name": "a", "count": 8, "beliefs": {"transition": [[1.0]]}}]), "population[0].beliefs:"),
        (raw([{"name": "a", "count": 8, "beta": 0.9}]), "population[0].beta: must be absent or equal"),
        (raw([{"name": "a", "count": 8, "size": {"pareto": {"zeta": 0}}}]), "population[0].size.pareto.zeta"),
        (raw([{"name": "a", "count": 8, "borrowing_limit": 0.0001}]), "population[0].borrowing_limit"),
        (raw(TWO_TYPES, weight_sharing="shared", agent_types=3), "learner.agent_types: must be 1"),
        (dict(raw(TWO_TYPES), market=dict(BASE["market"], n_agents=9)), "market.n_agents: must be the population"),
        (dict(raw(TWO_TYPES), market=dict(BASE["market"], n_agents=8, initial_shares=2.0)),
         "market.initial_shares"),
    ]
    for bad, message in cases:
        with pytest.raises(ConfigError) as err:
            config_from_dict(bad)
        assert str(err.value).startswith(message) and "\n" not in str(err.value), str(err.value)


def test_run_directory_records_the_seeded_draw(tmp_path):
    """RUN/population.csv holds the draw of a generator seeded with training.seed: type 0 has
    constant sizes, type 1 Pareto S = U^(-1/1.5), U = 1 - uniform (lucas_abm/sizes.py), and
    s0_i = N S_i / sum S; the market starts from exactly these holdings."""
    from orchestrator.driver import Trainer

    cfg = config_from_dict(raw(TWO_TYPES, weight_sharing="shared"))
    cfg.training.episodes = 1
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    try:
        trainer.run()
        start = trainer.actor.market._initial_shares()
    finally:
        trainer.close()
    with open(tmp_path / "run" / "population.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    u = 1.0 - np.random.default_rng(3).random(5)
    sizes = np.concatenate([np.ones(3), u ** (-1.0 / 1.5)])
    np.testing.assert_allclose([float(r["size"]) for r in rows], sizes, rtol=1e-15)
    s0 = np.array([float(r["initial_shares"]) for r in rows])
    np.testing.assert_allclose(s0, 8 * sizes / sizes.sum(), rtol=1e-14)
    assert abs(s0.sum() - 8) < 1e-12 and np.array_equal(start, s0)
    assert [r["type"] for r in rows] == ["small"] * 3 + ["pareto"] * 5
    assert [int(r["group"]) for r in rows] == [0, 0, 0, 1, 1, 1, 1, 1]
    np.testing.assert_allclose([float(r["borrowing_limit"]) for r in rows], 0.01 * s0, rtol=1e-14)


def test_population_files_are_replaced_in_one_step(tmp_path, monkeypatch):
    """RUN/population.csv and population.json go through orchestrator.atomic: a write that
    fails before its rename (another seed's draw, the disk full) leaves both files as they
    were, and no temporary beside them."""
    from orchestrator import atomic
    from orchestrator.episode import draw_population
    from orchestrator.population import write_population

    cfg = config_from_dict(raw(TWO_TYPES, weight_sharing="shared"))
    write_population(tmp_path, cfg, draw_population(cfg))
    before = {name: (tmp_path / name).read_bytes() for name in ("population.csv", "population.json")}
    other = config_from_dict(dict(raw(TWO_TYPES, weight_sharing="shared"),
                                  training=dict(BASE["training"], seed=4)))
    assert draw_population(other).size.tolist() != draw_population(cfg).size.tolist()

    def fail(*_):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_population(tmp_path, other, draw_population(other))
    monkeypatch.undo()
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["population.csv", "population.json"]


def test_unequal_types_share_one_network_each():
    """Types of 3 and 5 agents, shared weights: two networks; each agent acts with its type's
    network, and the loss is the sum over types of each type's mean Huber loss."""
    from orchestrator.agents import Features
    from orchestrator.algorithms import make_algorithm
    from orchestrator.episode import Economy
    from orchestrator.population import group_index

    cfg = config_from_dict(raw(TWO_TYPES, weight_sharing="shared"))
    assert cfg.groups == 2 and group_index(cfg).tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    economy = Economy(cfg)
    market = economy.market()
    features = Features.build(cfg, market, economy.dividend)
    dim = economy.observation_dim
    rule = make_algorithm(cfg, dim)
    dqn = rule.dqn
    assert dqn.layout.padded and dqn.layout.per_group == 5 and dqn.online.groups == 2
    # agent_slots: each agent's row in to_groups' flattened [groups * 5] layout (3 + 2 pad + 5)
    assert dqn.agent_slots.tolist() == [0, 1, 2, 5, 6, 7, 8, 9]
    tagged = tf.constant(np.arange(8, dtype=np.float32)[None, :, None])          # [1, N, 1]: agent i carries i
    assert tf.reshape(dqn.to_groups(tagged), [-1]).numpy()[dqn.agent_slots].tolist() == list(range(8))
    x = features.observation(market.reset(seed=1))
    tree, bond = dqn.greedy(x)
    for i, g in enumerate(group_index(cfg)):
        q = dqn.online(tf.constant(np.repeat(x[i:i + 1][None], 2, axis=0)))   # both networks on agent i
        assert tree[i] == int(tf.argmax(q.tree_advantage[g, 0])) and bond[i] == int(tf.argmax(q.bond_advantage[g, 0]))
    # the loss: sum over types of the type's mean over its own agents' samples
    rng = np.random.default_rng(0)
    B, n = 4, cfg.learner.n_step
    obs = rng.normal(size=(B, n + 1, 8, dim)).astype(np.float32)
    a_t = rng.integers(0, 161, (B, n, 8)).astype(np.int32)
    a_b = rng.integers(0, 61, (B, n, 8)).astype(np.int32)
    r = rng.normal(size=(B, n, 8)).astype(np.float32)
    beta = cfg.economy.beta
    expected = 0.0
    for g, members in enumerate((range(0, 3), range(3, 8))):
        losses = []
        for i in members:
            nxt, tgt_q, now = (q_of(net, obs[:, k, i]) for net, k in
                               ((dqn.online, n), (dqn.target, n), (dqn.online, 0)))
            for b in range(B):   # double DQN: online argmax, target value
                a1 = int(tf.argmax(nxt.tree_advantage[g, b]))
                a2 = int(tf.argmax(nxt.bond_advantage[g, b]))
                target = r[b, 0, i] + beta * r[b, 1, i] + beta ** 2 * _joint(tgt_q, g, b, a1, a2)
                q = _joint(now, g, b, int(a_t[b, 0, i]), int(a_b[b, 0, i]))
                e = abs(target - q)
                losses.append(0.5 * e * e if e <= 1.0 else e - 0.5)
        expected += np.mean(losses)
    loss = rule.train_step({"observation": obs, "tree_action": a_t, "bond_action": a_b, "reward": r})["loss"]
    assert abs(loss - expected) <= 1e-5 * max(1.0, abs(expected))


def q_of(net, ob):
    """Both groups' networks on one agent's batch of observations [B, D]."""
    return net(tf.constant(np.repeat(ob[None], 2, axis=0)))


def _joint(q, g, b, i, j) -> float:
    t, bo = q.tree_advantage[g, b].numpy(), q.bond_advantage[g, b].numpy()
    return float(q.value[g, b]) + t[i] - t.mean() + bo[j] - bo.mean()


@pytest.mark.parametrize("algorithm", ["dqn", "td3"])
def test_shards_of_a_population_with_independent_weights(algorithm):
    """--shards 2 with a population and independent weights: each shard's rule holds its four
    agents' own networks, numbered from 0 within the shard (shard 1 used to be refused with
    'group_index must be 4 ints in [0, 4)')."""
    from orchestrator.algorithms import make_algorithm
    from orchestrator.episode import Economy

    cfg = config_from_dict(raw(TWO_TYPES, weight_sharing="independent", algorithm=algorithm))
    dim = Economy(cfg).observation_dim
    for shard in (0, 1):
        rule = make_algorithm(cfg, dim, shards=2, shard=shard)
        ensemble = rule.dqn if algorithm == "dqn" else rule.learner
        assert (rule.lo, rule.hi) == (4 * shard, 4 * shard + 4)
        assert ensemble.groups == 4 and not ensemble.layout.padded


@pytest.mark.parametrize("algorithm", ["td3", "sac"])
def test_actor_critics_train_unequal_types_with_one_network_each(tmp_path, algorithm):
    """Types of 3 and 5 agents, shared weights, TD3 or SAC: a real run (Reverb, the driver)
    trains two networks, one per type, in the padded layout (tests/test_layout.py pins its
    numbers), and its updates are finite."""
    from orchestrator.driver import Trainer

    r = raw(TWO_TYPES, weight_sharing="shared", algorithm=algorithm)
    r["replay"] = {"capacity": 1000, "min_size": 20}
    cfg = config_from_dict(r)
    cfg.training.episodes = 2
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    try:
        trainer.run()
        learner = trainer.algorithm.learner
        assert learner.layout.padded and learner.layout.counts.tolist() == [3, 5]
        assert learner.actor.members == (2,) and int(learner.updates.numpy()) > 0
    finally:
        trainer.close()
    with open(tmp_path / "run" / "metrics.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    losses = [float(row["loss"]) for row in rows if row["loss"]]
    assert losses and np.all(np.isfinite(losses)) and float(rows[-1]["updates"]) > 0


def test_characteristics_enter_the_observation_of_shared_networks():
    """Shared weights over agents of different sizes: log s0_i is an input column (constant over
    time); independent networks (one agent each) get no extra column; the replay width follows."""
    from orchestrator.agents import Features
    from orchestrator.episode import Economy

    shared = Economy(config_from_dict(raw(TWO_TYPES, weight_sharing="shared")))
    market = shared.market()
    f = Features.build(shared.config, market, shared.dividend)
    assert f.names[-1] == "log_size" and "risk_aversion" not in f.names
    x = f.observation(market.reset(seed=2))
    assert x.shape == (8, shared.observation_dim) and shared.observation_dim == len(market.observation_names) + 1
    np.testing.assert_allclose(x[:, -1], np.log(shared.population.initial_shares), rtol=1e-6)
    # own columns are centred on each agent's endowment and scaled by its lots: 0 at the start
    # (the market's observation is float32: s0_i to ~6e-8 relative, 1e-5 in units of 10 lots)
    np.testing.assert_allclose(x[:, :2], 0.0, atol=1e-4)
    indep = Economy(config_from_dict(raw(TWO_TYPES)))
    assert indep.observation_dim == len(market.observation_names)
    g2 = [dict(t, gamma=g) for t, g in zip(TWO_TYPES, (1.0, 5.0))]
    mixed = Economy(config_from_dict(raw(g2, weight_sharing="shared")))
    fm = Features.build(mixed.config, mixed.market(), mixed.dividend)
    assert fm.names[-1:] == ("log_size",)   # gamma is constant within each type's network: no column


MARKOV = {"dividend": "markov", "dividend_params": {"states": [0.04, 0.05], "transition": [[0.8, 0.2], [0.3, 0.7]]},
          "mechanism": "call-auction", "mechanism_params": {}}
GAMMAS = [{"name": "cautious", "count": 4, "gamma": 5.0, "borrowing_limit": 0.05},
          {"name": "bold", "count": 4, "gamma": 1.0, "borrowing_limit": 0.05}]


def test_negishi_population_targets_and_holding_errors():
    """gamma 5 and 1 on a two-state chain: the evaluator's targets are the Negishi p(y), q(y)
    (docs/heterogeneity.md's example: 0.721503, 1.03325; 0.891789, 1.07588), and the holding
    errors are 0 at the equilibrium portfolio and mean_k |1 - s_k / theta_k| at the endowment."""
    from orchestrator.episode import Economy
    from orchestrator.population import holding_errors, type_holdings

    r = raw(GAMMAS)
    r["economy"] = dict(MARKOV)
    r["actions"] = {"tree_low": 0.5, "tree_high": 1.5, "bond_low": 0.8, "bond_high": 1.2}
    economy = Economy(config_from_dict(r))
    np.testing.assert_allclose(economy.prices.tree_price(np.array([0.04, 0.05])), [0.721503, 1.03325], rtol=2e-6)
    np.testing.assert_allclose(economy.prices.bond_price(np.array([0.04, 0.05])), [0.891789, 1.07588], rtol=5e-6)
    eq, arrays = economy.population_equilibrium, economy.population
    s_bold = eq["holdings"]["bold"]["shares"][0]
    assert abs(s_bold - 0.522697) < 1e-6 and abs(eq["holdings"]["bold"]["bonds"][0] + 0.0172838) < 1e-7
    k = arrays.type_index
    s_star = np.array([eq["holdings"][n]["shares"][0] / 0.5 for n in arrays.names])[k] * arrays.initial_shares
    b_star = np.array([eq["holdings"][n]["bonds"][0] / 0.5 for n in arrays.names])[k] * arrays.initial_shares
    at_eq = holding_errors(s_star, b_star, arrays, eq)
    assert at_eq["share_error"] < 1e-15 and at_eq["bond_error"] < 1e-15
    at_endowment = holding_errors(arrays.initial_shares, np.zeros(8), arrays, eq)
    assert abs(at_endowment["share_error"] - abs(1 - s_bold / 0.5)) < 1e-12
    held = type_holdings(s_star, b_star, arrays)
    assert abs(held["shares[bold]"] - s_bold) < 1e-12 and abs(held["bonds[cautious]"] + held["bonds[bold]"]) < 1e-15


def test_report_draws_the_population_figure(tmp_path):
    """`lucas-abm report` on a population run writes population.png from the evaluations'
    per-type holdings (shares of the one type sum to the supply: 1)."""
    import json

    from orchestrator.driver import Trainer
    from orchestrator.report import ReportRequest, make_report

    cfg = config_from_dict(raw(TWO_TYPES))
    cfg.training.episodes = 2
    trainer = Trainer(cfg, tmp_path / "run", progress=False)
    try:
        trainer.run()
    finally:
        trainer.close()
    rows = [json.loads(line) for line in (tmp_path / "run" / "evaluation.jsonl").read_text().splitlines()]
    assert abs(rows[-1]["shares[small]"] + rows[-1]["shares[pareto]"] - 1) < 1e-12
    assert abs(rows[-1]["bonds[small]"] + rows[-1]["bonds[pareto]"]) < 1e-12
    written = make_report(ReportRequest(run_dir=tmp_path / "run"))
    assert written["population.png"].stat().st_size > 10_000
    assert "population.png" in written["report.md"].read_text()
    assert "estimates.png" not in written            # the adaptive valuers' figure only
    # what the figure draws: each type's learned holdings (the evaluations' columns) against
    # its endowment, and the agents' distance from their equilibrium holdings
    import matplotlib.pyplot as plt

    from orchestrator.population_figures import population_figure, read_population_json
    from orchestrator.run_data import load_run

    population = read_population_json(tmp_path / "run")
    fig = population_figure(load_run(tmp_path / "run"), population)
    shares, bonds, prices, distance = fig.axes[:4]
    episodes = [r["episode"] for r in rows]
    for k, t in enumerate(population["types"]):
        learned = {line.get_label(): line for line in shares.get_lines()}[f"{t['name']} (learned)"]
        assert list(learned.get_xdata()) == episodes
        assert np.allclose(learned.get_ydata(), [r[f"shares[{t['name']}]"] for r in rows], rtol=0, atol=1e-15)
        endowment = {line.get_label(): line for line in shares.get_lines()}[f"{t['name']}: endowment {t['endowment']:.4g}"]
        assert np.allclose(endowment.get_ydata(), t["endowment"])
    assert {line.get_label() for line in bonds.get_lines()} >= {"small (learned)", "pareto (learned)"}
    share_error = [line for line in distance.get_lines() if line.get_label().startswith("mean |s_i")][0]
    assert np.allclose(share_error.get_ydata(), [r["share_error"] for r in rows], rtol=0, atol=1e-15)
    assert prices.get_ylabel() == "relative error" and "training episode" == prices.get_xlabel()
    plt.close(fig)


def population_learning():
    """benchmarks/population_learning.py as a module."""
    return load_benchmark("population_learning")


def train_two_episodes(cfg, run_dir) -> dict:
    """Train ``cfg`` for two episodes into ``run_dir``; the summary, checked to be finite."""
    from orchestrator.driver import Trainer

    cfg.training.episodes = 2
    trainer = Trainer(cfg, run_dir, progress=False)
    try:
        summary = trainer.run()
    finally:
        trainer.close()
    assert summary["episodes"] == 2 and np.isfinite(summary["tree_price"])
    return summary


def test_order_sizes_on_the_action_grid(tmp_path):
    """actions.tree_positions / bond_positions: each asset's action is (limit price, target
    position), price-major; an agent orders s0 (1 + tau) - s shares and s0 beta_b bonds. The
    two-type Markov economy trains with them on the call auction (two short episodes)."""
    from orchestrator.agents import ActionGrid

    r = raw(GAMMAS)
    r["economy"] = dict(MARKOV)
    r["actions"] = {"tree_low": 0.5, "tree_high": 1.5, "bond_low": 0.8, "bond_high": 1.2,
                    "tree_positions": [-0.05, 0.0, 0.05], "bond_positions": [-0.04, 0.0, 0.04]}
    cfg = config_from_dict(r)
    grid = ActionGrid(cfg.actions)
    assert grid.n_tree == 101 * 3 and grid.tree_prices[3 * 35 + 2] == 0.85 and grid.tree_targets[3 * 35 + 2] == 0.05
    assert grid.tree_basis.shape == ((101 + 3 - 1 + 3) // 4, 101)  # prices only; the network expands it
    actions = {"tree_action": np.array([3 * 35 + 2, 1]), "bond_action": np.array([0, 4])}
    tree, bond = grid.orders(actions, np.array([1.0, 1.2]), np.array([1.0, 2.0]))
    np.testing.assert_allclose(tree, [0.05, 0.8]), np.testing.assert_allclose(bond, [-0.04, 0.0])
    greedy = np.arange(303, dtype=np.int32)
    assert np.array_equal(grid.explore("tree", greedy, 0.0, cfg.exploration, np.random.default_rng(0)), greedy)
    with pytest.raises(ConfigError, match="actions.tree_positions: must be absent unless"):
        config_from_dict(dict(r, economy=dict(MARKOV, mechanism="pairwise")))
    train_two_episodes(cfg, tmp_path / "run")
    # the call auction's clearing prices are recorded, and benchmarks/population_learning.py
    # measures the distance from the Negishi equilibrium of each evaluation's initial state
    import json

    row = json.loads((tmp_path / "run" / "evaluation.jsonl").read_text().splitlines()[-1])
    assert np.isfinite(row["tree_clearing_rel_error"]) or np.isnan(row["tree_clearing_rel_error"])
    e = population_learning().measure(tmp_path / "run", last=1)["evaluations"][0]
    assert e["bold_type"] == "bold" and e["bold_label"] == "bold" and e["solver"] == "negishi"
    t = e["types"]["bold"]
    assert abs(t["shares"] + e["types"]["cautious"]["shares"] - 1) < 1e-12
    assert abs(t["share_error"] - (t["shares"] - t["shares_equilibrium"])) < 1e-15
    expected = {0: 0.5226969344999948, 1: 0.515933328174538}[e["initial_state"]]   # lucas-abm solve
    assert abs(t["shares_equilibrium"] - expected) < 1e-9
    # prices are scored over the periods that traded (the market's volume, saved with the
    # episode); quotes-only periods are reported apart
    npz = np.load(tmp_path / "run" / "episodes" / f"eval-{e['episode']:06d}.npz")
    for asset in ("tree", "bond"):
        traded = npz[f"{asset}_volume"] > 1e-12
        assert e["traded_periods"][asset] == traded.sum()
        assert (e[f"{asset}_price_rel_error"] is None) == (not traded.any())
        assert np.isfinite(e[f"{asset}_price_rel_error_all_periods"])


def test_populations_whose_equilibrium_holds_bonds_converge_on_holdings():
    """holds_bonds: only a Negishi equilibrium with bond positions (identical preferences hold
    none); holdings_met: every type within the share tolerance and the relative bond tolerance,
    each bound checked on both sides; missing holdings never meet it."""
    from orchestrator.population import holdings_met, holds_bonds

    def eq(bonds, solver="negishi"):
        return {"solver": solver, "holdings": {"a": {"shares": [0.48, 0.48], "bonds": [bonds, bonds]},
                                               "b": {"shares": [0.52, 0.52], "bonds": [-bonds, -bonds]}}}
    assert holds_bonds(eq(0.0173)) and not holds_bonds(eq(0.0)) and not holds_bonds(None)
    assert not holds_bonds(eq(0.0173, solver="harrison-kreps"))
    row = {"shares[a]": 0.48, "shares[b]": 0.52, "bonds[a]": 0.0173, "bonds[b]": -0.0173}
    assert holdings_met(row, eq(0.0173), 0.01, 0.2)
    assert holdings_met({**row, "shares[a]": 0.4899, "shares[b]": 0.5101}, eq(0.0173), 0.01, 0.2)
    assert not holdings_met({**row, "shares[a]": 0.4901, "shares[b]": 0.5099}, eq(0.0173), 0.01, 0.2)
    assert holdings_met({**row, "bonds[a]": 0.0173 * 0.81, "bonds[b]": -0.0173 * 0.81}, eq(0.0173), 0.01, 0.2)
    assert not holdings_met({**row, "bonds[a]": 0.0173 * 0.79, "bonds[b]": -0.0173 * 0.79}, eq(0.0173), 0.01, 0.2)
    assert not holdings_met({**row, "bonds[a]": -0.0173, "bonds[b]": 0.0173}, eq(0.0173), 0.01, 0.2)
    assert not holdings_met({"shares[a]": 0.48}, eq(0.0173), 0.01, 0.2)


def test_the_equilibrium_is_valued_in_the_configured_initial_state():
    """orchestrator.population.equilibrium values the endowments in dividend_params.initial_state
    (the first state when episodes start from a random one): the Negishi holdings from state 1
    differ from those from state 0, and are the solver's for initial_state=1."""
    from lucas_abm.equilibrium.dispatch import solve_population
    from orchestrator.population import equilibrium

    base = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs"
                           / "population_two_types_adaptive_cpu.yaml").read_text())
    results = {}
    for state in (0, 1, None):
        raw_cfg = copy.deepcopy(base)
        params = raw_cfg["economy"]["dividend_params"]
        params.pop("initial_state")
        if state is not None:
            params["initial_state"] = state
        results[state] = equilibrium(config_from_dict(raw_cfg))
    assert results[1]["initial_state"] == 1 and results[0]["initial_state"] == 0 == results[None]["initial_state"]
    cfg = config_from_dict(base)
    direct = solve_population(cfg.population_types, params["states"], params["transition"],
                              beta=cfg.economy.beta, gamma=cfg.economy.gamma, initial_state=1)
    assert results[1]["holdings"] == direct["holdings"]
    assert abs(results[1]["holdings"]["bold"]["shares"][0] - results[0]["holdings"]["bold"]["shares"][0]) > 1e-3


def test_evaluations_are_scored_against_the_equilibrium_of_their_first_state(tmp_path):
    """Episodes from a random first state (no initial_state): each evaluation's targets are the
    Negishi equilibrium valued in its own first state y_0 (Economy.targets; the holdings move
    with it: bold share 0.5227 from y = 0.04, 0.5159 from 0.05). Price-takers play 20 periods
    per evaluation until both first states have occurred; each row's share_error and p*(y_t)
    are those of solve_population(initial_state = y_0), independently solved here."""
    from lucas_abm.equilibrium.dispatch import solve_population
    from lucas_abm.price_takers import PriceTakers
    from orchestrator.episode import Economy, sampled_agents
    from orchestrator.evaluator import GreedyEvaluator
    from orchestrator.population import holding_errors

    raw_cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs"
                              / "population_two_types_schedules_cpu.yaml").read_text())
    raw_cfg["market"]["horizon"] = 20
    config = config_from_dict(raw_cfg)
    params = config.economy.dividend_params
    assert params.get("initial_state") is None
    economy = Economy(config)
    evaluator = GreedyEvaluator(config, economy, None, sampled_agents(config), tmp_path)
    seen, rows = set(), []
    for episode in range(1, 40):
        evaluator.policy = PriceTakers(evaluator.market, params["states"], params["transition"], config.economy.beta,
                                       economy.population_equilibrium["bond_price"], 0.1, 0.1)
        row = evaluator.evaluate(episode)
        rows.append(row)
        npz = np.load(tmp_path / f"eval-{episode:06d}.npz")
        y0 = int(np.argmin(np.abs(np.asarray(params["states"]) - npz["dividend"][0])))
        eq = solve_population(config.population_types, params["states"], params["transition"],
                              beta=config.economy.beta, gamma=config.economy.gamma, initial_state=y0)
        expected = holding_errors(evaluator.market.shares, evaluator.market.bonds, economy.population, eq)
        assert row["share_error"] == pytest.approx(expected["share_error"], rel=1e-12)
        assert row["initial_state"] == y0                      # the row names its targets
        for name in ("cautious", "bold"):
            assert row[f"shares_equilibrium[{name}]"] == eq["holdings"][name]["shares"][0]
            assert row[f"bonds_equilibrium[{name}]"] == eq["holdings"][name]["bonds"][0]
        states_path = np.argmin(np.abs(np.asarray(params["states"])[None, :] - npz["dividend"][:, None]), axis=1)
        assert row["tree_price_star"] == pytest.approx(float(np.median(np.asarray(eq["tree_price"])[states_path])),
                                                       rel=1e-12)
        seen.add(y0)
        if seen == {0, 1}:
            break
    assert seen == {0, 1}
    holdings = {k: economy.targets(y)[0]["holdings"]["bold"]["shares"][0] for k, y in enumerate(params["states"])}
    assert holdings[0] == pytest.approx(0.5227, abs=1e-4) and holdings[1] == pytest.approx(0.5159, abs=1e-4)
    # population.png says so: holdings targets per evaluation, and the price panel's title
    import matplotlib.pyplot as plt

    from orchestrator.population import write_population
    from orchestrator.population_figures import population_figure, read_population_json
    from orchestrator.run_data import RunData

    write_population(tmp_path / "run", config, economy.population)
    fig = population_figure(RunData(tmp_path / "run", config.to_dict(), None, [], rows),
                            read_population_json(tmp_path / "run"))
    shares, prices = fig.axes[0], fig.axes[2]
    bold = {line.get_label(): line for line in shares.get_lines()}["bold: equilibrium of the evaluation's first state"]
    assert list(bold.get_ydata()) == [r["shares_equilibrium[bold]"] for r in rows]
    assert "from y_0 = 0.04;\neach evaluation is scored against the equilibrium of its own y_0" in prices.get_title()
    plt.close(fig)
