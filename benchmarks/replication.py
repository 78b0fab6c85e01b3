"""Replication table: train one config over several seeds and tabulate the acceptance numbers.

    python benchmarks/replication.py --config configs/thesis_cpu.yaml --seeds 0,1,2,3,4 \
        --out runs/replication/thesis_cpu        # one network per agent (the thesis' design)
    python benchmarks/replication.py --config configs/thesis_cpu_shared.yaml --seeds 0,1,2,3,4 \
        --out runs/replication/thesis_cpu_shared # one shared network, for comparison

Each seed runs ``lucas-abm train`` in its own process (sequentially: the machine has 2 cores);
a seed whose ``summary.json`` already exists is not rerun (and one with a checkpoint resumes).
For a population config, ``--since E`` adds acceptance B's goals seed by seed
(``population_learning.py OUT --seeds --since E``)::

    python benchmarks/replication.py --config configs/population_two_types_adaptive_cpu.yaml \
        --seeds 0,1,2,3,4 --out runs/adaptive --since 10

The config, the overrides and the seeds are checked before any run starts: bad input stops the
script with the config's own one-line error (exit code 2). Prints a markdown table and writes
``OUT/replication.json`` (the seeds' ``summary.json`` rows) and ``OUT/replication.md``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import population_learning   # benchmarks/: acceptance B's goals table
from lucas_abm.errors import ConfigError
from orchestrator.config import load_config

COLUMNS = [
    ("seed", "seed", "{}"),
    ("converged", "converged", "{}"),
    ("episodes_to_converge", "episodes to converge", "{}"),
    ("tree_price", "tree price", "{:.4f}"),
    ("tree_price_rel_error", "tree err", "{:+.2%}"),
    ("bond_price", "bond price", "{:.4f}"),
    ("bond_price_rel_error", "bond err", "{:+.2%}"),
    ("tree_volume", "tree vol/agent/step", "{:.4f}"),
    ("bond_volume", "bond vol/agent/step", "{:.4f}"),
    ("tree_price_tracking_error", "tree tracking", "{:.2%}"),
    ("bond_price_tracking_error", "bond tracking", "{:.2%}"),
    ("wall_seconds", "wall s", "{:.0f}"),
    ("agent_steps_per_second", "agent-steps/s", "{:.0f}"),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="training YAML config")
    ap.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    ap.add_argument("--out", default="runs/replication",
                    help="directory; one sub-directory per seed (runs/ is ignored by git)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override passed to every run (repeatable)")
    ap.add_argument("--since", type=int, default=None, metavar="E",
                    help="a population config: also score every seed against its heterogeneous "
                         "equilibrium from episode E on (acceptance B's goals, "
                         "benchmarks/population_learning.py), printed and written to OUT/goals.md")
    args = ap.parse_args(argv)
    try:   # the config and the seeds, before any run starts (the seed changes no other check)
        seeds = parse_seeds(args.seeds)
        population = load_config(args.config, args.overrides, seed=seeds[0]).population
        if args.since is not None and population is None:
            raise ConfigError("--since", "absent unless the config has a population: section", args.since)
        if args.since is not None and args.since < 0:
            raise ConfigError("--since", "an episode >= 0", args.since)
    except ConfigError as err:
        print(f"replication: error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in seeds:
        run_dir = out / f"seed-{seed}"
        summary_path = run_dir / "summary.json"
        if not summary_path.exists():
            cmd = [sys.executable, "-m", "orchestrator.cli", "train", "--config", args.config,
                   "--seed", str(seed), "--out", str(run_dir), "--no-progress"]
            cmd += sum([["--set", s] for s in args.overrides], [])
            if (run_dir / "checkpoints" / "latest").exists():
                cmd.append("--resume")
            print("running:", " ".join(cmd), flush=True)
            with open(out / f"seed-{seed}.log", "w") as log:
                code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
            if code != 0:
                print(f"seed {seed}: exit code {code} (see {out / f'seed-{seed}.log'})", flush=True)
                continue
        summary = json.loads(summary_path.read_text())
        summary["tree_volume"] = summary["volume_per_agent_per_step"]["tree"]
        summary["bond_volume"] = summary["volume_per_agent_per_step"]["bond"]
        rows.append(summary)
        print(_table([summary], header=not rows[:-1]), flush=True)
    table = _table(rows)
    converged = sum(bool(r["converged"]) for r in rows)
    footer = f"\n\n{converged} of {len(rows)} seeds converged ({args.config}"
    footer += (", " + ", ".join(args.overrides) if args.overrides else "") + ")\n"
    (out / "replication.md").write_text(table + footer)
    (out / "replication.json").write_text(json.dumps(rows, indent=2))
    print("\n" + table + footer)
    if population is not None and args.since is not None:
        goals = population_learning.goals_table(out, args.since)
        (out / "goals.md").write_text(goals + "\n")
        print(f"\nagainst the heterogeneous equilibrium (acceptance B's goals; {out / 'goals.md'}):\n\n{goals}")
    elif population is not None:
        print(f"a population config: its goals against the heterogeneous equilibrium, seed by seed, are "
              f"printed by --since E here, or by python benchmarks/population_learning.py {out} --seeds "
              f"--since E (acceptance B) or --seeds (acceptance A)")
    return 0


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2]; anything but distinct non-negative integers is a ConfigError."""
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ConfigError("--seeds", "distinct non-negative integers separated by commas", text)
    return seeds


def _cell(row: dict, key: str, fmt: str) -> str:
    value = row.get(key)
    if value is None:
        return "n/a" if key not in ("episodes_to_converge",) else "never"
    if isinstance(value, float):
        value = round(value, 10) + 0.0   # no "-0.00%" from round-off
    return fmt.format(value)


def _table(rows: list[dict], header: bool = True) -> str:
    lines = []
    if header:
        lines.append("| " + " | ".join(title for _, title, _ in COLUMNS) + " |")
        lines.append("|" + "---|" * len(COLUMNS))
    for row in rows:
        lines.append("| " + " | ".join(_cell(row, key, fmt) for key, _, fmt in COLUMNS) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
