"""What a market of correct price-takers reaches through the learners' demand schedules
(docs/acceptance_b.md, "What correct price-takers reach"): the ceiling of acceptance B.

    python benchmarks/price_takers.py --out runs/price_takers                # ~1-2 minutes
    python benchmarks/price_takers.py --out DIR --slopes 0.1 --grid --horizon 300 --json

Every agent of the acceptance-B market (``--config``, default
configs/population_two_types_schedules_cpu.yaml) posts its own correct valuations as the
reservation values of its schedules (:class:`lucas_abm.price_takers.PriceTakers`), with no
estimation error and no exploration. For each slope ``a`` (both assets) the training
evaluator (orchestrator.evaluator.GreedyEvaluator, unchanged) plays ``--paths`` episodes,
each from the endowment on its own dividend path (the evaluation seeds of episodes 1..K), and
writes them as a run directory ``OUT/a<a>[-grid]`` (config.yaml, evaluation.jsonl,
episodes/): ``benchmarks/population_learning.py OUT/a0.1 --since 1`` then scores the paths
with the same code and goals as a learned market's evaluations. Printed per slope: how many
paths meet each goal, the bold type's holdings at T (median and range), and the worst
visited state's traded-median price error.

``--grid`` rounds every value to the learners' price grid (the config's ``actions``), as a
Q-learner's action is rounded; ``--horizon`` changes T (the learners' is 100).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lucas_abm.yaml_io import load_yaml  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "population_two_types_schedules_cpu.yaml"


def play(config_path: Path, out: Path, slope: float, paths: int, horizon: int | None = None,
         grid: bool = False, progress: bool = True, tree_settlement: str | None = None,
         bond_slope: float | None = None, initial_state: int | None = None,
         financed_fraction: float | None = None) -> Path:
    """Play ``paths`` evaluation episodes of correct price-takers with schedule slope ``slope``
    into the run directory ``out`` (created; an existing evaluation.jsonl is replaced).
    ``tree_settlement`` (``cash`` or ``bonds``) overrides the call auction's; ``bond_slope``
    (default ``slope``) is the bond schedules' slope; ``initial_state`` the chain state every
    path starts in (default the config's); ``financed_fraction`` the part of a tree purchase
    paid in bonds with ``bonds`` settlement (default the config's, else 1)."""
    bond_slope = slope if bond_slope is None else float(bond_slope)
    from lucas_abm.price_takers import PriceTakers
    from orchestrator.config import config_from_dict
    from orchestrator.episode import Economy, sampled_agents
    from orchestrator.evaluator import GreedyEvaluator

    raw = load_yaml(Path(config_path).read_text())
    for key in ("tree_positions", "bond_positions"):   # schedules replace order sizes
        raw["actions"].pop(key, None)
    raw["actions"].update(tree_schedule_slope=float(slope), bond_schedule_slope=bond_slope)
    if horizon is not None:
        raw["market"]["horizon"] = int(horizon)
    if initial_state is not None:
        raw["economy"]["dividend_params"]["initial_state"] = int(initial_state)
    if tree_settlement is not None:
        raw["economy"].setdefault("mechanism_params", {})["tree_settlement"] = tree_settlement
    if financed_fraction is not None:
        raw["economy"].setdefault("mechanism_params", {})["financed_fraction"] = float(financed_fraction)
    config = config_from_dict(raw)
    econ = config.economy
    if econ.dividend != "markov":
        raise SystemExit(f"{config_path}: price-takers value on a Markov chain, not {econ.dividend}")
    economy = Economy(config)
    eq = economy.population_equilibrium
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    evaluator = GreedyEvaluator(config, economy, None, sampled_agents(config), out / "episodes")
    (out / "episodes").mkdir(exist_ok=True)
    grids = (config.actions.tree_prices(), config.actions.bond_prices()) if grid else None
    evaluator.policy = PriceTakers(evaluator.market, econ.dividend_params["states"],
                                   econ.dividend_params["transition"], econ.beta, eq["bond_price"],
                                   slope, bond_slope, grid=grids)
    rows = []
    for episode in tqdm(range(1, paths + 1), desc=f"price-takers a={slope}", disable=not progress):
        rows.append(evaluator.evaluate(episode))
    (out / "evaluation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def score(run_dir: Path) -> dict:
    """population_learning's goals over every path of a played directory, and the bold type's
    holdings and the worst state's price error (median, min, max)."""
    import population_learning as pl

    full = pl.measure(run_dir, last=10**9)
    evals = full["evaluations"]
    summary = pl.summary(full, since=1)
    bold = evals[-1]["bold_type"]
    shares = np.array([e["types"][bold]["shares"] for e in evals])
    bonds = np.array([e["types"][bold]["bonds"] for e in evals])
    worst = np.array([np.nan if w is None else w for w in (pl.worst_state(e) for e in evals)])

    def spread(x):
        return {"median": float(np.nanmedian(x)), "min": float(np.nanmin(x)), "max": float(np.nanmax(x))}

    t = evals[-1]["types"][bold]
    return {"run": str(run_dir), "paths": len(evals), "goals_met": summary["goals_met"],
            "bold_shares": spread(shares), "bold_bonds": spread(bonds), "worst_state_error": spread(worst),
            "bold_share_equilibrium": t["shares_equilibrium"], "bold_bonds_equilibrium": t["bonds_equilibrium"]}


def table(rows: list[dict]) -> str:
    lines = ["| tree slope | bond slope | trees paid in | first state | grid | T | paths | prices, every state | share | bond | all | bold share at T, median [range] (eq.) | bold bonds at T, median [range] (eq.) | worst state, median [range] |",
             "|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in rows:
        g, s, b, w = r["goals_met"], r["bold_shares"], r["bold_bonds"], r["worst_state_error"]
        lines.append(f"| {r['slope']} | {r['bond_slope']} | {r['tree_settlement']} | {r['initial_state']} | "
                     f"{'yes' if r['grid'] else 'no'} | {r['horizon']} | {r['paths']} | "
                     f"{g['prices_within_3pct']} | {g['bold_share_within_0.01']} | "
                     f"{g['bold_bond_right_sign_within_20pct']} | {g['all']} | "
                     f"{s['median']:.3f} [{s['min']:.3f}, {s['max']:.3f}] ({r['bold_share_equilibrium']:.3f}) | "
                     f"{b['median']:+.4f} [{b['min']:+.4f}, {b['max']:+.4f}] ({r['bold_bonds_equilibrium']:+.4f}) | "
                     f"{w['median']:.1%} [{w['min']:.1%}, {w['max']:.1%}] |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="directory for one run directory per slope")
    ap.add_argument("--config", type=Path, default=CONFIG, help="a population training config with a "
                    "Markov dividend and the call auction (default: acceptance B's schedules config)")
    ap.add_argument("--slopes", default="0.05,0.1,0.15,0.25",
                    help="comma-separated schedule slopes a, both assets (default 0.05,0.1,0.15,0.25)")
    ap.add_argument("--bond-slope", type=float, default=None,
                    help="the bond schedules' slope (default: each tree slope of --slopes)")
    ap.add_argument("--paths", type=int, default=40, help="episodes (dividend paths) per slope (default 40)")
    ap.add_argument("--horizon", type=int, default=None, help="periods per episode (default: the config's, 100)")
    ap.add_argument("--grid", action="store_true", help="round every value to the learners' price grid")
    ap.add_argument("--tree-settlement", choices=("cash", "bonds"), default=None,
                    help="how trees are paid for: cash (out of income) or bonds (on margin; "
                    "docs/acceptance_b.md, 'Trees paid for with bonds'); default: the config's")
    ap.add_argument("--financed-fraction", type=float, default=None,
                    help="with bonds settlement, the part of each tree purchase paid in bonds, in (0, 1] "
                    "(the rest in cash; default: the config's, else 1)")
    ap.add_argument("--initial-state", type=int, default=None,
                    help="index of the chain state every path starts in (default: the config's "
                    "economy.dividend_params.initial_state, else a stationary draw)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    try:
        slopes = [float(a) for a in args.slopes.split(",")]
    except ValueError:
        raise SystemExit(f"--slopes: comma-separated numbers > 0, got {args.slopes!r}")
    if any(not np.isfinite(a) or a <= 0 for a in slopes):
        raise SystemExit(f"--slopes: numbers > 0, got {args.slopes!r}")
    if args.bond_slope is not None and not (np.isfinite(args.bond_slope) and args.bond_slope > 0):
        raise SystemExit(f"--bond-slope: a number > 0, got {args.bond_slope!r}")
    if args.paths < 1:
        raise SystemExit(f"--paths: an integer >= 1, got {args.paths}")
    if args.horizon is not None and args.horizon < 1:
        raise SystemExit(f"--horizon: an integer >= 1, got {args.horizon}")
    from lucas_abm.errors import ConfigError

    rows = []
    for a in slopes:
        try:
            name = f"a{a:g}"                       # e.g. a0.25-b0.05-y0-grid-bonds
            name += "" if args.bond_slope is None else f"-b{args.bond_slope:g}"
            name += "" if args.initial_state is None else f"-y{args.initial_state}"
            name += ("-grid" if args.grid else "") + (f"-{args.tree_settlement}" if args.tree_settlement else "")
            name += "" if args.financed_fraction is None else f"-phi{args.financed_fraction:g}"
            run = play(args.config, args.out / name, a, args.paths, args.horizon, args.grid,
                       tree_settlement=args.tree_settlement, bond_slope=args.bond_slope,
                       initial_state=args.initial_state, financed_fraction=args.financed_fraction)
        except ConfigError as error:   # the config's own one-line error, before any path is played
            raise SystemExit(f"{args.config}: {error}")
        played = load_yaml((run / "config.yaml").read_text())
        econ = played["economy"]
        first = econ["dividend_params"].get("initial_state")
        params = econ.get("mechanism_params") or {}
        settlement = params.get("tree_settlement", "cash")
        if settlement == "bonds" and params.get("financed_fraction", 1.0) != 1.0:
            settlement += f" ({params['financed_fraction']:g})"
        rows.append(dict(score(run), slope=a, bond_slope=played["actions"]["bond_schedule_slope"],
                         grid=args.grid, horizon=played["market"]["horizon"],
                         tree_settlement=settlement,
                         initial_state="stationary draw" if first is None else first))
    print(json.dumps(rows, indent=1) if args.json else table(rows))


if __name__ == "__main__":
    main()
