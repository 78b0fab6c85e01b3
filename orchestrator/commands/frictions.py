"""``lucas-abm frictions``: equilibrium with trading costs among N agents.

Examples::

    lucas-abm frictions --preset kratsios-10-quadratic --method exact --json
    lucas-abm frictions --agents 2 --power 1.5 --gammas 1,2 --xis 3,-3 --lam 0.01 \\
        --horizon 0.4 --steps 100 --method leading-order --json
    lucas-abm frictions --compare --out docs/frictions_results

All inputs are validated (MarketConfig) before any work; bad input exits with code 2.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from lucas_abm.errors import ConfigError
from orchestrator.commands.arguments import nonnegative_int, output_dir


def _floats(field: str, text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip() != "")
    except ValueError:
        raise ConfigError(field, "a comma-separated list of numbers", text) from None


def register(subparsers) -> None:
    from lucas_abm.frictions.config import COST_NORMS, METHODS, PRESETS

    p = subparsers.add_parser("frictions", help="N-agent market equilibrium with trading costs "
                              "(exact, leading-order, learned solvers)")
    p.add_argument("--preset", choices=sorted(PRESETS), help="a published experiment; "
                   "explicit options below override its values")
    p.add_argument("--agents", type=int, help="number of agents N (must match --gammas/--xis)")
    p.add_argument("--power", type=float, help="cost exponent q in (1, 2] (default 2; leading-order needs q >= 1.1)")
    p.add_argument("--gammas", help="risk aversions gamma_1,...,gamma_N (comma separated), each in (0, 1e6]")
    p.add_argument("--xis", help="endowment exposures xi_1,...,xi_N summing to zero, each in [-1e6, 1e6]")
    p.add_argument("--lam", type=float, help="trading-cost level lambda > 0 (default 0.01)")
    p.add_argument("--horizon", type=float, help="horizon T in [1e-9, 1e6] (default 0.2)")
    p.add_argument("--steps", type=int, help="Euler steps K >= 1 (default 100; refused with the number needed when T/K "
                   "times the trading speed exceeds 1)")
    p.add_argument("--alpha", type=float, help="terminal volatility alpha in (0, 1e6] (default 1)")
    p.add_argument("--beta-s", dest="beta_s", type=float, help="terminal drift beta_S, any real number (default 2)")
    p.add_argument("--supply", type=float, help="asset supply s in [-1e6, 1e6] (default 1)")
    p.add_argument("--cost-norm", dest="cost_norm", choices=COST_NORMS,
                   help="cost G(v) = (lam/2)|v|^q ('half') or (lam/q)|v|^q ('power')")
    p.add_argument("--method", choices=METHODS, default=None, help="solver (default exact)")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of training and evaluation paths (>= 0)")
    p.add_argument("--paths", type=int, default=3000, help="evaluation paths, >= 1 (default 3000)")
    p.add_argument("--budget", choices=("full", "smoke"), default="full",
                   help="training budget of learned methods (smoke: seconds, for tests)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--out", type=output_dir, help="directory for the comparison figure and metrics table")
    p.add_argument("--compare", action="store_true", help="run every method on every preset "
                   "and write the comparison table to --out (default docs/frictions_results)")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    """MarketConfig from a preset and/or explicit options (validated)."""
    from lucas_abm.frictions.config import MarketConfig, preset

    fields = {}
    if args.preset:
        base = preset(args.preset)
        fields = {f: getattr(base, f) for f in base.__dataclass_fields__}
    if args.gammas is not None:
        fields["gammas"] = _floats("gammas", args.gammas)
    if args.xis is not None:
        fields["xis"] = _floats("xis", args.xis)
    for name in ("power", "lam", "horizon", "steps", "alpha", "beta_s", "supply", "cost_norm"):
        value = getattr(args, name)
        if value is not None:
            fields[name] = value
    if "gammas" not in fields or "xis" not in fields:
        raise ConfigError("gammas/xis", "given (or use --preset)", None)
    config = MarketConfig(**fields)
    if args.agents is not None and args.agents != config.n_agents:
        raise ConfigError("agents", f"equal to the number of gammas/xis ({config.n_agents})",
                          args.agents)
    return config


#: Options that choose one market or one solver; --compare runs its own list of both.
_ONE_RUN_OPTIONS = ("preset", "agents", "power", "gammas", "xis", "lam", "horizon", "steps",
                    "alpha", "beta_s", "supply", "cost_norm", "method")


def run(args: argparse.Namespace) -> int:
    if args.paths < 1:
        raise ConfigError("paths", "a positive integer", args.paths)
    if args.compare:
        for name in _ONE_RUN_OPTIONS:   # they would be ignored
            if getattr(args, name) is not None:
                option = "--" + name.replace("_", "-")
                raise ConfigError(option, "left out with --compare (it runs every method on every "
                                  "preset)", getattr(args, name))
        from lucas_abm.frictions.compare import run_comparison
        out = Path(args.out or "docs/frictions_results")
        rows = run_comparison(out, n_paths=args.paths, seed=args.seed, budget=args.budget)
        if args.json:
            print(json.dumps(rows, indent=2))
        return 0

    from lucas_abm.frictions.solvers import check_method, reference_method, solve
    method = args.method or "exact"
    config = build_config(args)
    check_method(config, method)
    from lucas_abm.frictions.metrics import summary
    from lucas_abm.frictions.paths import brownian_paths

    paths = brownian_paths(config, args.paths, seed=10_000 + args.seed)
    if args.out:   # the reference first: a grid it refuses (Euler step) stops before any training
        ref_name = reference_method(config)
        reference, ref_seconds = solve(config, ref_name, paths)
    market, seconds = solve(config, method, paths, seed=args.seed, budget=args.budget)
    result = {"method": method, **summary(config, market, seconds)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("  ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in result.items()))
    if args.out:
        from lucas_abm.frictions.figures import comparison_figure, metrics_table
        out = Path(args.out)
        comparison_figure(config, market, reference, out / f"{method}.png", method,
                          ref_name)
        rows = [{"method": ref_name, **summary(config, reference, ref_seconds)}]
        if method != ref_name:
            rows.append(result)
        (out / f"{method}_metrics.md").write_text(metrics_table(rows))
        (out / f"{method}_metrics.json").write_text(json.dumps(rows, indent=2))
    return 0
