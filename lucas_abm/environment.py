"""TF-Agents view of the market: a batched ``PyEnvironment`` whose batch is the N agents.

* observation: ``ArraySpec((D,), float32)``, columns :attr:`LucasMarket.observation_names`;
* action: ``BoundedArraySpec((2,), float32, 0, max_price, name="posted_prices")`` =
  (tree price, bond price) per agent;
* reward: per agent, ``u(max(c, floor)) - penalty`` (float32).

The episode cut at the horizon T is a **truncation** (``StepType.LAST`` with discount 1),
never a termination, so learners bootstrap from the value of the state after the cut
(docs/model.md section 2, "Episodes"). As every ``PyEnvironment`` does, the call after a LAST step
resets the market and returns a FIRST step.
"""
from __future__ import annotations

import numpy as np
from tf_agents.environments import py_environment
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts

from lucas_abm.market import LucasMarket, MarketStep


class MarketEnvironment(py_environment.PyEnvironment):
    """The agents of one :class:`LucasMarket` as the batch dimension of a PyEnvironment."""

    def __init__(self, market: LucasMarket):
        super().__init__(handle_auto_reset=True)
        self._market = market
        self._observation_spec = array_spec.ArraySpec(
            (len(market.observation_names),), np.float32, name="observation")
        self._action_spec = array_spec.BoundedArraySpec(
            (2,), np.float32, minimum=0.0, maximum=market.config.max_price, name="posted_prices")
        self._ones = np.ones(market.n_agents, dtype=np.float32)
        self.last_market_step: MarketStep | None = None

    @property
    def market(self) -> LucasMarket:
        return self._market

    @property
    def batched(self) -> bool:
        return True

    @property
    def batch_size(self) -> int:
        return self._market.n_agents

    def observation_spec(self) -> array_spec.ArraySpec:
        return self._observation_spec

    def action_spec(self) -> array_spec.BoundedArraySpec:
        return self._action_spec

    def _reset(self) -> ts.TimeStep:
        observation = self._market.reset()
        return ts.restart(observation, batch_size=self.batch_size)

    def _step(self, action: np.ndarray) -> ts.TimeStep:
        action = np.asarray(action, dtype=np.float64).reshape(self.batch_size, 2)
        out = self._market.step(action[:, 0], action[:, 1])
        self.last_market_step = out
        reward = out.reward.astype(np.float32)
        if out.truncated:  # time limit: LAST with discount 1, bootstrap from observation
            return ts.truncation(out.observation, reward, self._ones)
        return ts.transition(out.observation, reward, self._ones)
