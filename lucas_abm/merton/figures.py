"""Merton results as a figure (errors against log wealth) and a markdown table."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lucas_abm.merton.evaluate import MertonSolution, relative_errors
from lucas_abm.merton.problem import MertonProblem

STYLES = {"pinn": ("tab:red", ":"), "repaired-pinn": ("tab:blue", "--"),
          "actor-critic": ("tab:green", "-")}
FLOOR = 1e-7          # errors are drawn on a log axis; exact zeros and undefined points clip here
CEILING = 1e3


def error_figure(results: list[tuple[MertonProblem, MertonSolution]], path: Path,
                 title: str = "Merton problem: learned policy against the closed form") -> Path:
    """One column per gamma; rows: relative error of pi, of c/W, and the HJB residual."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gammas = sorted({p.gamma for p, _ in results})
    fig, axes = plt.subplots(3, len(gammas), figsize=(5.2 * len(gammas), 9.5), squeeze=False,
                             sharex=True, constrained_layout=True)
    for problem, sol in results:
        col = gammas.index(problem.gamma)
        e_pi, e_nu = relative_errors(problem, sol.pi, sol.consumption_rate)
        res = np.abs(sol.residual)
        color, ls = STYLES.get(sol.method, ("k", "-"))
        for row, err in enumerate((e_pi, e_nu, res)):
            shown = np.clip(np.where(np.isfinite(err), err, CEILING), FLOOR, CEILING)
            axes[row, col].plot(sol.wealth, shown, color=color, ls=ls, lw=1.6,
                                label=f"{sol.method} ({sol.seconds:.0f} s)")
    labels = (r"$|\pi - \pi^*| / |\pi^*|$", r"$|c/W - \nu^*| / \nu^*$",
              r"$|\rho V - H| / |\rho V|$")
    for col, gamma in enumerate(gammas):
        problem = next(p for p, _ in results if p.gamma == gamma)
        axes[0, col].set_title(rf"$\gamma$ = {gamma:g}: $\pi^*$ = {problem.merton_share:.3g}, "
                               rf"$\nu^*$ = {problem.consumption_rate:.4g} per year")
        for row in range(3):
            ax = axes[row, col]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylim(FLOOR, CEILING * 2)
            ax.axhline(0.01, color="grey", lw=0.8, ls="-.", label="1%" if row < 2 else None)
            ax.set_ylabel(labels[row] + " (relative, unitless)")
            ax.grid(True, which="major", alpha=0.3)
        axes[2, col].set_xlabel("wealth W (units of consumption, log scale)")
        axes[0, col].legend(fontsize=8, loc="upper right")
    fig.suptitle(title + f" (errors clipped to [{FLOOR:g}, {CEILING:g}]; "
                 "undefined controls drawn at the top)", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _cell(value) -> str:
    """A relative error in scientific notation (1.0e-02 is 1%)."""
    if value is None or not math.isfinite(value):
        return "undefined"
    return f"{value:.1e}"


def summary_table(rows: list[dict]) -> str:
    """Markdown table of error summaries (``evaluate.error_summary`` dicts); errors are
    relative (1.0e-02 is 1%), "undefined" where a control does not exist somewhere."""
    head = ("| gamma | method | pi max err | pi median err | c/W max err | c/W median err "
            "| HJB resid. max | HJB resid. median | within 1% | undefined | seconds |")
    lines = [head, "| ---: | --- |" + " ---: |" * 9]
    for r in rows:
        cells = [f"{r['gamma']:g}", r["method"], _cell(r["pi_max_rel_err"]),
                 _cell(r["pi_median_rel_err"]), _cell(r["c_max_rel_err"]),
                 _cell(r["c_median_rel_err"]), _cell(r["hjb_max"]),
                 _cell(r["hjb_median"]), f"{r['share_within_1pct']:.0%}",
                 f"{r['undefined_fraction']:.0%}", f"{r['seconds']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
