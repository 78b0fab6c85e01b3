"""The replication report of a training run: the thesis' figures 8-11, convergence curves, markdown.

Reads what ``lucas-abm train`` wrote into a run directory (``config.yaml``, ``summary.json``,
``metrics.jsonl``, ``evaluation.jsonl``, ``episodes/eval-EEEEEE.npz``) and writes into the
report directory::

    posted_tree_prices.png   posted tree prices p_t^k of the sampled agents vs p(y_t)   (fig. 8)
    holdings.png             tree holdings s_t^k vs the endowment s_0                  (fig. 9)
    posted_bond_prices.png   posted bond prices q_t^k vs q(y_t)                        (fig. 10)
    traded_volumes.png       cumulative lots traded by the sampled agents               (fig. 11)
    convergence.png          evaluation medians and IQRs across training vs p*, q*, volume threshold
                             (and, for stochastic dividends, tracking errors vs their threshold)
    report.md                the economy, final numbers, convergence criteria, the figures

Only NumPy, YAML and matplotlib (Agg) are used: a report never imports TensorFlow.
Every input is checked in :func:`load_run` / :func:`select_episodes` before anything is drawn.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from lucas_abm.errors import ConfigError
from orchestrator.convergence import episodes_to_converge, final_numbers

DEFAULT_PANELS = 4
FIGURES = ("posted_tree_prices.png", "holdings.png", "posted_bond_prices.png",
           "traded_volumes.png", "convergence.png")
# Convergence criteria when config.yaml predates them (orchestrator.config.TrainingConfig defaults).
DEFAULT_TOLERANCES = {"tree_tolerance": 0.02, "bond_tolerance": 0.01, "volume_tolerance": 0.005,
                      "tracking_tolerance": 0.03}


# ---------------------------------------------------------------------------- the run's data
@dataclass(frozen=True)
class EvaluationEpisode:
    """Trajectories of the sampled agents in one greedy evaluation episode (T steps, K agents).

    ``shares``/``bonds`` are holdings at the start of steps 0..T ([T+1, K]); trades are signed
    (+ bought, - sold) in shares/bonds; ``tree_price_star``/``bond_price_star`` are the solver's
    p(y_t), q(y_t).
    """

    episode: int
    agents: np.ndarray           # [K] agent ids
    tree_price: np.ndarray       # [T, K] posted p_t^k
    bond_price: np.ndarray       # [T, K] posted q_t^k
    shares: np.ndarray           # [T+1, K] s_t^k
    bonds: np.ndarray            # [T+1, K] b_t^k
    tree_trade: np.ndarray       # [T, K]
    bond_trade: np.ndarray       # [T, K]
    dividend: np.ndarray         # [T] y_t
    tree_price_star: np.ndarray  # [T] p(y_t)
    bond_price_star: np.ndarray  # [T] q(y_t)
    tree_lot: float
    bond_lot: float

    @classmethod
    def load(cls, path: Path) -> "EvaluationEpisode":
        keys = ("episode", "agents", "tree_price", "bond_price", "shares", "bonds", "tree_trade",
                "bond_trade", "dividend", "tree_price_star", "bond_price_star", "tree_lot", "bond_lot")
        try:
            with np.load(path) as data:
                values = {k: np.asarray(data[k]) for k in keys if k in data}
        except (OSError, ValueError) as err:   # not a zip archive, truncated, ...
            raise ConfigError("DIR", "a run directory with readable episodes/*.npz", str(path),
                              detail=str(err)) from None
        missing = [k for k in keys if k not in values]
        if missing:
            raise ConfigError("DIR", "a run directory whose episodes/*.npz hold " + ", ".join(keys),
                              str(path), detail="missing " + ", ".join(missing))
        return cls(episode=int(values.pop("episode")), tree_lot=float(values.pop("tree_lot")),
                   bond_lot=float(values.pop("bond_lot")), **values)

    def select_agents(self, k: int) -> "EvaluationEpisode":
        """The first ``k`` sampled agents (columns)."""
        cols = slice(0, k)
        return EvaluationEpisode(
            self.episode, self.agents[cols], self.tree_price[:, cols], self.bond_price[:, cols],
            self.shares[:, cols], self.bonds[:, cols], self.tree_trade[:, cols], self.bond_trade[:, cols],
            self.dividend, self.tree_price_star, self.bond_price_star, self.tree_lot, self.bond_lot)

    @property
    def horizon(self) -> int:
        return len(self.dividend)


@dataclass
class RunData:
    """A training run directory, read: config, summary (None while the run is unfinished),
    training rows, evaluation rows and the paths of the saved evaluation episodes."""

    directory: Path
    config: dict
    summary: dict | None
    training: list[dict]
    evaluations: list[dict]
    episode_files: dict[int, Path] = field(default_factory=dict)

    @property
    def tolerances(self) -> dict:
        tc = self.config.get("training") or {}
        return {k: float(tc.get(k, v)) for k, v in DEFAULT_TOLERANCES.items()}

    @property
    def stochastic(self) -> bool:
        return (self.config.get("economy") or {}).get("dividend", "constant") != "constant"

    def final(self) -> dict:
        """The final numbers: summary.json, or (unfinished run) the last evaluation."""
        if self.summary is not None:
            return self.summary
        last = self.evaluations[-1]
        out = {"episodes": self.training[-1]["episode"] if self.training else last["episode"],
               "episodes_to_converge": episodes_to_converge(self.evaluations)}
        out["converged"] = out["episodes_to_converge"] is not None
        out.update(final_numbers(last, self.stochastic))
        return out


def _read_jsonl(path: Path) -> list[dict]:
    try:
        with open(path) as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError("DIR", f"a run directory with a readable {path.name}", str(path.parent),
                          detail=str(err)) from None


def load_run(directory: str | Path) -> RunData:
    """Read a run directory written by ``lucas-abm train``; ConfigError("DIR", ...) if it is not one.

    Required: config.yaml, evaluation.jsonl with at least one row, episodes/eval-*.npz.
    Optional: summary.json (absent while training runs), metrics.jsonl.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError("DIR", "an existing run directory (written by lucas-abm train --out DIR)", str(d))
    required = ("config.yaml", "evaluation.jsonl")
    missing = [name for name in required if not (d / name).is_file()]
    if missing:
        raise ConfigError("DIR", "a run directory (written by lucas-abm train --out DIR)", str(d),
                          detail="no " + " or ".join(missing))
    try:
        config = yaml.safe_load((d / "config.yaml").read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError("DIR", "a run directory with a readable config.yaml", str(d), detail=str(err)) from None
    if not isinstance(config, dict) or "market" not in config or "economy" not in config:
        raise ConfigError("DIR", "a run directory whose config.yaml has economy and market sections", str(d))
    evaluations = _read_jsonl(d / "evaluation.jsonl")
    if not evaluations:
        raise ConfigError("DIR", "a run directory with at least one evaluation (evaluation.jsonl is empty)", str(d))
    training = _read_jsonl(d / "metrics.jsonl") if (d / "metrics.jsonl").is_file() else []
    summary = None
    if (d / "summary.json").is_file():
        try:
            summary = json.loads((d / "summary.json").read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError("DIR", "a run directory with a readable summary.json", str(d),
                              detail=str(err)) from None
    files = {}
    for path in sorted((d / "episodes").glob("eval-*.npz")):
        try:
            files[int(path.stem.split("-", 1)[1])] = path
        except ValueError:
            continue
    if not files:
        raise ConfigError("DIR", "a run directory with saved evaluation episodes (episodes/eval-*.npz)", str(d))
    return RunData(d, config, summary, training, evaluations, files)


def select_episodes(available: list[int], requested: list[int] | None,
                    panels: int = DEFAULT_PANELS) -> list[int]:
    """The evaluation episodes to draw: ``requested`` (each must be available), or by default
    ``panels`` episodes spread evenly over training from the first to the last evaluation."""
    available = sorted(available)
    if requested:
        unknown = [e for e in requested if e not in available]
        if unknown:
            shown = ", ".join(map(str, available)) if len(available) <= 20 else (
                ", ".join(map(str, available[:10])) + ", ..., " + ", ".join(map(str, available[-3:])))
            raise ConfigError("--episodes", f"evaluation episodes of this run ({shown})",
                              ",".join(map(str, unknown)))
        return list(dict.fromkeys(requested))
    index = np.unique(np.round(np.linspace(0, len(available) - 1, min(panels, len(available)))).astype(int))
    return [available[i] for i in index]


def traded_lots(trade: np.ndarray, lot: float) -> np.ndarray:
    """Lots traded per step by the given agents: sum_k |trade_t^k| / lot ([T, K] -> [T])."""
    return np.abs(np.asarray(trade, dtype=float)).sum(axis=1) / lot


# ---------------------------------------------------------------------------- figures
def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _panel_grid(n: int, title: str, ylabel: str):
    """A grid of n panels (up to 2 columns for n <= 4, else 3), shared x, one y label per row."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator
    ncols = 1 if n == 1 else (2 if n <= 4 else 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols + 1.8, 3.4 * nrows + 0.6),
                             squeeze=False, sharex=True, constrained_layout=True)
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


def _save(plt, fig, path: Path, legend_handles=None, legend_title: str | None = None) -> Path:
    if legend_handles:
        handles, labels = legend_handles
        fig.legend(handles, labels, loc="outside right center", title=legend_title, fontsize=9,
                   title_fontsize=9, frameon=False)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_posted_prices(episodes: list[EvaluationEpisode], asset: str, path: Path) -> Path:
    """Posted prices of the sampled agents within each episode against the Lucas price
    (asset ``tree``: p_t^k vs p(y_t), thesis fig. 8; ``bond``: q_t^k vs q(y_t), fig. 10)."""
    symbol = "p" if asset == "tree" else "q"
    plt, fig, axes = _panel_grid(len(episodes), f"Posted {asset} prices of sampled agents "
                                 f"vs the Lucas equilibrium {symbol}*",
                                 f"posted {asset} price {symbol}" + r"$_t^k$ (goods per "
                                 + ("share)" if asset == "tree" else "bond)"))
    colors = _agent_colors(len(episodes[0].agents))
    varying = any(np.ptp(getattr(ep, f"{asset}_price_star")) > 0 for ep in episodes)
    star_name = f"{symbol}*(y_t)" if varying else f"{symbol}*"
    for ax, ep in zip(axes, episodes):
        prices = getattr(ep, f"{asset}_price")
        star = getattr(ep, f"{asset}_price_star")
        t = np.arange(ep.horizon)
        for j, agent in enumerate(ep.agents):
            ax.plot(t, prices[:, j], color=colors[j], lw=1.2, alpha=0.85, label=f"agent {agent}")
        ax.plot(t, star, color="k", ls="--", lw=1.8, label=f"{star_name} (Lucas equilibrium)")
        ax.set_title(f"after {ep.episode} training episodes  (median {float(np.median(prices)):.4f}, "
                     f"{'median ' if varying else ''}{star_name} {float(np.median(star)):.4f})"
                     + _coincident(prices, "all {k} agents post the same price"), fontsize=10)
        _pad_ylim(ax, np.concatenate([prices.ravel(), star]))
    return _save(plt, fig, path, axes[0].get_legend_handles_labels(), "sampled agents")


def _coincident(values: np.ndarray, text: str) -> str:
    """A second title line when every agent's line lies on one curve (only the last colour
    would show), else nothing."""
    if values.shape[1] > 1 and np.all(values == values[:, :1]):
        return "\n" + text.format(k=values.shape[1])
    return ""


def _pad_ylim(ax, values: np.ndarray, rel: float = 0.02) -> None:
    """Y range that shows flat series (all agents at one price) with a visible margin."""
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = max((hi - lo) * 0.08, abs(hi) * rel, 1e-9)
    ax.set_ylim(lo - pad, hi + pad)


def plot_holdings(episodes: list[EvaluationEpisode], initial_shares: float, path: Path) -> Path:
    """Tree holdings s_t^k of the sampled agents within each episode (thesis fig. 9); the
    endowment s_0 (the equilibrium holding: nobody trades at p*) as a reference line."""
    plt, fig, axes = _panel_grid(len(episodes), "Tree holdings of sampled agents "
                                 "(equilibrium: everyone keeps the endowment)",
                                 r"tree holdings $s_t^k$ (shares)")
    colors = _agent_colors(len(episodes[0].agents))
    for ax, ep in zip(axes, episodes):
        t = np.arange(ep.horizon + 1)
        for j, agent in enumerate(ep.agents):
            ax.step(t, ep.shares[:, j], where="post", color=colors[j], lw=1.2, alpha=0.85,
                    label=f"agent {agent}")
        # drawn wide and underneath: agents who keep the endowment stay visible on top of it
        ax.axhline(initial_shares, color="0.55", lw=5, alpha=0.5, zorder=1,
                   label=f"endowment s0 = {initial_shares:g} (equilibrium)")
        moved = float(np.max(np.abs(ep.shares[-1] - ep.shares[0])))
        ax.set_title(f"after {ep.episode} training episodes  (max |s_T - s_0| = {moved:.4g})"
                     + _coincident(ep.shares, "all {k} agents hold the same shares"), fontsize=10)
        _pad_ylim(ax, np.concatenate([ep.shares.ravel(), [initial_shares]]), rel=0.002)
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
            title += (f"\nall agents: tree {_fmt(row.get('tree_volume_per_agent_per_step'), '.4g')}, "
                      f"bond {_fmt(row.get('bond_volume_per_agent_per_step'), '.4g')} lots per agent per step")
        ax.set_title(title, fontsize=10)
        top = max(1.0, tree[-1], bond[-1])
        ax.set_ylim(-0.05 * top, 1.08 * top)
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


# ---------------------------------------------------------------------------- markdown
def _fmt(value, spec: str = ".4f", none: str = "n/a") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return none
    if spec.endswith("%"):
        value = round(value, 6) + 0.0     # no "-0.00%" for round-off below the printed digits
    return format(value, spec)


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
            f"| {r['episode']} | {_fmt(r.get('tree_price_median'))} | {_fmt(r.get('tree_price_rel_error'), '+.2%')} | "
            f"{_fmt(r.get('bond_price_median'))} | {_fmt(r.get('bond_price_rel_error'), '+.2%')} | "
            f"{_fmt(r.get('tree_volume_per_agent_per_step'), '.4g')} | "
            f"{_fmt(r.get('bond_volume_per_agent_per_step'), '.4g')} | {'yes' if r.get('converged') else 'no'} |")
    return lines


def markdown_report(run: RunData, figures: dict[str, str], shown: list[int]) -> str:
    """The markdown summary: economy, final numbers vs the analytical prices, criteria, figures."""
    cfg = run.config
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
        f"| tree price | {_fmt(final.get('tree_price'))} | {p_star} = {_fmt(final.get('tree_price_star'))} | "
        f"{_fmt(final.get('tree_price_rel_error'), '+.2%')} | within ±{tol['tree_tolerance']:.0%} | "
        f"{_met(final.get('tree_price_rel_error'), tol['tree_tolerance'])} |",
        f"| bond price | {_fmt(final.get('bond_price'))} | {q_star} = {_fmt(final.get('bond_price_star'))} | "
        f"{_fmt(final.get('bond_price_rel_error'), '+.2%')} | within ±{tol['bond_tolerance']:.0%} | "
        f"{_met(final.get('bond_price_rel_error'), tol['bond_tolerance'])} |",
        f"| tree volume (lots per agent per step) | {_fmt(vol.get('tree'), '.4g')} | 0 (no trade) | | "
        f"<= {tol['volume_tolerance']:g} | {_met(vol.get('tree'), tol['volume_tolerance'])} |",
        f"| bond volume (lots per agent per step) | {_fmt(vol.get('bond'), '.4g')} | 0 (no trade) | | "
        f"<= {tol['volume_tolerance']:g} | {_met(vol.get('bond'), tol['volume_tolerance'])} |",
    ]
    if "tree_price_tracking_error" in final:
        lines += [
            f"| tree tracking error mean abs(p_k / p(y_t) - 1) | {_fmt(final.get('tree_price_tracking_error'), '.2%')} "
            f"| 0 | | <= {tol['tracking_tolerance']:.0%} | "
            f"{_met(final.get('tree_price_tracking_error'), tol['tracking_tolerance'])} |",
            f"| bond tracking error mean abs(q_k / q(y_t) - 1) | {_fmt(final.get('bond_price_tracking_error'), '.2%')} "
            f"| 0 | | <= {tol['tracking_tolerance']:.0%} | "
            f"{_met(final.get('bond_price_tracking_error'), tol['tracking_tolerance'])} |",
        ]
    wall = final.get("wall_seconds")
    lines += [
        "", "| run | value |", "|---|---|",
        f"| episodes trained | {final.get('episodes')} |",
        f"| episodes to converge | {_fmt(final.get('episodes_to_converge'), 'd', 'not converged')} |",
        f"| converged | {'yes' if final.get('converged') else 'no'} |",
        f"| IQR of posted tree / bond prices | {_fmt(final.get('tree_price_iqr'))} / "
        f"{_fmt(final.get('bond_price_iqr'))} |",
        f"| wall-clock | {f'{wall:.1f} s ({wall / 60:.1f} min)' if wall is not None else 'n/a'} |",
        f"| agent-steps per second | {_fmt(final.get('agent_steps_per_second'), ',.0f')} |",
        f"| learner updates | {_fmt(final.get('updates'), 'd')} |",
        "",
        "## Convergence criteria", "",
        "An evaluation (one greedy episode, no exploration, no learning) meets the criteria when the "
        "median posted prices over all agents and steps are within the tolerances of the analytical "
        "prices and both assets trade at most the volume threshold:", "",
        f"- |median posted tree price / p* - 1| <= {tol['tree_tolerance']:g}",
        f"- |median posted bond price / q* - 1| <= {tol['bond_tolerance']:g}",
        f"- tree and bond volume <= {tol['volume_tolerance']:g} lots per agent per step",
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
    written = {
        "posted_tree_prices.png": plot_posted_prices(episodes, "tree", out / "posted_tree_prices.png"),
        "holdings.png": plot_holdings(episodes, initial_shares, out / "holdings.png"),
        "posted_bond_prices.png": plot_posted_prices(episodes, "bond", out / "posted_bond_prices.png"),
        "traded_volumes.png": plot_traded_volumes(episodes, out / "traded_volumes.png",
                                                  {row["episode"]: row for row in run.evaluations}),
        "convergence.png": plot_convergence(run, out / "convergence.png"),
    }
    md = out / "report.md"
    md.write_text(markdown_report(run, {name: name for name in written}, shown) + "\n")
    written["report.md"] = md
    return written
