"""The baseline of ``learner_throughput.py``: N separate TF-Agents ``DdqnAgent`` objects, each
trained on its own agent's n-step windows in a Python loop.

Each agent is the project's learner as TF-Agents would build it (QNetwork 4 x 50 ReLU, Adam,
n-step double DQN, Polyak averaging), so the ensemble's speed-up is measured against the
library's own implementation. ``tests/test_ensemble_equivalence.py`` checks that both make the
same update.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import tensorflow as tf
from tf_agents.agents.dqn import dqn_agent
from tf_agents.networks import q_network
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory
from tf_agents.utils import common

if TYPE_CHECKING:   # the script's own classes; imported only for the annotations
    from learner_throughput import BenchmarkConfig, Windows


def agent_trajectory(windows: Windows, k: int) -> trajectory.Trajectory:
    """Agent k's windows as a TF-Agents ``Trajectory`` of shape [B, n+1]: every step MID with
    discount 1 (no episode boundary inside a window: the time limit is a truncation), the
    reward and action of the last step are padding that n-step DQN ignores."""
    obs = windows.observation[:, :, k, :]
    b = obs.shape[0]
    pad = tf.zeros([b, 1], tf.int32)
    action = tf.concat([windows.tree_action[:, :, k], pad], axis=1)
    reward = tf.concat([windows.reward[:, :, k], tf.zeros([b, 1])], axis=1)
    steps = obs.shape[1]
    mid = tf.fill([b, steps], ts.StepType.MID)
    return trajectory.Trajectory(step_type=mid, observation=obs, action=action, policy_info=(),
                                 next_step_type=mid, reward=reward, discount=tf.ones([b, steps]))


def make_dqn_agent(cfg: BenchmarkConfig, index: int) -> dqn_agent.DdqnAgent:
    """One TF-Agents double-DQN agent: QNetwork 4 x 50 ReLU, Adam 1e-3, n-step, Polyak 0.01."""
    hp = cfg.hyperparameters
    observation_spec = tensor_spec.TensorSpec([cfg.observation_dim], tf.float32)
    action_spec = tensor_spec.BoundedTensorSpec([], tf.int32, 0, cfg.n_actions - 1)
    net = q_network.QNetwork(observation_spec, action_spec, fc_layer_params=tuple(hp.hidden))
    agent = dqn_agent.DdqnAgent(
        ts.time_step_spec(observation_spec), action_spec, q_network=net,
        optimizer=tf.keras.optimizers.Adam(learning_rate=hp.learning_rate),
        n_step_update=hp.n_step, gamma=hp.discount, target_update_tau=hp.target_update_tau,
        target_update_period=1, td_errors_loss_fn=common.element_wise_huber_loss,
        train_step_counter=tf.Variable(0, dtype=tf.int64), name=f"agent_{index}")
    agent.initialize()
    agent.train = common.function(agent.train)
    return agent


def separate_step(agents: Sequence[dqn_agent.DdqnAgent],
                  experience: Sequence[Sequence[trajectory.Trajectory]]) -> Callable[[int], None]:
    """One training step of N separate agents: a Python loop of N ``agent.train`` calls."""
    def step(i: int) -> None:
        batch = experience[i % len(experience)]
        info = None
        for agent, traj in zip(agents, batch):
            info = agent.train(traj)
        info.loss.numpy()
    return step
