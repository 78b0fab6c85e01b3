"""The orchestrator's bookkeeping when the roles are processes: count, checkpoint, stop.

It lives in the process of learner shard 0, because a checkpoint must hold the networks and
the counters of one instant. Its inputs are files in the run directory every role shares:

    actors/actor-K.jsonl   one line per episode actor K completed, appended (one write, then
                           fsync) only after the episode's last window was flushed to Reverb
    evaluation.jsonl       the evaluator's rows

**Exactly once.** An episode is completed when its line exists; the coordinator gives it the
next global episode number and appends it to ``metrics.jsonl`` keyed by (actor,
actor_episode), so a restarted coordinator skips every key it logged before and never counts
one twice; an actor killed mid-episode wrote no line, and replays that episode (same seed)
when it rejoins. Networks come back from the latest checkpoint; the count comes from the
durable log, so episodes completed after that checkpoint are not lost either.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from orchestrator.atomic import write_json
from orchestrator.checkpoint import CheckpointManager
from orchestrator.config import TrainConfig
from orchestrator.evaluator import converged_long_enough, summary
from orchestrator.metrics import read_rows  # noqa: F401  (re-exported: the roles read the same logs)


def append_row(path: Path, row: dict) -> None:
    """One ``write`` of one line, then fsync: a kill leaves the line whole or absent."""
    data = (json.dumps(row) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def actor_log(out: Path, actor: int) -> Path:
    return out / "actors" / f"actor-{actor}.jsonl"


class Coordinator:
    """Counts completed episodes, decides checkpoints and the stop, writes summary.json."""

    def __init__(self, config: TrainConfig, out: Path, metrics_log, economy):
        self.config, self.out, self.log, self.economy = config, out, metrics_log, economy
        (out / "actors").mkdir(parents=True, exist_ok=True)
        rows = read_rows(out / "metrics.jsonl")
        self.log.truncate(len(rows))          # rewrite the csv from the durable jsonl
        self.seen = {(r["actor"], r["actor_episode"]) for r in rows}
        self.episode = len(rows)
        self.actor_episodes = len(rows)
        self.offsets: dict[Path, int] = {}
        self.started = time.monotonic()
        self.base_wall = 0.0

    def poll(self, extra: dict) -> int:
        """Count newly completed episodes (up to ``training.episodes``); return how many."""
        new = 0
        for path in sorted((self.out / "actors").glob("actor-*.jsonl")):
            for row in read_rows(path):
                key = (row["actor"], row["actor_episode"])
                if key in self.seen or self.episode >= self.config.training.episodes:
                    continue
                self.seen.add(key)
                self.episode += 1
                new += 1
                self.log.write({"episode": self.episode, **row, **extra})
        return new

    def evaluations(self) -> list[dict]:
        return read_rows(self.out / "evaluation.jsonl")

    def done(self) -> bool:
        return (self.episode >= self.config.training.episodes
                or converged_long_enough(self.evaluations(), self.config))

    @property
    def wall_seconds(self) -> float:
        return self.base_wall + time.monotonic() - self.started

    def write_summary(self, updates: int, **extra) -> dict:
        evaluations = self.evaluations()
        n, T = self.config.market.n_agents, self.config.market.horizon
        agent_steps = n * T * (self.episode + len(evaluations))
        result = summary(self.config, self.economy, evaluations, episodes=self.episode,
                         wall_seconds=self.wall_seconds, agent_steps=agent_steps, updates=updates, **extra)
        write_json(self.out / "summary.json", result)
        return result


def checkpoint_manager(out: Path, shard: int) -> CheckpointManager:
    return CheckpointManager(out / ("checkpoints" if shard == 0 else f"checkpoints-shard{shard}"))
