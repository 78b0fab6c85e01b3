"""The measurement behind benchmarks/population_learning.py: one population run's greedy
evaluations against the exact heterogeneous equilibrium of each evaluation's own first state
(prices by state over the traded periods, each type's holdings, the risk-sharing gap and
acceptance B's three goals). What is measured, and why, is that script's docstring.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lucas_abm.yaml_io import load_yaml

PRICE_GOAL, SHARE_GOAL, BOND_GOAL = 0.03, 0.01, 0.20


def measure(run_dir: Path, last: int = 1) -> dict:
    from lucas_abm.equilibrium.valuations import risk_sharing_gap
    from orchestrator.config import config_from_dict
    from orchestrator.population import equilibrium as population_equilibrium
    from orchestrator.state_errors import errors_by_state, priced_periods, state_index

    if not (run_dir / "config.yaml").is_file():
        raise SystemExit(f"{run_dir}: not a run directory (no config.yaml; lucas-abm train --out)")
    config = config_from_dict(load_yaml((run_dir / "config.yaml").read_text()))
    population, econ = config.population_types, config.economy
    if population is None:
        raise SystemExit(f"{run_dir}: not a population run (no population: in config.yaml)")
    if econ.dividend == "markov":
        states, transition = econ.dividend_params["states"], econ.dividend_params["transition"]
    elif econ.dividend == "constant":
        states, transition = [econ.dividend_params["ybar"]], [[1.0]]
    else:
        raise SystemExit(f"{run_dir}: the exact solvers take constant or Markov dividends, not {econ.dividend}")
    evaluations = run_dir / "evaluation.jsonl"
    if not evaluations.is_file():   # a run stopped before its first evaluation
        raise SystemExit(f"{run_dir}: no evaluation.jsonl yet (the run has not reached its first "
                         "greedy evaluation, training.eval_every episodes)")
    rows = [json.loads(line) for line in evaluations.read_text().splitlines() if line.strip()]
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
        if y0 not in solved:   # the run's own targets, as the evaluator solves them
            solved[y0] = population_equilibrium(config, initial_state=y0)
            if solved[y0] is None:
                raise SystemExit(f"{run_dir}: the exact solvers refuse this population")
        eq = solved[y0]
        p_star, q_star = np.asarray(eq["tree_price"])[index], np.asarray(eq["bond_price"])[index]
        if "tree_clearing_price" in npz.files:
            tree, bond, source = npz["tree_clearing_price"], npz["bond_clearing_price"], "clearing"
            schedules = config.actions.tree_schedule_slope is not None   # a market at rest has a price
            traded = {a: priced_periods(_volume(npz, a), npz[f"{a}_clearing_price"], npz[f"{a}_price"], schedules)
                      for a in ("tree", "bond")}
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


def _volume(npz, asset: str) -> np.ndarray:
    """[T] the asset's traded volume (runs saved before the market's volume was recorded: the
    sampled agents' |trades|, positive exactly when one of them traded)."""
    if f"{asset}_volume" in npz.files:
        return npz[f"{asset}_volume"]
    return np.abs(npz[f"{asset}_trade"]).sum(axis=1)