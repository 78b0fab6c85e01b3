"""Per-agent soft actor-critic (Haarnoja et al., 2018), every agent's networks in one ensemble.

The policy of group g is a tanh-squashed Gaussian: u = m_g(x) + s_g(x) z, z ~ N(0, I),
a = tanh(u) in (-1, 1)^k, with s = exp(clip(log s, -20, 2)) (TF-Agents'
``sac_agent.std_clip_transform``) and

    log pi_g(a|x) = sum_k [ log N(z_k; 0, 1) - log s_{g,k}(x) - log(1 - tanh(u_k)^2) ].

On a batch of n-step windows, with alpha_g = exp(log alpha_g) and H = -k (target entropy):

    a'    ~ pi_g(.|x_{t+n})
    y     = sum_{i<n} beta^i r_{t+i} + beta^n [ min_j Q'_{g,j}(x_{t+n}, a') - alpha_g log pi_g(a'|x_{t+n}) ]
    L_Q   = mean_batch sum_{j=1,2} huber( y - Q_{g,j}(x_t, a_t) )                      (critics)
    L_pi  = mean_batch [ alpha_g log pi_g(a~|x_t) - min_j Q_{g,j}(x_t, a~) ],  a~ ~ pi_g(.|x_t)   (actor)
    L_a   = mean_batch [ -log alpha_g (log pi_g(a~|x_t) + H) ]                        (temperature)

The critics are stepped first, the actor on the critics just updated, the temperature on the
actor's sample (TF-Agents draws a fresh one); the critic targets move by Polyak averaging
every update. As in :mod:`orchestrator.learners.td3`: the cut at T is a truncation (always
bootstrap), each loss is summed over groups (exactly G independent Adams), no global-norm
clipping. ``greedy`` acts with tanh(m(x)), ``act`` samples the policy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from orchestrator.learners.base import EnsembleLearner
from orchestrator.learners.ensemble import EnsembleMLP, huber, max_abs_weight, twin_input

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


@dataclass(frozen=True)
class SACHyperparameters:
    discount: float                    # the agents' beta
    n_step: int = 1
    actor_learning_rate: float = 3e-4  # Haarnoja et al. (2018): Adam 3e-4 for all three
    critic_learning_rate: float = 3e-4
    alpha_learning_rate: float = 3e-4
    final_learning_rate_fraction: float | None = None
    decay_updates: int = 1
    target_update_tau: float = 0.005
    initial_log_alpha: float = 0.0
    target_entropy: float | None = None   # None: -k
    huber_delta: float = 1.0
    hidden: Sequence[int] = (50, 50, 50, 50)


class SACUpdateInfo(NamedTuple):
    """Scalars of one update: L_Q + L_pi + L_a summed over groups, mean |y - Q_j|, max |w|,
    the three losses and the mean temperature alpha over groups."""

    loss: tf.Tensor
    td_error: tf.Tensor
    max_weight: tf.Tensor
    critic_loss: tf.Tensor
    actor_loss: tf.Tensor
    alpha_loss: tf.Tensor
    alpha: tf.Tensor


def squashed_gaussian(mean: tf.Tensor, log_std: tf.Tensor, z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """a = tanh(m + s z) and log pi(a|x) summed over the k action columns."""
    log_std = tf.clip_by_value(log_std, LOG_STD_MIN, LOG_STD_MAX)
    u = mean + tf.exp(log_std) * z
    # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable for large |u|
    log_jacobian = 2.0 * (math.log(2.0) - u - tf.nn.softplus(-2.0 * u))
    log_prob = -0.5 * tf.square(z) - 0.5 * math.log(2.0 * math.pi) - log_std - log_jacobian
    return tf.tanh(u), tf.reduce_sum(log_prob, axis=-1)


class EnsembleSAC(EnsembleLearner):
    """Gaussian actors, twin critics and their targets, per-group temperatures, three Adams.

    Actor weights ``[G, ...]`` (output [mean | log std], 2k columns), critic weights
    ``[2, G, ...]``, ``log_alpha`` ``[G]``.
    """

    def __init__(self, n_agents: int, groups: int, observation_dim: int, action_dim: int,
                 hp: SACHyperparameters, seed: int = 0, group_index=None):
        super().__init__(n_agents, groups, observation_dim, action_dim, hp.discount, hp.n_step, group_index)
        self.hp = hp
        self.target_entropy = float(-action_dim if hp.target_entropy is None else hp.target_entropy)
        seeds = np.random.SeedSequence(seed).generate_state(3)
        critic = dict(members=(2, groups), input_dim=observation_dim + action_dim, output_dim=1,
                      hidden=hp.hidden, seed=int(seeds[1]))
        self.actor = EnsembleMLP((groups,), observation_dim, 2 * action_dim, hp.hidden, seed=int(seeds[0]),
                                 name="actor")
        self.critic = EnsembleMLP(name="critic", **critic)
        self.target_critic = EnsembleMLP(name="target_critic", **critic)
        self.target_critic.copy_from(self.critic)
        self.log_alpha = tf.Variable(tf.fill([groups], float(hp.initial_log_alpha)), name="log_alpha")
        schedule = (hp.final_learning_rate_fraction, hp.decay_updates)
        self.actor_optimizer = self._adam(hp.actor_learning_rate, *schedule, self.actor.weights)
        self.critic_optimizer = self._adam(hp.critic_learning_rate, *schedule, self.critic.weights)
        self.alpha_optimizer = self._adam(hp.alpha_learning_rate, *schedule, [self.log_alpha])
        self.noise = tf.random.Generator.from_seed(int(seeds[2]))   # reparameterisation noise

    def policy(self, x: tf.Tensor, z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """x [G, M, D], z [G, M, k] -> (a [G, M, k], log pi(a|x) [G, M])."""
        out = self.actor(x)
        return squashed_gaussian(out[..., :self.action_dim], out[..., self.action_dim:], z)

    # ---- acting -------------------------------------------------------------------------
    @tf.function(jit_compile=False)
    def _mean_and_std(self, observation):
        out = self.layout.to_agents(self.actor(self.layout.by_group(observation)))
        log_std = tf.clip_by_value(out[:, self.action_dim:], LOG_STD_MIN, LOG_STD_MAX)
        return out[:, :self.action_dim], tf.exp(log_std)

    def greedy(self, observation: np.ndarray) -> np.ndarray:
        """observation [N, D] -> tanh(m(x)) [N, k] float32: the policy's deterministic action."""
        mean, _ = self._mean_and_std(tf.convert_to_tensor(observation, tf.float32))
        return np.tanh(mean.numpy())

    def act(self, observation: np.ndarray, rng: np.random.Generator, scale: float | None = None) -> np.ndarray:
        """a = tanh(m(x) + c s(x) z) [N, k], z ~ N(0, I) from ``rng``; c = ``scale`` (None: 1, the policy)."""
        mean, std = (t.numpy() for t in self._mean_and_std(tf.convert_to_tensor(observation, tf.float32)))
        c = 1.0 if scale is None else scale
        return np.tanh(mean + c * std * rng.standard_normal(mean.shape)).astype(np.float32)

    # ---- learning -----------------------------------------------------------------------
    @tf.function(jit_compile=False)
    def update(self, observation, action, reward, next_noise, noise) -> SACUpdateInfo:
        """One SAC update with given reparameterisation noise z' (target action) and z (actor).

        observation [B, n+1, N, D]; action [B, n, N, k] in [-1, 1]; reward [B, n, N];
        next_noise, noise [B, N, k].
        """
        hp = self.hp
        to_groups = self.layout.to_groups                                          # [B, N, .] -> [G, M, .]
        x_t, a_t = to_groups(observation[:, 0]), to_groups(action[:, 0])
        x_n = to_groups(observation[:, self.n_step])
        ret = self._n_step_return(reward)                                           # [G, M]
        alpha = tf.exp(self.log_alpha)[:, None]                                     # [G, 1]

        # y = sum_i beta^i r_{t+i} + beta^n [min_j Q'_j(x', a') - alpha log pi(a'|x')],  a' ~ pi(.|x')
        a_next, logp_next = self.policy(x_n, to_groups(next_noise))
        q_next = tf.reduce_min(self.target_critic(twin_input(x_n, a_next))[..., 0], axis=0)
        y = tf.stop_gradient(ret + self._bootstrap * (q_next - alpha * logp_next))

        # L_Q = sum_g mean_batch sum_j huber(y - Q_{g,j}(x_t, a_t))
        with tf.GradientTape() as tape:
            err = y - self.critic(twin_input(x_t, a_t))[..., 0]                     # [2, G, M]
            critic_loss = tf.reduce_sum(self.layout.group_means(tf.reduce_sum(huber(err, hp.huber_delta), 0)))
        grads = tape.gradient(critic_loss, self.critic.weights)
        self.critic_optimizer.apply_gradients(zip(grads, self.critic.weights))

        # L_pi = sum_g mean_batch [alpha log pi(a~|x_t) - min_j Q_j(x_t, a~)], on the critics just updated
        with tf.GradientTape() as tape:
            a_new, logp = self.policy(x_t, to_groups(noise))
            q_new = tf.reduce_min(self.critic(twin_input(x_t, a_new))[..., 0], axis=0)
            actor_loss = tf.reduce_sum(self.layout.group_means(tf.stop_gradient(alpha) * logp - q_new))
        grads = tape.gradient(actor_loss, self.actor.weights)
        self.actor_optimizer.apply_gradients(zip(grads, self.actor.weights))

        # L_a = sum_g mean_batch [-log alpha_g (log pi(a~|x_t) + H)]
        with tf.GradientTape() as tape:
            entropy_gap = tf.stop_gradient(-logp - self.target_entropy)
            alpha_loss = tf.reduce_sum(self.layout.group_means(self.log_alpha[:, None] * entropy_gap))
        grads = tape.gradient(alpha_loss, [self.log_alpha])
        self.alpha_optimizer.apply_gradients(zip(grads, [self.log_alpha]))

        # w' <- tau w + (1 - tau) w'
        self.target_critic.copy_from(self.critic, hp.target_update_tau)
        self.updates.assign_add(1)
        return SACUpdateInfo(loss=critic_loss + actor_loss + alpha_loss,
                             td_error=self.layout.agents_mean(tf.abs(err)),
                             max_weight=max_abs_weight(self.actor, self.critic), critic_loss=critic_loss,
                             actor_loss=actor_loss, alpha_loss=alpha_loss,
                             alpha=tf.reduce_mean(tf.exp(self.log_alpha)))

    @tf.function(jit_compile=False)
    def train_step(self, observation, action, reward) -> SACUpdateInfo:
        """One update; the noise z', z ~ N(0, I) [B, N, k] from ``self.noise``."""
        shape = tf.concat([tf.shape(observation)[:1], [self.n_agents, self.action_dim]], 0)
        return self.update(observation, action, reward, self.noise.normal(shape), self.noise.normal(shape))

    # ---- checkpoints --------------------------------------------------------------------
    def checkpoint_objects(self) -> dict[str, tf.Module]:
        """Everything an exact resume needs, for ``tf.train.Checkpoint(**objects)``."""
        return {"actor": self.actor, "critic": self.critic, "target_critic": self.target_critic,
                "log_alpha": self.log_alpha, "actor_optimizer": self.actor_optimizer,
                "critic_optimizer": self.critic_optimizer, "alpha_optimizer": self.alpha_optimizer,
                "updates": self.updates, "noise": self.noise}

    @property
    def variables(self) -> list[tf.Variable]:
        """Actor, critic and target-critic weights and the log temperatures."""
        return self.actor.weights + self.critic.weights + self.target_critic.weights + [self.log_alpha]
