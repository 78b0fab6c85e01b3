"""The table of ``compare_learners.py``: each seed's ``summary.json`` (and the script's own
``compare.json`` timing) read into one row per cell, written as markdown (median [min, max]
over seeds) and as csv (one row per seed).
"""
from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # the script's cell; imported only for the annotations
    from compare_learners import Cell

ROOT = Path(__file__).resolve().parents[1]


# ---- aggregation: summary.json (+ compare.json) of every seed -> one row per cell ----------

@dataclass
class SeedResult:
    """One seed of a cell: ``status`` ok | not run | config differs | no summary."""

    seed: int
    status: str
    summary: dict = field(default_factory=dict)
    timing: dict | None = None
    detail: str = ""

    @property
    def stochastic(self) -> bool:   # final_numbers() adds tracking errors for stochastic dividends
        return "tree_price_tracking_error" in self.summary

    def numbers(self) -> dict:
        s, kind = self.summary, "tracking" if self.stochastic else "relative"
        wall = s.get("wall_seconds") or None
        updates = s.get("updates")
        return {
            "episodes": s.get("episodes"), "converged": s.get("converged"),
            "episodes_to_converge": s.get("episodes_to_converge"), "error_kind": kind,
            "tree_error": s.get("tree_price_tracking_error" if kind == "tracking" else "tree_price_rel_error"),
            "bond_error": s.get("bond_price_tracking_error" if kind == "tracking" else "bond_price_rel_error"),
            "tree_rel_error": s.get("tree_price_rel_error"), "bond_rel_error": s.get("bond_price_rel_error"),
            "tree_volume": (s.get("volume_per_agent_per_step") or {}).get("tree"),
            "bond_volume": (s.get("volume_per_agent_per_step") or {}).get("bond"),
            "wall_seconds": wall,   # CPU: this script's measurement, else the run's own (summary.json)
            "cpu_seconds": (self.timing or {}).get("cpu_seconds") or s.get("cpu_seconds"),
            "agent_updates_per_second": (updates * s["n_agents"] / wall
                                         if wall and updates is not None and s.get("n_agents") else None),
            "updates": updates, "n_agents": s.get("n_agents"),
        }


@dataclass
class Row:
    cell: Cell
    seeds: list[SeedResult]

    @property
    def counted(self) -> list[SeedResult]:
        return [r for r in self.seeds if r.status == "ok"]


def read_seed(cell: Cell, run_dir: Path, seed: int, mismatch) -> SeedResult:
    """A seed's result if its summary.json exists and its config is the cell's."""
    if not (run_dir / "summary.json").is_file():
        return SeedResult(seed, "not run")
    differ = mismatch(run_dir, cell)
    if differ:
        return SeedResult(seed, "config differs", detail=", ".join(differ[:4]) + (" ..." if len(differ) > 4 else ""))
    timing = run_dir / "compare.json"
    return SeedResult(seed, "ok", json.loads((run_dir / "summary.json").read_text()),
                      json.loads(timing.read_text()) if timing.is_file() else None)


def _spread(values: list, fmt: str) -> str:
    """One value, or the median [min, max] over seeds; "n/a" where none."""
    values = [round(v, 10) + 0.0 for v in values if v is not None]   # no "-0.0000" from round-off
    if not values:
        return "n/a"
    if len(values) == 1:
        return format(values[0] + 0.0, fmt)
    return f"{format(statistics.median(values) + 0.0, fmt)} [{format(min(values) + 0.0, fmt)}, {format(max(values) + 0.0, fmt)}]"


def episodes_cell(numbers: list[dict]) -> str:
    """Episodes to converge per seed, "not converged by E" for a seed that did not."""
    parts = [str(n["episodes_to_converge"]) if n["converged"] else f"not converged by {n['episodes']}"
             for n in numbers]
    if len(set(parts)) == 1 and len(parts) > 1 and not numbers[0]["converged"]:
        return parts[0]
    if all(n["converged"] for n in numbers) and len(numbers) > 2:
        return _spread([n["episodes_to_converge"] for n in numbers], ".0f")
    return ", ".join(parts)


HEADER = ("| cell | seeds | converged | episodes to converge | error | tree price error | bond price error "
          "| tree volume | bond volume | wall s | CPU s | agent-updates/s |")


def markdown_row(row: Row) -> str:
    c = row.cell
    if not row.counted:
        why: dict[str, list[str]] = {}
        for r in row.seeds:
            why.setdefault(r.status + (f": {r.detail}" if r.detail else ""), []).append(str(r.seed))
        text = "; ".join(f"{k} (seed {', '.join(v)})" for k, v in why.items())
        return f"| {c.name} | - | - | {text} | | | | | | | | |"
    nums = [r.numbers() for r in row.counted]
    kind = nums[0]["error_kind"]
    fmt = "+.4f" if kind == "relative" else ".4f"
    cpu = _spread([n["cpu_seconds"] for n in nums], ".0f")
    cpu = cpu if cpu != "n/a" else "not measured"
    return (f"| {c.name} | {', '.join(str(r.seed) for r in row.counted)} "
            f"| {sum(bool(n['converged']) for n in nums)} of {len(nums)} | {episodes_cell(nums)} | {kind} "
            f"| {_spread([n['tree_error'] for n in nums], fmt)} | {_spread([n['bond_error'] for n in nums], fmt)} "
            f"| {_spread([n['tree_volume'] for n in nums], '.4f')} | {_spread([n['bond_volume'] for n in nums], '.4f')} "
            f"| {_spread([n['wall_seconds'] for n in nums], '.0f')} | {cpu} "
            f"| {_spread([n['agent_updates_per_second'] for n in nums], ',.0f')} |")


def grid_floor(config: str) -> tuple[float, float]:
    """The smallest relative errors a grid price can have against p*, q* (constant dividend)."""
    from orchestrator.config import load_config
    cfg = load_config(ROOT / config)
    star, ybar = cfg.economy.equilibrium(), cfg.economy.dividend_params["ybar"]
    p_star, q_star = float(star.tree_price(ybar)), float(star.bond_price(ybar))
    return (float(min(abs(cfg.actions.tree_prices() / p_star - 1))),
            float(min(abs(cfg.actions.bond_prices() / q_star - 1))))


def write_outputs(rows: list[Row], out: Path, population_pending: bool, command: str = "",
                  grid_config: str = "configs/thesis_cpu.yaml") -> str:
    """The markdown table (one row per cell) and the csv (one row per seed) at ``out`` with the
    suffixes .md and .csv; returns the markdown. ``grid_config``'s price grid gives the note on
    the smallest error a grid price can have."""
    lines = ([f"Made by `{command}`.", ""] if command else []) + [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    lines += [markdown_row(r) for r in rows]
    if population_pending:
        lines.append("| population-* | - | - | not yet: no training config with a `population:` section "
                     "(heterogeneous populations have not landed) | | | | | | | | |")
    tree_floor, bond_floor = grid_floor(grid_config)
    notes = [
        "", "Errors: `relative`: the final evaluation's median posted prices against p*, q* "
        "(summary.json `tree_price_rel_error`, `bond_price_rel_error`); `tracking`: mean over agents and "
        "steps of |p / p(y_t) - 1| against the solver's p(y), q(y) (`tree_price_tracking_error`, "
        "`bond_price_tracking_error`); the csv also has the median posted prices' relative errors of every run, which the convergence criterion checks too. Several seeds: median [min, max]. Volume: lots per agent per "
        "step in the final evaluation. agent-updates/s: learner update steps x N / wall seconds of the "
        "whole run. CPU s: user + system seconds of the training process, measured by this script for "
        "the runs it made, else the run's own `cpu_seconds` (the training loop's process time; \"not "
        "measured\" for runs made elsewhere before summaries had it).",
        f"Q-learners' price grid (tree step 0.01, bond step 0.005): the nearest grid prices to p*, q* are "
        f"{tree_floor:.4f} and {bond_floor:.4f} away (relative); continuous prices can do better.", "",
        "Cells (`lucas-abm train --config CONFIG --set ... --seed S --out runs/compare/CELL/seedS`):", ""]
    notes += [f"- `{r.cell.name}`: `{r.cell.config}`" + (" " + " ".join(f"`--set {o}`" for o in r.cell.overrides)
                                                         if r.cell.overrides else "") for r in rows]
    text = "\n".join(lines + notes) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    fields = ["cell", "economy", "algorithm", "weight_sharing", "seed", "status", "detail", "episodes",
              "converged", "episodes_to_converge", "error_kind", "tree_error", "bond_error", "tree_rel_error",
              "bond_rel_error", "tree_volume",
              "bond_volume", "wall_seconds", "cpu_seconds", "agent_updates_per_second", "updates", "n_agents",
              "config", "overrides"]
    with out.with_suffix(".csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            c = row.cell
            for r in row.seeds:
                writer.writerow({"cell": c.name, "economy": c.economy, "algorithm": c.algorithm,
                                 "weight_sharing": c.weight_sharing, "seed": r.seed, "status": r.status,
                                 "detail": r.detail, "config": c.config, "overrides": " ".join(c.overrides),
                                 **(r.numbers() if r.status == "ok" else {})})
    return text
