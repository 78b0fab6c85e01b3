"""The report's figure for a population run (RUN/population.json exists): ``population.png``.

Across training, at every greedy evaluation (evaluation.jsonl):

* each type's tree shares per unit of supply at the episode's end, ``shares[type]``, against the
  equilibrium's ``s_k`` (dashed; where episodes start from a random state, each evaluation's
  own, ``shares_equilibrium[type]``) and the endowment ``theta_k`` (dotted);
* each type's bond position per unit of supply, ``bonds[type]``, against the equilibrium ``b_k``;
* the median posted (or clearing) tree and bond prices relative to the equilibrium,
  ``tree_price_rel_error``, ``bond_price_rel_error`` (for a Negishi population on a Markov chain
  the evaluator's targets are the solver's p(y), q(y), valued from the evaluation's own first
  state y_0, as the panel's title says where y_0 varies; for identical preferences p*, q*),
  against the convergence tolerances; on a Markov chain one line per dividend state
  (``tree_clearing_rel_error[y=...]`` over the traded periods for an order mechanism, else
  ``tree_price_rel_error[y=...]``), since a pooled median is the most frequent state's error;
* the mean relative distance of each agent's holdings from its equilibrium holdings,
  ``share_error`` = mean_i |s_i - s_i*| / s0_i and ``bond_error`` (per initial share).

The equilibrium is RUN/population.json's ``equilibrium`` (lucas_abm.equilibrium.solve_population).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from orchestrator.figures import _column, _pyplot, save_figure
from orchestrator.run_data import RunData
from orchestrator.state_errors import errors_by_state, priced_periods, state_index

FIGURE = "population.png"
CAPTION = "Holdings by type and prices against the heterogeneous equilibrium, across training"


def read_population_json(run_dir: Path) -> dict | None:
    path = Path(run_dir) / "population.json"
    return json.loads(path.read_text()) if path.is_file() else None


def with_state_errors(run: RunData, equilibrium: dict) -> list[dict]:
    """The evaluation rows; for a run saved before the evaluator recorded per-state errors,
    each row gets its clearing errors state by state recomputed from its saved episode, as
    orchestrator.episode.state_price_errors computes them (clearing prices, volumes and
    dividends are market-wide in the .npz; posted prices are saved for sampled agents only,
    so the posted-price errors are not recomputed)."""
    rows = run.evaluations
    if (not rows or "dividend" not in equilibrium or len(equilibrium["dividend"]) < 2
            or any(k.startswith("tree_clearing_rel_error[y=") for k in rows[-1])):
        return rows
    states = equilibrium["dividend"]
    schedules = (run.config.get("actions") or {}).get("tree_schedule_slope") is not None
    out = []
    for row in rows:
        extra = {}
        path = run.episode_files.get(int(row["episode"]))
        npz = np.load(path) if path is not None else None
        if npz is not None and "tree_clearing_price" in npz.files and "tree_volume" in npz.files:
            state = state_index(npz["dividend"], states)
            for asset in ("tree", "bond"):
                clearing, volume = npz[f"{asset}_clearing_price"], npz[f"{asset}_volume"]
                star = np.asarray(equilibrium[f"{asset}_price"], float)[state]
                priced = priced_periods(volume, clearing, npz[f"{asset}_price"], schedules)
                errors = errors_by_state(clearing, star, state, len(states), priced)
                extra.update({f"{asset}_clearing_rel_error[y={y:g}]": e for y, e in zip(states, errors)})
        out.append({**row, **extra})
    return out


def _state_columns(rows: list[dict], asset: str) -> list[tuple[str, str]]:
    """(column, legend label) of the per-state price errors (orchestrator.episode.state_price_errors),
    clearing prices where the mechanism has them, else the median posted price; [] if none."""
    keys = list(rows[-1]) if rows else []
    for kind, what in (("clearing", "traded clearing"), ("price", "median posted")):
        found = [k for k in keys if k.startswith(f"{asset}_{kind}_rel_error[y=")]
        if found:
            return [(k, f"{asset}, {k[k.index('[') + 1:-1]}: {what} / equilibrium - 1") for k in found]
    return []


def plot_population(run: RunData, population: dict, path: Path) -> Path:
    """Save :func:`population_figure` to ``path``."""
    return save_figure(population_figure(run, population), path)


def population_figure(run: RunData, population: dict):
    """The four panels above (a matplotlib Figure; axes row-major); types in population.json's
    order, one colour each."""
    plt = _pyplot()
    eq = population.get("equilibrium") or {}
    ev = with_state_errors(run, eq)
    episode = _column(ev, "episode")
    names = [t["name"] for t in population["types"]]
    colors = [plt.get_cmap("tab10")(i % 10) for i in range(len(names))]
    fig, axes = plt.subplots(2, 2, figsize=(13, 7.5), sharex=True, constrained_layout=True)
    fig.suptitle(CAPTION, fontsize=12)
    holdings = eq.get("holdings") or {}
    for ax, asset, label in ((axes[0, 0], "shares", "tree shares per unit of supply"),
                             (axes[0, 1], "bonds", "bonds per unit of tree supply")):
        for name, t, color in zip(names, population["types"], colors):
            ax.plot(episode, _column(ev, f"{asset}[{name}]"), "o-", ms=3, color=color, label=f"{name} (learned)")
            targets = _column(ev, f"{asset}_equilibrium[{name}]")
            if np.isfinite(targets).any() and np.ptp(targets[np.isfinite(targets)]) > 0:
                # episodes from a random first state: each evaluation's own equilibrium
                ax.plot(episode, targets, "--", drawstyle="steps-mid", color=color, lw=1.0,
                        label=f"{name}: equilibrium of the evaluation's first state")
            elif name in holdings:
                ax.axhline(holdings[name][asset][0], color=color, ls="--", lw=1.2,
                           label=f"{name}: equilibrium {holdings[name][asset][0]:.4g}")
            if asset == "shares":
                ax.axhline(t["endowment"], color=color, ls=":", lw=1.0, label=f"{name}: endowment {t['endowment']:.4g}")
        ax.set_ylabel(label)
        ax.set_title(f"{asset} by type at the end of each greedy evaluation", fontsize=10)
        _pad(ax, [l.get_ydata() for l in ax.get_lines()], 0.005 if asset == "shares" else 0.002)
    ax = axes[1, 0]
    tol = run.tolerances
    for asset, color, style in (("tree", "tab:green", "o-"), ("bond", "tab:purple", "s--")):
        by_state = _state_columns(ev, asset)
        if by_state:   # a Markov chain: one line per state (a pooled median hides a state's error)
            for (key, label), alpha in zip(by_state, np.linspace(1.0, 0.45, len(by_state))):
                ax.plot(episode, _column(ev, key), style, color=color, ms=3, alpha=alpha, label=label)
        else:
            ax.plot(episode, _column(ev, f"{asset}_price_rel_error"), style, color=color, ms=3,
                    label=f"median {asset} price / equilibrium - 1")
        t = tol[f"{asset}_tolerance"]
        ax.axhspan(-t, t, color=color, alpha=0.08, label=f"{asset} tolerance ±{t:.0%}")
    ax.axhline(0.0, color="k", lw=0.8)
    solver = eq.get("solver", "none")
    first_states = _column(ev, "initial_state")
    title = f"prices vs the equilibrium ({solver}: p = {_fmt(eq.get('tree_price'))}, q = {_fmt(eq.get('bond_price'))}"
    if np.unique(first_states[np.isfinite(first_states)]).size > 1:   # episodes from a random state
        y0 = eq["dividend"][int(eq.get("initial_state", 0))]
        title += f" from y_0 = {y0:g};\neach evaluation is scored against the equilibrium of its own y_0"
    ax.set_title(title + ")", fontsize=10)
    ax.set_ylabel("relative error")
    ax = axes[1, 1]
    for key, color in (("share_error", "tab:green"), ("bond_error", "tab:purple")):
        ax.plot(episode, _column(ev, key), "o-", ms=3, color=color,
                label=f"mean |{'s' if key == 'share_error' else 'b'}_i - equilibrium| / s0_i")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_title("agents' holdings: distance from their equilibrium holdings", fontsize=10)
    ax.set_ylabel("per initial share")
    for a in axes.ravel():
        a.grid(alpha=0.3)
        a.legend(fontsize=7, loc="best", frameon=False)
    for a in axes[1]:
        a.set_xlabel("training episode")
    return fig


def _fmt(values) -> str:
    if not values:
        return "n/a"
    return ", ".join(f"{v:.4g}" for v in np.atleast_1d(values))


def _pad(ax, columns, least: float) -> None:
    """Y limits around every drawn value, at least ``least`` wide each side; no offset notation."""
    values = np.concatenate([np.asarray(c, float).ravel() for c in columns]) if columns else np.zeros(1)
    values = values[np.isfinite(values)]
    if values.size:
        lo, hi = float(values.min()), float(values.max())
        pad = max(least, 0.1 * (hi - lo))
        ax.set_ylim(lo - pad, hi + pad)
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
