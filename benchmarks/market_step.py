"""Benchmark: agent-steps per second of the vectorised pairwise market step vs. Mesa.

Times :meth:`lucas_abm.market.LucasMarket.step` (pairwise matching, log utility, thesis
dividend; the full step: validation, matching, feasibility, settlement, utility, penalties,
observation) at several N with both backends (``numpy``: mechanism + base-class settlement
as whole-array operations; ``numba``: the same period as one compiled pass,
:mod:`lucas_abm.kernels`; bitwise the same results), and a straightforward per-agent Mesa
implementation of the same mechanism (``benchmarks/mesa_baseline.py``) at the sizes given
by ``--mesa-sizes``, in the same run. The posted prices are drawn uniformly around (p*, q*) **before** the timed region
(a few action sets are cycled), so the timings cover the market only, not the policy.
Each figure is the best of ``--repeat`` timed blocks (least disturbed by other processes);
vectorised and Mesa blocks are interleaved so that both see the same machine load.

    .venv/bin/python benchmarks/market_step.py        # writes runs/bench/market_step.json
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from lucas_abm import kernels
from lucas_abm.dividends import ConstantDividend
from lucas_abm.market import LucasMarket, MarketConfig
from lucas_abm.mechanisms import PairwiseMatching
from lucas_abm.utility import CRRAUtility

P_STAR, Q_STAR = 0.851521, 0.95
ACTION_SETS = 4


def random_actions(n: int, seed: int = 0) -> np.ndarray:
    """[ACTION_SETS, 2, n] posted prices, uniform on +-20% around (p*, q*)."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0.8, 1.2, size=(ACTION_SETS, 2, n))
    u[:, 0] *= P_STAR
    u[:, 1] *= Q_STAR
    return u


def steps_for(n: int, budget: float = 2e6) -> int:
    """Steps per timed block: about ``budget`` agent-steps, at least 3."""
    return max(3, int(budget // n))


def time_blocks(steps_fns: list, actions: np.ndarray, steps: list[int], repeat: int) -> list[float]:
    """Best wall time per step of ``repeat`` blocks for each implementation (seconds).

    Blocks of the implementations are interleaved (A, B, A, B, ...), so that a burst of
    load from other processes on a shared machine affects both alike; the best block of
    each is kept.
    """
    posted = [(a[0], a[1]) for a in actions]  # the views made once, outside the timing
    for step in steps_fns:  # warm-up
        for k in range(2):
            step(*posted[k % ACTION_SETS])
    best = [float("inf")] * len(steps_fns)
    for _ in range(repeat):
        for i, (step, n_steps) in enumerate(zip(steps_fns, steps)):
            start = time.perf_counter()
            for k in range(n_steps):
                tree_price, bond_price = posted[k % ACTION_SETS]
                step(tree_price, bond_price)
            best[i] = min(best[i], (time.perf_counter() - start) / n_steps)
    return best


def scaling_exponent(rows: list[dict], n_min: int = 10_000) -> float | None:
    """Slope b of log(seconds per step) = a + b log N over the sizes N >= n_min (b = 1: linear)."""
    big = [r for r in rows if r["n_agents"] >= n_min]
    if len(big) < 2:
        return None
    x = np.log([r["n_agents"] for r in big])
    y = np.log([r["seconds_per_step"] for r in big])
    return float(np.polyfit(x, y, 1)[0])


def vectorised_market(n: int, backend: str) -> LucasMarket:
    config = MarketConfig(n_agents=n, horizon=10 ** 9)
    market = LucasMarket(config, ConstantDividend(), CRRAUtility(1.0), PairwiseMatching(),
                         seed=0, backend=backend)
    market.reset()
    return market


def mesa_market(n: int):
    from mesa_baseline import MesaLucasMarket  # benchmarks/ is on sys.path when run as a script

    return MesaLucasMarket(MarketConfig(n_agents=n, horizon=10 ** 9), ConstantDividend(),
                           CRRAUtility(1.0), seed=0)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[1200, 10_000, 100_000, 300_000, 1_000_000],
                        help="agent counts N for the vectorised market")
    parser.add_argument("--mesa-sizes", type=int, nargs="*", default=[1200],
                        help="agent counts for the Mesa baseline (empty: skip Mesa)")
    parser.add_argument("--backends", nargs="+", default=["numpy", "numba"],
                        choices=["numpy", "numba"], help="market backends to time")
    parser.add_argument("--repeat", type=int, default=5, help="timed blocks per size (best kept)")
    parser.add_argument("--budget", type=float, default=2e6,
                        help="agent-steps per timed block (vectorised)")
    parser.add_argument("--mesa-budget", type=float, default=5e4,
                        help="agent-steps per timed block (Mesa)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/market_step.json"),
                        help="JSON file for the results (runs/ is ignored by git)")
    args = parser.parse_args(argv)

    backends = [b for b in args.backends if b != "numba" or kernels.AVAILABLE]
    rows = []
    for n in args.sizes:
        actions = random_actions(n)
        names, fns, steps = [], [], []
        for backend in backends:
            names.append(backend)
            fns.append(vectorised_market(n, backend).step)
            steps.append(steps_for(n, args.budget))
        if n in args.mesa_sizes:
            names.append("mesa")
            fns.append(mesa_market(n).step)
            steps.append(steps_for(n, args.mesa_budget))
        times = dict(zip(names, time_blocks(fns, actions, steps, args.repeat)))
        for backend in backends:
            per_step = times[backend]
            row = {"n_agents": n, "implementation": backend, "seconds_per_step": per_step,
                   "ns_per_agent_step": per_step / n * 1e9,
                   "agent_steps_per_second": n / per_step}
            if "mesa" in times:
                row["mesa_seconds_per_step"] = times["mesa"]
                row["mesa_agent_steps_per_second"] = n / times["mesa"]
                row["speedup_vs_mesa"] = times["mesa"] / per_step
            rows.append(row)
            print(json.dumps(row), flush=True)

    print()
    print(f"{'N':>10} {'backend':>8} {'us/step':>10} {'ns/agent-step':>14} {'agent-steps/s':>14} "
          f"{'Mesa agent-steps/s':>19} {'x Mesa':>7}")
    for r in rows:
        mesa = (f"{r['mesa_agent_steps_per_second']:19.3g} {r['speedup_vs_mesa']:7.1f}"
                if "speedup_vs_mesa" in r else f"{'-':>19} {'-':>7}")
        print(f"{r['n_agents']:>10} {r['implementation']:>8} {r['seconds_per_step'] * 1e6:10.1f} "
              f"{r['ns_per_agent_step']:14.1f} {r['agent_steps_per_second']:14.3g} {mesa}")
    exponents = {}
    for backend in backends:
        exponents[backend] = scaling_exponent([r for r in rows if r["implementation"] == backend])
        if exponents[backend] is not None:
            print(f"{backend}: cost ~ N^{exponents[backend]:.2f} (least-squares slope of log "
                  f"time on log N, N >= 1e4)")
    result = {"benchmark": "pairwise market step, random actions pre-generated",
              "scaling_exponent": exponents,
              "machine": platform.platform(), "processor": platform.processor(),
              "python": platform.python_version(), "numpy": np.__version__,
              "numba": getattr(kernels.numba, "__version__", None), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")
    return result


if __name__ == "__main__":
    main()
