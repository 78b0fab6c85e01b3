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
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import yaml

PRICE_GOAL, SHARE_GOAL, BOND_GOAL = 0.03, 0.01, 0.20


def measure(run_dir: Path, last: int = 1) -> dict:
    from lucas_abm.equilibrium.dispatch import solve_population
    from lucas_abm.equilibrium.valuations import risk_sharing_gap
    from orchestrator.config import config_from_dict
    from orchestrator.state_errors import at_rest, errors_by_state, state_index

    config = config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text()))
    population, econ = config.population_types, config.economy
    if population is None:
        raise SystemExit(f"{run_dir}: not a population run (no population: in config.yaml)")
    if econ.dividend == "markov":
        states, transition = econ.dividend_params["states"], econ.dividend_params["transition"]
    elif econ.dividend == "constant":
        states, transition = [econ.dividend_params["ybar"]], [[1.0]]
    else:
        raise SystemExit(f"{run_dir}: the exact solvers take constant or Markov dividends, not {econ.dividend}")
    rows = [json.loads(line) for line in (run_dir / "evaluation.jsonl").read_text().splitlines() if line.strip()]
    names = list(population.names)
    gammas_by_type = np.asarray(population.gammas(econ.gamma), float)
    bold = names[int(np.argmin(gammas_by_type))]         # np.argmin: the first of equal gammas
    bold_label = "bold" if np.ptp(gammas_by_type) > 0 else f"{bold} (equal gammas: the first type)"
    out = []
    solved: dict[int, dict] = {}      # the equilibrium valued in each initial state, solved once
    for row in rows[-last:]:
        episode = int(row["episode"])
        npz = np.load(run_dir / "episodes" / f"eval-{episode:06d}.npz")
        dividend = npz["dividend"]
        index = state_index(dividend, states)
        y0 = int(index[0])
        if y0 not in solved:
            solved[y0] = solve_population(population, states, transition, beta=econ.beta, gamma=econ.gamma,
                                          initial_state=y0)
        eq = solved[y0]
        p_star, q_star = np.asarray(eq["tree_price"])[index], np.asarray(eq["bond_price"])[index]
        if "tree_clearing_price" in npz.files:
            tree, bond, source = npz["tree_clearing_price"], npz["bond_clearing_price"], "clearing"
            traded = {a: _traded(npz, a) for a in ("tree", "bond")}
            if config.actions.tree_schedule_slope is not None:   # a schedules market at rest has a price
                traded = {a: traded[a] | at_rest(npz[f"{a}_clearing_price"], npz[f"{a}_price"]) for a in traded}
        else:
            tree, bond = np.median(npz["tree_price"], axis=1), np.median(npz["bond_price"], axis=1)
            source = "median posted"
            traded = {a: np.ones(len(dividend), bool) for a in ("tree", "bond")}
        errors = {"tree": tree / p_star - 1.0, "bond": bond / q_star - 1.0}
        tree_all, bond_all = (float(np.nanmedian(errors[a])) for a in ("tree", "bond"))
        tree_err, bond_err = (float(np.nanmedian(errors[a][traded[a]])) if traded[a].any() else None
                              for a in ("tree", "bond"))
        # the same medians state by state: a pooled median is the most frequent state's error
        prices, stars = {"tree": tree, "bond": bond}, {"tree": p_star, "bond": q_star}
        by_state = {a: [e if (index == k).any() else "unvisited" for k, e in enumerate(errors_by_state(
            prices[a], stars[a], index, len(states), traded[a] & np.isfinite(prices[a])))] for a in ("tree", "bond")}
        # the tree's price-dividend ratio by state, learned (the traded median) and in equilibrium:
        # P/y = (1 + error) p(y)/y, since the median commutes with a positive scale
        pd_equilibrium = [float(eq["tree_price"][k]) / states[k] for k in range(len(states))]
        pd_learned = [None if e in ("unvisited", None) else (1.0 + e) * pd_equilibrium[k]
                      for k, e in enumerate(by_state["tree"])]
        # the bond prices a buy-and-hold valuer rolls over at: the learned traded medians
        # (the equilibrium's in a state without bond trade)
        q_rolled = [float(eq["bond_price"][k]) * (1.0 if e in ("unvisited", None) else 1.0 + e)
                    for k, e in enumerate(by_state["bond"])]
        gammas = dict(zip(names, population.gammas(econ.gamma)))
        types = {}
        for n in names:
            s_eq, b_eq = eq["holdings"][n]["shares"][0], eq["holdings"][n]["bonds"][0]
            s, b = row.get(f"shares[{n}]"), row.get(f"bonds[{n}]")
            types[n] = {"shares": s, "shares_equilibrium": s_eq, "endowment": eq["endowment"][n],
                        "share_error": None if s is None else s - s_eq,
                        "bonds": b, "bonds_equilibrium": b_eq,
                        "bond_relative_error": None if b is None or b_eq == 0 else b / b_eq - 1.0,
                        **held_valuation_errors(states, transition, econ.beta, gammas[n], s, b, q_rolled,
                                                eq["tree_price"], eq["bond_price"])}
        # 0 on every efficient allocation (the rest points of correct price-takers), 1.44 at
        # acceptance B's endowment: how much risk the learned holdings share, at q(y)
        sharing = (None if any(types[n]["shares"] is None or types[n]["bonds"] is None for n in names)
                   else risk_sharing_gap(states, [gammas[n] for n in names], [types[n]["shares"] for n in names],
                                         [types[n]["bonds"] for n in names], eq["bond_price"]))
        t = types[bold]
        visited = [e for a in ("tree", "bond") for e in by_state[a] if e != "unvisited"]
        goals = {"prices_within_3pct": all(e is not None and abs(e) <= PRICE_GOAL for e in visited),
                 "bold_share_within_0.01": t["share_error"] is not None and abs(t["share_error"]) <= SHARE_GOAL,
                 "bold_bond_right_sign_within_20pct": (
                     t["bonds"] is not None and t["bonds"] * t["bonds_equilibrium"] > 0
                     and abs(t["bond_relative_error"]) <= BOND_GOAL)}
        out.append({"episode": episode, "initial_state": y0, "solver": eq["solver"], "price_source": source,
                    "tree_price_rel_error": tree_err, "bond_price_rel_error": bond_err,
                    "traded_periods": {a: int(traded[a].sum()) for a in traded},
                    "tree_price_rel_error_by_state": by_state["tree"], "bond_price_rel_error_by_state": by_state["bond"],
                    "tree_price_rel_error_all_periods": tree_all, "bond_price_rel_error_all_periods": bond_all,
                    "tree_price_equilibrium": eq["tree_price"], "bond_price_equilibrium": eq["bond_price"],
                    "price_dividend_ratio_by_state": pd_learned,
                    "price_dividend_ratio_equilibrium": pd_equilibrium,
                    "types": types, "bold_type": bold, "bold_label": bold_label, "goals": goals,
                    "risk_sharing_gap": None if sharing is None or not np.isfinite(sharing) else sharing})
    return {"run": str(run_dir), "evaluations": out}


def held_valuation_errors(states, transition, beta, gamma, shares, bonds, bond_prices, p_star, q_star) -> dict:
    """A type's own valuations at the holdings the learners ended with, relative to p(y), q(y):
    ``v_tree(y) / p(y) - 1`` and ``v_bond(y) / q(y) - 1`` of a trader who keeps ``shares`` and
    ``bonds`` for ever, rolling the bonds over at ``bond_prices``
    (:func:`lucas_abm.equilibrium.valuations.own_valuations`). At the equilibrium portfolio they
    are 0; away from it they are what a correct valuer holding the learned allocation would pay.
    None where the holdings are missing, gamma is 0 or the stationary consumption is not positive."""
    from lucas_abm.equilibrium.valuations import own_valuations
    from lucas_abm.errors import ConfigError

    none = {"held_tree_value_error_by_state": None, "held_bond_value_error_by_state": None}
    if shares is None or bonds is None or gamma <= 0:
        return none
    try:
        v_tree, v_bond = own_valuations(states, transition, beta, gamma, shares, bonds, bond_prices)
    except ConfigError:
        return none
    return {"held_tree_value_error_by_state": (v_tree / np.asarray(p_star) - 1.0).tolist(),
            "held_bond_value_error_by_state": (v_bond / np.asarray(q_star) - 1.0).tolist()}


def _traded(npz, asset: str) -> np.ndarray:
    """[T] bool: periods in which the asset traded (the market's volume; runs saved before it
    was recorded: any sampled agent's trade)."""
    if f"{asset}_volume" in npz.files:
        return npz[f"{asset}_volume"] > 1e-12
    return np.abs(npz[f"{asset}_trade"]).sum(axis=1) > 1e-12


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
