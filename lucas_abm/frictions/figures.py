"""Comparison figure: one path of two agents' trading rates and holdings (the one agent of a
one-agent market), mu_t and sigma_t, for a method against the reference (exact / leading
order / frictionless)."""
from __future__ import annotations

from pathlib import Path


from lucas_abm.frictions.config import MarketConfig
from lucas_abm.frictions.paths import MarketPaths


def comparison_figure(config: MarketConfig, market: MarketPaths, reference: MarketPaths,
                      path: Path, label: str, reference_label: str, sample: int = 0,
                      agents: tuple[int, int] = (0, 1)) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = config.times()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), constrained_layout=True)
    colors = ("tab:blue", "tab:orange")
    for color, n in zip(colors, [n for n in agents if n < config.n_agents]):
        axes[0, 0].plot(t[:-1], reference.phidot[sample, :, n], color=color, lw=2, alpha=0.5,
                        label=f"agent {n + 1} ({reference_label})")
        axes[0, 0].plot(t[:-1], market.phidot[sample, :, n], color=color, ls="--",
                        label=f"agent {n + 1} ({label})")
        axes[1, 0].plot(t, reference.phi[sample, :, n], color=color, lw=2, alpha=0.5)
        axes[1, 0].plot(t, market.phi[sample, :, n], color=color, ls="--")
    axes[0, 1].plot(t[:-1], reference.sigma[sample], color="k", lw=2, alpha=0.5, label=reference_label)
    axes[0, 1].plot(t[:-1], market.sigma[sample], color="tab:red", ls="--", label=label)
    axes[1, 1].plot(t[:-1], reference.mu[sample], color="k", lw=2, alpha=0.5, label=reference_label)
    axes[1, 1].plot(t[:-1], market.mu[sample], color="tab:red", ls="--", label=label)
    for ax, title in zip(axes.ravel(), (r"trading rate $\dot\varphi^n_t$", r"volatility $\sigma_t$",
                                        r"holdings $\varphi^n_t$", r"drift $\mu_t$")):
        ax.set_title(title)
        ax.set_xlabel("t")
    axes[0, 0].legend(fontsize=8)
    axes[0, 1].legend(fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def metrics_table(rows: list[dict]) -> str:
    """Markdown table of summaries (keys: preset, method, and the metrics)."""
    cols = ("utility", "clearing_error", "terminal_error", "S0", "mu0", "sigma0", "seconds")
    head = "| preset | method | " + " | ".join(cols) + " |"
    sep = "|" + "---|" * (len(cols) + 2)
    lines = [head, sep]
    for r in rows:
        if "error" in r:
            cells = [r["error"]] + [""] * (len(cols) - 1)
        else:
            cells = [f"{r[c]:.1f}" if c == "seconds" else f"{r[c]:.4g}" for c in cols]
        lines.append(f"| {r.get('preset', '')} | {r['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


