"""``lucas-abm simulate``: run the market with scripted traders and summarise it."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import yaml

from lucas_abm.dividend_params import DEFAULT_ALPHA, DEFAULT_SIGMA
from lucas_abm.dividends import THESIS_YBAR
from lucas_abm.errors import ConfigError
from lucas_abm.mechanisms import MECHANISMS
from lucas_abm.panels import describe_export, export_panels, export_recorder
from lucas_abm.scripted import POLICIES
from lucas_abm.simulate import (DEFAULT_BOND_LOT, DEFAULT_TREE_LOT, DIVIDENDS, SimulationConfig,
                                plot_simulation, run_simulation)
from lucas_abm.yaml_io import load_yaml
from orchestrator.commands.arguments import nonnegative_int, output_dir
from orchestrator.provenance import write_provenance


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate", help="simulate the market with scripted (non-learning) traders",
        description="Simulate the N-agent Lucas-tree market with scripted traders and report "
                    "posted prices, volumes and the market invariants.")
    p.add_argument("--agents", type=int, default=None,
                   help="number of agents N (>= 2; default 1200, or the population's count)")
    p.add_argument("--population", default=None, metavar="FILE",
                   help="YAML file with a 'population:' list of agent types (docs/heterogeneity.md): "
                        "per-agent sizes, gammas, borrowing limits and income; with "
                        "--mechanism call-auction agents submit limit orders with quantities, and "
                        "--policy equilibrium trades to the exact equilibrium portfolio")
    p.add_argument("--steps", type=int, default=300, help="number of periods to simulate (>= 1)")
    p.add_argument("--mechanism", default="pairwise",
                   help="market mechanism: one of " + ", ".join(MECHANISMS) + ", or the import "
                        "path module:ClassName of your own Mechanism subclass (the working "
                        "directory is searched, e.g. my_mechanisms:SellerPrice)")
    p.add_argument("--mechanism-param", dest="mechanism_params", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="a constructor parameter of the mechanism (repeatable; VALUE parsed as "
                        "YAML), checked against its signature")
    p.add_argument("--policy", default="equilibrium",
                   help="scripted policy: one of " + ", ".join(POLICIES))
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (market and policy; >= 0)")
    p.add_argument("--beta", type=float, default=0.95, help="discount factor, in (0, 1)")
    p.add_argument("--gamma", type=float, default=1.0, help="CRRA coefficient (> 0; 1 = log)")
    p.add_argument("--dividend", default="constant",
                   help="dividend process: one of " + ", ".join(DIVIDENDS))
    p.add_argument("--ybar", type=float, default=None,
                   help=f"dividend level > 0 (constant) or its mean (iid-lognormal, log-ar1: sets "
                        f"--mu); default {THESIS_YBAR:.10g} = 0.01 exp(1.5) as in the thesis")
    p.add_argument("--mu", type=float, default=None,
                   help="mean of log y (iid-lognormal) or intercept of log y' = mu + alpha log y "
                        "+ sigma eps (log-ar1), with the median log level (mu, or mu/(1-alpha)) in "
                        "[-708, 709]; give --mu or --ybar, not both")
    p.add_argument("--sigma", type=float, default=None,
                   help=f"s.d. of log y (iid-lognormal) or of the log-ar1 shock, >= 0 "
                        f"(default {DEFAULT_SIGMA})")
    p.add_argument("--states", default=None,
                   help="markov: comma-separated distinct dividend levels > 0, e.g. 0.04,0.05")
    p.add_argument("--transition", default=None,
                   help="markov: the n x n transition matrix, row-major and comma-separated, "
                        "entries in [0, 1], each row summing to 1; row i gives P(y' = states[j] | "
                        "y = states[i])")
    p.add_argument("--alpha", type=float, default=None,
                   help=f"log-ar1 persistence, in (-1, 1) (default {DEFAULT_ALPHA})")
    p.add_argument("--tree-lot", type=float, default=DEFAULT_TREE_LOT,
                   help="shares per tree trade (> 0; default: the training configs' lot)")
    p.add_argument("--bond-lot", type=float, default=DEFAULT_BOND_LOT,
                   help="bonds per bond trade (> 0; default: the training configs' lot)")
    p.add_argument("--borrowing-limit", type=float, default=0.01,
                   help="bond position must stay >= -limit (>= 0)")
    p.add_argument("--max-price", type=float, default=10.0,
                   help="price cap; posted prices above are invalid (> 0)")
    p.add_argument("--theta", type=float, default=None,
                   help="bargaining mechanism only: settlement theta p_hi + (1-theta) p_lo, in "
                        "[0, 1] (default 0.5)")
    p.add_argument("--spread", type=float, default=None,
                   help="random policy only: prices p*(y) U[1-spread, 1+spread], in [0, 1) "
                        "(default 0.5)")
    p.add_argument("--noise", type=float, default=None,
                   help="noisy-equilibrium policy only: prices p*(y)(1 + noise Z), noise in "
                        "[0, 1e6] (default 0.05)")
    p.add_argument("--backend", default="auto", choices=["auto", "numpy", "numba"],
                   help="market implementation: numpy (every mechanism), numba (the pairwise and "
                        "bargaining mechanisms as one compiled call that runs instead of their "
                        "propose; identical results, about 7x faster at 1,200 agents) or auto "
                        "(numba where it applies, up to 300,000 agents; default). Your own "
                        "mechanisms, subclasses included, always run on numpy")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--out", type=output_dir, default=None,
                   help="directory for series.csv, summary.json and prices.png (created; must "
                        "not be an existing file)")
    p.add_argument("--export", type=output_dir, default=None, metavar="DIR",
                   help="write Parquet panels to DIR (new or empty): prices.parquet (prices, "
                        "returns t -> t+1, the equilibrium SDF, consumption), types.parquet, "
                        "agents.parquet and provenance.json; columns in docs/panels.md")
    p.add_argument("--export-agents", type=int, default=None, metavar="K",
                   help="with --export: agents whose holdings and consumption go to "
                        "agents.parquet, a seeded random sample when N > K (>= 0; 0: no "
                        "agents file; default 10000)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    recorder = export_recorder(args.export, args.export_agents, args.seed)  # before any work
    states, transition = markov_arguments(args.states, args.transition)
    config = SimulationConfig(
        agents=args.agents,
        population=args.population, states=states, transition=transition,
        steps=args.steps, mechanism=args.mechanism,
        mechanism_params=parse_assignments("--mechanism-param", args.mechanism_params),
        policy=args.policy,
        seed=args.seed, beta=args.beta, gamma=args.gamma, dividend=args.dividend,
        ybar=args.ybar, mu=args.mu, sigma=args.sigma, alpha=args.alpha,
        tree_lot=args.tree_lot, bond_lot=args.bond_lot, borrowing_limit=args.borrowing_limit,
        max_price=args.max_price, theta=args.theta, spread=args.spread, noise=args.noise,
        backend=args.backend)
    config.build()  # validate everything before any work (ConfigError -> exit 2)
    result = run_simulation(config, recorder=recorder)
    summary = result.summary
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        result.series.to_csv(args.out / "series.csv", index=False)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        plot_simulation(result, args.out / "prices.png")
        write_provenance(args.out, summary["config"])
    if recorder is not None:
        summary["export"] = export_panels(recorder, args.export)
        write_provenance(args.export, {**summary["config"], "export_agents": recorder.export_agents})
    if args.json:
        print(json.dumps(summary, default=str))
        return 0
    s = summary
    print(f"{s['agents']} agents x {s['steps']} steps, mechanism {s['mechanism']}, "
          f"policy {s['policy']}, dividend {s['dividend']}, seed {s['seed']}")
    print(f"  mean posted tree price {s['mean_tree_price']:.6f}   p* {s['tree_price_star']:.6f}")
    print(f"  mean posted bond price {s['mean_bond_price']:.6f}   q* {s['bond_price_star']:.6f}")
    print(f"  mean settlement prices: tree {_fmt(s['mean_tree_settlement_price'])}, "
          f"bond {_fmt(s['mean_bond_settlement_price'])}")
    print(f"  volume per agent per step: tree {s['tree_volume_per_agent_per_step']:.4g} lots "
          f"of {s['tree_lot']:g} shares, bond {s['bond_volume_per_agent_per_step']:.4g} lots "
          f"of {s['bond_lot']:g} bonds")
    if s["invalid_fraction"] > 0:
        print(f"  INVALID posted prices: {s['invalid_fraction']:.2%} of agent-steps (non-finite, "
              f"<= 0 or above max_price {config.max_price:g}; they cannot trade and are "
              "included in the means above)")
    print(f"  max invariant violation {s['max_invariant_violation']:.3g}")
    for name, h in s.get("holdings", {}).items():  # a population (lucas_abm/population_simulation.py)
        star = s.get("equilibrium_holdings", {}).get(name)
        print(f"  {name}: shares {h['shares']:.6g}, bonds {h['bonds']:.6g} per unit of supply"
              + (f" (equilibrium {star['shares']:.6g}, {star['bonds']:.6g})" if star else ""))
    if "max_holding_error" in s:
        print(f"  vs the exact equilibrium: price errors tree {s['max_tree_price_error']:.3g}, bond "
              f"{s['max_bond_price_error']:.3g} (relative); holdings {s['max_holding_error']:.3g} per agent")
    print(f"  {s['agent_steps_per_second']:.3g} agent-steps/s")
    if args.out is not None:
        print(f"  wrote {args.out / 'series.csv'}, {args.out / 'prices.png'}")
    if recorder is not None:
        print(describe_export(summary["export"]))
    return 0


def _fmt(x) -> str:
    return "none (no trade)" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6f}"


def parse_assignments(option: str, items: list[str]) -> dict:
    """``["k=v", ...]`` -> ``{k: yaml(v)}``, or ConfigError naming ``option``."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(option, "KEY=VALUE", item)
        try:
            params[key.strip()] = load_yaml(value)
        except yaml.YAMLError:
            raise ConfigError(option, "KEY=VALUE with a YAML value", item) from None
    return params


def markov_arguments(states, transition) -> tuple:
    """``--states``/``--transition`` strings -> (levels, rows), as ``solve`` parses them."""
    from orchestrator.commands.solve import parse_list

    levels = None if states is None else parse_list("states", states)
    if transition is None:
        return levels, None
    entries = parse_list("transition", transition)
    n = len(levels) if levels is not None else int(round(len(entries) ** 0.5))
    if len(entries) != n * n:
        raise ConfigError("transition", f"{n * n} comma-separated probabilities (row-major {n} x {n}, "
                          "one row per state)", transition)
    return levels, [entries[i * n:(i + 1) * n] for i in range(n)]
