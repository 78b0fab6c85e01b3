"""The report's figure for a run of adaptive valuers (``learner.algorithm: adaptive``):
``estimates.png``, what they learned against the truth, after every training episode.

* left: the estimated transition law, each entry ``P_hat[y -> y']`` (metrics.jsonl's
  ``p_hat[y->y']``, the Dirichlet posterior mean of orchestrator/learners/adaptive.py) against
  the chain's true ``P[y, y']`` (dashed, the config's ``economy.dividend_params.transition``);
* right: the bond prices the valuers roll a position over at, ``q_hat(y)`` (``q_hat[y=...]``,
  the prior-weighted mean or median of the clearing prices seen in y) against the
  heterogeneous equilibrium's ``q(y)`` (dashed, RUN/population.json's ``equilibrium``, valued
  in the configured initial state: the first when episodes start from a random one).

A bond position is the difference of near-equal numbers, ``c(y) = s y + b (1 - q(y))`` with
``1 - q(y)`` a few percent, so the right panel's gaps are what the debt's error is made of
(docs/heterogeneity.md, "Adaptive valuers").
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from orchestrator.figures import _column, _pyplot, save_figure
from orchestrator.run_data import RunData

FIGURE = "estimates.png"
CAPTION = "Adaptive valuers' estimates across training: the dividend's transition law and the bond prices, against the truth"


def has_estimates(run: RunData) -> bool:
    """True for a run whose training rows carry the adaptive valuers' estimates."""
    return bool(run.training) and any(k.startswith("q_hat[y=") for k in run.training[-1])


def plot_estimates(run: RunData, population: dict, path: Path) -> Path:
    """Save :func:`estimates_figure` to ``path``."""
    return save_figure(estimates_figure(run, population), path)


def estimates_figure(run: RunData, population: dict):
    """The two panels above (a matplotlib Figure, axes left to right); one colour per state."""
    plt = _pyplot()
    rows = run.training
    episode = _column(rows, "episode")
    params = (run.config.get("economy") or {}).get("dividend_params") or {}
    states = [float(y) for y in params.get("states", [])]
    transition = np.asarray(params.get("transition", []), float)
    eq = population.get("equilibrium") or {}
    labels = [f"{y:g}" for y in states]
    colors = [plt.get_cmap("tab10")(i % 10) for i in range(len(states) ** 2)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True)
    fig.suptitle(CAPTION, fontsize=11)
    for k, (j, l) in enumerate((j, l) for j in range(len(states)) for l in range(len(states))):
        key = f"p_hat[{labels[j]}->{labels[l]}]"
        left.plot(episode, _column(rows, key), "-", color=colors[k], lw=1.5, label=f"P_hat[{labels[j]} -> {labels[l]}]")
        if transition.shape == (len(states), len(states)):
            left.axhline(transition[j, l], color=colors[k], ls="--", lw=1.0,
                         label=f"P[{labels[j]} -> {labels[l]}] = {transition[j, l]:.3g}")
    left.set_title("dividend transition law: estimated (solid) and true (dashed)", fontsize=10)
    left.set_ylabel("probability")
    left.set_ylim(-0.02, 1.02)
    q_star = eq.get("bond_price") or []
    for j, label in enumerate(labels):
        right.plot(episode, _column(rows, f"q_hat[y={label}]"), "-", color=colors[j], lw=1.5, label=f"q_hat(y={label})")
        if j < len(q_star):
            right.axhline(q_star[j], color=colors[j], ls="--", lw=1.0, label=f"q(y={label}) = {q_star[j]:.4f}")
    right.set_title(f"bond prices rolled over at: estimated (solid) and the equilibrium's "
                    f"({eq.get('solver', 'none')}, dashed)", fontsize=10)
    right.set_ylabel("bond price (consumption per unit of face value)")
    right.ticklabel_format(axis="y", useOffset=False, style="plain")
    for ax in (left, right):
        ax.set_xlabel("training episode")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best", frameon=False)
    return fig
