"""All roles in one process with an embedded Reverb server: the default ``lucas-abm train``.

The composition is the single-threaded loop the project always ran::

    for e in episodes:                           # orchestrator: counts, logs, checkpoints
        actor.run_episode(e, epsilon(e), after_step=learn)
            learn: every update_every steps once min_size windows exist -> learner.step()
        every eval_interval: evaluator.evaluate(e)
        every checkpoint_interval: networks + counters + replay buffer, atomically

The actor acts with the learner's own networks (nothing to publish), so the sequence of
market draws, exploration draws and updates is the one of the earlier monolithic
``Trainer``. Reverb's server-side Uniform sampler is not seeded, so no two runs (then or now)
draw the same batches: results agree up to that sampling, not bit for bit.
"""
from __future__ import annotations

import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import tensorflow as tf
import yaml
from tqdm.auto import tqdm

from orchestrator.actor import MarketActor
from orchestrator.algorithms import make_algorithm
from orchestrator.atomic import write_json
from orchestrator.checkpoint import CheckpointManager
from orchestrator.config import TrainConfig
from orchestrator.episode import Economy, sampled_agents
from orchestrator.evaluator import GreedyEvaluator, converged_long_enough, summary
from orchestrator.learner import EnsembleLearner, NonFiniteUpdate
from orchestrator.metrics import MetricsLog
from orchestrator.population import write_population
from orchestrator.resume import check_run_directory
from replay.dataset import make_dataset
from replay.server import TABLES_FILE, ReplayServer
from replay.signature import action_dtype, experience_signature
from replay.tables import make_experience_table
from replay.writer import ExperienceWriter


class TrainingDiverged(RuntimeError):
    """A loss or a network weight became NaN or infinite; the last good checkpoint is kept."""


class GracefulStop:
    """SIGINT and SIGTERM, while installed: the first is recorded in ``requested`` (the loop
    checks it between episodes), a second raises at once (KeyboardInterrupt for SIGINT,
    SystemExit(128 + 15) for SIGTERM). Installed only in the main thread, where Python runs
    signal handlers; ``restore`` puts the previous handlers back."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested: int | None = None
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}

    def _handle(self, signum, frame) -> None:
        if self.requested is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self.requested = signum
        try:   # a handler runs inside any step: a closed stderr must not abort the episode
            print(f"lucas-abm train: {signal.Signals(signum).name}: stopping after this episode "
                  "(a checkpoint is written; a second signal stops at once)", file=sys.stderr, flush=True)
        except OSError:
            pass

    def restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}


class LocalTrainer:
    """Builds every role from a validated :class:`TrainConfig` and runs (or resumes) training."""

    def __init__(self, config: TrainConfig, out_dir: str | Path, resume: bool = False,
                 progress: bool = True):
        self.config = config
        self.out = Path(out_dir)
        latest = check_run_directory(self.out, config.to_dict(), resume)
        self.ckpts = CheckpointManager(self.out / "checkpoints")
        self.progress = progress
        self.economy = Economy(config)
        self.n_agents = config.market.n_agents
        self.algorithm = make_algorithm(config, self.economy.observation_dim)
        self.dqn = getattr(self.algorithm, "dqn", None)   # the Q-learners' ensemble (None for td3/sac)
        self.sampled_agents = sampled_agents(config)
        lc = config.learner
        self.signature = experience_signature(self.n_agents, self.economy.observation_dim, lc.n_step,
                                              action_dtype(lc.algorithm))
        self.episode = 0
        self.stopped_by_signal: int | None = None   # set by run(): SIGINT/SIGTERM ended it early
        self.wall_seconds = 0.0
        self.cpu_seconds = 0.0     # time.process_time(): user + system of this process, all threads
        self.agent_steps = 0
        self.evaluations: list[dict] = []
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "episodes").mkdir(exist_ok=True)
        if self.economy.population is not None:   # RUN/population.csv|json: the seeded draw
            write_population(self.out, config, self.economy.population)
        self.evaluator = GreedyEvaluator(config, self.economy, self.algorithm, self.sampled_agents,
                                         self.out / "episodes")
        self.replay_root = self.out / "replay-checkpoints"
        state = self.ckpts.restore(latest, self.algorithm.checkpoint_objects()) if latest else None
        if latest is not None and (latest / "replay").is_dir():
            if self.replay_root.exists():
                shutil.rmtree(self.replay_root)
            shutil.copytree(latest / "replay", self.replay_root)
        table = make_experience_table(self.signature, config.replay)
        self.server = ReplayServer([table], port=None, checkpoint_dir=str(self.replay_root))
        self.client = self.server.client()
        self.writer = ExperienceWriter(self.client, config.replay.table, lc.n_step,
                                       timeout_ms=config.replay.rate_limiter_timeout_ms)
        self.actor = MarketActor(config, self.economy, self.algorithm, self.writer, self.sampled_agents)
        self.learner = EnsembleLearner(self.algorithm, self._iterator)
        if state is not None:
            self._load_state(state)
        tb = tf.summary.create_file_writer(str(self.out / "tensorboard"))
        self.train_log = MetricsLog(self.out, "metrics", tb)
        self.eval_log = MetricsLog(self.out, "evaluation", tb)
        # Drop rows of episodes after the checkpoint (all rows, if killed before the first one).
        self.train_log.truncate(self.episode)
        self.eval_log.truncate(self.episode)
        (self.out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))

    # ------------------------------------------------------------------ roles wired together
    def _iterator(self):
        # Pending items must reach the server before the first sample, or this single-threaded
        # loop would wait on its own unflushed writer (the table never shrinks below min_size after).
        self.writer.flush()
        return iter(make_dataset(self.server.address, self.config.replay.table, self.signature,
                                 self.config.learner.batch_size,
                                 rate_limiter_timeout_ms=self.config.replay.rate_limiter_timeout_ms))

    def _learn_after_step(self, actor: MarketActor) -> None:
        lc = self.config.learner
        if (actor.items_written >= max(self.config.replay.min_size, lc.batch_size)
                and actor.total_steps % lc.update_every == 0):
            try:
                metrics = self.learner.step()
            except NonFiniteUpdate as err:
                latest = self.ckpts.latest()
                raise TrainingDiverged(
                    f"non-finite {err.what} "
                    f"at episode {self.episode + 1}, update {err.updates} (loss={err.metrics['loss']}, "
                    f"max|w|={err.metrics['max_weight']}); stopped without saving; last good "
                    f"checkpoint: {latest if latest else 'none'}") from None
            self._losses.append(metrics["loss"])
            self._tds.append(metrics["td_error"])

    @property
    def updates(self) -> int:
        return self.learner.updates

    def act(self, observation, epsilon: float):
        """Grid indices (tree, bond) of the agents' policy at raw market observation [N, D]."""
        actions = self.algorithm.policy(self.actor.features.observation(observation), epsilon, self.actor.rng)
        return actions["tree_action"], actions["bond_action"]

    def train_episode(self) -> dict:
        cfg = self.config
        eps = cfg.exploration.epsilon(self.episode, cfg.training.episodes)
        self._losses, self._tds = [], []
        metrics, _ = self.actor.run_episode(self.episode, eps, after_step=self._learn_after_step)
        self.agent_steps += self.n_agents * cfg.market.horizon
        row = {"episode": self.episode + 1, "epsilon": eps}
        speeds = {k: metrics.pop(k) for k in ("steps_per_second", "agent_steps_per_second")}
        row.update(metrics)
        row.update({"loss": float(sum(self._losses) / len(self._losses)) if self._losses else None,
                    "td_error": float(sum(self._tds) / len(self._tds)) if self._tds else None,
                    "updates": self.updates, **speeds})
        row.update(self.learner.episode_metrics())
        return row

    def evaluate(self) -> dict:
        """One greedy evaluation episode labelled with the completed training episodes."""
        self.agent_steps += self.n_agents * self.config.market.horizon
        return self.evaluator.evaluate(self.episode)

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        return {"episode": self.episode, "total_steps": self.actor.total_steps, "updates": self.updates,
                "items_written": self.actor.items_written, "wall_seconds": self.wall_seconds,
                "cpu_seconds": self.cpu_seconds, "agent_steps": self.agent_steps, "evaluations": self.evaluations,
                "rng": self.actor.rng.bit_generator.state, "market": self.actor.market.state_dict(),
                "eval_market": self.evaluator.market.state_dict()}

    def _load_state(self, state: dict) -> None:
        self.episode = state["episode"]
        self.learner.updates = state["updates"]
        self.wall_seconds = state["wall_seconds"]
        self.cpu_seconds = state.get("cpu_seconds", 0.0)   # absent in checkpoints before it was kept
        self.agent_steps = state["agent_steps"]
        self.evaluations = state["evaluations"]
        self.actor.load_state_dict(state)
        self.evaluator.market.load_state_dict(state["eval_market"])

    def save_checkpoint(self) -> Path:
        # The replay buffer's own checkpoint, laid out as ReplayServer(checkpoint_dir=...) reads it.
        replay_dir = Path(self.server.checkpoint())
        staged = self.out / f".replay-{self.episode:06d}"
        if staged.exists():
            shutil.rmtree(staged)
        (staged / replay_dir.parent.name).mkdir(parents=True)
        shutil.copy2(self.replay_root / TABLES_FILE, staged / TABLES_FILE)
        shutil.move(str(replay_dir), str(staged / replay_dir.parent.name / replay_dir.name))
        return self.ckpts.save(self.episode, self.algorithm.checkpoint_objects(), self._state(),
                               self.config.to_dict(), extra_dirs={"replay": staged})

    # ------------------------------------------------------------------ the run
    def run(self, stop_after_episodes: int | None = None) -> dict:
        """Train to ``training.episodes`` (or until converged long enough); returns the summary.

        ``stop_after_episodes`` ends this invocation early (after a checkpoint), as a kill would.
        A first SIGINT (Ctrl-C) or SIGTERM ends it the same way once the current episode is
        complete, so a stopped run loses no completed episode (``stopped_by_signal`` is then
        the signal's number); a second one stops at once, as before (the last checkpoint).
        """
        tc = self.config.training
        bar = tqdm(total=tc.episodes, initial=self.episode, disable=not self.progress,
                   desc="training", unit="ep", dynamic_ncols=True)
        started, cpu_started = time.perf_counter(), time.process_time()
        base_wall, base_cpu = self.wall_seconds, self.cpu_seconds
        ran = 0
        stop = GracefulStop()
        try:
            while self.episode < tc.episodes:
                row = self.train_episode()
                self.episode += 1
                ran += 1
                self.train_log.write(row)
                if self.episode % tc.eval_interval == 0 or self.episode == tc.episodes:
                    ev = self.evaluate()
                    self.evaluations.append(ev)
                    self.eval_log.write(ev)
                    bar.set_postfix(tree=f"{ev['tree_price_median']:.4f}", bond=f"{ev['bond_price_median']:.4f}",
                                    vol=f"{ev['tree_volume_per_agent_per_step']:.3f}",
                                    loss=f"{row['loss'] or 0:.3f}")
                bar.update(1)
                self.wall_seconds = base_wall + time.perf_counter() - started
                self.cpu_seconds = base_cpu + time.process_time() - cpu_started
                done = converged_long_enough(self.evaluations, self.config) or self.episode >= tc.episodes
                stopping = stop.requested is not None
                if self.episode % tc.checkpoint_interval == 0 or done or stopping:
                    self.save_checkpoint()
                if done or stopping or (stop_after_episodes is not None and ran >= stop_after_episodes):
                    break
        finally:
            stop.restore()
            bar.close()
        result = self.summary()
        finished = self.episode >= tc.episodes or converged_long_enough(self.evaluations, self.config)
        if finished:
            write_json(self.out / "summary.json", result)
        self.stopped_by_signal = None if finished else stop.requested   # a signal in the last episode: done
        return result

    def summary(self) -> dict:
        return summary(self.config, self.economy, self.evaluations, episodes=self.episode,
                       wall_seconds=self.wall_seconds, agent_steps=self.agent_steps,
                       updates=self.updates, cpu_seconds=self.cpu_seconds)

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            self.server.close()
