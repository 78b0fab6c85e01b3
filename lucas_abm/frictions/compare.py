"""The comparison table: every method on every published preset, on the same 3,000 paths.

Run ``python -m lucas_abm.frictions.compare --out docs/frictions_results`` (or
``lucas-abm frictions --compare --out docs/frictions_results``). Writes ``table.md``,
``results.json`` (rewritten after every row, so a partial run keeps what finished) and one figure
per preset and learned method against the reference.
"""
from __future__ import annotations

import argparse
import json
import traceback
from pathlib import Path

from lucas_abm.frictions.config import METHODS, PRESETS, preset
from lucas_abm.frictions.figures import comparison_figure, metrics_table
from lucas_abm.frictions.metrics import summary
from lucas_abm.frictions.paths import brownian_paths
from lucas_abm.frictions.solvers import check_method, reference_method, solve

LEARNED = ("rgan", "rgan-mu-known", "combo", "deep-bsde")


def applicable_methods(name: str) -> list[str]:
    config = preset(name)
    out = []
    for method in METHODS:
        try:
            check_method(config, method)
        except Exception:
            continue
        out.append(method)
    return out


def run_comparison(out: Path, n_paths: int = 3000, seed: int = 0, budget: str = "full",
                   presets=None, methods=None) -> list[dict]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for name in presets or list(PRESETS):
        config = preset(name)
        paths = brownian_paths(config, n_paths, seed=10_000 + seed)
        ref_name = reference_method(config)
        reference, _ = solve(config, ref_name, paths)
        for method in applicable_methods(name):
            if methods and method not in methods:
                continue
            print(f"[compare] {name} {method} ...", flush=True)
            try:
                market, seconds = solve(config, method, paths, seed=seed, budget=budget)
                row = {"preset": name, "method": method, **summary(config, market, seconds)}
                if method in LEARNED:
                    comparison_figure(config, market, reference, out / f"{name}_{method}.png",
                                      method, ref_name, agents=(1, 3) if config.n_agents > 3
                                      else (0, 1))
            except Exception as err:  # a failing baseline is a result, not a crash
                traceback.print_exc()
                row = {"preset": name, "method": method, "error": f"{type(err).__name__}: {err}"}
            rows.append(row)
            print(f"[compare] {row}", flush=True)
            (out / "results.json").write_text(json.dumps(rows, indent=2))
            (out / "table.md").write_text(metrics_table(rows))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/frictions_results")
    parser.add_argument("--paths", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", choices=("full", "smoke"), default="full")
    parser.add_argument("--presets", help="comma-separated subset of presets")
    parser.add_argument("--methods", help="comma-separated subset of methods")
    args = parser.parse_args(argv)
    run_comparison(Path(args.out), args.paths, args.seed, args.budget,
                   presets=args.presets.split(",") if args.presets else None,
                   methods=args.methods.split(",") if args.methods else None)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
