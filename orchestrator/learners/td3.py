"""Per-agent TD3 (Fujimoto et al., 2018), every agent's actor and twin critics in one ensemble.

For every weight group g (an agent, or an agent type in ``shared`` mode), on a batch of
n-step windows (x_t, a_t, r_t, ..., r_{t+n-1}, x_{t+n}) of its agents:

    a~    = clip( mu'_g(x_{t+n}) + clip(eps, -c, c), -1, 1 ),        eps ~ N(0, sigma~^2)
    y     = sum_{i<n} beta^i r_{t+i}  +  beta^n min_{j=1,2} Q'_{g,j}(x_{t+n}, a~)
    L_Q   = mean_batch  sum_{j=1,2} huber( y - Q_{g,j}(x_t, a_t) )         (critic loss)
    L_mu  = - mean_batch  Q_{g,1}(x_t, mu_g(x_t))  +  lambda mean_batch |u_g(x_t)|^2   (actor loss)

where mu = tanh(u) and u is the actor network's output. The penalty (lambda =
``preactivation_penalty``, 0 by default: TD3 as published and as TF-Agents has it) keeps u out
of tanh's flat tails: an actor pushed to a bound early, while the critics still extrapolate
linearly, otherwise stays there (d tanh / du ~ 0) after the critics have learned better.

- Clipped double Q: the target takes the smaller of the two target critics, which removes the
  upward bias that one critic's maximisation through the actor would otherwise build up.
- Target policy smoothing: the target action is the target actor's, perturbed by clipped noise
  and clipped back into the action bounds (TF-Agents does not clip it back; the paper does).
- The episode cut at T is a truncation, never a termination: the economy goes on, so the
  target always bootstraps from x_{t+n} (there is no (1 - done) factor; see orchestrator/dqn.py).
- The discount is the agents' own beta and the rewards are the scaled utility rewards of
  :class:`orchestrator.agents.Features`, so Q is the agent's expected discounted utility.
- Delayed policy updates: every update steps the critics; every ``policy_delay``-th update
  also steps the actors (on the critics just updated) and moves all targets by Polyak
  averaging, w' <- tau w + (1 - tau) w'.
- Each group's losses are summed over groups and minimised by one Adam per network set:
  Adam is element-wise, so this is exactly G independent Adams; gradients are not clipped by
  a global norm (that would couple the agents).

Actions are a in [-1, 1]^k through tanh; :mod:`orchestrator.learners.actions` maps them to
posted prices. Layout and weight sharing are those of :mod:`orchestrator.dqn`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from orchestrator.learners.actions import gaussian_exploration
from orchestrator.learners.base import EnsembleLearner
from orchestrator.learners.ensemble import EnsembleMLP, huber, max_abs_weight, twin_input


@dataclass(frozen=True)
class TD3Hyperparameters:
    discount: float                    # the agents' beta
    n_step: int = 1
    actor_learning_rate: float = 1e-3  # Fujimoto et al. (2018): Adam 1e-3 for both
    critic_learning_rate: float = 1e-3
    final_learning_rate_fraction: float | None = None   # both decay linearly to lr x this
    decay_updates: int = 1
    target_update_tau: float = 0.005
    policy_delay: int = 2              # critic updates per actor (and target) update
    target_noise: float = 0.2          # sigma~, in action units
    target_noise_clip: float = 0.5     # c
    exploration_noise: float = 0.1     # sigma of the acting noise, in action units
    exploration_floor_ticks: float = 0.0   # the rule's floor: sigma_j >= this many price ticks
    huber_delta: float = 1.0
    preactivation_penalty: float = 0.0   # lambda
    hidden: Sequence[int] = (50, 50, 50, 50)


class UpdateInfo(NamedTuple):
    """What one update returns (scalars): total loss L_Q + L_mu summed over groups, its two
    parts, the mean |y - Q_j| over both critics, and max |w| over the online networks."""

    loss: tf.Tensor
    td_error: tf.Tensor
    max_weight: tf.Tensor
    critic_loss: tf.Tensor
    actor_loss: tf.Tensor


class EnsembleTD3(EnsembleLearner):
    """Actors, twin critics, their targets, two Adams and the batched TD3 update.

    Agents are laid out ``[groups, agents_per_group]``: ``groups = n_agents`` for independent
    weights, ``groups = n_types`` for weights shared within each type (``group_index`` [N]: a
    population's types, of any counts; :mod:`orchestrator.learners.layout`). Actor weights are
    ``[G, ...]``, critic weights ``[2, G, ...]`` (critic j of group g at ``[j, g]``).
    """

    def __init__(self, n_agents: int, groups: int, observation_dim: int, action_dim: int,
                 hp: TD3Hyperparameters, seed: int = 0, group_index=None):
        super().__init__(n_agents, groups, observation_dim, action_dim, hp.discount, hp.n_step, group_index)
        self.hp = hp
        seeds = np.random.SeedSequence(seed).generate_state(3)
        actor = dict(members=(groups,), input_dim=observation_dim, output_dim=action_dim,
                     hidden=hp.hidden, seed=int(seeds[0]))          # u; the action is tanh(u)
        critic = dict(members=(2, groups), input_dim=observation_dim + action_dim, output_dim=1,
                      hidden=hp.hidden, seed=int(seeds[1]))
        self.actor = EnsembleMLP(name="actor", **actor)
        self.target_actor = EnsembleMLP(name="target_actor", **actor)
        self.critic = EnsembleMLP(name="critic", **critic)
        self.target_critic = EnsembleMLP(name="target_critic", **critic)
        self.target_actor.copy_from(self.actor)
        self.target_critic.copy_from(self.critic)
        schedule = (hp.final_learning_rate_fraction, hp.decay_updates)
        self.actor_optimizer = self._adam(hp.actor_learning_rate, *schedule, self.actor.weights)
        self.critic_optimizer = self._adam(hp.critic_learning_rate, *schedule, self.critic.weights)
        self.last_actor_loss = tf.Variable(0.0, name="last_actor_loss")
        self.noise = tf.random.Generator.from_seed(int(seeds[2]))   # target-policy noise

    # ---- acting -------------------------------------------------------------------------
    def greedy(self, observation: np.ndarray) -> np.ndarray:
        """observation [N, D] (already normalised) -> mu(x) [N, k] float32 in (-1, 1)."""
        return self._greedy(tf.convert_to_tensor(observation, tf.float32)).numpy()

    @tf.function(jit_compile=False)
    def _greedy(self, observation):
        return self.layout.to_agents(tf.tanh(self.actor(self.layout.by_group(observation))))

    def act(self, observation: np.ndarray, rng: np.random.Generator, scale: float | None = None) -> np.ndarray:
        """a = clip(mu(x) + sigma z, -1, 1) [N, k], z ~ N(0, I) from ``rng``; sigma = ``scale``
        in action units (None: ``hp.exploration_noise``; 0: greedy)."""
        sigma = self.hp.exploration_noise if scale is None else scale
        return gaussian_exploration(self.greedy(observation), sigma, rng)

    # ---- learning -----------------------------------------------------------------------
    @tf.function(jit_compile=False)
    def update(self, observation, action, reward, target_noise) -> UpdateInfo:
        """One TD3 update with given target-policy noise (eps before clipping).

        observation [B, n+1, N, D]; action [B, n, N, k] in [-1, 1]; reward [B, n, N];
        target_noise [B, N, k].
        """
        hp, n = self.hp, self.hp.n_step
        to_groups = self.layout.to_groups                                          # [B, N, .] -> [G, M, .]
        x_t, a_t = to_groups(observation[:, 0]), to_groups(action[:, 0])
        x_n = to_groups(observation[:, n])
        ret = self._n_step_return(reward)                                           # [G, M]
        eps = tf.clip_by_value(to_groups(target_noise), -hp.target_noise_clip, hp.target_noise_clip)

        # y = sum_i beta^i r_{t+i} + beta^n min_j Q'_j(x_{t+n}, clip(mu'(x_{t+n}) + eps, -1, 1))
        a_next = tf.clip_by_value(tf.tanh(self.target_actor(x_n)) + eps, -1.0, 1.0)
        q_next = tf.reduce_min(self.target_critic(twin_input(x_n, a_next))[..., 0], axis=0)
        y = tf.stop_gradient(ret + self._bootstrap * q_next)                         # [G, M]

        # L_Q = sum_g mean_batch sum_j huber(y - Q_{g,j}(x_t, a_t))
        with tf.GradientTape() as tape:
            q = self.critic(twin_input(x_t, a_t))[..., 0]                            # [2, G, M]
            err = y - q
            critic_loss = tf.reduce_sum(self.layout.group_means(tf.reduce_sum(huber(err, hp.huber_delta), 0)))
        grads = tape.gradient(critic_loss, self.critic.weights)
        self.critic_optimizer.apply_gradients(zip(grads, self.critic.weights))
        self.updates.assign_add(1)

        def actor_and_targets():
            # L_mu = sum_g mean_batch [-Q_{g,1}(x_t, tanh(u_g)) + lambda |u_g|^2], on the critics just updated
            with tf.GradientTape() as actor_tape:
                u = self.actor(x_t)
                q1 = self.critic(tf.concat([x_t, tf.tanh(u)], -1), member=0)[..., 0]
                penalty = hp.preactivation_penalty * tf.reduce_sum(tf.square(u), axis=-1)
                actor_loss = tf.reduce_sum(self.layout.group_means(penalty - q1))
            actor_grads = actor_tape.gradient(actor_loss, self.actor.weights)
            self.actor_optimizer.apply_gradients(zip(actor_grads, self.actor.weights))
            # w' <- tau w + (1 - tau) w'
            self.target_actor.copy_from(self.actor, hp.target_update_tau)
            self.target_critic.copy_from(self.critic, hp.target_update_tau)
            self.last_actor_loss.assign(actor_loss)
            return actor_loss

        actor_loss = tf.cond(self.updates % hp.policy_delay == 0, actor_and_targets,
                             lambda: tf.identity(self.last_actor_loss))
        return UpdateInfo(loss=critic_loss + actor_loss, td_error=self.layout.agents_mean(tf.abs(err)),
                          max_weight=max_abs_weight(self.actor, self.critic),
                          critic_loss=critic_loss, actor_loss=actor_loss)

    @tf.function(jit_compile=False)
    def train_step(self, observation, action, reward) -> UpdateInfo:
        """One update; the target-policy noise eps ~ N(0, sigma~^2) [B, N, k] from ``self.noise``."""
        shape = tf.concat([tf.shape(observation)[:1], [self.n_agents, self.action_dim]], 0)
        eps = self.hp.target_noise * self.noise.normal(shape)
        return self.update(observation, action, reward, eps)

    # ---- checkpoints --------------------------------------------------------------------
    def checkpoint_objects(self) -> dict[str, tf.Module]:
        """Everything an exact resume needs, for ``tf.train.Checkpoint(**objects)``."""
        return {"actor": self.actor, "critic": self.critic, "target_actor": self.target_actor,
                "target_critic": self.target_critic, "actor_optimizer": self.actor_optimizer,
                "critic_optimizer": self.critic_optimizer, "updates": self.updates,
                "last_actor_loss": self.last_actor_loss, "target_noise": self.noise}

    @property
    def variables(self) -> list[tf.Variable]:
        """The online and target network weights (actor, critic, target actor, target critic)."""
        return (self.actor.weights + self.critic.weights + self.target_actor.weights
                + self.target_critic.weights)
