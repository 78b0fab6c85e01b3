"""The replication report of a training run: the thesis' figures 8-11, convergence curves, markdown.

Reads what ``lucas-abm train`` wrote into a run directory (``config.yaml``, ``summary.json``,
``metrics.jsonl``, ``evaluation.jsonl``, ``episodes/eval-EEEEEE.npz``) and writes into the
report directory the PNG figures listed in :mod:`orchestrator.figures` (the thesis' figures
8-11 and ``convergence.png``) and ``report.md``: the economy, final numbers, convergence
criteria and the figures; for a population run also ``population.png``
(:mod:`orchestrator.population_figures`), and for adaptive valuers ``estimates.png``
(:mod:`orchestrator.estimates_figure`).

The run is read by :mod:`orchestrator.run_data`, the figures drawn by
:mod:`orchestrator.figures`; this module writes the markdown and puts the report together.
Only NumPy, YAML and matplotlib (Agg) are used: a report never imports TensorFlow.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from lucas_abm.errors import ConfigError
from orchestrator.estimates_figure import CAPTION as ESTIMATES_CAPTION
from orchestrator.estimates_figure import FIGURE as ESTIMATES_FIGURE
from orchestrator.estimates_figure import has_estimates, plot_estimates
from orchestrator.figures import (FIGURES, format_value, networks_label, plot_convergence,
                                  plot_holdings, plot_posted_prices, plot_traded_volumes)
from orchestrator.population import holds_bonds
from orchestrator.population_figures import CAPTION as POPULATION_CAPTION
from orchestrator.population_figures import FIGURE as POPULATION_FIGURE
from orchestrator.population_figures import plot_population, read_population_json
from orchestrator.run_data import EvaluationEpisode, RunData, load_run, select_episodes


def _met(value, tolerance: float) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return "yes" if abs(value) <= tolerance else "no"


def evaluation_table(evaluations: list[dict], max_rows: int = 40) -> list[str]:
    """Markdown rows of the evaluations (every k-th, and always the last, if there are many)."""
    step = max(1, math.ceil(len(evaluations) / max_rows))
    rows = evaluations[::step]
    if rows[-1] is not evaluations[-1]:
        rows.append(evaluations[-1])
    lines = ["### Evaluations", ""]
    if step > 1:
        lines += [f"Every {step}th evaluation of {len(evaluations)}, and the last.", ""]
    lines += ["| episode | tree price (median) | tree rel. error | bond price (median) | bond rel. error | "
              "tree volume | bond volume | criteria met |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['episode']} | {format_value(r.get('tree_price_median'))} | {format_value(r.get('tree_price_rel_error'), '+.2%')} | "
            f"{format_value(r.get('bond_price_median'))} | {format_value(r.get('bond_price_rel_error'), '+.2%')} | "
            f"{format_value(r.get('tree_volume_per_agent_per_step'), '.4g')} | "
            f"{format_value(r.get('bond_volume_per_agent_per_step'), '.4g')} | {'yes' if r.get('converged') else 'no'} |")
    return lines


def markdown_report(run: RunData, figures: dict[str, str], shown: list[int],
                    population: dict | None = None) -> str:
    """The markdown summary: economy, final numbers vs the analytical prices, criteria, figures.
    ``population`` (RUN/population.json): where its equilibrium holds bonds, the volume rows
    and criterion give way to each type's holdings (orchestrator.evaluator.criteria_met)."""
    cfg = run.config
    equilibrium = (population or {}).get("equilibrium")
    trading = holds_bonds(equilibrium)
    econ, market = cfg.get("economy", {}), cfg.get("market", {})
    learner, training = cfg.get("learner", {}), cfg.get("training", {})
    tol = run.tolerances
    final = run.final()
    vol = final.get("volume_per_agent_per_step") or {}
    dividend = econ.get("dividend", "constant")
    params = ", ".join(f"{k} = {v:g}" if isinstance(v, (int, float)) else f"{k} = {v}"
                       for k, v in (econ.get("dividend_params") or {}).items())
    mech_params = ", ".join(f"{k} = {v}" for k, v in (econ.get("mechanism_params") or {}).items())
    # stochastic dividends: the analytical value is the episode median of p(y_t), q(y_t)
    p_star, q_star = ("median p*(y_t)", "median q*(y_t)") if run.stochastic else ("p*", "q*")
    lines = [f"# Training run report: `{run.directory}`", ""]
    if run.summary is None:
        lines += ["> **Run unfinished**: no `summary.json` yet; the numbers below are from the last "
                  f"evaluation (episode {run.evaluations[-1]['episode']}).", ""]
    lines += [
        "## Economy", "",
        "| parameter | value |", "|---|---|",
        f"| discount factor beta | {econ.get('beta')} |",
        f"| CRRA risk aversion gamma | {econ.get('gamma')}{' (log utility)' if econ.get('gamma') == 1 else ''} |",
        f"| dividend process | {dividend}{f' ({params})' if params else ''} |",
        f"| agents N | {market.get('n_agents')} |",
        f"| steps per episode T | {market.get('horizon')} |",
        f"| tree lot / bond lot | {market.get('tree_lot')} shares / {market.get('bond_lot')} bonds |",
        f"| endowment (shares, bonds) | {market.get('initial_shares')}, {market.get('initial_bonds')} |",
        f"| borrowing limit | {market.get('borrowing_limit')} |",
        f"| market mechanism | {econ.get('mechanism')}{f' ({mech_params})' if mech_params else ''} |",
        f"| weight sharing | {learner.get('weight_sharing')} (agent types: {learner.get('agent_types', 1)}) |",
        f"| training episodes (configured) | {training.get('episodes')} (evaluation every "
        f"{training.get('eval_interval')}, seed {training.get('seed')}) |",
        "",
        "## Results (last greedy evaluation)", "",
        "Posted prices: median over all N agents and T steps of the last greedy evaluation "
        f"(episode {run.evaluations[-1]['episode']}).", "",
        "| quantity | posted (median) | analytical | relative error | criterion | met |",
        "|---|---|---|---|---|---|",
        f"| tree price | {format_value(final.get('tree_price'))} | {p_star} = {format_value(final.get('tree_price_star'))} | "
        f"{format_value(final.get('tree_price_rel_error'), '+.2%')} | within ±{tol['tree_tolerance']:.0%} | "
        f"{_met(final.get('tree_price_rel_error'), tol['tree_tolerance'])} |",
        f"| bond price | {format_value(final.get('bond_price'))} | {q_star} = {format_value(final.get('bond_price_star'))} | "
        f"{format_value(final.get('bond_price_rel_error'), '+.2%')} | within ±{tol['bond_tolerance']:.0%} | "
        f"{_met(final.get('bond_price_rel_error'), tol['bond_tolerance'])} |",
    ]
    if trading:
        target = {"tree": "one rebalancing from the endowment, then 0",
                  "bond": "not 0: the equilibrium's bonds are rolled over every period"}
        lines += [f"| {asset} volume (lots per agent per step) | {format_value(vol.get(asset), '.4g')} | "
                  f"{target[asset]} | | not a criterion | |" for asset in ("tree", "bond")]
        lines += _holdings_rows(run.evaluations[-1] if run.evaluations else {}, equilibrium, tol)
    else:
        lines += [
            f"| tree volume (lots per agent per step) | {format_value(vol.get('tree'), '.4g')} | 0 (no trade) | | "
            f"<= {tol['volume_tolerance']:g} | {_met(vol.get('tree'), tol['volume_tolerance'])} |",
            f"| bond volume (lots per agent per step) | {format_value(vol.get('bond'), '.4g')} | 0 (no trade) | | "
            f"<= {tol['volume_tolerance']:g} | {_met(vol.get('bond'), tol['volume_tolerance'])} |",
        ]
    if "tree_price_tracking_error" in final:
        lines += [
            f"| tree tracking error mean abs(p_k / p(y_t) - 1) | {format_value(final.get('tree_price_tracking_error'), '.2%')} "
            f"| 0 | | <= {tol['tracking_tolerance']:.0%} | "
            f"{_met(final.get('tree_price_tracking_error'), tol['tracking_tolerance'])} |",
            f"| bond tracking error mean abs(q_k / q(y_t) - 1) | {format_value(final.get('bond_price_tracking_error'), '.2%')} "
            f"| 0 | | <= {tol['tracking_tolerance']:.0%} | "
            f"{_met(final.get('bond_price_tracking_error'), tol['tracking_tolerance'])} |",
        ]
    wall = final.get("wall_seconds")
    lines += [
        "", "| run | value |", "|---|---|",
        f"| episodes trained | {final.get('episodes')} |",
        f"| episodes to converge | {format_value(final.get('episodes_to_converge'), 'd', 'not converged')} |",
        f"| converged | {'yes' if final.get('converged') else 'no'} |",
        f"| IQR of posted tree / bond prices | {format_value(final.get('tree_price_iqr'))} / "
        f"{format_value(final.get('bond_price_iqr'))} |",
        f"| wall-clock | {f'{wall:.1f} s ({wall / 60:.1f} min)' if wall is not None else 'n/a'} |",
        f"| agent-steps per second | {format_value(final.get('agent_steps_per_second'), ',.0f')} |",
        f"| CPU (user + system) | {_cpu(final)} |",
        f"| learner updates | {format_value(final.get('updates'), 'd')} |",
        "",
        "## Convergence criteria", "",
        "An evaluation (one greedy episode, no exploration, no learning) meets the criteria when the "
        "median posted prices over all agents and steps are within the tolerances of the analytical "
        + ("prices and every type ends near its equilibrium holdings (the equilibrium holds bonds, "
           "rolled over every period, so it trades every period and volume is not a criterion):"
           if trading else "prices and both assets trade at most the volume threshold:"), "",
        f"- |median posted tree price / p* - 1| <= {tol['tree_tolerance']:g}",
        f"- |median posted bond price / q* - 1| <= {tol['bond_tolerance']:g}",
        (f"- each type's tree shares per unit of supply within {tol['share_tolerance']:g} of its "
         f"equilibrium's, and its bonds within {tol['bond_position_tolerance']:.0%} of its equilibrium's"
         if trading else f"- tree and bond volume <= {tol['volume_tolerance']:g} lots per agent per step"),
    ]
    if run.stochastic:
        lines.append(f"- mean |p_k / p(y_t) - 1| and mean |q_k / q(y_t) - 1| <= {tol['tracking_tolerance']:g}")
    lines += ["", "The run has converged at the first evaluation after which every evaluation meets "
              "them (`episodes_to_converge`).", ""]
    lines += evaluation_table(run.evaluations)
    lines += ["",
              "## Figures", "",
              f"Evaluation episodes shown: {', '.join(map(str, shown))} (of {len(run.episode_files)} saved).", ""]
    captions = {
        "posted_tree_prices.png": "Posted tree prices of the sampled agents vs p(y_t) (thesis fig. 8)",
        "holdings.png": "Tree holdings of the sampled agents vs the endowment (thesis fig. 9)",
        "posted_bond_prices.png": "Posted bond prices of the sampled agents vs q(y_t) (thesis fig. 10)",
        "traded_volumes.png": "Cumulative lots traded by the sampled agents (thesis fig. 11)",
        "convergence.png": "Median posted prices, IQR and traded volume across training",
    }
    for name in FIGURES:
        if name in figures:
            lines += [f"### {captions[name]}", "", f"![{captions[name]}]({figures[name]})", ""]
    return "\n".join(lines)


def _cpu(final: dict) -> str:
    """summary.json's ``cpu_seconds``, with each role's where the roles recorded their own
    (orchestrator.cpu_record); "n/a" for runs that recorded none."""
    total = format_value(final.get("cpu_seconds"), ".1f", none="")
    if not total:
        return "n/a"
    by_role = final.get("cpu_seconds_by_role") or {}
    roles = ", ".join(f"{role} {value:.0f} s" for role, value in by_role.items())
    return f"{total} s" + (f" ({roles})" if roles else "")


def _holdings_rows(last: dict, equilibrium: dict, tol: dict) -> list[str]:
    """Rows of the final-numbers table: each type's holdings at the last evaluation's end
    against the equilibrium's (orchestrator.population.holdings_met's tolerances): the targets
    the evaluation recorded (valued in its own first state), else population.json's."""
    rows = []
    for name, h in (equilibrium.get("holdings") or {}).items():
        s, b = last.get(f"shares[{name}]"), last.get(f"bonds[{name}]")
        s_k = last.get(f"shares_equilibrium[{name}]", h["shares"][0])
        b_k = last.get(f"bonds_equilibrium[{name}]", h["bonds"][0])
        share_error = None if s is None else s - s_k
        bond_error = None if b is None or b_k == 0 else b / b_k - 1.0
        rows += [f"| {name}: tree shares per unit of supply | {format_value(s)} | {s_k:.4f} | "
                 f"{format_value(share_error, '+.4f')} | within ±{tol['share_tolerance']:g} | "
                 f"{_met(share_error, tol['share_tolerance'])} |",
                 f"| {name}: bonds per unit of tree supply | {format_value(b, '+.5f')} | {b_k:+.5f} | "
                 f"{format_value(bond_error, '+.1%')} | within ±{tol['bond_position_tolerance']:.0%} | "
                 f"{_met(bond_error, tol['bond_position_tolerance'])} |"]
    return rows


# ---------------------------------------------------------------------------- the whole report
@dataclass(frozen=True)
class ReportRequest:
    """What ``lucas-abm report`` was asked for (checked against the run by :func:`make_report`)."""

    run_dir: Path
    out_dir: Path | None = None          # default run_dir / "report"
    episodes: tuple[int, ...] | None = None
    agents: int | None = None            # default: all sampled agents

    @staticmethod
    def parse_episodes(text: str | None) -> tuple[int, ...] | None:
        """``"10,50,300"`` -> (10, 50, 300); ConfigError("--episodes") on anything else."""
        if text is None:
            return None
        try:
            values = tuple(int(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise ConfigError("--episodes", "a comma-separated list of evaluation episodes, e.g. 10,50,300",
                              text) from None
        if not values:
            raise ConfigError("--episodes", "a comma-separated list of evaluation episodes, e.g. 10,50,300", text)
        if len(set(values)) != len(values):   # one episode drawn twice in the same figure
            raise ConfigError("--episodes", "distinct evaluation episodes, e.g. 10,50,300", text)
        return values


def make_report(request: ReportRequest) -> dict[str, Path]:
    """Load the run, check the request against it, draw the figures and write report.md.

    Returns {file name: path} of everything written.
    """
    run = load_run(request.run_dir)
    shown = select_episodes(list(run.episode_files), list(request.episodes) if request.episodes else None)
    episodes = [EvaluationEpisode.load(run.episode_files[e]) for e in shown]
    sampled = min(len(ep.agents) for ep in episodes)
    if request.agents is not None and not 1 <= request.agents <= sampled:
        raise ConfigError("--agents", f"an integer in [1, {sampled}] (agents sampled in this run)", request.agents)
    k = request.agents or sampled
    episodes = [ep.select_agents(k) for ep in episodes]
    out = Path(request.out_dir) if request.out_dir is not None else run.directory / "report"
    out.mkdir(parents=True, exist_ok=True)
    initial_shares = float(run.config["market"].get("initial_shares", episodes[0].shares[0, 0]))
    networks = networks_label(run.config.get("learner", {}))
    written = {
        "posted_tree_prices.png": plot_posted_prices(episodes, "tree", out / "posted_tree_prices.png", networks),
        "holdings.png": plot_holdings(episodes, initial_shares, out / "holdings.png", networks),
        "posted_bond_prices.png": plot_posted_prices(episodes, "bond", out / "posted_bond_prices.png", networks),
        "traded_volumes.png": plot_traded_volumes(episodes, out / "traded_volumes.png",
                                                  {row["episode"]: row for row in run.evaluations}),
        "convergence.png": plot_convergence(run, out / "convergence.png"),
    }
    md = out / "report.md"
    population = read_population_json(run.directory)
    text = markdown_report(run, {name: name for name in written}, shown, population) + "\n"
    if population is not None and run.evaluations:   # a population run: orchestrator/population_figures.py
        written[POPULATION_FIGURE] = plot_population(run, population, out / POPULATION_FIGURE)
        text += f"\n### {POPULATION_CAPTION}\n\n![{POPULATION_CAPTION}]({POPULATION_FIGURE})\n"
        if has_estimates(run):   # adaptive valuers: orchestrator/estimates_figure.py
            written[ESTIMATES_FIGURE] = plot_estimates(run, population, out / ESTIMATES_FIGURE)
            text += f"\n### {ESTIMATES_CAPTION}\n\n![{ESTIMATES_CAPTION}]({ESTIMATES_FIGURE})\n"
    md.write_text(text)
    written["report.md"] = md
    return written
