"""The roles of the training system and the small interfaces between them (after Acme's core.py).

A run is five roles. Data flows one way (experience: actor -> replay -> learner; weights:
learner -> replay -> actor, evaluator); nothing else is shared::

    Actor ──experience──▶ replay server ──batches──▶ Learner
      ▲                    (Reverb tables)              │
      └──────weights────── "weights" table ◀──publish───┘──▶ Evaluator (greedy episodes)

One **actor** step, for every agent k at once (a batched forward pass, never a loop over agents)::

    actions = algorithm.policy(x_t, explore, rng)          # e.g. epsilon-greedy grid indices
    p_t, q_t = algorithm.prices(actions)                    # posted tree and bond prices [N]
    r_t, x_{t+1} = market.step(p_t, q_t)
    writer.append(x_t, actions, r_t)                        # n-step windows into Reverb

One **learner** step::

    batch = next(dataset)                                   # [B, n+1, N, D] windows, sampled
    metrics = algorithm.train_step(batch)                   # one update of every agent's nets
    variables.publish(algorithm.variables)                  # now and then: weights out

The **evaluator** pulls the same weights and plays a greedy episode (``explore = 0``) on its
own market, scoring it with :mod:`orchestrator.convergence`. The **orchestrator**
(:mod:`orchestrator.local` in one process, :mod:`orchestrator.coordinator` beside the learner
when the roles are processes) counts completed episodes, checkpoints and stops the others.

Any learning rule that implements :class:`Algorithm` runs in these roles unchanged: the
double DQN of :mod:`orchestrator.algorithms` today, the TD3 ensemble of
:mod:`orchestrator.learners.td3` (``policy`` = mu(x) + noise, ``train_step`` = the TD3 update,
``variables`` = the actors' weights the other roles need).
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

Actions = Mapping[str, np.ndarray]     # the replay signature's action fields, each [N, ...]


@runtime_checkable
class Algorithm(Protocol):
    """A learning rule for all N agents, held as one batched ensemble.

    Call sequence: ``policy`` / ``prices`` in actors and evaluators, ``train_step`` in the
    learner; ``variables`` travel from the learner to the others; ``checkpoint_objects`` is
    what a resume restores (networks, targets, optimisers, counters).
    """

    def policy(self, observation: np.ndarray, explore: float,
               rng: np.random.Generator | None) -> Actions:
        """x [N, D] float32 (scaled features) -> actions; ``explore = 0`` is the greedy policy."""

    def prices(self, actions: Actions) -> tuple[np.ndarray, np.ndarray]:
        """Actions -> posted (tree price, bond price), each [N] float64."""

    def train_step(self, batch: Mapping[str, Any]) -> dict[str, float]:
        """One update from a replay batch; returns at least ``loss``, ``td_error``, ``max_weight``."""

    @property
    def variables(self) -> Sequence[Any]:
        """The tf.Variables an actor needs to act (published by the learner)."""

    def checkpoint_objects(self) -> dict[str, Any]:
        """Everything an exact resume needs, for ``tf.train.Checkpoint(**objects)``."""


class VariableSource(Protocol):
    """Where actors and evaluators get the learner's weights (Acme's VariableSource)."""

    def get_variables(self, timeout_s: float) -> tuple[list[np.ndarray], dict[str, int]]:
        """The newest published weights and their metadata (version, episodes, stop)."""


class Actor(Protocol):
    """Drives one replica of the economy and writes its experience.

    Call sequence::

        actor.update()                       # newest weights (no-op in one process)
        row = actor.run_episode(explore)     # T market steps -> T - n + 1 replay items
    """

    def run_episode(self, explore: float) -> dict:
        """Play one training episode; return its metrics row (without the global episode)."""

    def update(self, wait: bool = False) -> None:
        """Pull the newest weights from the variable source."""


class Learner(Protocol):
    """Samples from replay and updates the ensemble.

    Call sequence::

        while not stopped:
            metrics = learner.step()         # one gradient update of every agent's networks
            learner.publish()                # now and then
    """

    def step(self) -> dict[str, float]:
        """One update on one sampled batch."""

    def publish(self) -> None:
        """Make the current weights available to actors and evaluators."""


class Evaluator(Protocol):
    """Greedy episodes and the convergence criterion.

    Call sequence::

        row = evaluator.evaluate(episode)    # one greedy episode, scored against p*, q*
        evaluator.summary(...)               # the run's summary.json fields
    """

    def evaluate(self, episode: int) -> dict:
        """One greedy episode labelled with the number of completed training episodes."""


class RunCounters(Protocol):
    """What the orchestrator counts (checkpointed with the networks)."""

    episode: int          # completed training episodes, each counted exactly once
    updates: int          # learner updates
    agent_steps: int      # agent-steps simulated (training and evaluation)
