"""The orchestrator: drives the market with the agents' policies, feeds Reverb, trains learners.

One training episode::

    x_0 = market.reset(seed_e)
    for t in 0..T-1:
        a_t = epsilon-greedy(Q_k(x_t^k, .))  for every agent k       (one batched forward pass)
        r_t, x_{t+1} = market.step(prices(a_t))                      (vectorised market)
        writer.append(x_t, a_t, r_t)      -> one Reverb item per n-step window, all agents inside
        every `update_every` steps: one batched double-DQN update on a sampled batch
    writer.end_episode(x_T)               -> the cut at T is a truncation: bootstrap from x_T

Every ``eval_interval`` episodes a greedy evaluation episode (no exploration, no learning, on
its own market and seed) measures median posted prices against the solver's p(y_t), q(y_t) and
traded volume; the run has converged when the criteria of ``training`` hold from some
evaluation to the end. Every ``checkpoint_interval`` episodes an atomic checkpoint is written;
``resume=True`` continues from the latest one.
"""
from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
import yaml
from tqdm.auto import tqdm

from lucas_abm.dividends import make_dividend
from lucas_abm.errors import ConfigError
from lucas_abm.market import LucasMarket, MarketStep
from lucas_abm.mechanisms import make_mechanism
from lucas_abm.solver import solve_equilibrium
from lucas_abm.utility import CRRAUtility
from orchestrator.agents import ActionGrid, Features, explore
from orchestrator.checkpoint import CheckpointManager
from orchestrator.config import TrainConfig
from orchestrator.convergence import episodes_to_converge, final_numbers
from orchestrator.dqn import DQNHyperparameters, EnsembleDQN
from orchestrator.metrics import MetricsLog, price_stats
from replay.dataset import make_dataset
from replay.server import TABLES_FILE, ReplayServer
from replay.signature import signature_from_environment
from replay.tables import make_experience_table
from replay.writer import ExperienceWriter

SAMPLED_AGENTS = 10      # agents whose trajectories are stored for the report (thesis figs 8-11)
EVAL_SEED_OFFSET = 1_000_003


class TrainingDiverged(RuntimeError):
    """A loss or a network weight became NaN or infinite; the last good checkpoint is kept."""


def episode_seed(seed: int, episode: int) -> int:
    return int(np.random.SeedSequence([seed, episode]).generate_state(1)[0])


@dataclass
class Economy:
    """The objects built from ``config.economy`` and ``config.market``."""

    config: TrainConfig

    def __post_init__(self) -> None:
        econ = self.config.economy
        self.dividend = make_dividend(econ.dividend, **econ.dividend_params)
        self.utility = CRRAUtility(econ.gamma)
        self.prices = solve_equilibrium(self.dividend, econ.beta, econ.gamma)
        make_mechanism(econ.mechanism, **econ.mechanism_params)  # validate before any work

    def market(self) -> LucasMarket:
        econ = self.config.economy
        return LucasMarket(self.config.market, make_dividend(econ.dividend, **econ.dividend_params),
                           self.utility, make_mechanism(econ.mechanism, **econ.mechanism_params))

    @property
    def stochastic(self) -> bool:
        return self.config.economy.dividend != "constant"


class EpisodeRecord:
    """What one episode did: posted prices of all agents, the market's outcomes, and the
    holdings and trades of the sampled agents (for the report's thesis figures 8-11)."""

    def __init__(self, market: LucasMarket, sampled_agents: np.ndarray):
        T, N, k = market.horizon, market.n_agents, len(sampled_agents)
        self.market, self.sampled = market, sampled_agents
        self.t = 0
        self.tree_price, self.bond_price = np.empty((T, N)), np.empty((T, N))
        self.dividend, self.utility, self.penalty = np.empty(T), np.empty(T), np.empty(T)
        self.tree_volume, self.bond_volume = np.empty(T), np.empty(T)
        self.shares, self.bonds = np.empty((T + 1, k)), np.empty((T + 1, k))
        self.tree_trade, self.bond_trade = np.empty((T, k)), np.empty((T, k))
        self.shares[0] = market.shares[sampled_agents]
        self.bonds[0] = market.bonds[sampled_agents]

    def add(self, tree_price: np.ndarray, bond_price: np.ndarray, step: MarketStep) -> None:
        t, k = self.t, self.sampled
        self.tree_price[t], self.bond_price[t] = tree_price, bond_price
        self.dividend[t] = step.dividend
        self.utility[t], self.penalty[t] = step.utility.mean(), step.penalty.mean()
        self.tree_volume[t], self.bond_volume[t] = step.tree_volume, step.bond_volume
        self.shares[t + 1], self.bonds[t + 1] = self.market.shares[k], self.market.bonds[k]
        self.tree_trade[t], self.bond_trade[t] = step.tree_trade[k], step.bond_trade[k]
        self.t += 1

    def save(self, path: Path, **extra) -> None:
        """The sampled agents' trajectories as ``.npz`` (read by ``lucas-abm report``)."""
        k = self.sampled
        np.savez_compressed(path, agents=k, tree_price=self.tree_price[:, k], bond_price=self.bond_price[:, k],
                            shares=self.shares, bonds=self.bonds, tree_trade=self.tree_trade,
                            bond_trade=self.bond_trade, dividend=self.dividend, **extra)


class Trainer:
    """Builds everything from a validated :class:`TrainConfig` and runs (or resumes) training."""

    def __init__(self, config: TrainConfig, out_dir: str | Path, resume: bool = False,
                 progress: bool = True):
        self.config = config
        self.out = Path(out_dir)
        self.ckpts = CheckpointManager(self.out / "checkpoints")
        latest = self.ckpts.latest()
        if latest is None and not resume and (self.out / "metrics.jsonl").exists():
            raise ConfigError("--out", "an empty directory, or pass --resume to continue the run in it",
                              str(self.out))
        if latest is not None and not resume:
            raise ConfigError("--out", "a directory without checkpoints, or pass --resume", str(self.out))
        self.progress = progress
        self.economy = Economy(config)
        self.market = self.economy.market()
        self.eval_market = self.economy.market()
        self.grid = ActionGrid(config.actions)
        self.features = Features.build(config, self.market, self.economy.dividend)
        lc = config.learner
        hp = DQNHyperparameters(discount=config.economy.beta, n_step=lc.n_step,
                                learning_rate=lc.learning_rate, final_learning_rate=lc.final_learning_rate,
                                decay_updates=config.training.episodes * config.market.horizon // lc.update_every,
                                target_update_tau=lc.target_update_tau,
                                huber_delta=lc.huber_delta, hidden=tuple(lc.hidden))
        self.n_agents = config.market.n_agents
        self.dqn = EnsembleDQN(self.n_agents, config.groups, len(self.market.observation_names),
                               self.grid.n_tree, self.grid.n_bond, hp, seed=config.training.seed,
                               tree_basis=self.grid.tree_basis, bond_basis=self.grid.bond_basis)
        self.rng = np.random.default_rng(config.training.seed)
        self.sampled_agents = np.sort(np.random.default_rng(config.training.seed).choice(
            self.n_agents, size=min(SAMPLED_AGENTS, self.n_agents), replace=False))
        # counters (checkpointed)
        self.episode = 0
        self.total_steps = 0
        self.updates = 0
        self.items_written = 0
        self.wall_seconds = 0.0
        self.agent_steps = 0
        self.evaluations: list[dict] = []
        self.out.mkdir(parents=True, exist_ok=True)
        replay_restore = None
        if latest is not None:
            replay_restore = self._restore(latest)
        self.signature = signature_from_environment(self.market, lc.n_step)
        table = make_experience_table(self.signature, config.replay)
        self.replay_root = self.out / "replay-checkpoints"
        if replay_restore is not None:
            if self.replay_root.exists():
                shutil.rmtree(self.replay_root)
            shutil.copytree(replay_restore, self.replay_root)
        self.server = ReplayServer([table], port=None, checkpoint_dir=str(self.replay_root))
        self.client = self.server.client()
        self.writer = ExperienceWriter(self.client, config.replay.table, lc.n_step,
                                       timeout_ms=config.replay.rate_limiter_timeout_ms)
        self._dataset_iter = None
        tb = tf.summary.create_file_writer(str(self.out / "tensorboard"))
        self.train_log = MetricsLog(self.out, "metrics", tb)
        self.eval_log = MetricsLog(self.out, "evaluation", tb)
        # Drop rows of episodes after the checkpoint (all rows, if killed before the first one).
        self.train_log.truncate(self.episode)
        self.eval_log.truncate(self.episode)
        (self.out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
        (self.out / "episodes").mkdir(exist_ok=True)

    # ------------------------------------------------------------------ acting
    def act(self, observation: np.ndarray, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
        tree, bond = self.dqn.greedy(self.features.observation(observation))
        if epsilon > 0:
            ex = self.config.exploration
            tree = explore(tree, self.grid.n_tree, epsilon, ex, self.rng)
            bond = explore(bond, self.grid.n_bond, epsilon, ex, self.rng)
        return tree, bond

    # ------------------------------------------------------------------ learning
    def _learn(self) -> tuple[float, float]:
        if self._dataset_iter is None:
            # Pending items must reach the server before the first sample, or this single-threaded
            # loop would wait on its own unflushed writer (the table never shrinks below min_size after).
            self.writer.flush()
            ds = make_dataset(self.server.address, self.config.replay.table, self.signature,
                              self.config.learner.batch_size,
                              rate_limiter_timeout_ms=self.config.replay.rate_limiter_timeout_ms)
            self._dataset_iter = iter(ds)
        batch = next(self._dataset_iter)
        loss, td, max_weight = self.dqn.train_step(batch["observation"], batch["tree_action"],
                                                   batch["bond_action"], batch["reward"])
        loss, td, max_weight = float(loss), float(td), float(max_weight)
        self.updates += 1
        if not (math.isfinite(loss) and math.isfinite(max_weight)):
            latest = self.ckpts.latest()
            raise TrainingDiverged(
                f"non-finite {'loss' if not math.isfinite(loss) else 'network weight'} at episode "
                f"{self.episode + 1}, update {self.updates} (loss={loss}, max|w|={max_weight}); "
                f"stopped without saving; last good checkpoint: {latest if latest else 'none'}")
        return loss, td

    def train_episode(self) -> dict:
        cfg = self.config
        eps = cfg.exploration.epsilon(self.episode, cfg.training.episodes)
        obs = self.market.reset(seed=episode_seed(cfg.training.seed, self.episode))
        record = EpisodeRecord(self.market, self.sampled_agents)
        start = time.perf_counter()
        losses, tds = [], []
        learn_from = max(cfg.replay.min_size, cfg.learner.batch_size)
        for _ in range(cfg.market.horizon):
            tree_idx, bond_idx = self.act(obs, eps)
            tree_price = self.grid.tree_prices[tree_idx]
            bond_price = self.grid.bond_prices[bond_idx]
            step = self.market.step(tree_price, bond_price)
            record.add(tree_price, bond_price, step)
            self.writer.append(self.features.observation(obs), tree_idx, bond_idx, self.features.reward(step))
            if self.market.t > cfg.learner.n_step:  # the writer made the window ending at this step
                self.items_written += 1
            obs = step.observation
            self.total_steps += 1
            if self.items_written >= learn_from and self.total_steps % cfg.learner.update_every == 0:
                loss, td = self._learn()
                losses.append(loss)
                tds.append(td)
        self.writer.end_episode(self.features.observation(obs))
        self.items_written += 1
        elapsed = time.perf_counter() - start
        self.agent_steps += self.n_agents * cfg.market.horizon
        row = {"episode": self.episode + 1, "epsilon": eps}
        row.update(self.episode_metrics(record)[0])
        row.update({
            "loss": float(np.mean(losses)) if losses else None,
            "td_error": float(np.mean(tds)) if tds else None,
            "updates": self.updates, "steps_per_second": cfg.market.horizon / elapsed,
            "agent_steps_per_second": self.n_agents * cfg.market.horizon / elapsed,
        })
        return row

    # ------------------------------------------------------------------ evaluation
    def episode_metrics(self, record: "EpisodeRecord") -> tuple[dict, np.ndarray, np.ndarray]:
        """Posted prices [T, N] against the solver's p(y_t), q(y_t) [T]; volumes, utility, penalty."""
        tree, bond, dividend = record.tree_price, record.bond_price, record.dividend
        T = len(dividend)
        tree_star = np.broadcast_to(self.economy.prices.tree_price(dividend), (T,)).astype(float)
        bond_star = np.broadcast_to(self.economy.prices.bond_price(dividend), (T,)).astype(float)
        row = price_stats(tree, "tree_price")
        row.update(price_stats(bond, "bond_price"))
        row["tree_price_star"] = float(np.median(tree_star))
        row["bond_price_star"] = float(np.median(bond_star))
        row["tree_price_rel_error"] = row["tree_price_median"] / row["tree_price_star"] - 1.0
        row["bond_price_rel_error"] = row["bond_price_median"] / row["bond_price_star"] - 1.0
        row["tree_price_tracking_error"] = float(np.mean(np.abs(tree / tree_star[:, None] - 1.0)))
        row["bond_price_tracking_error"] = float(np.mean(np.abs(bond / bond_star[:, None] - 1.0)))
        agent_steps = self.n_agents * T
        row["tree_volume_per_agent_per_step"] = float(record.tree_volume.sum()) / agent_steps
        row["bond_volume_per_agent_per_step"] = float(record.bond_volume.sum()) / agent_steps
        row["mean_utility"] = float(record.utility.mean())
        row["mean_penalty"] = float(record.penalty.mean())
        return row, tree_star, bond_star

    def evaluate(self) -> dict:
        """One greedy episode on the evaluation market; saves sampled agents' trajectories."""
        cfg = self.config
        market = self.eval_market
        obs = market.reset(seed=episode_seed(cfg.training.seed, EVAL_SEED_OFFSET + self.episode))
        record = EpisodeRecord(market, self.sampled_agents)
        for _ in range(cfg.market.horizon):
            tree_idx, bond_idx = self.act(obs, 0.0)
            tree_price = self.grid.tree_prices[tree_idx]
            bond_price = self.grid.bond_prices[bond_idx]
            step = market.step(tree_price, bond_price)
            record.add(tree_price, bond_price, step)
            obs = step.observation
        self.agent_steps += self.n_agents * cfg.market.horizon
        row = {"episode": self.episode}
        metrics, tree_star, bond_star = self.episode_metrics(record)
        row.update(metrics)
        record.save(self.out / "episodes" / f"eval-{self.episode:06d}.npz", episode=self.episode,
                    tree_price_star=tree_star, bond_price_star=bond_star,
                    tree_lot=cfg.market.tree_lot, bond_lot=cfg.market.bond_lot)
        row["converged"] = self.criteria_met(row)
        return row

    def criteria_met(self, row: dict) -> bool:
        tc = self.config.training
        ok = (abs(row["tree_price_rel_error"]) <= tc.tree_tolerance
              and abs(row["bond_price_rel_error"]) <= tc.bond_tolerance
              and row["tree_volume_per_agent_per_step"] <= tc.volume_tolerance
              and row["bond_volume_per_agent_per_step"] <= tc.volume_tolerance)
        if self.economy.stochastic:
            ok = ok and (row["tree_price_tracking_error"] <= tc.tracking_tolerance
                         and row["bond_price_tracking_error"] <= tc.tracking_tolerance)
        return bool(ok)

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        return {"episode": self.episode, "total_steps": self.total_steps, "updates": self.updates,
                "items_written": self.items_written, "wall_seconds": self.wall_seconds,
                "agent_steps": self.agent_steps, "evaluations": self.evaluations,
                "rng": self.rng.bit_generator.state, "market": self.market.state_dict(),
                "eval_market": self.eval_market.state_dict()}

    def _tf_objects(self) -> dict:
        return {"online": self.dqn.online, "target": self.dqn.target, "optimizer": self.dqn.optimizer}

    def save_checkpoint(self) -> Path:
        # The replay buffer's own checkpoint, laid out as ReplayServer(checkpoint_dir=...) reads it.
        replay_dir = Path(self.server.checkpoint())
        staged = self.out / f".replay-{self.episode:06d}"
        if staged.exists():
            shutil.rmtree(staged)
        (staged / replay_dir.parent.name).mkdir(parents=True)
        shutil.copy2(self.replay_root / TABLES_FILE, staged / TABLES_FILE)
        shutil.move(str(replay_dir), str(staged / replay_dir.parent.name / replay_dir.name))
        return self.ckpts.save(self.episode, self._tf_objects(), self._state(), self.config.to_dict(),
                               extra_dirs={"replay": staged})

    def _restore(self, path: Path) -> Path | None:
        state = self.ckpts.restore(path, self._tf_objects())
        saved = yaml.safe_load((path / "config.yaml").read_text())
        if saved != yaml.safe_load(yaml.safe_dump(self.config.to_dict(), sort_keys=False)):
            raise ConfigError("--config", "the configuration the run was started with (see "
                              f"{path / 'config.yaml'})", "a different configuration")
        self.episode = state["episode"]
        self.total_steps = state["total_steps"]
        self.updates = state["updates"]
        self.items_written = state["items_written"]
        self.wall_seconds = state["wall_seconds"]
        self.agent_steps = state["agent_steps"]
        self.evaluations = state["evaluations"]
        self.rng.bit_generator.state = state["rng"]
        self.market.load_state_dict(state["market"])
        self.eval_market.load_state_dict(state["eval_market"])
        replay = path / "replay"
        return replay if replay.is_dir() else None

    # ------------------------------------------------------------------ the run
    def run(self, stop_after_episodes: int | None = None) -> dict:
        """Train to ``training.episodes`` (or until converged long enough); returns the summary.

        ``stop_after_episodes`` ends this invocation early (after a checkpoint), as a kill would.
        """
        tc = self.config.training
        bar = tqdm(total=tc.episodes, initial=self.episode, disable=not self.progress,
                   desc="training", unit="ep", dynamic_ncols=True)
        started = time.perf_counter()
        base_wall = self.wall_seconds
        ran = 0
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
                done = self._converged_long_enough() or self.episode >= tc.episodes
                if self.episode % tc.checkpoint_interval == 0 or done:
                    self.save_checkpoint()
                if done or (stop_after_episodes is not None and ran >= stop_after_episodes):
                    break
        finally:
            bar.close()
        summary = self.summary()
        if self.episode >= tc.episodes or self._converged_long_enough():
            (self.out / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    def _converged_long_enough(self) -> bool:
        k = self.config.training.stop_after_converged_evals
        return k > 0 and len(self.evaluations) >= k and all(e["converged"] for e in self.evaluations[-k:])

    def summary(self) -> dict:
        last = self.evaluations[-1] if self.evaluations else None
        first = episodes_to_converge(self.evaluations)
        out = {
            "episodes": self.episode,
            "episodes_to_converge": first,
            "converged": first is not None,
            "wall_seconds": self.wall_seconds,
            "agent_steps_per_second": self.agent_steps / self.wall_seconds if self.wall_seconds else None,
            "n_agents": self.n_agents,
            "weight_sharing": self.config.learner.weight_sharing,
            "seed": self.config.training.seed,
            "updates": self.updates,
        }
        if last is not None:
            out.update(final_numbers(last, self.economy.stochastic))
        return out

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            self.server.close()
