"""``lucas-abm merton``: Merton's consumption-portfolio problem solved by a deep method and
checked against the closed form over wealth W in [1e-3, 1e3] (docs/merton.md).

Examples::

    lucas-abm merton --method actor-critic --json
    lucas-abm merton --method pinn --gamma 5 --out runs/merton_pinn
    lucas-abm merton --method repaired-pinn --gamma 2 --rho 0.05 --r 0.02 --mu 0.06 --sigma 0.2

All inputs, including well-posedness (c/W > 0), are validated before TensorFlow is imported;
bad input exits with code 2 and a one-line error.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from lucas_abm.errors import ConfigError
from orchestrator.commands.arguments import output_dir


def register(subparsers) -> None:
    from lucas_abm.merton import METHODS

    p = subparsers.add_parser(
        "merton", help="Merton's problem by a naive PINN, a repaired PINN or an actor-critic, "
                       "against the closed form")
    p.add_argument("--method", choices=METHODS, default="actor-critic",
                   help="pinn: value network on the HJB with first-order-condition controls, "
                        "uniform wealth; repaired-pinn: log wealth, homothetic value, residual "
                        "normalised by |rho V|; actor-critic: value and bounded policy networks "
                        "by deep policy iteration (default)")
    p.add_argument("--gamma", type=float, default=2.0, help="relative risk aversion > 0 with |gamma - 1| "
                   ">= 1e-6 (log utility has another form; default 2)")
    p.add_argument("--rho", type=float, default=0.05, help="time preference rate in [1e-6, 10] (default 0.05)")
    p.add_argument("--r", type=float, default=0.02, help="risk-free rate in (-1, 1) (default 0.02)")
    p.add_argument("--mu", type=float, default=0.06, help="expected stock return in (-1, 1) "
                   "(default 0.06)")
    p.add_argument("--sigma", type=float, default=0.2, help="stock volatility in [0.001, 10) "
                   "(default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the "
                   "wealth samples, >= 0 (default 0)")
    p.add_argument("--iterations", type=int, help="training iterations, >= 1 (default 20,000; "
                   "an actor-critic iteration is one critic and one actor step)")
    p.add_argument("--json", action="store_true", help="print wealth, pi, consumption_rate "
                   "(the learned policy on 241 log-spaced wealth levels) and the error summary")
    p.add_argument("--out", type=output_dir, help="directory for result.json and errors.png")
    p.set_defaults(func=run)


def build_problem(args: argparse.Namespace):
    """The validated problem (raises ConfigError naming the parameters)."""
    from lucas_abm.merton.problem import MertonProblem

    return MertonProblem(gamma=args.gamma, rho=args.rho, r=args.r, mu=args.mu, sigma=args.sigma)


def run(args: argparse.Namespace) -> int:
    if args.iterations is not None and args.iterations < 1:
        raise ConfigError("iterations", "a positive integer", args.iterations)
    if args.seed < 0:
        raise ConfigError("seed", "a non-negative integer", args.seed)
    problem = build_problem(args)

    from lucas_abm.merton.evaluate import result_json
    from lucas_abm.merton.solvers import solve

    solution = solve(problem, args.method, seed=args.seed, iterations=args.iterations)
    result = result_json(problem, solution)
    if args.json:
        print(json.dumps(result))
    else:
        s = result["summary"]
        cells = [f"method={s['method']}", f"gamma={s['gamma']:g}"]
        for key in ("pi_max_rel_err", "pi_median_rel_err", "c_max_rel_err", "c_median_rel_err",
                    "hjb_max", "hjb_median", "share_within_1pct", "seconds"):
            value = s[key]
            cells.append(f"{key}={'undefined' if value is None else f'{value:.4g}'}")
        print("  ".join(cells))
    if args.out:
        from lucas_abm.merton.figures import error_figure
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(json.dumps(result, indent=1))
        error_figure([(problem, solution)], out / "errors.png")
    return 0
