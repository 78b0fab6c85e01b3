"""The evaluator: greedy episodes on its own market, the convergence criterion, the summary.

Every ``eval_interval`` completed training episodes::

    x_0 = market.reset(seed_eval(e))
    for t < T:  p_t, q_t = prices(policy(x_t, explore=0));  x_{t+1} = market.step(p_t, q_t)
    converged(e) = |median p / p* - 1| <= tree_tolerance and |median q / q* - 1| <= bond_tolerance
                   and volume per agent per step <= volume_tolerance (each asset)
                   [and mean |p_k / p(y_t) - 1| <= tracking_tolerance, stochastic dividends]

For a population whose equilibrium holds bonds (they are rolled over, so it trades every
period) the volume condition is replaced by every type's holdings at T: |s - s_k| <=
share_tolerance and |b / b_k - 1| <= bond_position_tolerance (orchestrator.population).

The run converged at the first evaluation after which every evaluation met the criteria
(:func:`orchestrator.convergence.episodes_to_converge`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from orchestrator.agents import Features, market_orders
from orchestrator.config import TrainConfig
from orchestrator.convergence import episodes_to_converge, final_numbers
from orchestrator.episode import EVAL_SEED_OFFSET, Economy, EpisodeRecord, episode_metrics, episode_seed
from orchestrator.population import (equilibrium_holdings, holding_errors, holdings_met, holds_bonds,
                                     type_holdings)


class GreedyEvaluator:
    """Plays greedy episodes with a policy and scores them; saves the sampled agents' paths."""

    def __init__(self, config: TrainConfig, economy: Economy, policy, sampled: np.ndarray,
                 episodes_dir: Path | None):
        self.config, self.economy, self.policy = config, economy, policy
        self.market = economy.market()
        self.features = Features.build(config, self.market, economy.dividend)
        self.sampled, self.episodes_dir = sampled, episodes_dir

    def evaluate(self, episode: int) -> dict:
        """One greedy episode labelled ``episode`` (completed training episodes)."""
        cfg = self.config
        market = self.market
        obs = market.reset(seed=episode_seed(cfg.training.seed, EVAL_SEED_OFFSET + episode))
        record = EpisodeRecord(market, self.sampled)
        for _ in range(cfg.market.horizon):
            actions = self.policy.policy(self.features.observation(obs), 0.0, None)
            tree_price, bond_price = self.policy.prices(actions)
            step = market.step(tree_price, bond_price, *market_orders(self.policy, actions, market))
            record.add(tree_price, bond_price, step)
            obs = step.observation
        row = {"episode": episode}
        equilibrium, prices = self.economy.targets(record.dividend[0])   # valued in this episode's y_0
        metrics, tree_star, bond_star = episode_metrics(record, self.economy, prices)
        row.update(metrics)
        if self.episodes_dir is not None:
            record.save(self.episodes_dir / f"eval-{episode:06d}.npz", episode=episode,
                        tree_price_star=tree_star, bond_price_star=bond_star,
                        tree_lot=cfg.market.tree_lot, bond_lot=cfg.market.bond_lot)
        if self.economy.population is not None:   # each type's holdings per unit of supply, at T
            row.update(type_holdings(market.shares, market.bonds, self.economy.population))
            row.update(holding_errors(market.shares, market.bonds, self.economy.population, equilibrium))
            row.update(equilibrium_holdings(equilibrium))
            if "initial_state" in (equilibrium or {}):
                row["initial_state"] = int(equilibrium["initial_state"])
        row["converged"] = criteria_met(row, cfg, self.economy.stochastic, equilibrium)
        return row


def criteria_met(row: dict, config: TrainConfig, stochastic: bool, equilibrium: dict | None = None) -> bool:
    """The module docstring's criteria; ``equilibrium`` a population's (holdings by type)."""
    tc = config.training
    ok = (abs(row["tree_price_rel_error"]) <= tc.tree_tolerance
          and abs(row["bond_price_rel_error"]) <= tc.bond_tolerance)
    if holds_bonds(equilibrium):
        ok = ok and holdings_met(row, equilibrium, tc.share_tolerance, tc.bond_position_tolerance)
    else:
        ok = (ok and row["tree_volume_per_agent_per_step"] <= tc.volume_tolerance
              and row["bond_volume_per_agent_per_step"] <= tc.volume_tolerance)
    if stochastic:
        ok = ok and (row["tree_price_tracking_error"] <= tc.tracking_tolerance
                     and row["bond_price_tracking_error"] <= tc.tracking_tolerance)
    return bool(ok)


def converged_long_enough(evaluations: list[dict], config: TrainConfig) -> bool:
    k = config.training.stop_after_converged_evals
    return k > 0 and len(evaluations) >= k and all(e["converged"] for e in evaluations[-k:])


def summary(config: TrainConfig, economy: Economy, evaluations: list[dict], *, episodes: int,
            wall_seconds: float, agent_steps: int, updates: int, **extra) -> dict:
    """The run's summary.json: convergence, speed and the last evaluation's numbers."""
    last = evaluations[-1] if evaluations else None
    first = episodes_to_converge(evaluations)
    out = {
        "episodes": episodes,
        "episodes_to_converge": first,
        "converged": first is not None,
        "wall_seconds": wall_seconds,
        "agent_steps_per_second": agent_steps / wall_seconds if wall_seconds else None,
        "n_agents": config.market.n_agents,
        "algorithm": config.learner.algorithm,
        "weight_sharing": config.learner.weight_sharing,
        "seed": config.training.seed,
        "updates": updates,
        "evaluations": len(evaluations),   # 0: no prices yet (stopped before the first evaluation)
    }
    out.update(extra)
    if last is not None:
        out.update(final_numbers(last, economy.stochastic))
    return out
