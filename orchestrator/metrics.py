"""Episode metrics: one CSV and one JSON-lines file per stream, mirrored to TensorBoard."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import tensorflow as tf


def price_stats(prices: np.ndarray, prefix: str) -> dict:
    """Median and inter-quartile range of posted prices (all agents, all steps)."""
    q25, q50, q75 = np.percentile(prices, [25, 50, 75])
    return {f"{prefix}_median": float(q50), f"{prefix}_q25": float(q25), f"{prefix}_q75": float(q75),
            f"{prefix}_iqr": float(q75 - q25)}


def read_rows(path: Path) -> list[dict]:
    """Complete JSON lines of a file (a torn last line of a killed writer is ignored)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines(keepends=True):
        if line.endswith("\n") and line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return rows


def tensorboard_scalar(value: float) -> np.float32:
    """A metric as TensorBoard stores it, float32: values beyond +-3.4e38 become +-inf there.
    The mean period utility does at large gamma (``u = c^(1-gamma)/(1-gamma)`` with c = 0.045
    passes 3.4e38 from gamma ~ 30; the learners' rewards are normalised and stay small);
    the CSV and JSON lines keep the float64 value."""
    with np.errstate(over="ignore"):
        return np.float32(value)


class MetricsLog:
    """Appends rows to ``NAME.csv`` and ``NAME.jsonl`` and writes scalars to TensorBoard.

    On resume the files are truncated to the rows of completed episodes (``<= episode``),
    so a killed run leaves no duplicate or orphan rows.
    """

    def __init__(self, directory: Path, name: str, tensorboard: tf.summary.SummaryWriter | None):
        self.csv_path = directory / f"{name}.csv"
        self.jsonl_path = directory / f"{name}.jsonl"
        self.name = name
        self.tensorboard = tensorboard
        self._fields: list[str] | None = None
        if self.jsonl_path.exists():
            rows = self.rows()
            self._fields = list(rows[0]) if rows else None

    def rows(self) -> list[dict]:
        if not self.jsonl_path.exists():
            return []
        return read_rows(self.jsonl_path)

    def truncate(self, last_episode: int) -> None:
        """Keep only rows with ``episode <= last_episode`` (after a resume)."""
        rows = [r for r in self.rows() if r["episode"] <= last_episode]
        self.jsonl_path.unlink(missing_ok=True)
        self.csv_path.unlink(missing_ok=True)
        self._fields = None
        for row in rows:
            self.write(row, tensorboard=False)

    def write(self, row: dict, tensorboard: bool = True) -> None:
        row = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        with open(self.jsonl_path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        new = self._fields is None
        if new:
            self._fields = list(row)
        with open(self.csv_path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self._fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)
        if tensorboard and self.tensorboard is not None:
            with self.tensorboard.as_default(step=int(row["episode"])):
                for key, value in row.items():
                    if key != "episode" and isinstance(value, (int, float)) and value is not None:
                        tf.summary.scalar(f"{self.name}/{key}", tensorboard_scalar(value))
