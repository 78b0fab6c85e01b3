"""Do a trained population's valuations respond to its holdings as the economics says?
(docs/acceptance_b.md, "How precisely holdings pin down valuations")

    python benchmarks/valuation_probe.py RUN [--offsets -0.04 -0.02 0 0.02 0.04] [--json]
    python benchmarks/valuation_probe.py RUN --landscape [--json]   # the advantage over the grid

For a two-type (or K-type) Negishi run with price-valued actions (reservation values or limit
prices), the run's latest checkpoint is loaded and its greedy policy asked, in each dividend
state y, what every agent posts when the holdings are the equilibrium portfolio with the
least risk-averse ("bold") type's tree share moved by ``delta`` per unit of supply (the other
types give up ``delta`` in proportion to their shares; bonds at the equilibrium). Printed per
state and ``delta``, for each type: the median posted tree and bond values of its agents and
the type's own valuations at those holdings (lucas_abm/equilibrium/valuations.py: the
marginal rates of substitution of a type that keeps them for ever; at ``delta = 0`` they are
p(y), q(y)).

The summary fits, per type and state, the slope of log(value) on the type's own share change
(per 0.01 of supply) for the learned values and for the theory, and gives the learned value's
distance from p(y) at ``delta = 0`` in price ticks. A learner whose holdings settle within
0.01 of the equilibrium needs its values right to within the theory's change over 0.01.

The probe builds its own market and networks from the run's config.yaml and reads the
checkpoint; it writes nothing into RUN.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from lucas_abm.yaml_io import load_yaml


def _restore(run_dir: Path) -> SimpleNamespace:
    """Everything both probes need from a DQN population run on a Markov chain: its config, the
    restored algorithm and checkpoint name, a fresh market (reset) with its Features, the
    chain (states, transition), each type's gamma and endowment share theta_k, and the names."""
    from orchestrator.agents import Features
    from orchestrator.algorithms import make_algorithm
    from orchestrator.checkpoint import CheckpointManager
    from orchestrator.config import config_from_dict
    from orchestrator.episode import Economy

    config = config_from_dict(load_yaml((run_dir / "config.yaml").read_text()))
    econ, population = config.economy, config.population_types
    if population is None or econ.dividend != "markov" or config.learner.algorithm != "dqn":
        raise SystemExit(f"{run_dir}: the probe takes a DQN population run on a Markov dividend")
    ckpts = CheckpointManager(run_dir / "checkpoints")
    latest = ckpts.latest()
    if latest is None:
        raise SystemExit(f"{run_dir}: no checkpoint")
    economy = Economy(config)
    algorithm = make_algorithm(config, economy.observation_dim)
    ckpts.restore(latest, algorithm.checkpoint_objects())
    market = economy.market()
    names = list(population.names)
    agents = market.agents
    theta = np.bincount(agents.type_index, agents.initial_shares, minlength=len(names))
    market.reset(seed=0)
    return SimpleNamespace(config=config, algorithm=algorithm, checkpoint=latest.name, market=market,
                           features=Features.build(config, market, economy.dividend), agents=agents,
                           states=np.asarray(econ.dividend_params["states"], float),
                           transition=np.asarray(econ.dividend_params["transition"], float),
                           gammas=np.asarray(population.gammas(econ.gamma), float), names=names,
                           theta=theta / theta.sum())


def landscape(run_dir: Path, points: int = 11) -> dict:
    """What the trained Q-networks think of every price on the grid at the equilibrium
    portfolio: per dividend state, type and asset, the type's advantage A(x, p_k) - max_k A
    (reward units: ``learner.reward_scale`` x utility over the reward unit; averaged over the
    type's agents, which share one network unless weights are independent) at ``points``
    evenly spaced grid prices and at the equilibrium price p(y) or q(y), and the greedy price
    (the median over the type's agents, as ``probe`` reports it).
    A learner can only place its value as precisely as these differences stand out of the
    noise of its returns; far from p(y) they show the costs of large trades."""
    import tensorflow as tf

    from lucas_abm.equilibrium.negishi import agent_portfolios, solve_negishi

    run = _restore(run_dir)
    config, market, features, agents = run.config, run.market, run.features, run.agents
    states, transition, gammas, theta = run.states, run.transition, run.gammas, run.theta
    econ = config.economy
    dqn, grid = run.algorithm.dqn, run.algorithm.grid
    rows = []
    for s, y in enumerate(states):
        eq = solve_negishi(states, transition, econ.beta, gammas, theta, initial_state=s)
        per_s, per_b = agent_portfolios(eq.shares, eq.bonds, eq.endowments, agents.type_index, agents.initial_shares)
        market.shares, market.bonds, market.dividend = per_s, per_b, float(y)
        x = features.observation(market.observation())
        q = dqn.online(dqn.to_groups(tf.convert_to_tensor(x[None], tf.float32)))
        for asset, prices, star in (("tree", grid.tree_prices, eq.tree_prices[s]),
                                    ("bond", grid.bond_prices, eq.bond_prices[s])):
            advantage = getattr(q, f"{asset}_advantage").numpy()          # [groups, agents of the group, K]
            per_agent = advantage.reshape(-1, advantage.shape[-1])[dqn.agent_slots]   # [N, K]
            per_agent = per_agent - per_agent.max(axis=1, keepdims=True)
            at = np.linspace(0, len(prices) - 1, points).round().astype(int)
            for k, type_name in enumerate(run.names):
                mine = per_agent[agents.type_index == k]   # identical rows when the type shares a network
                a = mine.mean(axis=0)
                rows.append({"state": s, "dividend": float(y), "type": type_name, "asset": asset,
                             "equilibrium": float(star), "greedy": float(np.median(prices[mine.argmax(axis=1)])),
                             "at_equilibrium": float(np.interp(star, prices, a)),
                             "prices": prices[at].tolist(), "advantage": a[at].tolist()})
    return {"run": str(run_dir), "checkpoint": run.checkpoint, "reward_scale": config.learner.reward_scale, "rows": rows}


def probe(run_dir: Path, offsets=(-0.04, -0.02, 0.0, 0.02, 0.04)) -> dict:
    from lucas_abm.equilibrium.negishi import agent_portfolios, solve_negishi
    from lucas_abm.equilibrium.valuations import own_valuations

    run = _restore(run_dir)
    config, market, features, agents, algorithm = run.config, run.market, run.features, run.agents, run.algorithm
    states, transition, gammas, theta, names = run.states, run.transition, run.gammas, run.theta, run.names
    econ, grid = config.economy, algorithm.grid
    bold = int(np.argmin(gammas))
    others = np.arange(len(names)) != bold
    rows, fits = [], []
    for s, y in enumerate(states):
        eq = solve_negishi(states, transition, econ.beta, gammas, theta, initial_state=s)
        own = {}
        for delta in offsets:
            shares = eq.shares.copy()
            shares[bold] += delta
            shares[others] -= delta * eq.shares[others] / eq.shares[others].sum()
            per_s, per_b = agent_portfolios(shares, eq.bonds, eq.endowments, agents.type_index, agents.initial_shares)
            market.shares, market.bonds, market.dividend = per_s, per_b, float(y)   # market units
            actions = algorithm.policy(features.observation(market.observation()), 0.0, None)
            tree, bond = grid.tree_prices[actions["tree_action"]], grid.bond_prices[actions["bond_action"]]
            for k, name in enumerate(names):
                mine = agents.type_index == k
                v_tree, v_bond = own_valuations(states, transition, econ.beta, gammas[k], shares[k], eq.bonds[k],
                                                eq.bond_prices)
                row = {"state": s, "dividend": float(y), "delta": float(delta), "type": name,
                       "share_change": float(shares[k] - eq.shares[k]),
                       "tree_learned": float(np.median(tree[mine])), "tree_theory": float(v_tree[s]),
                       "bond_learned": float(np.median(bond[mine])), "bond_theory": float(v_bond[s])}
                rows.append(row)
                own.setdefault(name, []).append(row)
        for name, mine in own.items():
            fit = {"state": s, "type": name}
            x = np.array([r["share_change"] for r in mine]) / 0.01
            for asset in ("tree", "bond"):
                for source in ("learned", "theory"):
                    fit[f"{asset}_{source}_per_0.01"] = float(np.polyfit(x, np.log([r[f"{asset}_{source}"] for r in mine]), 1)[0])
            at = min(mine, key=lambda r: abs(r["delta"]))
            fit["tree_error_ticks"] = (at["tree_learned"] - at["tree_theory"]) / config.actions.tree_step
            fit["bond_error_ticks"] = (at["bond_learned"] - at["bond_theory"]) / config.actions.bond_step
            fits.append(fit)
    return {"run": str(run_dir), "checkpoint": run.checkpoint, "tree_tick": config.actions.tree_step,
            "bond_tick": config.actions.bond_step, "rows": rows, "fits": fits}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("run", type=Path, help="a training run directory (config.yaml, checkpoints/)")
    parser.add_argument("--offsets", type=float, nargs="+", default=[-0.04, -0.02, 0.0, 0.02, 0.04],
                        help="changes of the bold type's tree share, per unit of supply")
    parser.add_argument("--landscape", action="store_true",
                        help="print instead each type's advantage over the whole price grid at the "
                        "equilibrium portfolio (relative to its maximum, in reward units)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    out = landscape(args.run) if args.landscape else probe(args.run, tuple(args.offsets))
    if args.json:
        print(json.dumps(out, indent=2))
    elif args.landscape:
        print_landscape(out)
    else:
        print_probe(out)


def print_landscape(out: dict) -> None:
    print(f"{out['run']} ({out['checkpoint']}); A(p) - max A in reward units (reward_scale {out['reward_scale']})")
    print("| y | type | asset | equilibrium | greedy | A at equilibrium | A over the grid (price: A) |")
    print("|---|---|---|---:|---:|---:|---|")
    for r in out["rows"]:
        profile = " ".join(f"{p:.3g}: {a:+.2f}" for p, a in zip(r["prices"], r["advantage"]))
        print(f"| {r['dividend']:g} | {r['type']} | {r['asset']} | {r['equilibrium']:.4f} | "
              f"{r['greedy']:.4f} | {r['at_equilibrium']:+.2f} | {profile} |")


def print_probe(out: dict) -> None:
    print(f"{out['run']} ({out['checkpoint']}); ticks {out['tree_tick']} / {out['bond_tick']}")
    print("| y | bold share change | type | tree learned | tree theory | bond learned | bond theory |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for r in out["rows"]:
        print(f"| {r['dividend']:g} | {r['delta']:+.3f} | {r['type']} | {r['tree_learned']:.4f} | "
              f"{r['tree_theory']:.4f} | {r['bond_learned']:.4f} | {r['bond_theory']:.4f} |")
    print("\nper 0.01 of the type's own share (slope of log value), and the learned error at the equilibrium:")
    print("| y | type | tree learned | tree theory | bond learned | bond theory | tree error (ticks) | bond error (ticks) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for f in out["fits"]:
        print(f"| {f['state']} | {f['type']} | {100 * f['tree_learned_per_0.01']:+.2f}% | "
              f"{100 * f['tree_theory_per_0.01']:+.2f}% | {100 * f['bond_learned_per_0.01']:+.2f}% | "
              f"{100 * f['bond_theory_per_0.01']:+.2f}% | {f['tree_error_ticks']:+.1f} | {f['bond_error_ticks']:+.1f} |")


if __name__ == "__main__":
    main()
