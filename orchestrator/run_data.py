"""A training run's outputs, loaded and checked: what ``lucas-abm train`` wrote into its directory.

``config.yaml``, ``summary.json``, ``metrics.jsonl``, ``evaluation.jsonl`` and the sampled
agents' evaluation episodes ``episodes/eval-EEEEEE.npz``. Every input is checked in
:func:`load_run` / :func:`select_episodes` before anything is drawn. TensorFlow-free.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from lucas_abm.errors import ConfigError
from lucas_abm.yaml_io import load_yaml
from orchestrator.config import TOLERANCES, TrainingConfig
from orchestrator.convergence import episodes_to_converge, final_numbers

DEFAULT_PANELS = 4
# Convergence criteria when config.yaml predates them (orchestrator.config.TrainingConfig defaults).
DEFAULT_TOLERANCES = {name: getattr(TrainingConfig, name) for name in TOLERANCES}   # a run's config may omit them


@dataclass(frozen=True)
class EvaluationEpisode:
    """Trajectories of the sampled agents in one greedy evaluation episode (T steps, K agents).

    ``shares``/``bonds`` are holdings at the start of steps 0..T ([T+1, K]); trades are signed
    (+ bought, - sold) in shares/bonds; ``tree_price_star``/``bond_price_star`` are the solver's
    p(y_t), q(y_t).
    """

    episode: int
    agents: np.ndarray           # [K] agent ids
    tree_price: np.ndarray       # [T, K] posted p_t^k
    bond_price: np.ndarray       # [T, K] posted q_t^k
    shares: np.ndarray           # [T+1, K] s_t^k
    bonds: np.ndarray            # [T+1, K] b_t^k
    tree_trade: np.ndarray       # [T, K]
    bond_trade: np.ndarray       # [T, K]
    dividend: np.ndarray         # [T] y_t
    tree_price_star: np.ndarray  # [T] p(y_t)
    bond_price_star: np.ndarray  # [T] q(y_t)
    tree_lot: float
    bond_lot: float

    @classmethod
    def load(cls, path: Path) -> "EvaluationEpisode":
        keys = ("episode", "agents", "tree_price", "bond_price", "shares", "bonds", "tree_trade",
                "bond_trade", "dividend", "tree_price_star", "bond_price_star", "tree_lot", "bond_lot")
        try:
            with np.load(path) as data:
                values = {k: np.asarray(data[k]) for k in keys if k in data}
        except (OSError, ValueError) as err:   # not a zip archive, truncated, ...
            raise ConfigError("DIR", "a run directory with readable episodes/*.npz", str(path),
                              detail=str(err)) from None
        missing = [k for k in keys if k not in values]
        if missing:
            raise ConfigError("DIR", "a run directory whose episodes/*.npz hold " + ", ".join(keys),
                              str(path), detail="missing " + ", ".join(missing))
        return cls(episode=int(values.pop("episode")), tree_lot=float(values.pop("tree_lot")),
                   bond_lot=float(values.pop("bond_lot")), **values)

    def select_agents(self, k: int) -> "EvaluationEpisode":
        """The first ``k`` sampled agents (columns)."""
        cols = slice(0, k)
        return EvaluationEpisode(
            self.episode, self.agents[cols], self.tree_price[:, cols], self.bond_price[:, cols],
            self.shares[:, cols], self.bonds[:, cols], self.tree_trade[:, cols], self.bond_trade[:, cols],
            self.dividend, self.tree_price_star, self.bond_price_star, self.tree_lot, self.bond_lot)

    @property
    def horizon(self) -> int:
        return len(self.dividend)


@dataclass
class RunData:
    """A training run directory, read: config, summary (None while the run is unfinished),
    training rows, evaluation rows and the paths of the saved evaluation episodes."""

    directory: Path
    config: dict
    summary: dict | None
    training: list[dict]
    evaluations: list[dict]
    episode_files: dict[int, Path] = field(default_factory=dict)

    @property
    def tolerances(self) -> dict:
        tc = self.config.get("training") or {}
        return {k: float(tc.get(k, v)) for k, v in DEFAULT_TOLERANCES.items()}

    @property
    def stochastic(self) -> bool:
        return (self.config.get("economy") or {}).get("dividend", "constant") != "constant"

    def final(self) -> dict:
        """The final numbers: summary.json, or (unfinished run) the last evaluation."""
        if self.summary is not None:
            return self.summary
        last = self.evaluations[-1]
        out = {"episodes": self.training[-1]["episode"] if self.training else last["episode"],
               "episodes_to_converge": episodes_to_converge(self.evaluations)}
        out["converged"] = out["episodes_to_converge"] is not None
        out.update(final_numbers(last, self.stochastic))
        return out


def _read_jsonl(path: Path) -> list[dict]:
    """The rows of ``metrics.jsonl`` or ``evaluation.jsonl``: JSON objects, each with an
    integer ``episode`` (every row the trainer writes has one)."""
    try:
        with open(path) as fh:
            rows = [(number, json.loads(line)) for number, line in enumerate(fh, 1) if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError("DIR", f"a run directory with a readable {path.name}", str(path.parent),
                          detail=str(err)) from None
    for number, row in rows:
        if not (isinstance(row, dict) and isinstance(row.get("episode"), int)
                and not isinstance(row["episode"], bool)):
            raise ConfigError("DIR", f"a run directory whose {path.name} rows each have an "
                              "integer 'episode'", str(path.parent),
                              detail=f"line {number}: {json.dumps(row)[:80]}")
    return [row for _, row in rows]


def load_run(directory: str | Path) -> RunData:
    """Read a run directory written by ``lucas-abm train``; ConfigError("DIR", ...) if it is not one.

    Required: config.yaml, evaluation.jsonl with at least one row, episodes/eval-*.npz.
    Optional: summary.json (absent while training runs), metrics.jsonl.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError("DIR", "an existing run directory (written by lucas-abm train --out DIR)", str(d))
    required = ("config.yaml", "evaluation.jsonl")
    missing = [name for name in required if not (d / name).is_file()]
    if missing:
        raise ConfigError("DIR", "a run directory (written by lucas-abm train --out DIR)", str(d),
                          detail="no " + " or ".join(missing))
    try:
        config = load_yaml((d / "config.yaml").read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError("DIR", "a run directory with a readable config.yaml", str(d), detail=str(err)) from None
    if not isinstance(config, dict) or "market" not in config or "economy" not in config:
        raise ConfigError("DIR", "a run directory whose config.yaml has economy and market sections", str(d))
    evaluations = _read_jsonl(d / "evaluation.jsonl")
    if not evaluations:
        raise ConfigError("DIR", "a run directory with at least one evaluation (evaluation.jsonl is empty)", str(d))
    training = _read_jsonl(d / "metrics.jsonl") if (d / "metrics.jsonl").is_file() else []
    summary = None
    if (d / "summary.json").is_file():
        try:
            summary = json.loads((d / "summary.json").read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError("DIR", "a run directory with a readable summary.json", str(d),
                              detail=str(err)) from None
    files = {}
    for path in sorted((d / "episodes").glob("eval-*.npz")):
        try:
            files[int(path.stem.split("-", 1)[1])] = path
        except ValueError:
            continue
    if not files:
        raise ConfigError("DIR", "a run directory with saved evaluation episodes (episodes/eval-*.npz)", str(d))
    return RunData(d, config, summary, training, evaluations, files)


def select_episodes(available: list[int], requested: list[int] | None,
                    panels: int = DEFAULT_PANELS) -> list[int]:
    """The evaluation episodes to draw: ``requested`` (each must be available), or by default
    ``panels`` episodes spread evenly over training from the first to the last evaluation."""
    available = sorted(available)
    if requested:
        unknown = [e for e in requested if e not in available]
        if unknown:
            shown = ", ".join(map(str, available)) if len(available) <= 20 else (
                ", ".join(map(str, available[:10])) + ", ..., " + ", ".join(map(str, available[-3:])))
            raise ConfigError("--episodes", f"evaluation episodes of this run ({shown})",
                              ",".join(map(str, unknown)))
        return list(dict.fromkeys(requested))
    index = np.unique(np.round(np.linspace(0, len(available) - 1, min(panels, len(available)))).astype(int))
    return [available[i] for i in index]


def traded_lots(trade: np.ndarray, lot: float) -> np.ndarray:
    """Lots traded per step by the given agents: sum_k |trade_t^k| / lot ([T, K] -> [T])."""
    return np.abs(np.asarray(trade, dtype=float)).sum(axis=1) / lot
