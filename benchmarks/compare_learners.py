"""Q-learning (DQN) against the actor-critics (TD3, SAC), independent against shared weights,
on the same markets: the table of docs/learning.md ("Comparison") and the README.

A *cell* is (economy, algorithm, weight sharing): a config plus ``--set`` overrides, trained by
the public CLI, one run per seed::

    lucas-abm train --config CONFIG --set ... --seed S --out runs/compare/<cell>/seed<S>

Economies. ``thesis``: configs/thesis_cpu.yaml (DQN) and configs/thesis_cpu_ac.yaml (TD3; SAC
is that config with ``learner.algorithm=sac``), each with ``learner.weight_sharing`` set per
cell. ``iid`` and ``logar1``: the markets of configs/iid_lognormal_cpu.yaml and
configs/log_ar1_cpu.yaml (their dividend process, action grids and lots) learned by the thesis
cell's learner: the ``learner``, ``exploration`` and ``replay`` sections and the market rule
(``economy.mechanism``, ``mechanism_params``) of the thesis cell of the same algorithm, as
``--set`` overrides where they differ, so that an economy changes and nothing else.
``thesis-plain``: configs/thesis_cpu_shared.yaml, the thesis' market and reward without the
additions of docs/learning.md (DQN only, for reference). ``population``: the first config in
configs/ with a ``population:`` section that the trainer accepts (a heterogeneous population),
with the thesis cell's learner and market rule transplanted as for ``iid`` (for DQN that changes
nothing: the population file has the thesis DQN learner); until one exists the table says so.

Reuse. A seed whose ``runs/compare/<cell>/seed<S>/summary.json`` exists is read, not rerun,
after checking that the run's saved config.yaml is the cell's (up to ``training.seed``,
``training.episodes``, ``training.stop_after_converged_evals`` and
``training.checkpoint_interval``: when a run ends and where it saves); a run made with another
config is reported as such and not counted. Runs made elsewhere can be linked into runs/compare/.

Columns (per cell, over its seeds): episodes to converge by the evaluator's criterion
(orchestrator/evaluator.py), or "not converged by E"; the final evaluation's price errors: for a
constant dividend the relative errors of the median posted prices against p*, q*
(``tree_price_rel_error``, ``bond_price_rel_error`` of summary.json), for a stochastic dividend
the tracking errors mean_k,t |p_k,t / p(y_t) - 1| against the solver's p(y), q(y)
(``tree_price_tracking_error``, ...); the evaluation volume (lots per agent per step); wall and
CPU seconds (CPU: measured by this script for the runs it made, user + system of the training
process; otherwise the run's own ``cpu_seconds`` where its summary.json has one);
agent-updates per second (learner update steps x N agents / wall seconds of the whole run:
acting, evaluation and learning).

    .venv/bin/python benchmarks/compare_learners.py --dry-run          # the commands, nothing run
    nice -n 15 .venv/bin/python benchmarks/compare_learners.py --cells iid-dqn-independent --seeds 0
    .venv/bin/python benchmarks/compare_learners.py --no-run           # the table from what exists
"""
from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import timed_process, write_json  # noqa: E402
from _learner_table import Row, read_seed, write_outputs  # noqa: E402
from lucas_abm.errors import ConfigError  # noqa: E402
from lucas_abm.yaml_io import load_yaml  # noqa: E402

ALGORITHMS = ("dqn", "td3", "sac")
SHARING = ("independent", "shared")
#: the thesis cell's config of each algorithm
THESIS_CONFIGS = {"dqn": ("configs/thesis_cpu.yaml", ()),
                  "td3": ("configs/thesis_cpu_ac.yaml", ()),
                  "sac": ("configs/thesis_cpu_ac.yaml", ("learner.algorithm=sac",))}
STOCHASTIC = {"iid": "configs/iid_lognormal_cpu.yaml", "logar1": "configs/log_ar1_cpu.yaml"}
LEARNER_SECTIONS = ("learner", "exploration", "replay")
MARKET_RULE = ("mechanism", "mechanism_params")
#: keys that do not change what a run learns (seed: one run per seed; episodes and the early stop
#: once converged: when it ends)
IGNORED_KEYS = ("training.seed", "training.episodes", "training.checkpoint_interval",
                "training.stop_after_converged_evals")


@dataclass(frozen=True)
class Cell:
    """(economy, algorithm, weight sharing): a config file and ``--set`` overrides."""

    economy: str
    algorithm: str
    weight_sharing: str
    config: str
    overrides: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return f"{self.economy}-{self.algorithm}-{self.weight_sharing}"

    def command(self, seed: int, out: Path, max_episodes: int | None = None) -> list[str]:
        """The ``lucas-abm train`` command line, run from the repository root."""
        cli = shutil.which("lucas-abm", path=str(Path(sys.executable).parent)) or "lucas-abm"
        out = Path(os.path.relpath(out.resolve(), ROOT)) if out.resolve().is_relative_to(ROOT) else out
        cmd = [cli, "train", "--config", self.config]
        for item in self.overrides + ((f"training.episodes={max_episodes}",) if max_episodes else ()):
            cmd += ["--set", item]
        return cmd + ["--seed", str(seed), "--out", str(out), "--no-progress"]

    def resolved(self) -> dict:
        """The cell's full config as ``lucas-abm train`` would save it (validated)."""
        from orchestrator.config import load_config
        return load_yaml(yaml.safe_dump(load_config(ROOT / self.config, list(self.overrides)).to_dict()))


def _read(path: str) -> dict:
    return load_yaml((ROOT / path).read_text()) or {}


def _flow(value) -> str:
    """A config value as ``--set`` writes it (parsed back as YAML)."""
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return "true" if value is True else "false" if value is False else str(value)


def transplant(economy_config: str, thesis_config: str, thesis_overrides: Sequence[str]) -> tuple[str, ...]:
    """``--set`` items that give ``economy_config`` the thesis cell's learner and market rule."""
    from orchestrator.config import apply_overrides
    thesis = apply_overrides(_read(thesis_config), list(thesis_overrides))
    target = _read(economy_config)
    items = []
    for section in LEARNER_SECTIONS:
        for key, value in (thesis.get(section) or {}).items():
            if (target.get(section) or {}).get(key, object()) != value:
                items.append(f"{section}.{key}={_flow(value)}")
    for key in MARKET_RULE:
        if key in (thesis.get("economy") or {}) and (target.get("economy") or {}).get(key) != thesis["economy"][key]:
            items.append(f"economy.{key}={_flow(thesis['economy'][key])}")
    return tuple(items)


def population_configs() -> list[str]:
    """configs/*.yaml with a top-level ``population:`` section that the trainer accepts."""
    from orchestrator.config import load_config
    found = []
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        if "population" in (load_yaml(path.read_text()) or {}):
            try:
                load_config(path)
            except ConfigError:
                continue
            found.append(str(path.relative_to(ROOT)))
    return found


def all_cells() -> list[Cell]:
    cells = []
    for algorithm in ALGORITHMS:
        config, extra = THESIS_CONFIGS[algorithm]
        for sharing in SHARING:
            share = (f"learner.weight_sharing={sharing}",)
            cells.append(Cell("thesis", algorithm, sharing, config, tuple(extra) + share))
            for economy, path in STOCHASTIC.items():
                cells.append(Cell(economy, algorithm, sharing, path,
                                  transplant(path, config, tuple(extra) + share)))
    for sharing in SHARING:
        cells.append(Cell("thesis-plain", "dqn", sharing, "configs/thesis_cpu_shared.yaml",
                          (f"learner.weight_sharing={sharing}",)))
    for path in population_configs()[:1]:   # the thesis cell's learner, as for iid and logar1
        for algorithm in ALGORITHMS:
            config, extra = THESIS_CONFIGS[algorithm]
            for sharing in SHARING:
                share = (f"learner.weight_sharing={sharing}",)
                cells.append(Cell("population", algorithm, sharing, path,
                                  transplant(path, config, tuple(extra) + share)))
    return cells


def config_mismatch(run_dir: Path, cell: Cell) -> list[str]:
    """Dotted keys where the run's saved config differs from the cell's (ignoring IGNORED_KEYS)."""
    from orchestrator.resume import _with_defaults, config_differences
    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file():
        return ["config.yaml missing"]
    saved = _with_defaults(load_yaml(saved_path.read_text()))
    return [k for k in config_differences(saved, cell.resolved()) if k not in IGNORED_KEYS]


def run_seed(cell: Cell, seed: int, out_root: Path, max_episodes: int | None, nice: int) -> dict:
    """Train one seed of a cell through the CLI; writes compare.json (timing) beside summary.json."""
    from tqdm import tqdm
    run_dir = out_root / cell.name / f"seed{seed}"
    cmd = cell.command(seed, run_dir, max_episodes)
    if (run_dir / "checkpoints").is_dir():
        cmd.append("--resume")
    total = max_episodes or cell.resolved()["training"]["episodes"]
    bar = tqdm(total=total, desc=f"{cell.name} seed {seed}", unit="episode", leave=False)

    def poll() -> None:
        metrics = run_dir / "metrics.jsonl"
        done = sum(1 for _ in metrics.open()) if metrics.is_file() else 0
        bar.update(max(0, min(done, total) - bar.n))

    timing = timed_process(cmd, out_root / cell.name / f"seed{seed}.log", poll, nice=nice, cwd=ROOT)
    poll()
    bar.close()
    if timing["returncode"] == 0 and (run_dir / "summary.json").is_file():
        write_json(run_dir / "compare.json", timing)
    return timing


def cell_rows(cell: Cell, runs: Path, seeds: Sequence[int], mismatch=None) -> Row:
    mismatch = mismatch or config_mismatch
    return Row(cell, [read_seed(cell, runs / cell.name / f"seed{s}", s, mismatch) for s in seeds])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", default="*", help="comma-separated cell names or patterns, e.g. "
                   "'thesis-*,iid-dqn-independent' (names: ECONOMY-ALGORITHM-SHARING)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds")
    p.add_argument("--max-episodes", type=int, default=None,
                   help="cap training.episodes of the runs made (default: the config's)")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "compare", help="run directories")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "comparison",
                   help="path of the tables without suffix: the markdown and the csv get .md and .csv")
    p.add_argument("--dry-run", action="store_true", help="print the commands; run nothing, write nothing")
    p.add_argument("--no-run", action="store_true", help="only tabulate the runs that exist")
    p.add_argument("--nice", type=int, default=15, help="niceness of the training processes")
    p.add_argument("--list", action="store_true", help="list the cells and exit")
    a = p.parse_args(argv)
    try:
        a.seeds = [int(s) for s in str(a.seeds).split(",") if s.strip()]
    except ValueError:
        raise ConfigError("--seeds", "a comma-separated list of integers >= 0", a.seeds) from None
    if not a.seeds or min(a.seeds) < 0:
        raise ConfigError("--seeds", "a comma-separated list of integers >= 0", a.seeds)
    if a.max_episodes is not None and a.max_episodes < 1:
        raise ConfigError("--max-episodes", "an integer >= 1", a.max_episodes)
    return a


def select(cells: list[Cell], patterns: str) -> list[Cell]:
    wanted = [s.strip() for s in patterns.split(",") if s.strip()]
    chosen = [c for c in cells if any(fnmatch.fnmatchcase(c.name, w) for w in wanted)]
    if not chosen:
        raise ConfigError("--cells", "names or patterns matching: " + ", ".join(c.name for c in cells), patterns)
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        cells = select(all_cells(), args.cells)
    except ConfigError as err:
        print(f"compare_learners: error: {err}", file=sys.stderr)
        return 2
    if args.list or args.dry_run:
        for cell in cells:
            for seed in args.seeds:
                run_dir = args.runs / cell.name / f"seed{seed}"
                state = "reuse" if (run_dir / "summary.json").is_file() else "run"
                print(f"# {cell.name} seed {seed}: {state}" if args.list else
                      f"[{state}] " + " ".join(_quote(c) for c in cell.command(seed, run_dir, args.max_episodes)))
        return 0
    args.runs = args.runs.resolve()
    from tqdm import tqdm
    todo = [(c, s) for c in cells for s in args.seeds
            if not (args.runs / c.name / f"seed{s}" / "summary.json").is_file()]
    if not args.no_run:
        for cell, seed in tqdm(todo, desc="cells", unit="run"):
            timing = run_seed(cell, seed, args.runs, args.max_episodes, args.nice)
            tqdm.write(f"{cell.name} seed {seed}: exit {timing['returncode']}, "
                       f"{timing['wall_seconds']:.0f} s wall, {timing['cpu_seconds']:.0f} s CPU")
    rows: list[Row] = [cell_rows(cell, args.runs, args.seeds, config_mismatch) for cell in cells]
    pending = not population_configs() and any(
        fnmatch.fnmatchcase(f"population-dqn-{s}", w.strip()) for s in SHARING for w in args.cells.split(","))
    command = "python benchmarks/compare_learners.py " + " ".join(_quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    text = write_outputs(rows, args.out, population_pending=pending, command=command.strip(),
                         grid_config=THESIS_CONFIGS["dqn"][0])
    print(text)
    return 0


def _quote(s: str) -> str:
    return f"'{s}'" if any(ch in s for ch in " {}[],") else s


if __name__ == "__main__":
    sys.exit(main())
