"""Merton's problem: naive PINN, repaired PINN and actor-critic against the closed form.

For each gamma (default 2 and 5; rho 0.05, r 0.02, mu 0.06, sigma 0.2) and each method, train
with the default budget and evaluate on 241 log-spaced wealth levels in [1e-3, 1e3]: relative
errors of pi and c/W (max, median, max per decade), the normalised HJB residual, seconds.
A diagnostic row "pinn warm start" first fits the naive network to the closed-form value
(supervised, relative error, log-uniform wealth), reports that fit, then trains it as the naive
PINN: it separates what the naive representation can hold from what its training finds.

    nice -n 10 .venv/bin/python benchmarks/merton.py                # runs/merton/
    nice -n 10 .venv/bin/python benchmarks/merton.py --figure docs/results/merton.png

Writes OUT/table.md, OUT/results.json and the PNG (errors against log W, all methods).
``--robustness`` instead runs the actor-critic (default budget) on other admissible parameter
sets (ROBUSTNESS) and writes OUT/robustness.md and OUT/robustness.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lucas_abm.merton import METHODS, MertonProblem  # noqa: E402


# Admissible parameter sets beyond the defaults: gamma < 1, large gamma, a negative premium
# (pi* < 0), a negative interest rate, high volatility with an impatient investor.
ROBUSTNESS = (
    {"gamma": 0.5},
    {"gamma": 10.0},
    {"gamma": 3.0, "mu": 0.0},
    {"gamma": 2.0, "r": -0.01, "mu": 0.03},
    {"gamma": 4.0, "rho": 0.2, "sigma": 0.5, "mu": 0.1},
)


def robustness(seed: int, iterations: int | None) -> list[dict]:
    from lucas_abm.merton.evaluate import error_summary, json_ready
    from lucas_abm.merton.solvers import solve

    rows = []
    for params in ROBUSTNESS:
        problem = MertonProblem(**params)
        row = error_summary(problem, solve(problem, "actor-critic", seed=seed,
                                           iterations=iterations))
        row["parameters"] = problem.describe()
        rows.append(json_ready(row))
        print(_line(row), params, flush=True)
    return rows


def robustness_table(rows: list[dict]) -> str:
    lines = ["| gamma | rho | r | mu | sigma | pi* | c/W* | pi max err | c/W max err "
             "| HJB resid. max | seconds |", "|" + " ---: |" * 11]
    for r in rows:
        p = r["parameters"]
        lines.append(f"| {p['gamma']:g} | {p['rho']:g} | {p['r']:g} | {p['mu']:g} | "
                     f"{p['sigma']:g} | {p['merton_share']:.4g} | {p['consumption_rate']:.4g} | "
                     f"{r['pi_max_rel_err']:.2%} | {r['c_max_rel_err']:.2%} | "
                     f"{r['hjb_max']:.1e} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def run(gammas, methods, seed: int, iterations: int | None, warm_start: int):
    from lucas_abm.merton.evaluate import error_summary, json_ready
    from lucas_abm.merton.pinn import PinnConfig, train_naive_pinn
    from lucas_abm.merton.solvers import solve

    results, rows = [], []
    for gamma in gammas:
        problem = MertonProblem(gamma=gamma)
        for method in methods:
            solution = solve(problem, method, seed=seed, iterations=iterations)
            results.append((problem, solution))
            rows.append(error_summary(problem, solution))
            print(_line(rows[-1]), flush=True)
        if warm_start:
            config = PinnConfig(seed=seed, warm_start_steps=warm_start)
            if iterations:
                config = dataclasses.replace(config, iterations=iterations)
            solution = train_naive_pinn(problem, config)
            solution.method = "pinn warm start"
            rows.append(solution.info["warm_start"])
            rows.append(error_summary(problem, solution))
            print(_line(rows[-2]), flush=True)
            print(_line(rows[-1]), flush=True)
    return results, json_ready(rows)


def _line(r: dict) -> str:
    keys = ("pi_max_rel_err", "pi_median_rel_err", "c_max_rel_err", "c_median_rel_err",
            "hjb_max", "hjb_median", "seconds")
    return f"gamma={r['gamma']:g} {r['method']:<22} " + " ".join(
        f"{k}={r[k]:.3g}" for k in keys)


def decade_table(rows: list[dict]) -> str:
    """Max relative error of pi / c/W in each decade of wealth (where a method fails), over
    the points where the controls exist, and the share of points where they do not."""
    decades = [d["decade"] for d in rows[0]["by_decade"]]
    lines = ["| gamma | method | " + " | ".join(decades) + " |",
             "| ---: | --- |" + " ---: |" * len(decades)]

    def cell(d):
        if d["pi_max"] is None:
            return "undefined"
        text = f"{d['pi_max']:.1e} / {d['c_max']:.1e}"
        return text + (f" ({d['undefined']:.0%} undef.)" if d["undefined"] > 0 else "")

    for r in rows:
        cells = [cell(d) for d in r["by_decade"]]
        lines.append(f"| {r['gamma']:g} | {r['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gammas", default="2,5", help="risk aversions (default 2,5)")
    parser.add_argument("--methods", default=",".join(METHODS), help="methods to run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, help="override every method's budget")
    parser.add_argument("--warm-start", type=int, default=5000,
                        help="steps of the warm-start fit of the diagnostic row (0: no row)")
    parser.add_argument("--out", default="runs/merton", help="directory for table and JSON")
    parser.add_argument("--figure", help="PNG path (default OUT/merton.png)")
    parser.add_argument("--robustness", action="store_true",
                        help="actor-critic on the ROBUSTNESS parameter sets instead")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.robustness:
        load = os.getloadavg()[0]
        rows = robustness(args.seed, args.iterations)
        table = robustness_table(rows) + (f"\n1-min load average {load:.1f} at start, "
                                          f"{os.getloadavg()[0]:.1f} at end\n")
        out.mkdir(parents=True, exist_ok=True)
        (out / "robustness.md").write_text(table)
        (out / "robustness.json").write_text(json.dumps(rows, indent=1))
        print(table)
        return 0
    gammas = [float(g) for g in args.gammas.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    for g in gammas:
        MertonProblem(gamma=g)                       # validate before any training

    load_start = os.getloadavg()
    start = time.perf_counter()
    results, rows = run(gammas, methods, args.seed, args.iterations, args.warm_start)
    wall = time.perf_counter() - start
    load_end = os.getloadavg()

    from lucas_abm.merton.figures import error_figure, summary_table
    out.mkdir(parents=True, exist_ok=True)
    figure = Path(args.figure) if args.figure else out / "merton.png"
    error_figure(results, figure)
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
               f"1-min load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at end; "
               f"total wall time {wall:.0f} s")
    table = (summary_table(rows) + "\nMax relative error of pi / c/W in each decade of wealth "
             "(over the points where both controls exist; where they do not, in brackets):\n\n"
             + decade_table(rows) + f"\n{machine}\n")
    (out / "table.md").write_text(table)
    (out / "results.json").write_text(json.dumps(
        {"machine": machine, "seed": args.seed, "rows": rows}, indent=1))
    print(table)
    print(f"wrote {out / 'table.md'}, {out / 'results.json'}, {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
