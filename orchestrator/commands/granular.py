"""``lucas-abm granular``: granular volatility of the aggregate shock and the tree price.

Examples::

    lucas-abm granular                                  # N = 10 ... 10^6, writes runs/granular/
    lucas-abm granular --sizes 10,100,1000 --periods 100 --json
    lucas-abm granular --out docs/results               # the figure and table in the docs

Writes ``granular.csv``, ``granular.md`` (table and fitted slopes), ``granular.png`` and
``granular.json`` (everything, with the provenance record) to ``--out``. The economics is in
:mod:`lucas_abm.granular` and docs/heterogeneity.md.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from lucas_abm.errors import ConfigError
from lucas_abm.granular import DEFAULT_N_AGENTS, DemandRule, GranularConfig, asymptotic_law, run_granular
from orchestrator.commands.arguments import nonnegative_int, output_dir

COLUMNS = ("size_law", "n_agents", "size_draws", "h", "h_mean", "aggregate_vol_over_sigma_h",
           "price_vol", "price_vol_theory", "price_vol_over_theory", "price_vol_log_sd", "sampling_error",
           "clearing_residual")


def _agent_counts(text: str) -> tuple[int, ...]:
    """``"10,1e3,1000000"`` -> (10, 1000, 1000000); ConfigError naming ``sizes`` otherwise."""
    try:
        values = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        values = [float("nan")]
    if not values or any(not np.isfinite(v) or v != int(v) for v in values):
        raise ConfigError("sizes", "a comma-separated list of integers (agent counts)", text)
    return tuple(int(v) for v in values)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "granular", help="granular volatility: aggregate shock and tree-price volatility vs N "
                         "and the size law (equal, Pareto zeta = 1.5, Zipf)",
        description="Sweep the number of traders N and their size law; each trader gets an "
                    "independent shock eps_i ~ N(0, sigma^2) every period and demands "
                    "d_i = S_i (1 + c eps_i - b log(p/p*)) tree shares. Reports h = "
                    "sqrt(sum_i (S_i/sum_j S_j)^2), the realised aggregate-shock volatility over "
                    "sigma h, and the clearing log-price volatility against (c/b) sigma h.")
    p.add_argument("--sizes", default=",".join(map(str, DEFAULT_N_AGENTS)),
                   help="distinct agent counts N, comma separated, each in [2, 10^7] "
                        "(default 10,100,1000,10000,100000,1000000)")
    p.add_argument("--sigma", type=float, default=0.1,
                   help="s.d. of each trader's shock eps_i per period (in [1e-100, 1e100]; default 0.1)")
    p.add_argument("--periods", type=int, default=250,
                   help="periods T per (N, size draw); relative sampling error of a volatility "
                        "1/sqrt(2(T-1)) (>= 2; default 250)")
    p.add_argument("--size-draws", type=int, default=32,
                   help="independent size vectors per Pareto/Zipf law and N: h is random for "
                        "them, rows report medians over draws (>= 1; default 32)")
    p.add_argument("--elasticity", type=float, default=2.0,
                   help="b: price elasticity of each trader's demand per unit of size (in [1e-100, "
                        "1e100]; default 2)")
    p.add_argument("--loading", type=float, default=1.0,
                   help="c: demand response to the trader's own shock (|c| in [1e-100, 1e100]; default 1)")
    p.add_argument("--fit-min-n", type=int, default=100,
                   help="slopes are fitted on N >= this, an integer >= 2 (default 100: the "
                        "asymptotic regime); "
                        "all N when fewer than two are this large (the output says which N)")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of sizes and shocks (>= 0; default 0)")
    p.add_argument("--out", type=output_dir, default=Path("runs/granular"),
                   help="directory for granular.csv/.md/.png/.json (default runs/granular)")
    p.add_argument("--json", action="store_true",
                   help="print {rows, slopes, slopes_theory, ...} as JSON instead of text")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> GranularConfig:
    """Validated sweep configuration (ConfigError before any work)."""
    return GranularConfig(n_agents=_agent_counts(args.sizes), sigma=args.sigma, periods=args.periods,
                          size_draws=args.size_draws,
                          demand=DemandRule(elasticity=args.elasticity, loading=args.loading),
                          fit_min_n=args.fit_min_n, seed=args.seed)


def markdown_table(result: dict) -> str:
    """Rows and fitted slopes as Markdown."""
    lines = [f"sigma = {result['sigma']:g}, b = {result['elasticity']:g}, c = {result['loading']:g}, "
             f"T = {result['periods']} periods, {result['size_draws']} size draws per random law "
             f"(medians over draws), seed {result['seed']}; sampling error of a volatility "
             f"1/sqrt(2(T-1)) = {result['rows'][0]['sampling_error']:.3f}.", "",
             "| size law | N | draws | h (median) | agg. vol / (sigma h) | price vol | "
             "(c/b) sigma h | price vol / theory |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['size_law']} | {r['n_agents']:,} | {r['size_draws']} | {r['h']:.4g} | "
                     f"{r['aggregate_vol_over_sigma_h']:.3f} | {r['price_vol']:.4g} | "
                     f"{r['price_vol_theory']:.4g} | {r['price_vol_over_theory']:.3f} |")
    if not result["slopes"]:
        return "\n".join(lines + ["", "No slopes: a fit needs at least two agent counts."]) + "\n"
    lines += ["", f"Slopes of log price vol on log N (N >= {min(result['fit_n_agents'])}):", "",
              "| size law | fitted slope | theory slope | asymptotic law |", "|---|---:|---:|---|"]
    for label, slope in result["slopes"].items():
        lines.append(f"| {label} | {slope:.3f} | {result['slopes_theory'][label]:.3f} | "
                     f"{result['asymptotic_laws'][label]} |")
    return "\n".join(lines) + "\n"


def plot_granular(config: GranularConfig, result: dict, path: Path) -> Path:
    """Price volatility vs N with theory lines; compensated volatility; realised/theory ratios."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 5), constrained_layout=True)
    scale = abs(config.demand.loading) / config.demand.elasticity * config.sigma
    se = result["rows"][0]["sampling_error"]
    for color, (label, law) in zip(("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"),
                                   config.laws().items()):
        rows = [r for r in result["rows"] if r["size_law"] == label]
        n = np.array([r["n_agents"] for r in rows], float)
        vol = np.array([r["price_vol"] for r in rows])
        name, rate = asymptotic_law(law)
        fit = np.isin(n, result["fit_n_agents"])
        const = float(np.exp(np.mean(np.log(vol[fit] / rate(n[fit])))))
        slope = result["slopes"].get(label, float("nan"))
        axes[0].loglog(n, vol, "o", color=color, label=f"{label}: fitted slope {slope:.3f}")
        axes[0].loglog(n, [r["price_vol_theory"] for r in rows], "-", color=color, lw=1, alpha=0.6)
        grid = np.geomspace(n.min(), n.max(), 100)
        axes[0].loglog(grid, const * rate(grid), "--", color=color, lw=1.2,
                       label=f"  {const:.3g} x {name}")
        compensated = vol / (scale * rate(n))
        # s.e. of a median over R draws ~ 1.2533 sd/sqrt(R) (in logs), plus the shocks' sampling error
        rel = np.hypot([1.2533 * r["price_vol_log_sd"] / np.sqrt(r["size_draws"]) for r in rows], se)
        axes[1].errorbar(n, compensated, yerr=rel * compensated, fmt="o-", color=color, capsize=3,
                         label=f"{label}: price vol / ((c/b) sigma {name})")
        axes[2].semilogx(n, [r["aggregate_vol_over_sigma_h"] for r in rows], "o", mfc="none",
                         color=color, ms=9, label=f"{label}: sd(E) / (sigma h)")
        axes[2].semilogx(n, [r["price_vol_over_theory"] for r in rows], ".", color=color,
                         label=f"{label}: price vol / ((c/b) sigma h)")
    axes[0].set(title="Tree log-price volatility vs N",
                xlabel="number of traders N", ylabel="sd of log p per period (log points)")
    axes[1].set(title="Compensated by the asymptotic law (flat = law holds)",
                xlabel="number of traders N", ylabel="price vol / ((c/b) sigma x law(N))  (dimensionless)")
    axes[1].set_xscale("log")
    axes[2].axhspan(1 - 2 * se, 1 + 2 * se, color="0.85", label="1 +/- 2 sampling s.e.")
    axes[2].axhline(1.0, color="k", lw=0.8)
    axes[2].set(title="Realised / theory, mean over size draws", xlabel="number of traders N",
                ylabel="ratio (dimensionless)")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.suptitle(f"Granular volatility: sigma = {config.sigma:g} per period, b = "
                 f"{config.demand.elasticity:g}, c = {config.demand.loading:g}, T = {config.periods} "
                 f"periods, {config.size_draws} size draws\n(points: medians over draws; thin lines: "
                 f"(c/b) sigma h; dashed: fitted constant x asymptotic law; bars: s.e. of the median)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_outputs(config: GranularConfig, result: dict, out: Path) -> None:
    from orchestrator.provenance import provenance_record

    out.mkdir(parents=True, exist_ok=True)
    with open(out / "granular.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(result["rows"])
    (out / "granular.md").write_text(markdown_table(result))
    plot_granular(config, result, out / "granular.png")
    record = {**result, "provenance": provenance_record({k: v for k, v in result.items()
                                                         if k not in ("rows", "slopes", "slopes_theory")})}
    (out / "granular.json").write_text(json.dumps(record, indent=2, default=str) + "\n")


def run(args: argparse.Namespace) -> int:
    config = build_config(args)
    result = run_granular(config)
    write_outputs(config, result, args.out)
    if args.json:
        print(json.dumps(result))
        return 0
    print(markdown_table(result), end="")
    print(f"wrote {args.out}/granular.csv, .md, .png, .json in {result['seconds']:.1f} s")
    return 0
