"""Actor-critic for Merton's problem: deep policy iteration (after Duarte, Duarte and Silva).

Two networks on log wealth ``x = log W`` (uniform over ``[log w_min, log w_max]``):

* critic: the value in homothetic form ``V = W^(1-gamma)/(1-gamma) m(x)^(-gamma)``
  (:class:`HomotheticValue`);
* actor: the policy ``(pi, nu = c/W)`` with bounded outputs (:class:`BoundedPolicy`).

Each iteration, on a fresh batch of log wealth, does

1. **policy evaluation** (``eval_steps`` Adam steps on the critic, the actor fixed)::

       min_critic  mean_x [ (rho V - H(V; pi, nu)) / |rho V| ]^2 = mean_x [(rho - h)/rho]^2

2. **policy improvement** (``improve_steps`` Adam steps on the actor, the critic fixed)::

       max_actor  mean_x  H(V; pi, nu) / |rho V| = mean_x sign(1 - gamma) h / rho

with ``h`` the homothetic Hamiltonian of :mod:`lucas_abm.merton.problem`. The actor never uses
the first-order conditions (no division by ``V_WW``): it climbs the Hamiltonian, which is
concave in ``(pi, nu)`` wherever the value is increasing and concave.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from lucas_abm.merton.evaluate import MertonSolution
from lucas_abm.merton.networks import (DTYPE, BoundedPolicy, HomotheticValue, cosine_adam,
                                      run_chunks)
from lucas_abm.merton.problem import MertonProblem, wealth_grid


@dataclass(frozen=True)
class ActorCriticConfig:
    """Budget and optimisers (Adam, cosine decay of both rates to ``final_lr_fraction``)."""

    iterations: int = 20_000
    eval_steps: int = 1
    improve_steps: int = 1
    batch: int = 256
    critic_lr: float = 1e-3
    actor_lr: float = 1e-3
    final_lr_fraction: float = 0.01
    widths: tuple[int, ...] = (32, 32)
    chunk: int = 500
    seed: int = 0


def train_actor_critic(problem: MertonProblem, config: ActorCriticConfig = ActorCriticConfig(),
                       points: int = 241) -> MertonSolution:
    critic = HomotheticValue(problem, config.widths, seed=10 * config.seed)
    actor = BoundedPolicy(problem, config.widths, seed=10 * config.seed + 5)
    critic_opt = cosine_adam(config.critic_lr, config.iterations * config.eval_steps,
                             config.final_lr_fraction)
    actor_opt = cosine_adam(config.actor_lr, config.iterations * config.improve_steps,
                            config.final_lr_fraction)
    rng = tf.random.Generator.from_seed(config.seed)
    x_lo, x_hi = problem.log_wealth_range
    sign = 1.0 if problem.gamma < 1.0 else -1.0

    def evaluation_loss(x, pi, nu):
        m, l1, l2 = critic(x)
        return tf.reduce_mean(problem.residual_homothetic(m, l1, l2, pi, nu) ** 2)

    def improvement_loss(x, m, l1, l2):
        pi, nu = actor(x)
        return -tf.reduce_mean(sign * problem.hamiltonian_homothetic(m, l1, l2, pi, nu)
                               / problem.rho)

    @tf.function
    def train_chunk(n):
        loss = tf.constant(0.0, DTYPE)
        for _ in tf.range(n):
            x = rng.uniform((config.batch,), x_lo, x_hi, dtype=DTYPE)
            pi, nu = actor(x)                                   # 1. policy evaluation
            for _ in range(config.eval_steps):
                with tf.GradientTape() as tape:
                    loss = evaluation_loss(x, pi, nu)
                grads = tape.gradient(loss, critic.trainable_variables)
                critic_opt.apply_gradients(zip(grads, critic.trainable_variables))
            m, l1, l2 = critic(x)                               # 2. policy improvement
            for _ in range(config.improve_steps):
                with tf.GradientTape() as tape:
                    objective = improvement_loss(x, m, l1, l2)
                grads = tape.gradient(objective, actor.trainable_variables)
                actor_opt.apply_gradients(zip(grads, actor.trainable_variables))
        return loss

    losses, seconds = run_chunks(train_chunk, config.iterations, config.chunk)

    W = wealth_grid(problem, points)
    x = tf.constant(np.log(W), DTYPE)
    pi, nu = actor(x)
    m, l1, l2 = critic(x)
    residual = problem.residual_homothetic(m, l1, l2, pi, nu)
    return MertonSolution("actor-critic", W, pi.numpy(), nu.numpy(), residual.numpy(), seconds,
                          config.iterations, {"final_loss": losses[-1], "loss_history": losses})
