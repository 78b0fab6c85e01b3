"""Granular volatility with learning traders at small N (docs/heterogeneity.md, "Granular
volatility", last part).

The scripted experiment (``lucas-abm granular``, :mod:`lucas_abm.granular`) gives every trader
the demand rule ``d_i(x) = S_i (1 + c eps_it - b x)``; the call auction then clears at
``x_t = (c/b) E_t`` with ``E_t = sum_i w_i eps_it``, ``w_i = S_i / sum_j S_j``, so
``sd(log p_t) = (c/b) sigma h`` and ``h = sqrt(sum_i w_i^2)``. Here the traders are the DQN
learners of ``lucas-abm train`` instead (one shared network, the agent's log size in its
observation) trading the tree and the bond in the limit-order call auction with order sizes
(``actions.tree_positions``: a target holding per initial share), and each gets an i.i.d.
non-tradable income shock (the population's ``income``: ``w_it = s0_i ybar u_it``,
``u_it ~ N(0, sigma^2)``, persistence 0), which enters its income and its observation.

For each size law (equal; Pareto, zeta = 1.5; Zipf) and N, one run trains from scratch
(``--episodes``), then plays ``--eval-episodes`` greedy episodes on fresh seeds and records,
each period, the call auction's clearing tree price P_t and the realised weighted shock
``E_t = sum_i w_i u_it`` (from the market's ``endowment``). Reported per run:

* ``h`` of the run's drawn sizes (exact, not a median over draws);
* ``price_vol``: sd of ``x_t = log(P_t / p*)`` over the evaluation periods (the first
  ``--burn`` periods of each episode dropped);
* ``loading``: the least-squares slope of x_t on E_t, with its standard error, and ``r2``:
  the learned market's "c/b" and the share of price variance the granular shock explains;
* ``granular_vol = |loading| sd(E_t)`` and ``residual_vol`` (sd of the regression residual:
  what the learned policies add without the shocks);
* ``scripted_vol = (c/b) sigma h`` with the scripted defaults b = 2, c = 1 (what
  ``lucas-abm granular`` derives for these sizes), and ``price_vol / (sigma h)``.

If the learned traders' demand responds to their own shocks in proportion to size, as the
scripted rule's does, ``price_vol`` and ``granular_vol`` are proportional to h across size laws
and N, with the same loading. The command and the numbers are in docs/heterogeneity.md.

    nice -n 10 .venv/bin/python benchmarks/granular_learning.py --out docs/results
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from lucas_abm.granular import price_response
from lucas_abm.yaml_io import load_yaml

SIZE_LAWS = {"equal": 1.0, "pareto-1.5": {"pareto": {"zeta": 1.5}}, "zipf": {"zipf": {}}}
BASE = Path(__file__).resolve().parent.parent / "configs" / "population_pareto_cpu.yaml"


def config_dict(size_law, n: int, sigma: float, episodes: int, horizon: int, seed: int) -> dict:
    """configs/population_pareto_cpu.yaml with the experiment's population, mechanism and grid."""
    raw = load_yaml(BASE.read_text())
    raw = copy.deepcopy(raw)
    raw["population"] = [{"name": "traders", "count": n, "size": size_law,
                          "income": {"mean": 0.0, "volatility": sigma, "persistence": 0.0}}]
    raw["economy"]["mechanism"] = "call-auction"
    raw["economy"]["mechanism_params"] = {}
    raw["market"].update({"n_agents": n, "horizon": horizon})
    raw["actions"].update({"tree_low": 0.75, "tree_high": 0.95, "tree_step": 0.01,
                           "bond_low": 0.90, "bond_high": 1.00, "bond_step": 0.005,
                           "tree_positions": [-0.04, -0.02, 0.0, 0.02, 0.04],
                           "bond_positions": [0.0]})
    raw["learner"].update({"weight_sharing": "shared", "agent_types": 1, "hidden": [32, 32],
                           "final_learning_rate": None})
    raw["replay"].update({"capacity": 20 * horizon, "min_size": 4 * horizon})
    raw["training"].update({"episodes": episodes, "eval_interval": episodes,
                            "checkpoint_interval": episodes, "seed": seed,
                            "stop_after_converged_evals": 0})
    return raw


def evaluate(trainer, episodes: int, burn: int, seed: int) -> dict:
    """Greedy episodes of the trained traders: clearing log prices and weighted shocks."""
    from orchestrator.agents import Features, market_orders

    economy, algorithm = trainer.economy, trainer.algorithm
    market = economy.market()
    features = Features.build(trainer.config, market, economy.dividend)
    s0 = market.agents.initial_shares
    weights = s0 / s0.sum()
    ybar = float(economy.dividend.moment(1.0))
    p_star = float(economy.prices.tree_price(ybar))
    x, shock, volume = [], [], []
    for e in range(episodes):
        obs = market.reset(seed=int(np.random.SeedSequence([seed, 7919, e]).generate_state(1)[0]))
        for t in range(market.horizon):
            actions = algorithm.policy(features.observation(obs), 0.0, None)
            tree, bond = algorithm.prices(actions)
            step = market.step(tree, bond, *market_orders(algorithm, actions, market))
            obs = step.observation
            if t >= burn:
                u = step.endowment / (s0 * ybar)      # u_it (income mean 0)
                x.append(np.log(step.tree_clearing_price / p_star))
                shock.append(float(weights @ u))
                volume.append(float(np.abs(step.tree_trade).sum() / 2 / s0.sum()))
    return {"x": np.asarray(x), "shock": np.asarray(shock), "volume": np.asarray(volume),
            "p_star": p_star}


def measure(record: dict, sizes: np.ndarray, sigma: float) -> dict:
    """The table row: :func:`lucas_abm.granular.price_response` and the tree volume."""
    row = price_response(record["x"], record["shock"], sizes, sigma)
    row["tree_volume_per_period"] = float(record["volume"].mean())
    return row


def run_one(law: str, n: int, args) -> dict:
    from orchestrator.config import config_from_dict
    from orchestrator.local import LocalTrainer

    out = args.runs / f"{law}-N{n}"
    if out.exists():
        import shutil
        shutil.rmtree(out)
    config = config_from_dict(config_dict(SIZE_LAWS[law], n, args.sigma, args.episodes,
                                          args.horizon, args.seed))
    started, cpu = time.perf_counter(), time.process_time()
    trainer = LocalTrainer(config, out, progress=False)
    try:
        trainer.run()
        record = evaluate(trainer, args.eval_episodes, args.burn, args.seed)
        sizes = trainer.economy.population.initial_shares
    finally:
        trainer.close()
    row = {"size_law": law, "n_agents": n, "sigma": args.sigma, "episodes": args.episodes,
           **measure(record, sizes, args.sigma),
           "wall_seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu}
    np.savez_compressed(out / "granular_eval.npz", x=record["x"], shock=record["shock"],
                        sizes=sizes)
    return row


COLUMNS = [("size_law", "size law", "{}"), ("n_agents", "N", "{}"), ("h", "h", "{:.3f}"),
           ("price_vol", "price vol", "{:.4f}"), ("price_vol_over_sigma_h", "price vol / (sigma h)", "{:.3f}"),
           ("loading", "loading on E_t (s.e.)", None), ("r2", "R^2", "{:.2f}"),
           ("granular_vol", "|loading| sd(E)", "{:.4f}"), ("residual_vol", "residual vol", "{:.4f}"),
           ("scripted_vol", "scripted (c/b) sigma h", "{:.4f}"),
           ("mean_log_price_gap", "mean log(P/p*)", "{:+.4f}"),
           ("tree_volume_per_period", "tree volume / supply", "{:.4f}")]


def markdown(rows: list[dict], info: dict) -> str:
    lines = [f"Learning traders (DQN, shared network, call auction with order sizes), sigma = "
             f"{info['sigma']}, {info['episodes']} training episodes of {info['horizon']} periods, "
             f"{info['eval_episodes']} greedy evaluation episodes ({info['burn']} burn-in periods "
             f"dropped each), seed {info['seed']}.", "",
             "| " + " | ".join(c[1] for c in COLUMNS) + " |",
             "|" + "|".join("---" if c[0] == "size_law" else "---:" for c in COLUMNS) + "|"]
    for r in rows:
        cells = []
        for key, _, fmt in COLUMNS:
            if key == "loading":
                cells.append(f"{r['loading']:+.3f} ({r['loading_se']:.3f})")
            else:
                cells.append(fmt.format(r[key]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 30, 100], help="numbers of agents N")
    parser.add_argument("--laws", nargs="+", default=list(SIZE_LAWS), choices=list(SIZE_LAWS))
    parser.add_argument("--sigma", type=float, default=0.3, help="income shock s.d. (units of s0 ybar)")
    parser.add_argument("--episodes", type=int, default=300, help="training episodes per run")
    parser.add_argument("--horizon", type=int, default=50, help="periods per episode")
    parser.add_argument("--eval-episodes", type=int, default=8, help="greedy evaluation episodes")
    parser.add_argument("--burn", type=int, default=5, help="periods dropped at each episode's start")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=Path, default=Path("runs/granular_learning"),
                        help="directory for the training runs")
    parser.add_argument("--out", type=Path, default=Path("runs/granular_learning"),
                        help="directory for granular_learning.csv, .md, .json (and .png)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    rows = []
    info = {k: getattr(args, k) for k in ("sigma", "episodes", "horizon", "eval_episodes", "burn", "seed")}
    info["command"] = "benchmarks/granular_learning.py " + " ".join(sys.argv[1:])
    for n in args.sizes:
        for law in args.laws:
            rows.append(run_one(law, n, args))
            print(json.dumps(rows[-1]), flush=True)
            info["load_average_1min"] = os.getloadavg()[0]
            write(rows, info, args.out)   # after every run: a partial table survives a kill
    print(markdown(rows, info))


def write(rows: list[dict], info: dict, out: Path) -> None:
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "granular_learning.csv", index=False)
    (out / "granular_learning.md").write_text(markdown(rows, info))
    (out / "granular_learning.json").write_text(json.dumps({"info": info, "rows": rows}, indent=2))
    plot(rows, out / "granular_learning.png", info["sigma"])


def plot(rows: list[dict], path: Path, sigma: float) -> None:
    """Price volatility and its granular part against sigma h, learned vs scripted."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    marks = {"equal": "o", "pareto-1.5": "s", "zipf": "^"}
    for r in rows:
        sh = sigma * r["h"]
        ax.scatter(sh, r["price_vol"], marker=marks[r["size_law"]], color="C0")
        ax.scatter(sh, r["granular_vol"], marker=marks[r["size_law"]], color="C1")
        ax.annotate(f"N={r['n_agents']}", (sh, r["price_vol"]), fontsize=7)
    grid = np.linspace(0, max(sigma * r["h"] for r in rows) * 1.1, 50)
    ax.plot(grid, 0.5 * grid, "k--", lw=1, label="scripted traders: (c/b) sigma h, c/b = 1/2")
    ax.scatter([], [], color="C0", label="learned: sd log P")
    ax.scatter([], [], color="C1", label="learned: |loading| sd(E)")
    for law, m in marks.items():
        ax.scatter([], [], marker=m, color="grey", label=law)
    ax.set_xlabel("sigma h (aggregate shock volatility)")
    ax.set_ylabel("volatility of log clearing price")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
