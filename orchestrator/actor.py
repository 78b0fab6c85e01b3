"""The actor: one replica of the economy, played with the agents' current policies.

One training episode (all agents at once; ``policy`` is one batched forward pass)::

    x_0 = market.reset(seed_e)                      # exploring starts: holdings spread (starts.py)
    for t in 0..T-1:
        a_t = policy(x_t, explore)                  # e.g. epsilon-greedy on the price grid
        r_t, x_{t+1} = market.step(prices(a_t))
        writer.append(x_t, a_t, r_t)                # one Reverb item per n-step window
        after_step(actor)                           # one process: the learner's turn
    writer.end_episode(x_T)                         # the cut at T is a truncation

An actor never waits on a learner: it writes and moves on (inserts never block, see
docs/distributed.md). Weights come from a :class:`~orchestrator.core.VariableSource`
(:meth:`update`); in one process the policy *is* the learner's network and there is nothing
to pull.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

from orchestrator.agents import Features, market_orders
from orchestrator.config import TrainConfig
from orchestrator.episode import Economy, EpisodeRecord, episode_metrics, episode_seed, exploration_rng
from orchestrator.starts import exploring_start


class MarketActor:
    """Plays training episodes of one market replica and writes their n-step windows."""

    def __init__(self, config: TrainConfig, economy: Economy, policy, writer, sampled: np.ndarray,
                 actor_id: int = 0, variable_source=None, timeout_s: float = 60.0):
        self.config, self.economy, self.policy, self.writer = config, economy, policy, writer
        self.market = economy.market()
        self.features = Features.build(config, self.market, economy.dividend)
        self.sampled, self.actor_id = sampled, actor_id
        self.rng = exploration_rng(config.training.seed, actor_id)
        self.variable_source, self.timeout_s = variable_source, timeout_s
        self.meta: dict[str, int] = {}
        self.total_steps = 0          # market steps played in training episodes
        self.items_written = 0        # n-step windows handed to the writer

    def update(self, wait: bool = False) -> None:
        """Copy the newest published weights into the policy (no-op without a source)."""
        if self.variable_source is None:
            return
        arrays, self.meta = self.variable_source.get_variables(self.timeout_s)
        for var, value in zip(self.policy.variables, arrays):
            var.assign(value)

    def run_episode(self, episode: int, explore: float,
                    after_step: Callable[["MarketActor"], None] | None = None) -> tuple[dict, EpisodeRecord]:
        """Play this actor's episode number ``episode``; return its metrics and record."""
        cfg = self.config
        seed = episode_seed(cfg.training.seed, episode, self.actor_id)
        obs = self.market.reset(seed=seed)
        started = exploring_start(self.market, cfg.exploration, seed)   # None: from the endowment
        obs = obs if started is None else started
        record = EpisodeRecord(self.market, self.sampled)
        start = time.perf_counter()
        for _ in range(cfg.market.horizon):
            x = self.features.observation(obs)
            actions = self.policy.policy(x, explore, self.rng)
            tree_price, bond_price = self.policy.prices(actions)
            step = self.market.step(tree_price, bond_price, *market_orders(self.policy, actions, self.market))
            record.add(tree_price, bond_price, step)
            self.writer.append(x, actions["tree_action"], actions["bond_action"], self.features.reward(step))
            if self.market.t > cfg.learner.n_step:   # the writer made the window ending at this step
                self.items_written += 1
            obs = step.observation
            self.total_steps += 1
            if after_step is not None:
                after_step(self)
        self.writer.end_episode(self.features.observation(obs))
        self.items_written += 1
        elapsed = time.perf_counter() - start
        row = episode_metrics(record, self.economy)[0]
        n = cfg.market.n_agents
        row.update({"steps_per_second": cfg.market.horizon / elapsed,
                    "agent_steps_per_second": n * cfg.market.horizon / elapsed})
        return row, record

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "market": self.market.state_dict(),
                "total_steps": self.total_steps, "items_written": self.items_written}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.market.load_state_dict(state["market"])
        self.total_steps, self.items_written = state["total_steps"], state["items_written"]
