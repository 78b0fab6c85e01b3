"""TD3 and SAC behind :class:`orchestrator.core.Algorithm`, the interface the training roles call.

A rule is built like :class:`orchestrator.algorithms.DQNRule`, from the run's config, the
observation width and an optional shard of the agents ``[lo, hi)``::

    rule = TD3Rule(config, observation_dim)              # or SACRule; RULES maps the names
    actions = rule.policy(x, explore, rng)               # {"tree_action", "bond_action"}: [N] float32 in [-1, 1]
    tree_price, bond_price = rule.prices(actions)        # the affine map of orchestrator.learners.actions
    metrics = rule.train_step(batch)                     # floats: loss, td_error, max_weight, ...

The replay item carries the actions in [-1, 1] (before the map to prices) in the same two
fields as the Q-learners' grid indices, as float32 instead of int32: the experience table's
signature needs ``tree_action`` and ``bond_action`` of dtype float32 for these rules.

Exploration. ``explore`` is the value of the run's exploration schedule (``exploration.
epsilon_start`` -> ``epsilon_end``, 1.0 -> 0.1 by default). TD3 reads it as the standard
deviation of its Gaussian action noise in action units (sigma 1.0 early: prices spread over the
whole range; 0.1 late: TD3's usual noise), per column at least ``learner.exploration_floor_ticks``
price ticks (PriceBox.noise_scale; 0: no floor). With ``learner.action_noise: epsilon-local``
TD3 explores as the Q-learners do instead (``explore`` is epsilon; local moves of
``exploration.local_width`` ticks: actions.epsilon_local_exploration); SAC samples its own policy whenever ``explore > 0``.
``explore = 0`` is the deterministic policy (mu(x), or tanh of the Gaussian's mean).

Schedules. With ``actions.tree_schedule_slope`` / ``bond_schedule_slope`` (the call auction)
each continuous price is a reservation value v and ``orders`` gives the market the slopes
``a s0_i`` of the demand schedules ``a s0_i (1 - P / v)``: a continuous v has no tick, so an
agent's order moves with its value by any amount, not in steps of one grid price.

Hyperparameters from ``config.learner``: ``hidden``, ``n_step``, ``learning_rate`` (actor and
critics; SAC's temperature too), ``final_learning_rate`` (both decay linearly to it),
``target_update_tau``, ``huber_delta``, ``weight_sharing`` / ``agent_types``; the rest are the
published defaults of :class:`TD3Hyperparameters` / :class:`SACHyperparameters`, overridden
by a learner field of the same name where the config has one (e.g. ``policy_delay``).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np
import tensorflow as tf

from lucas_abm.mechanisms.schedules import schedule_arguments
from orchestrator.agents import shard_initial_shares
from orchestrator.config import TrainConfig
from orchestrator.learners.actions import PriceBox, epsilon_local_exploration
from orchestrator.learners.sac import EnsembleSAC, SACHyperparameters
from orchestrator.learners.td3 import EnsembleTD3, TD3Hyperparameters
from orchestrator.population import shard_group_index


def hyperparameters(cls, config: TrainConfig):
    """``cls`` (TD3Hyperparameters or SACHyperparameters) filled from ``config.learner``."""
    lc = config.learner
    values = dict(discount=config.economy.beta, n_step=lc.n_step, target_update_tau=lc.target_update_tau,
                  huber_delta=lc.huber_delta, hidden=tuple(lc.hidden),
                  actor_learning_rate=lc.learning_rate, critic_learning_rate=lc.learning_rate,
                  decay_updates=config.training.episodes * config.market.horizon // lc.update_every)
    if lc.final_learning_rate is not None:
        values["final_learning_rate_fraction"] = lc.final_learning_rate / lc.learning_rate
    fields = {f.name for f in dataclasses.fields(cls)}
    if "alpha_learning_rate" in fields:
        values["alpha_learning_rate"] = lc.learning_rate
    values.update({name: getattr(lc, name) for name in fields - set(values) if hasattr(lc, name)})
    return cls(**values)


class ActorCriticRule:
    """Agents [lo, hi) of an actor-critic ensemble, as an :class:`orchestrator.core.Algorithm`."""

    ensemble_class: Any = None
    hyperparameter_class: Any = None
    action_dtype = np.float32      # of the replay signature's tree_action and bond_action fields

    def __init__(self, config: TrainConfig, observation_dim: int, shards: int = 1, shard: int = 0):
        from orchestrator.algorithms import check_sharding, shard_bounds   # (it may register RULES)

        check_sharding(config, shards)
        self.config = config
        self.box = PriceBox.from_config(config.actions)
        self.lo, self.hi = shard_bounds(config.market.n_agents, shards, shard)
        n = self.hi - self.lo
        groups = max(1, config.groups * n // config.market.n_agents)
        seed = config.training.seed if shard == 0 else int(
            np.random.SeedSequence([config.training.seed, shard]).generate_state(1)[0] % 2**31)
        self.hp = hyperparameters(self.hyperparameter_class, config)
        index = shard_group_index(config, self.lo, self.hi)   # a population's types: any counts
        self.learner = self.ensemble_class(n, groups, observation_dim, self.box.dim, self.hp, seed=seed,
                                           group_index=index)
        self.sliced = (self.lo, self.hi) != (0, config.market.n_agents)

    # ---- acting -------------------------------------------------------------------------
    def _explore(self, observation: np.ndarray, explore: float, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def policy(self, observation: np.ndarray, explore: float,
               rng: np.random.Generator | None) -> dict[str, np.ndarray]:
        """Actions of agents [lo, hi) in [-1, 1]: column 0 the tree price, 1 the bond price."""
        x = observation[self.lo:self.hi] if self.sliced else observation
        a = self.learner.greedy(x) if explore <= 0 else self._explore(x, explore, rng)
        a = np.asarray(a, np.float32)
        return {"tree_action": a[:, 0].copy(), "bond_action": a[:, 1].copy()}

    def orders(self, actions: Mapping[str, np.ndarray], market) -> tuple | None:
        """With ``actions.*_schedule_slope``: (None, None, a_tree s0_i, a_bond s0_i) for agents
        [lo, hi), so that each continuous price is the reservation value v of the linear demand
        schedule ``a s0_i (1 - P / v)`` (lucas_abm.mechanisms.schedules); None (posted prices)
        otherwise. The same arguments as a Q-learner's (orchestrator.agents.ActionGrid.orders)."""
        a = self.config.actions
        if a.tree_schedule_slope is None:
            return None
        s0 = np.broadcast_to(np.asarray(shard_initial_shares(market, self.lo, self.hi), float),
                             (self.hi - self.lo,))
        return schedule_arguments(a.tree_schedule_slope, a.bond_schedule_slope, s0)

    def prices(self, actions: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """p_j = low_j + (a_j + 1)/2 (high_j - low_j) (orchestrator.learners.actions.PriceBox)."""
        return self.box.prices(np.stack([actions["tree_action"], actions["bond_action"]], axis=-1))

    # ---- learning -----------------------------------------------------------------------
    def train_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """One update of this shard's agents on a replay batch (float tree/bond actions)."""
        fields = [k for k in ("observation", "action", "tree_action", "bond_action", "reward") if k in batch]
        batch = {k: batch[k][:, :, self.lo:self.hi] if self.sliced else batch[k] for k in fields}
        info = self.learner.train(batch)
        return {name: float(value) for name, value in info._asdict().items()}

    @property
    def variables(self) -> list[tf.Variable]:
        """The actors' weights: all an actor or evaluator needs to act."""
        return list(self.learner.actor.weights)

    def checkpoint_objects(self) -> dict[str, Any]:
        return self.learner.checkpoint_objects()


class TD3Rule(ActorCriticRule):
    """TD3 (orchestrator.learners.td3): Gaussian action noise of standard deviation ``explore``."""

    ensemble_class, hyperparameter_class = EnsembleTD3, TD3Hyperparameters

    def _explore(self, observation, explore, rng):
        if self.config.learner.action_noise == "epsilon-local":     # explore = epsilon
            ec = self.config.exploration
            return epsilon_local_exploration(self.learner.greedy(observation), explore, ec.local_fraction,
                                             ec.local_width * self.box.tick, rng)
        sigma = self.box.noise_scale(explore, self.hp.exploration_floor_ticks)   # [2], action units
        return self.learner.act(observation, rng, scale=sigma)


class SACRule(ActorCriticRule):
    """SAC (orchestrator.learners.sac): samples the policy whenever ``explore > 0``."""

    ensemble_class, hyperparameter_class = EnsembleSAC, SACHyperparameters

    def _explore(self, observation, explore, rng):
        return self.learner.act(observation, rng)


RULES = {"td3": TD3Rule, "sac": SACRule}
