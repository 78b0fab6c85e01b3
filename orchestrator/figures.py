"""The replication figures: the thesis' figures 8-11 and the convergence curves (matplotlib, Agg).

    posted_tree_prices.png   posted tree prices p_t^k of the sampled agents vs p(y_t)   (fig. 8)
    holdings.png             tree holdings s_t^k vs the endowment s_0                  (fig. 9)
    posted_bond_prices.png   posted bond prices q_t^k vs q(y_t)                        (fig. 10)
    traded_volumes.png       cumulative lots traded by the sampled agents               (fig. 11)
    convergence.png          evaluation medians and IQRs across training vs p*, q*, volume threshold
                             (and, for stochastic dividends, tracking errors vs their threshold)
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from orchestrator.run_data import EvaluationEpisode, RunData, traded_lots

FIGURES = ("posted_tree_prices.png", "holdings.png", "posted_bond_prices.png",
           "traded_volumes.png", "convergence.png")


def format_value(value, spec: str = ".4f", none: str = "n/a") -> str:
    """A number for a title or table: ``none`` for missing or non-finite values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return none
    if spec.endswith("%"):
        value = round(value, 6) + 0.0     # no "-0.00%" for round-off below the printed digits
    return format(value, spec)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _panel_grid(n: int, title: str, ylabel: str):
    """A grid of n panels (up to 2 columns for n <= 4, else 3), one y label per row. The panels
    are compared with each other (one per evaluation episode), so they share both axes."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator
    ncols = 1 if n == 1 else (2 if n <= 4 else 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols + 1.8, 3.4 * nrows + 0.6),
                             squeeze=False, sharex=True, sharey=True, constrained_layout=True)
    fig.suptitle(title, fontsize=13)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for i, ax in enumerate(axes.ravel()[:n]):
        if i % ncols == 0:
            ax.set_ylabel(ylabel)
        if i // ncols == nrows - 1 or i + ncols >= n:
            ax.set_xlabel("step t within the evaluation episode")
            ax.tick_params(labelbottom=True)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 2.5, 5, 10]))
    return plt, fig, axes.ravel()[:n]


def _agent_colors(k: int):
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(k)]


def save_figure(fig, path: Path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` and close it."""
    plt = _pyplot()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _save(plt, fig, path: Path, legend_handles=None, legend_title: str | None = None) -> Path:
    if legend_handles:
        handles, labels = legend_handles
        fig.legend(handles, labels, loc="outside right center", title=legend_title, fontsize=9,
                   title_fontsize=9, frameon=False)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def networks_label(learner: dict) -> str:
    """Whose network sets each plotted agent's price, from the run's ``learner`` config: with
    ``independent`` weights every sampled agent's line is its own network's greedy price."""
    if learner.get("weight_sharing") == "independent":
        return "each agent its own network"
    types = int(learner.get("agent_types", 1))
    return "one network shared by all agents" if types == 1 else f"one network per agent type ({types} types)"


def _who(episodes: list[EvaluationEpisode], networks: str) -> str:
    """``10 sampled agents`` and, if known, whose networks: the figures' subject."""
    return f"{len(episodes[0].agents)} sampled agents" + (f" ({networks})" if networks else "")


def plot_posted_prices(episodes: list[EvaluationEpisode], asset: str, path: Path,
                       networks: str = "") -> Path:
    """Posted prices of the sampled agents within each episode against the Lucas price
    (asset ``tree``: p_t^k vs p(y_t), thesis fig. 8; ``bond``: q_t^k vs q(y_t), fig. 10).
    ``networks`` (:func:`networks_label`) says in the title whose networks post them."""
    symbol = "p" if asset == "tree" else "q"
    plt, fig, axes = _panel_grid(len(episodes), f"Posted {asset} prices of {_who(episodes, networks)} "
                                 f"vs the Lucas equilibrium {symbol}*",
                                 f"posted {asset} price {symbol}" + r"$_t^k$ (goods per "
                                 + ("share)" if asset == "tree" else "bond)"))
    colors = _agent_colors(len(episodes[0].agents))
    varying = any(np.ptp(getattr(ep, f"{asset}_price_star")) > 0 for ep in episodes)
    star_name = f"{symbol}*(y_t)" if varying else f"{symbol}*"
    shown = []
    for ax, ep in zip(axes, episodes):
        prices = getattr(ep, f"{asset}_price")
        star = getattr(ep, f"{asset}_price_star")
        shown += [prices.ravel(), star]
        t = np.arange(ep.horizon)
        for j, agent in enumerate(ep.agents):
            ax.plot(t, prices[:, j], color=colors[j], lw=1.2, alpha=0.85, label=f"agent {agent}")
        ax.plot(t, star, color="k", ls="--", lw=1.8, label=f"{star_name} (Lucas equilibrium)")
        ax.set_title(f"after {ep.episode} training episodes  (median {float(np.nanmedian(prices)):.4f}, "
                     f"{'median ' if varying else ''}{star_name} {float(np.median(star)):.4f})"
                     + _coincident(prices, "all {k} agents post the same price"), fontsize=10)
    _pad_ylim(axes[0], np.concatenate(shown))  # one y range for all panels (shared)
    return _save(plt, fig, path, axes[0].get_legend_handles_labels(), "sampled agents")


def _coincident(values: np.ndarray, text: str) -> str:
    """A second title line when every agent's line lies on one curve (only the last colour
    would show), else nothing."""
    if values.shape[1] > 1 and np.all(values == values[:, :1]):
        return "\n" + text.format(k=values.shape[1])
    return ""


def _no_trade_note(ax, text: str) -> None:
    """Say in the panel that it is flat because nothing traded (not an empty plot)."""
    ax.text(0.5, 0.8, text, transform=ax.transAxes, ha="center", va="center", fontsize=10,
            color="0.25", bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.9},
            zorder=10)


def _pad_ylim(ax, values: np.ndarray, rel: float = 0.02) -> None:
    """Y range that shows flat series (all agents at one price) with a visible margin; NaN (an
    adaptive valuer whose consumption would not stay positive posts none) is left out."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = max((hi - lo) * 0.08, abs(hi) * rel, 1e-9)
    ax.set_ylim(lo - pad, hi + pad)


def plot_holdings(episodes: list[EvaluationEpisode], initial_shares: float, path: Path,
                  networks: str = "") -> Path:
    """Tree holdings s_t^k of the sampled agents within each episode (thesis fig. 9); the
    endowment s_0 (the equilibrium holding: nobody trades at p*) as a reference line."""
    plt, fig, axes = _panel_grid(len(episodes), f"Tree holdings of {_who(episodes, networks)}; "
                                 "equilibrium: everyone keeps the endowment",
                                 r"tree holdings $s_t^k$ (shares)")
    colors = _agent_colors(len(episodes[0].agents))
    for ax, ep in zip(axes, episodes):
        t = np.arange(ep.horizon + 1)
        if np.all(ep.shares == initial_shares):
            _no_trade_note(ax, "no trade: every sampled agent keeps its endowment")
        for j, agent in enumerate(ep.agents):
            ax.step(t, ep.shares[:, j], where="post", color=colors[j], lw=1.2, alpha=0.85,
                    label=f"agent {agent}")
        # drawn wide and underneath: agents who keep the endowment stay visible on top of it
        ax.axhline(initial_shares, color="0.55", lw=5, alpha=0.5, zorder=1,
                   label=f"endowment s0 = {initial_shares:g} (equilibrium)")
        moved = float(np.max(np.abs(ep.shares[-1] - ep.shares[0])))
        ax.set_title(f"after {ep.episode} training episodes  (max |s_T - s_0| = {moved:.4g})"
                     + _coincident(ep.shares, "all {k} agents hold the same shares"), fontsize=10)
    _pad_ylim(axes[0], np.concatenate([ep.shares.ravel() for ep in episodes] + [[initial_shares]]),
              rel=0.002)
    return _save(plt, fig, path, axes[0].get_legend_handles_labels(), "sampled agents")


def plot_traded_volumes(episodes: list[EvaluationEpisode], path: Path,
                        evaluations: dict[int, dict] | None = None) -> Path:
    """Cumulative lots traded by the sampled agents within each episode (thesis fig. 11):
    sum_{u<=t} sum_k |trade_u^k| / lot, for the tree and the bond; zero in equilibrium.
    With ``evaluations`` (rows by episode) each title adds the whole market's volume per agent
    per step, for comparison with the convergence threshold."""
    plt, fig, axes = _panel_grid(len(episodes), f"Cumulative traded volume of the "
                                 f"{len(episodes[0].agents)} sampled agents (equilibrium: no trade)",
                                 "lots traded in steps 0..t-1 (cumulative)")
    top = 1.0
    for ax, ep in zip(axes, episodes):
        # like the holdings s_t: the value at t counts trades before step t, so t runs 0..T
        t = np.arange(ep.horizon + 1)
        tree = np.concatenate([[0.0], np.cumsum(traded_lots(ep.tree_trade, ep.tree_lot))])
        bond = np.concatenate([[0.0], np.cumsum(traded_lots(ep.bond_trade, ep.bond_lot))])
        ax.step(t, tree, where="post", color="tab:green", lw=1.8,
                label=f"tree (lot {ep.tree_lot:g} shares)")
        ax.step(t, bond, where="post", color="tab:purple", lw=1.8, ls="-.",
                label=f"bond (lot {ep.bond_lot:g} bonds)")
        ax.axhline(0.0, color="k", ls="--", lw=1.2, label="equilibrium (no trade)")
        title = f"after {ep.episode} training episodes  (sampled: tree {tree[-1]:.0f}, bond {bond[-1]:.0f} lots)"
        row = (evaluations or {}).get(ep.episode)
        if row is not None:
            title += (f"\nall agents: tree {format_value(row.get('tree_volume_per_agent_per_step'), '.4g')}, "
                      f"bond {format_value(row.get('bond_volume_per_agent_per_step'), '.4g')} lots per agent per step")
        ax.set_title(title, fontsize=10)
        if tree[-1] == 0 and bond[-1] == 0:
            _no_trade_note(ax, "no trade: the sampled agents traded no lot")
        top = max(top, tree[-1], bond[-1])
    axes[0].set_ylim(0.0, 1.08 * top)  # volumes start at 0; one range for all panels (shared)
    return _save(plt, fig, path, axes[0].get_legend_handles_labels(), "asset")


def _column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows])


def _price_panel(ax, run: RunData, asset: str) -> None:
    """Median posted price (evaluations: with IQR; training: faint) vs the Lucas price and its band."""
    tol = run.tolerances[f"{asset}_tolerance"]
    ev, tr = run.evaluations, run.training
    e_ev, e_tr = _column(ev, "episode"), _column(tr, "episode")
    symbol = "p*" if asset == "tree" else "q*"
    star = _column(ev, f"{asset}_price_star")
    if run.stochastic:
        # the analytical value moves with y_t: its median over each evaluation episode
        x_star, y_star = e_ev, star
        star_label = f"median {symbol}(y_t) of each evaluation (Lucas equilibrium)"
    else:
        last = max(e_ev[-1], e_tr[-1] if len(e_tr) else 0.0)
        x_star, y_star = np.array([0.0, last]), np.array([star[-1], star[-1]])
        star_label = f"{symbol} = {star[-1]:.4f} (Lucas equilibrium)"
    ax.fill_between(x_star, y_star * (1 - tol), y_star * (1 + tol), color="0.85",
                    label=f"{symbol} ± {tol:.0%} (criterion)")
    ax.plot(x_star, y_star, color="k", ls="--", lw=1.5, label=star_label)
    if tr:
        ax.plot(e_tr, _column(tr, f"{asset}_price_median"), color="tab:gray", lw=0.8, alpha=0.5,
                label="training episodes (median, with exploration)")
    ax.fill_between(e_ev, _column(ev, f"{asset}_price_q25"), _column(ev, f"{asset}_price_q75"),
                    color="tab:blue", alpha=0.25, label="evaluation IQR")
    median = _column(ev, f"{asset}_price_median")
    ax.plot(e_ev, median, "o-", color="tab:blue", ms=3, lw=1.5, label="evaluation median (greedy)")
    met = np.array([bool(r.get("converged")) for r in ev])
    if met.any():
        ax.plot(e_ev[met], median[met], "o", mfc="none", mec="tab:green", mew=1.5, ms=8,
                label="evaluation meets all criteria")
    ax.set_ylabel(f"posted {asset} price (goods per {'share' if asset == 'tree' else 'bond'})")
    ax.set_title(f"median posted {asset} price vs {symbol}", fontsize=10)


def _per_asset_panel(ax, run: RunData, key: str, threshold: float, symlog: bool) -> None:
    """A per-asset metric ``{tree,bond}_<key>`` across training against its threshold."""
    ev, tr = run.evaluations, run.training
    columns = []
    for asset, color, style in (("tree", "tab:green", "o-"), ("bond", "tab:purple", "s--")):
        column = f"{asset}_{key}"
        if tr:
            columns.append(_column(tr, column))
            ax.plot(_column(tr, "episode"), columns[-1], color=color, lw=0.8, alpha=0.35,
                    label=f"{asset}: training episodes")
        columns.append(_column(ev, column))
        ax.plot(_column(ev, "episode"), columns[-1], style, color=color, ms=3, lw=1.5,
                label=f"{asset}: evaluation")
    ax.axhline(threshold, color="tab:red", ls="--", lw=1.3, label=f"threshold {threshold:g} (criterion)")
    top = max([threshold] + [float(np.nanmax(c)) for c in columns if np.isfinite(c).any()])
    if symlog:
        ax.set_yscale("symlog", linthresh=threshold / 10)
        ax.set_ylim(0.0, top * 2.5)
    else:
        ax.set_ylim(0.0, top * 1.1)


def plot_convergence(run: RunData, path: Path) -> Path:
    """Across training: median posted prices with their IQR at each evaluation (faint: the
    training episodes, with exploration) against p*, q* and the tolerance bands; traded
    volume per agent per step against its threshold; for stochastic dividends the tracking
    errors mean |p_k / p(y_t) - 1|; the convergence episode if reached."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    tol = run.tolerances
    rows = 4 if run.stochastic else 3
    fig, axes = plt.subplots(rows, 1, figsize=(12.5, 3.3 * rows), sharex=True, constrained_layout=True)
    fig.suptitle("Convergence across training", fontsize=13)
    _price_panel(axes[0], run, "tree")
    _price_panel(axes[1], run, "bond")
    vt = tol["volume_tolerance"]
    _per_asset_panel(axes[2], run, "volume_per_agent_per_step", vt, symlog=True)
    axes[2].set_ylabel(f"lots traded per agent per step\n(symlog: linear below {vt / 10:g})")
    axes[2].set_title("traded volume", fontsize=10)
    if run.stochastic:
        _per_asset_panel(axes[3], run, "price_tracking_error", tol["tracking_tolerance"], symlog=False)
        axes[3].set_ylabel("mean |posted / analytical - 1|")
        axes[3].set_title("tracking error of posted prices against p(y_t), q(y_t)", fontsize=10)
    axes[-1].set_xlabel("training episode")
    converged_at = run.final().get("episodes_to_converge")
    for a in axes:
        if converged_at is not None:
            a.axvline(converged_at, color="tab:orange", ls=":", lw=2,
                      label=f"converged at episode {converged_at}")
        a.grid(alpha=0.3)
        a.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axes[-1].set_xlim(left=0)
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
