"""Benchmark: agent-steps per second of the heterogeneous market (pairwise and call auction).

A population of two types (gamma 5 with equal sizes; gamma 1 with Pareto sizes, zeta 1.5;
per-agent borrowing limits; lots scaling with size) trades through
:meth:`lucas_abm.market.LucasMarket.step` at several N:

* ``pairwise``: posted prices ``p*(1 + 0.5 u)``, one size-scaled lot per pair;
* ``call-auction``: limit orders with quantities (``RandomOrders``: limit ``p*(1 + 0.5 u)``,
  quantity ``lot s0_i u``), cleared at one price per asset by the histogram auction.

Actions are drawn **before** the timed region (a few sets cycled), so the "market" figure is
the step alone; the "loop" figure also draws the policy's actions each step, as
``lucas-abm simulate`` does. Each figure is the best of ``--repeat`` blocks. The machine is
shared, so each row also reports **CPU time** (``time.process_time``: the seconds this
process ran, not those it waited for a core) and the load average when it was measured: on
a loaded machine the CPU-time rate is the one that says what the code costs.

The auction's clearing alone (:func:`lucas_abm.mechanisms.call_auction.clear_orders`) is
timed per order at each N, with its passes over the orders in numpy and compiled
(:mod:`lucas_abm.mechanisms.call_auction_kernel`; the market takes the compiled passes from
20,000 orders), next to a full ``np.sort`` of the limits, to show its cost grows ~linearly
in N (nanoseconds per order roughly constant at large N) while the sort's grows as N log N.
The market rows' ``backend`` is the market's (``numpy`` for the call auction, whose
compiled passes are inside the mechanism).

    .venv/bin/python benchmarks/hetero_market.py      # writes runs/bench/hetero_market.json and .md

**Against older code** (``--baseline DIR``): DIR holds an older ``lucas_abm`` package, e.g.
``git archive 0e5220e lucas_abm | tar -x -C runs/h5/base``. Every market row is then measured
in fresh processes, alternately with that package (``PYTHONPATH=DIR``) and with this one,
``--rounds`` times each (best kept), so that both see the same load; the rows gain the
baseline's rates and the ratios new / old.

    nice -n 10 .venv/bin/python benchmarks/hetero_market.py --sizes 1000000 --baseline runs/h5/base
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from lucas_abm.dividends import ConstantDividend
from lucas_abm.equilibrium_traders import RandomOrders
from lucas_abm.market import LucasMarket, MarketConfig
from lucas_abm.mechanisms import make_mechanism
from lucas_abm.mechanisms.call_auction import clear_orders
from lucas_abm.population import parse_population
from lucas_abm.solver import solve_equilibrium
from lucas_abm.utility import CRRAUtility

ACTION_SETS = 3
DIVIDEND = ConstantDividend()
PRICES = solve_equilibrium(DIVIDEND, 0.95, 1.0)


def population(n: int):
    half = n // 2
    return parse_population([
        {"name": "cautious", "count": half, "gamma": 5.0, "size": 1.0, "borrowing_limit": 0.5},
        {"name": "bold", "count": n - half, "gamma": 1.0, "size": {"pareto": {"zeta": 1.5}},
         "borrowing_limit": 0.5}]).draw()


def market(n: int, mechanism: str, pop) -> LucasMarket:
    config = MarketConfig(n_agents=n, horizon=10**9, tree_lot=0.0005, bond_lot=0.0002)
    m = LucasMarket(config, DIVIDEND, CRRAUtility(1.0), make_mechanism(mechanism), seed=0,
                    population=pop)
    m.reset()
    return m


def timed(fn, steps: int, repeat: int) -> tuple[float, float]:
    """Best (wall, cpu) seconds per call over ``repeat`` blocks of ``steps`` calls."""
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        for _ in range(steps):
            fn()
        wall.append((time.perf_counter() - w) / steps)
        cpu.append((time.process_time() - c) / steps)
    return min(wall), min(cpu)


def bench_market(n: int, mechanism: str, steps: int, repeat: int) -> dict:
    pop = population(n)
    m = market(n, mechanism, pop)
    policy = RandomOrders("random", PRICES, 0.0005 * pop.initial_shares,
                          0.0002 * pop.initial_shares, seed=1)
    y = m.dividend
    actions = [policy(y, m) for _ in range(ACTION_SETS)]
    counter = iter(range(10**12))

    if mechanism == "call-auction":
        def step():
            a = actions[next(counter) % ACTION_SETS]
            m.step(*a)

        def loop():
            m.step(*policy(m.dividend, m))
    else:
        def step():
            a = actions[next(counter) % ACTION_SETS]
            m.step(a[0], a[1])

        def loop():
            a = policy(m.dividend, m)
            m.step(a[0], a[1])
    step()  # warm
    market_wall, market_cpu = timed(step, steps, repeat)
    loop_wall, loop_cpu = timed(loop, steps, repeat)
    return {"n_agents": n, "mechanism": mechanism, "backend": m.backend,
            "load_average_1min": os.getloadavg()[0],
            "market_agent_steps_per_s": n / market_wall, "market_agent_steps_per_cpu_s": n / market_cpu,
            "loop_agent_steps_per_s": n / loop_wall, "loop_agent_steps_per_cpu_s": n / loop_cpu}


RATES = ("market_agent_steps_per_s", "market_agent_steps_per_cpu_s", "loop_agent_steps_per_s",
         "loop_agent_steps_per_cpu_s")


def bench_in_process(n: int, mechanism: str, steps: int, repeat: int, path: str | None) -> dict:
    """:func:`bench_market` in a fresh process, importing ``lucas_abm`` from ``path`` (None:
    this checkout)."""
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.path.abspath(path)
    command = [sys.executable, __file__, "--one", str(n), mechanism, "--steps", str(steps),
               "--repeat", str(repeat)]
    lines = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(lines.strip().splitlines()[-1])


def bench_against(n: int, mechanism: str, steps: int, repeat: int, baseline: str,
                  rounds: int) -> dict:
    """Alternate the baseline and this code ``rounds`` times; the best rates of each and the
    ratios new / old."""
    old, new = [], []
    for _ in range(rounds):
        old.append(bench_in_process(n, mechanism, steps, repeat, baseline))
        new.append(bench_in_process(n, mechanism, steps, repeat, None))
    row = dict(new[-1])
    row["load_average_1min"] = max(r["load_average_1min"] for r in old + new)
    row["baseline_backend"] = old[-1]["backend"]
    for key in RATES:
        row[key] = max(r[key] for r in new)
        row["baseline_" + key] = max(r[key] for r in old)
        row["ratio_" + key] = row[key] / row["baseline_" + key]
    return row


def bench_clearing(n: int, repeat: int) -> dict:
    from lucas_abm.mechanisms import call_auction_kernel  # not in a --baseline package
    rng = np.random.default_rng(2)
    u = rng.uniform(-1.0, 1.0, n)
    limit, qty = 0.85 * (1.0 + 0.5 * u), 0.0005 * u
    _, auction = timed(lambda: clear_orders(limit, qty, compiled_passes=False), 3, repeat)
    row = {"n_agents": n, "clearing_ns_per_order_cpu": 1e9 * auction / n}
    if call_auction_kernel.available():
        call_auction_kernel.warm_up()
        _, compiled = timed(lambda: clear_orders(limit, qty, compiled_passes=True), 3, repeat)
        row["compiled_clearing_ns_per_order_cpu"] = 1e9 * compiled / n
    _, sort = timed(lambda: np.sort(limit), 3, repeat)
    row["full_sort_ns_per_order_cpu"] = 1e9 * sort / n
    return row


def markdown(rows: list[dict], clearing: list[dict], info: dict) -> str:
    lines = [f"# Heterogeneous market throughput ({info['machine']}, {info['cpus']} CPUs)", "",
             "| N | mechanism | load (1 min) | market agent-steps/s (wall) | market (CPU time) "
             "| loop incl. policy (wall) | loop (CPU time) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['n_agents']:,} | {r['mechanism']} | {r['load_average_1min']:.1f} | "
                     f"{r['market_agent_steps_per_s']:.3g} | {r['market_agent_steps_per_cpu_s']:.3g} | "
                     f"{r['loop_agent_steps_per_s']:.3g} | {r['loop_agent_steps_per_cpu_s']:.3g} |")
    compared = [r for r in rows if "ratio_market_agent_steps_per_s" in r]
    if compared:
        lines += ["", "Against the baseline (new / old, same load; backends new / old):", "",
                  "| N | mechanism | backend | market (wall) | market (CPU) | loop (wall) "
                  "| loop (CPU) | old loop (CPU) |", "|---|---|---|---|---|---|---|---|"]
        for r in compared:
            lines.append(f"| {r['n_agents']:,} | {r['mechanism']} | {r['backend']} / "
                         f"{r['baseline_backend']} | "
                         + " | ".join(f"{r['ratio_' + key]:.2f}x" for key in RATES)
                         + f" | {r['baseline_loop_agent_steps_per_cpu_s']:.3g} |")
    lines += ["", "| N | call-auction clearing, numpy passes, ns/order (CPU) | compiled passes "
              "| np.sort of the limits, ns/order (CPU) |", "|---|---|---|---|"]
    for r in clearing:
        compiled = r.get("compiled_clearing_ns_per_order_cpu")
        lines.append(f"| {r['n_agents']:,} | {r['clearing_ns_per_order_cpu']:.1f} | "
                     f"{'-' if compiled is None else f'{compiled:.1f}'} | "
                     f"{r['full_sort_ns_per_order_cpu']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000],
                        help="numbers of agents")
    parser.add_argument("--mechanisms", nargs="+", default=["pairwise", "call-auction"])
    parser.add_argument("--steps", type=int, default=5, help="steps per timed block")
    parser.add_argument("--repeat", type=int, default=3, help="timed blocks (best kept)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/hetero_market.json"))
    parser.add_argument("--baseline", default=None, metavar="DIR",
                        help="a directory holding an older lucas_abm package to compare with")
    parser.add_argument("--rounds", type=int, default=2,
                        help="with --baseline: alternating measurements of each (best kept)")
    parser.add_argument("--one", nargs=2, metavar=("N", "MECHANISM"), default=None,
                        help=argparse.SUPPRESS)  # one row, as JSON (used by --baseline)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(bench_market(int(args.one[0]), args.one[1], args.steps, args.repeat)))
        return
    rows = []
    for n in args.sizes:
        for mechanism in args.mechanisms:
            rows.append(bench_market(n, mechanism, args.steps, args.repeat) if args.baseline is None
                        else bench_against(n, mechanism, args.steps, args.repeat, args.baseline,
                                           args.rounds))
            print(json.dumps(rows[-1]), flush=True)
    clearing = [bench_clearing(n, args.repeat) for n in sorted({*args.sizes, 10 * max(args.sizes) // 10})]
    for r in clearing:
        print(json.dumps(r), flush=True)
    info = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "baseline": args.baseline}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"info": info, "market": rows, "clearing": clearing}, indent=2))
    args.out.with_suffix(".md").write_text(markdown(rows, clearing, info))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
