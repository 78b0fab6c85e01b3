"""Learning rules behind the :class:`orchestrator.core.Algorithm` interface.

:class:`DQNRule` is the n-step double DQN of :mod:`orchestrator.dqn` on the discrete price
grid: ``policy`` is epsilon-greedy with local moves (:func:`orchestrator.agents.explore`),
``prices`` maps grid indices to prices, ``train_step`` is ``EnsembleDQN.train_step``.

A rule may own only a **shard** of the agents, ``agents = range(lo, hi)`` (agent-sharded
learners, docs/distributed.md): it then holds ``hi - lo`` agents' networks and trains on the
``[..., lo:hi, ...]`` slice of every replay batch. With independent weights the shards are
exactly the agents' own networks, so no shard ever needs another's gradients.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import tensorflow as tf

from lucas_abm.errors import ConfigError
from orchestrator.agents import ActionGrid, dividend_state_levels, shard_initial_shares
from orchestrator.config import TrainConfig, check_shard_count
from orchestrator.dqn import DQNHyperparameters, EnsembleDQN
from orchestrator.learners.afterstates import GeneratorState, afterstate_targets
from orchestrator.population import shard_group_index


def shard_bounds(n_agents: int, shards: int, shard: int) -> tuple[int, int]:
    """Agents [lo, hi) of shard ``shard`` of ``shards`` (contiguous, sizes differ by <= 1)."""
    check_shard_count(n_agents, shards)
    if not 0 <= shard < shards:
        raise ConfigError("--shard", f"an integer in [0, {shards - 1}]", shard)
    edges = np.linspace(0, n_agents, shards + 1).round().astype(int)
    return int(edges[shard]), int(edges[shard + 1])


def check_sharding(config: TrainConfig, shards: int) -> None:
    """Shards own whole weight groups: independent weights, or types that do not straddle shards."""
    check_shard_count(config.market.n_agents, shards)
    if shards == 1:
        return
    if config.population_types is not None and config.learner.weight_sharing == "shared":
        raise ConfigError("--shards", "1 with a population and shared weights (types of any counts)", shards)
    n = config.market.n_agents
    edges = [shard_bounds(n, shards, s) for s in range(shards)]
    per_group = n // config.groups
    if any(lo % per_group or hi % per_group for lo, hi in edges):
        raise ConfigError("--shards", "a number of shards whose agent blocks hold whole weight groups "
                          "(learner.weight_sharing=independent, or a divisor of learner.agent_types)", shards)


class DQNRule:
    """Double DQN for agents [lo, hi): the :class:`~orchestrator.core.Algorithm` of Q-learning."""

    action_dtype = np.int32        # of the replay signature's tree_action and bond_action (grid indices)

    def __init__(self, config: TrainConfig, observation_dim: int, shards: int = 1, shard: int = 0):
        check_sharding(config, shards)
        self.config = config
        self.grid = ActionGrid(config.actions)
        lc = config.learner
        self.lo, self.hi = shard_bounds(config.market.n_agents, shards, shard)
        n = self.hi - self.lo
        groups = max(1, config.groups * n // config.market.n_agents)
        hp = DQNHyperparameters(discount=config.economy.beta, n_step=lc.n_step,
                                learning_rate=lc.learning_rate, final_learning_rate=lc.final_learning_rate,
                                decay_updates=config.training.episodes * config.market.horizon // lc.update_every,
                                target_update_tau=lc.target_update_tau,
                                huber_delta=lc.huber_delta, hidden=tuple(lc.hidden))
        seed = config.training.seed if shard == 0 else int(
            np.random.SeedSequence([config.training.seed, shard]).generate_state(1)[0] % 2**31)
        index = shard_group_index(config, self.lo, self.hi)   # a population's types: any counts
        gate = dividend_state_levels(config) if lc.state_networks else None   # a network per dividend state
        self.dqn = EnsembleDQN(n, groups, observation_dim, self.grid.n_tree, self.grid.n_bond, hp,
                               seed=seed, tree_basis=self.grid.tree_basis, bond_basis=self.grid.bond_basis,
                               group_index=index, tree_positions=self.grid.n_tree_positions,
                               bond_positions=self.grid.n_bond_positions, state_gate=gate,
                               concave=self.grid.concave)
        self.sliced = (self.lo, self.hi) != (0, config.market.n_agents)
        # learner.afterstate_tree_values / _bond_values: what other values would have given (afterstates.py)
        self.afterstates = afterstate_targets(config, self.grid, seed)

    # ---- acting -------------------------------------------------------------------------
    def policy(self, observation: np.ndarray, explore_rate: float,
               rng: np.random.Generator | None) -> dict[str, np.ndarray]:
        """Greedy grid indices of agents [lo, hi), then epsilon-greedy with local moves."""
        tree, bond = self.dqn.greedy(observation[self.lo:self.hi] if self.sliced else observation)
        if explore_rate > 0:
            ex = self.config.exploration
            tree = self.grid.explore("tree", tree, explore_rate, ex, rng)
            bond = self.grid.explore("bond", bond, explore_rate, ex, rng)
        return {"tree_action": tree, "bond_action": bond}

    def orders(self, actions: Mapping[str, np.ndarray], market) -> tuple | None:
        """Orders of agents [lo, hi) (actions.tree_positions or schedule slopes; ActionGrid.orders),
        None for posted prices."""
        return self.grid.orders(actions, market.shares[self.lo:self.hi],
                                shard_initial_shares(market, self.lo, self.hi))

    def prices(self, actions: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return self.grid.tree_prices[actions["tree_action"]], self.grid.bond_prices[actions["bond_action"]]

    # ---- learning -----------------------------------------------------------------------
    def train_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """G_t = sum beta^i r + beta^n Q'(x_{t+n}, argmax Q) regression, on this shard's agents."""
        obs, tree, bond, reward = (batch["observation"], batch["tree_action"], batch["bond_action"],
                                   batch["reward"])
        after = None
        if self.afterstates is not None:   # built for all agents (the sellers' bond fraction), then sliced
            x, a_tree, a_bond = np.asarray(obs), np.asarray(tree)[:, 0], np.asarray(bond)[:, 0]
            parts = self.afterstates(x[:, 0], x[:, 1], a_tree, a_bond)
            after = type(parts)(*(tf.constant(p[:, self.lo:self.hi]) for p in parts))
        if self.sliced:
            obs, tree = obs[:, :, self.lo:self.hi], tree[:, :, self.lo:self.hi]
            bond, reward = bond[:, :, self.lo:self.hi], reward[:, :, self.lo:self.hi]
        loss, td, max_weight = self.dqn.train_step(obs, tree, bond, reward, after)
        return {"loss": float(loss), "td_error": float(td), "max_weight": float(max_weight)}

    @property
    def variables(self) -> list[tf.Variable]:
        """The online Q-networks: all an actor needs for the greedy part of its policy."""
        return list(self.dqn.online.weights)

    def checkpoint_objects(self) -> dict[str, Any]:
        objects = {"online": self.dqn.online, "target": self.dqn.target, "optimizer": self.dqn.optimizer}
        if self.afterstates is not None:    # their draws continue where the run stopped
            objects["afterstate_draws"] = GeneratorState(self.afterstates.rng)
        return objects


RULES = {"dqn": DQNRule}   # every rule has the same five members (and its action_dtype)


def _register_actor_critics() -> None:
    """td3 and sac (orchestrator.learners.rules); imported here, after DQNRule, since that module
    imports this one lazily."""
    from orchestrator.learners.adaptive import AdaptiveRule
    from orchestrator.learners.rules import RULES as actor_critics

    RULES.update(actor_critics, adaptive=AdaptiveRule)


def registered_rules() -> dict[str, type]:
    """Every learning rule by its ``learner.algorithm`` name (the replay signature's
    ``ACTION_DTYPES`` keys; tests/test_config.py pins the two lists and the dtypes together)."""
    if set(RULES) == {"dqn"}:          # td3, sac and adaptive register on first use
        _register_actor_critics()
    return dict(RULES)


def make_algorithm(config: TrainConfig, observation_dim: int, shards: int = 1, shard: int = 0):
    """The learning rule named by ``learner.algorithm``: dqn (default), td3, sac or adaptive.

    Roles call only ``policy``, ``prices``, ``train_step``, ``variables`` and
    ``checkpoint_objects``; a rule with these (e.g. an adapter of
    ``orchestrator.learners.td3.EnsembleTD3``: policy = ``act``, prices = the affine map of
    ``orchestrator.learners.actions``, train_step = ``train``) runs in every role unchanged.
    """
    name = getattr(config.learner, "algorithm", "dqn")
    rules = registered_rules()
    if name not in rules:
        raise ConfigError("learner.algorithm", "one of " + ", ".join(sorted(rules)), name)
    return rules[name](config, observation_dim, shards, shard)


class ShardedPolicy:
    """Actors' view of S shard rules: each acts for its agents; actions are concatenated."""

    def __init__(self, rules: list):
        self.rules = rules

    def policy(self, observation, explore_rate, rng):
        parts = [r.policy(observation, explore_rate, rng) for r in self.rules]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def orders(self, actions, market):
        if not hasattr(self.rules[0], "orders"):
            return None
        parts = [r.orders({k: v[r.lo:r.hi] for k, v in actions.items()}, market) for r in self.rules]
        if parts[0] is None:
            return None
        return tuple(None if parts[0][i] is None else np.concatenate([p[i] for p in parts])
                     for i in range(len(parts[0])))

    def prices(self, actions):
        return self.rules[0].prices(actions)

    @property
    def variables(self):
        return [v for r in self.rules for v in r.variables]
