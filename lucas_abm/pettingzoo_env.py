"""PettingZoo view of the market: a ``ParallelEnv`` whose agents are the N traders.

* agents: ``"player_0"``, ..., ``"player_{N-1}"`` (agent k is row k of the market's arrays);
* observation: ``Box(-inf, inf, (D,), float32)`` per agent, columns
  :attr:`LucasMarket.observation_names` (shares ``s``, bonds ``b``, dividend ``y``, income
  ``s y + b``, and the public columns when ``public_information`` is on);
* action: ``Box(0, max_price, (2,), float32)`` per agent, the posted prices ``(p^k, q^k)`` of
  the tree and the bond (a price <= 0 is invalid and penalised, as in the market);
* reward: ``u(max(c^k, floor)) - penalty^k`` (docs/model.md section 2);
* infos: the agent's consumption and its signed tree and bond trades this period.

Every period all N agents act at once. The episode cut at the horizon T is a *truncation*
(``truncations[a] = True``, ``terminations[a] = False``): the economy goes on, only the
episode stops (docs/model.md, "Episodes"); after it the agent list is empty and ``reset``
starts the next episode. This adapter builds one dict entry per agent per step, as
PettingZoo's API requires; for large N or speed, step :class:`LucasMarket` with arrays.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from lucas_abm.dividends import THESIS_YBAR, make_dividend
from lucas_abm.market import LucasMarket, MarketConfig
from lucas_abm.mechanisms import make_mechanism
from lucas_abm.utility import CRRAUtility


class LucasMarketParallelEnv(ParallelEnv):
    """The traders of one :class:`LucasMarket` as PettingZoo parallel agents.

    Pass a built ``market``, or let the environment build the thesis economy (constant
    dividend ``ybar = 0.01 exp(1.5)``, log utility, random pairwise matching) with
    ``MarketConfig(n_agents=n_agents, horizon=horizon, **market_options)``.
    """

    metadata = {"name": "lucas_market_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, market: LucasMarket | None = None, *, n_agents: int = 10,
                 horizon: int = 100, mechanism: str = "pairwise", seed: int | None = None,
                 **market_options: Any):
        if market is None:
            market = LucasMarket(MarketConfig(n_agents=n_agents, horizon=horizon, **market_options),
                                 make_dividend("constant", ybar=THESIS_YBAR), CRRAUtility(1.0),
                                 make_mechanism(mechanism), seed=seed)
        self.market = market
        self.possible_agents = [f"player_{k}" for k in range(market.n_agents)]
        self.agents: list[str] = []
        self.render_mode = None
        # One space object per kind, shared by all agents (identical traders; PettingZoo wants
        # the same object on every call).
        self._observation_space = spaces.Box(-np.inf, np.inf, (len(market.observation_names),),
                                             np.float32)
        self._action_space = spaces.Box(0.0, market.config.max_price, (2,), np.float32)

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_space

    def action_space(self, agent: str) -> spaces.Box:
        return self._action_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Endowments ``(s_0, b_0)`` and dividend ``y_0``; ``seed`` reseeds the market."""
        observation = self.market.reset(seed)
        self.agents = list(self.possible_agents)
        if seed is not None:
            self._action_space.seed(seed)
        return dict(zip(self.agents, observation)), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        """One market period at the posted prices ``actions[a] = (p^a, q^a)`` of every live agent."""
        if not self.agents:
            raise RuntimeError("step() after the episode ended (all agents truncated); call reset()")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"every agent posts prices each period; no action for {missing[:3]}")
        live = set(self.agents)
        unknown = [a for a in actions if a not in live]
        if unknown:   # an action that would be ignored: a typo, or an agent of another episode
            raise ValueError(f"actions for agents that are not live: {unknown[:3]} (live: "
                             f"{self.agents[0]} .. {self.agents[-1]})")
        try:
            posted = np.asarray([actions[a] for a in self.agents], dtype=np.float64)
        except ValueError:
            posted = None
        if posted is None or posted.shape != (len(self.agents), 2):
            bad = next((a for a in self.agents if np.shape(actions[a]) != (2,)), self.agents[0])
            raise ValueError(f"each action is a pair (p, q) of posted prices, e.g. "
                             f"np.array([0.85, 0.95]); got {actions[bad]!r} for {bad}")
        out = self.market.step(posted[:, 0], posted[:, 1])
        agents = self.agents
        observations = dict(zip(agents, out.observation))
        rewards = dict(zip(agents, out.reward.tolist()))
        terminations = dict.fromkeys(agents, False)
        truncations = dict.fromkeys(agents, bool(out.truncated))
        infos = {a: {"consumption": c, "tree_trade": s, "bond_trade": b} for a, c, s, b in
                 zip(agents, out.consumption.tolist(), out.tree_trade.tolist(),
                     out.bond_trade.tolist())}
        if out.truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def render(self) -> None:
        return None

    def close(self) -> None:
        pass
