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
    """Max relative error of pi / c/W in each decade of wealth (where a method fails)."""
    decades = [d["decade"] for d in rows[0]["by_decade"]]
    lines = ["| gamma | method | " + " | ".join(decades) + " |",
             "| ---: | --- |" + " ---: |" * len(decades)]

    def pct(v):
        return "undef." if v is None else f"{v:.2%}" if v < 10 else f"{v:.1e}"

    for r in rows:
        cells = [f"{pct(d['pi_max'])} / {pct(d['c_max'])}" for d in r["by_decade"]]
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
    args = parser.parse_args(argv)
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
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figure = Path(args.figure) if args.figure else out / "merton.png"
    error_figure(results, figure)
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
               f"1-min load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at end; "
               f"total wall time {wall:.0f} s")
    table = (summary_table(rows) + "\nMax relative error of pi / c/W in each decade of wealth:\n\n"
             + decade_table(rows) + f"\n{machine}\n")
    (out / "table.md").write_text(table)
    (out / "results.json").write_text(json.dumps(
        {"machine": machine, "seed": args.seed, "rows": rows}, indent=1))
    print(table)
    print(f"wrote {out / 'table.md'}, {out / 'results.json'}, {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
