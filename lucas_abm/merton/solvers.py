"""One entry point for every Merton method: ``solve(problem, method, ...) -> MertonSolution``."""
from __future__ import annotations

import dataclasses

from lucas_abm.errors import check_choice
from lucas_abm.merton import METHODS
from lucas_abm.merton.evaluate import MertonSolution
from lucas_abm.merton.problem import MertonProblem


def solve(problem: MertonProblem, method: str, seed: int = 0, iterations: int | None = None,
          points: int = 241) -> MertonSolution:
    """Train ``method`` (default budget unless ``iterations`` is given) and evaluate it on
    ``points`` log-spaced wealth levels."""
    check_choice("method", method, METHODS)
    if method == "actor-critic":
        from lucas_abm.merton.actor_critic import ActorCriticConfig, train_actor_critic
        config = _with(ActorCriticConfig(seed=seed), iterations)
        return train_actor_critic(problem, config, points)
    from lucas_abm.merton.pinn import PinnConfig, train_naive_pinn, train_repaired_pinn
    config = _with(PinnConfig(seed=seed), iterations)
    train = train_naive_pinn if method == "pinn" else train_repaired_pinn
    return train(problem, config, points)


def _with(config, iterations: int | None):
    if iterations is None:
        return config
    return dataclasses.replace(config, iterations=iterations, chunk=min(config.chunk, iterations))
