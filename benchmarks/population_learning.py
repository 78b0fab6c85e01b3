"""How far a trained population is from its exact heterogeneous equilibrium (docs/heterogeneity.md,
"Learning on populations", acceptance B).

    python benchmarks/population_learning.py RUN [--last K] [--since E] [--json]

For each of the run's last K greedy evaluations (evaluation.jsonl, episodes/eval-*.npz), the
equilibrium is solved for the episode's own initial dividend state (the market draws y_0; the
types' endowments are valued in it): ``solve_population`` with the run's population (its
saved config.yaml, the same seed, so the same theta_k). Printed per evaluation:

* prices: the median over the episode's *traded* periods of ``P_t / p(y_t) - 1`` with P_t the
  call auction's clearing price, and the same for q. In a period without trade the auction
  reports the midpoint of the quotes (orders of size 0), which move nothing and earn nothing,
  so no learner has a reason to quote p(y); those periods are shown apart ("all periods"). A
  market that never trades an asset has no traded price for it. With demand schedules
  (``actions.tree_schedule_slope``) a period without trade in which every sampled agent posts
  the reported price (to 1e-6) counts as traded at it: the market is at rest there, each
  schedule ``a s0_i (1 - P / v_i)`` is 0 because v_i = P, and the price is the one every
  trader would trade at (the equilibrium's after its one rebalancing, when only bonds roll
  over). Before this rule such periods were left out, and a state in which a market of exact
  valuers sat at rest had no price. (Posted-price mechanisms:
  the median posted price, every period.) The medians are also taken state by state
  ("by state": one per dividend state, "unvisited" for a state the episode never entered):
  pooled, they are the most frequent state's error and can hide a large one in the other;
* holdings: each type's tree shares and bonds per unit of supply at the episode's end against
  the equilibrium ``s_k``, ``b_k`` (and the endowment theta_k);
* the risk-sharing gap of the types' holdings at T, ``max_y max_k m_k(y) / min_k m_k(y) - 1``
  (:func:`lucas_abm.equilibrium.valuations.risk_sharing_gap`): 0 on every Pareto-efficient
  allocation, whichever wealth split the trading path led to, 1.44 at acceptance B's endowment;
* the goals for the least risk-averse type ("bold"; the first type when all gammas are equal,
  and the printout then names it): prices within 3% (both assets, the traded
  median in every visited state), its tree share within 0.01 of s_k, its bond position of the
  sign of b_k and within 20% of it.

``--since E`` adds a summary of every evaluation from episode E on: how many met each goal,
how many met all three, and the ranges of the bold type's holdings and the price errors, and
of the tree's learned price-dividend ratio state by state (the traded median P / y, which is
``(1 + error) p(y) / y``) against the equilibrium's p(y) / y.

A market that stays at the endowment has a share error of |theta_k - s_k| and a bond error of
100%: prices alone do not identify the equilibrium (docs/heterogeneity.md, Negishi facts).

The measurement of one run is ``measure`` (benchmarks/_population_measure.py); this script
adds the summaries, the tables over seeds and the command line.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from _population_measure import (BOND_GOAL, PRICE_GOAL, SHARE_GOAL, held_valuation_errors,  # noqa: F401
                                 measure)


def _pct(value, fmt: str = "+.2%") -> str:
    return "none" if value is None else format(value, fmt)


def _by_state(errors: list) -> str:
    return " / ".join("-" if e == "unvisited" else _pct(e) for e in errors)


def worst_state(e: dict) -> float | None:
    """The largest |traded median error| over both assets and the visited states (None: a
    visited state without trade)."""
    values = [v for a in ("tree", "bond") for v in e[f"{a}_price_rel_error_by_state"] if v != "unvisited"]
    return None if any(v is None for v in values) else max(abs(v) for v in values)


def _table(result: dict) -> str:
    lines = [f"run {result['run']}",
             "| episode | y0 | tree P/p - 1: traded (periods; all periods) | bond Q/q - 1: traded (periods; all) "
             "| tree by state | bond by state | type | shares (eq., endowment) | bonds (eq.) | goals |",
             "|---:|---:|---:|---:|---:|---:|---|---|---|---|"]
    for e in result["evaluations"]:
        for i, (name, t) in enumerate(e["types"].items()):
            goals = ", ".join(k for k, v in e["goals"].items() if v) or "none met" if name == e["bold_type"] else ""
            n = e["traded_periods"]
            head = (f"| {e['episode']} | {e['initial_state']} | {_pct(e['tree_price_rel_error'])} ({n['tree']}; "
                    f"{_pct(e['tree_price_rel_error_all_periods'])}) | {_pct(e['bond_price_rel_error'])} ({n['bond']}; "
                    f"{_pct(e['bond_price_rel_error_all_periods'])}) | {_by_state(e['tree_price_rel_error_by_state'])} | "
                    f"{_by_state(e['bond_price_rel_error_by_state'])} |" if i == 0 else "| | | | | | |")
            lines.append(f"{head} {name} | {t['shares']:.4f} ({t['shares_equilibrium']:.4f}, {t['endowment']:.4f}) | "
                         f"{t['bonds']:+.5f} ({t['bonds_equilibrium']:+.5f}) | {goals} |")
    return "\n".join(lines)


def _cpu_seconds(log: Path) -> float | None:
    """User + system CPU seconds from a ``/usr/bin/time -v`` log, if there is one."""
    if not log.is_file():
        return None
    text = log.read_text()
    try:
        return sum(float(line.split(":")[-1]) for line in text.splitlines()
                   if line.strip().startswith(("User time", "System time")))
    except ValueError:
        return None


def _fmt4(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def seeds_table(cell: Path, logs: Path | None = None) -> str:
    """Acceptance A's table: one row per ``cell/seed<S>`` run (summary.json, population.csv,
    evaluation.jsonl): convergence, the final evaluation's price errors and volumes, the size
    draw (largest and smallest s0_i, h = sqrt(sum w_i^2)) and the agents' mean distance from
    their endowment (no trade is the equilibrium with identical preferences)."""
    lines = ["| seed | converged at episode | episodes run | tree P/p* - 1 | bond Q/q* - 1 | tree / bond volume "
             "(lots per agent-step) | s0 min / max | h | mean abs(s_i - s0_i) / s0_i | wall s | CPU s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    met = 0
    runs = seed_runs(cell)
    for run in runs:
        if not (run / "summary.json").is_file():
            lines.append(f"| {_seed(run)} | (unfinished) | | | | | | | | | |")
            continue
        s = json.loads((run / "summary.json").read_text())
        from orchestrator.population import read_population

        pop = read_population(run)
        w = pop["size"] / pop["size"].sum()
        last = [json.loads(x) for x in (run / "evaluation.jsonl").read_text().splitlines() if x.strip()][-1]
        ok = (s["converged"] and abs(s["tree_price_rel_error"]) <= 0.02 and abs(s["bond_price_rel_error"]) <= 0.01)
        met += ok
        cpu = _cpu_seconds(logs / f"pareto_seed{_seed(run)}.err") if logs else None
        vol = s["volume_per_agent_per_step"]
        lines.append(
            f"| {_seed(run)} | {s['episodes_to_converge'] if s['converged'] else 'no'} | {s['episodes']} | "
            f"{s['tree_price_rel_error']:+.2%} | {s['bond_price_rel_error']:+.2%} | "
            f"{vol['tree']:.4f} / {vol['bond']:.4f} | "
            f"{pop['initial_shares'].min():.3f} / {pop['initial_shares'].max():.2f} | {np.sqrt(np.sum(w ** 2)):.3f} | "
            f"{_fmt4(last.get('share_error'))} | {s['wall_seconds']:.0f} | "
            f"{'n/a' if cpu is None else f'{cpu:.0f}'} |")
    lines += ["", f"{met} of {len(runs)} seeds converged with median prices within 2% of p* and 1% of q*."]
    return "\n".join(lines)


def _seed(run: Path) -> int:
    return int(run.name[4:].lstrip("-"))


def seed_runs(cell: Path) -> list[Path]:
    """The run directories ``cell/seed<S>`` or ``cell/seed-<S>`` (benchmarks/replication.py's
    name), by seed."""
    runs = [d for d in cell.glob("seed*") if d.is_dir() and d.name[4:].lstrip("-").isdigit()]
    return sorted(runs, key=_seed)


def goals_table(cell: Path, since: int) -> str:
    """Acceptance B's table over seeds: one row per seed run of ``cell`` (seed_runs): how many
    evaluations from episode ``since`` meet each goal and all three, the last evaluation's
    prices state by state, the bold type's holdings against the equilibrium's, whether all
    three goals hold there, and the median risk-sharing gap; then the totals."""
    lines = ["| seed | evaluations from episode " + str(since) + " | prices, every state | share | bond | all | "
             "last: episode | tree by state | bond by state | bold share (eq.) | bold bonds (eq.) | "
             "all three at the last | risk-sharing gap, median |",
             "|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|---|---:|"]
    at_last = total = evaluations = seeds = 0
    for run in seed_runs(cell):
        if not (run / "evaluation.jsonl").is_file():
            lines.append(f"| {_seed(run)} | (no evaluation) |" + " |" * 11)
            continue
        full = measure(run, last=10**9)
        s, e = summary(full, since), full["evaluations"][-1]
        if not s["evaluations"]:
            lines.append(f"| {_seed(run)} | 0 |" + " |" * 11)
            continue
        t, g = e["types"][e["bold_type"]], s["goals_met"]
        ok = all(e["goals"].values())
        seeds, at_last, total, evaluations = seeds + 1, at_last + ok, total + g["all"], evaluations + s["evaluations"]
        lines.append(
            f"| {_seed(run)} | {s['evaluations']} | {g['prices_within_3pct']} | {g['bold_share_within_0.01']} | "
            f"{g['bold_bond_right_sign_within_20pct']} | {g['all']} | {e['episode']} | "
            f"{_by_state(e['tree_price_rel_error_by_state'])} | {_by_state(e['bond_price_rel_error_by_state'])} | "
            f"{t['shares']:.4f} ({t['shares_equilibrium']:.4f}) | {t['bonds']:+.5f} ({t['bonds_equilibrium']:+.5f}) | "
            f"{'yes' if ok else 'no'} | {_pct(s['risk_sharing_gap_median'], '.1%')} |")
    lines += ["", f"all three goals at the last evaluation on {at_last} of {seeds} seeds, and at {total} of "
              f"{evaluations} evaluations from episode {since}."]
    return "\n".join(lines)


def summary(result: dict, since: int) -> dict:
    """Goals met and ranges over the evaluations from episode ``since`` on."""
    evals = [e for e in result["evaluations"] if e["episode"] >= since]
    if not evals:
        return {"since": since, "evaluations": 0}
    bold = [e["types"][e["bold_type"]] for e in evals]
    met = {goal: sum(bool(e["goals"][goal]) for e in evals) for goal in evals[0]["goals"]}
    met["all"] = sum(all(e["goals"].values()) for e in evals)

    def span(values):
        values = [v for v in values if v is not None]
        return [min(values), max(values)] if values else None
    return {"since": since, "evaluations": len(evals), "goals_met": met,
            "bold_label": evals[-1]["bold_label"],
            "bold_shares": span([t["shares"] for t in bold]),
            "bold_share_error": span([t["share_error"] for t in bold]),
            "bold_bonds": span([t["bonds"] for t in bold]),
            "tree_price_rel_error": span([e["tree_price_rel_error"] for e in evals]),
            "bond_price_rel_error": span([e["bond_price_rel_error"] for e in evals]),
            "worst_state_price_error": span([worst_state(e) for e in evals]),
            "risk_sharing_gap": span([e.get("risk_sharing_gap") for e in evals]),
            "risk_sharing_gap_median": _median([e.get("risk_sharing_gap") for e in evals]),
            "price_dividend_ratio_by_state": [span([e["price_dividend_ratio_by_state"][k] for e in evals])
                                              for k in range(len(evals[0]["price_dividend_ratio_by_state"]))],
            "price_dividend_ratio_equilibrium": evals[-1]["price_dividend_ratio_equilibrium"],
            "mean_error_by_state": _mean_errors(evals)}


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def _mean_errors(evals: list) -> dict:
    """Means over evaluations, state by state, of the learned traded price errors and of each
    type's own valuations at its learned holdings (held_valuation_errors); None where no
    evaluation has one."""
    def mean(rows):
        k = len(rows[0]) if rows else 0
        out = []
        for j in range(k):
            v = [r[j] for r in rows if r[j] not in ("unvisited", None)]
            out.append(float(np.mean(v)) if v else None)
        return out
    result = {f"learned_{a}": mean([e[f"{a}_price_rel_error_by_state"] for e in evals]) for a in ("tree", "bond")}
    for n in evals[0]["types"]:
        for a in ("tree", "bond"):
            rows = [e["types"][n][f"held_{a}_value_error_by_state"] for e in evals]
            rows = [r for r in rows if r is not None]
            result[f"held_{a}[{n}]"] = mean(rows) if rows else None
    return result


def _summary_text(s: dict) -> str:
    if not s["evaluations"]:
        return f"no evaluation from episode {s['since']} on"
    met = ", ".join(f"{k} {v}" for k, v in s["goals_met"].items())
    r = lambda key, fmt: "none" if s[key] is None else " to ".join(format(v, fmt) for v in s[key])
    return (f"from episode {s['since']}: {s['evaluations']} evaluations; goals met: {met}\n"
            f"{s['bold_label']} shares {r('bold_shares', '.4f')} "
            f"(minus equilibrium {r('bold_share_error', '+.4f')}), "
            f"bonds {r('bold_bonds', '+.4f')}; tree P/p - 1 {r('tree_price_rel_error', '+.2%')}, "
            f"bond Q/q - 1 {r('bond_price_rel_error', '+.2%')} (pooled); worst state |error| "
            f"{r('worst_state_price_error', '.2%')}; risk-sharing gap {r('risk_sharing_gap', '.1%')}, "
            f"median {_pct(s['risk_sharing_gap_median'], '.1%')} (0 if efficient)\n"
            "tree price-dividend ratio by state: learned "
            + " / ".join("none" if v is None else " to ".join(f"{x:.1f}" for x in v)
                         for v in s["price_dividend_ratio_by_state"])
            + "; equilibrium " + " / ".join(f"{x:.1f}" for x in s["price_dividend_ratio_equilibrium"])
            + "\nmean error by state (learned prices; each type's buy-and-hold valuations at its learned "
            "holdings): " + "; ".join(f"{k} {_by_state(['unvisited' if x is None else x for x in v])}"
                                       for k, v in s["mean_error_by_state"].items() if v is not None))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path, help="a population run's directory (lucas-abm train --out); "
                    "with --seeds, a directory of seed<S>/ runs")
    ap.add_argument("--last", type=int, default=1, help="the last K evaluations (default 1)")
    ap.add_argument("--since", type=int, default=None, help="also summarise every evaluation from "
                    "episode E on (goals met, ranges); implies all evaluations are measured")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--seeds", action="store_true", help="one row per seed<S>/ (or seed-<S>/) run under run_dir: "
                    "acceptance A's table, or with --since E acceptance B's goals from episode E")
    ap.add_argument("--logs", type=Path, default=None, help="with --seeds: a directory of pareto_seed<S>.err "
                    "/usr/bin/time -v logs (CPU seconds)")
    args = ap.parse_args()
    if args.seeds:
        print(seeds_table(args.run_dir, args.logs) if args.since is None else goals_table(args.run_dir, args.since))
        return
    if args.since is None:
        result = measure(args.run_dir, args.last)
        print(json.dumps(result, indent=1) if args.json else _table(result))
        return
    full = measure(args.run_dir, last=10**9)
    result = dict(full, evaluations=full["evaluations"][-args.last:])
    result["summary"] = summary(full, args.since)
    print(json.dumps(result, indent=1) if args.json else _table(result) + "\n\n" + _summary_text(result["summary"]))


if __name__ == "__main__":
    main()
