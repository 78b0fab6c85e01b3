"""The batched SAC ensemble is exactly N independent soft actor-critics.

Checked against independent computations:
- the critic, actor and temperature losses of one update equal the SAC losses computed in
  NumPy (tanh-squashed Gaussian log-density written out directly), the critic targets move by
  Polyak and each group's temperature moves against its entropy gap;
- changing only agent k's rewards moves only agent k's weights and temperature (bitwise);
- updates of the ensemble equal N separate single-agent ensembles given that agent's weights,
  data and noise.
"""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from orchestrator.learners.sac import EnsembleSAC, SACHyperparameters

from test_td3_ensemble import (D, HIDDEN, K, B, N_STEP, BETA, assert_only_agent_moved, numpy_mlp,
                               snapshot)

HP = SACHyperparameters(discount=BETA, n_step=N_STEP, hidden=HIDDEN, actor_learning_rate=1e-3,
                        critic_learning_rate=1e-3, alpha_learning_rate=1e-2, huber_delta=0.5)


def make_windows(n_agents: int, seed: int) -> dict:
    """observation [B, n+1, N, D], action [B, n, N, K] in [-1, 1], reward [B, n, N], noises [B, N, K]."""
    rng = np.random.default_rng(seed)
    return dict(observation=rng.standard_normal((B, N_STEP + 1, n_agents, D)).astype(np.float32),
                action=rng.uniform(-1, 1, (B, N_STEP, n_agents, K)).astype(np.float32),
                reward=rng.standard_normal((B, N_STEP, n_agents)).astype(np.float32),
                next_noise=rng.standard_normal((B, n_agents, K)).astype(np.float32),
                noise=rng.standard_normal((B, n_agents, K)).astype(np.float32))


FIELDS = ("observation", "action", "reward", "next_noise", "noise")


def train(learner: EnsembleSAC, windows: dict, steps: int = 1) -> list[float]:
    out = None
    for _ in range(steps):
        out = learner.update(*(tf.constant(windows[k]) for k in FIELDS))
    return [float(t) for t in out]


def numpy_policy(actor: list[np.ndarray], x: np.ndarray, z: np.ndarray, g: int):
    """a = tanh(m + s z); log pi = sum_k [log N(u; m, s) - log(1 - tanh(u)^2)], written out."""
    out = numpy_mlp(actor, x, (g,))
    mean, log_std = out[:, :K], np.clip(out[:, K:], -20, 2)
    std = np.exp(log_std)
    u = mean + std * z
    log_normal = -0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    return np.tanh(u), (log_normal - np.log(1 - np.tanh(u) ** 2)).sum(-1)


def test_losses_are_the_sac_losses_computed_in_numpy():
    n_agents = 3
    sac = EnsembleSAC(n_agents, n_agents, D, K, HP, seed=1)
    rng = np.random.default_rng(2)
    for v in sac.target_critic.weights + sac.actor.weights:   # targets != online; a wider policy
        v.assign(v + 0.3 * rng.standard_normal(v.shape).astype(np.float32))
    sac.log_alpha.assign([-1.0, 0.0, 0.5])
    actor, critic, target = (snapshot(n.weights) for n in (sac.actor, sac.critic, sac.target_critic))
    log_alpha = sac.log_alpha.numpy().copy()
    w = make_windows(n_agents, seed=3)
    loss, td_error, _, critic_loss, actor_loss, alpha_loss, _ = train(sac, w)
    new_critic = snapshot(sac.critic.weights)

    def huber(e):
        return np.where(np.abs(e) <= 0.5, 0.5 * e ** 2, 0.5 * (np.abs(e) - 0.25))

    expected = dict(critic=0.0, actor=0.0, alpha=0.0)
    abs_err, gaps = [], []
    for k in range(n_agents):
        alpha = np.exp(log_alpha[k])
        x_t, x_n = w["observation"][:, 0, k], w["observation"][:, N_STEP, k]
        ret = sum(BETA ** i * w["reward"][:, i, k].astype(np.float64) for i in range(N_STEP))
        a_next, logp_next = numpy_policy(actor, x_n, w["next_noise"][:, k], k)
        q_next = np.minimum(*(numpy_mlp(target, np.hstack([x_n, a_next]), (j, k))[:, 0] for j in range(2)))
        y = ret + BETA ** N_STEP * (q_next - alpha * logp_next)
        errs = [y - numpy_mlp(critic, np.hstack([x_t, w["action"][:, 0, k]]), (j, k))[:, 0] for j in range(2)]
        expected["critic"] += np.mean(huber(errs[0]) + huber(errs[1]))
        abs_err += [np.abs(e) for e in errs]
        a_new, logp = numpy_policy(actor, x_t, w["noise"][:, k], k)
        q_new = np.minimum(*(numpy_mlp(new_critic, np.hstack([x_t, a_new]), (j, k))[:, 0] for j in range(2)))
        expected["actor"] += np.mean(alpha * logp - q_new)
        gap = np.mean(-logp - (-K))
        expected["alpha"] += log_alpha[k] * gap
        gaps.append(gap)
    assert critic_loss == pytest.approx(expected["critic"], rel=1e-5)
    assert actor_loss == pytest.approx(expected["actor"], rel=1e-5)
    assert alpha_loss == pytest.approx(expected["alpha"], rel=1e-4, abs=1e-5)
    assert loss == pytest.approx(critic_loss + actor_loss + alpha_loss, rel=1e-5)
    assert td_error == pytest.approx(np.mean(abs_err), rel=1e-5)
    # Adam's first step moves log alpha_g by -lr sign(gradient), gradient = entropy gap
    np.testing.assert_allclose(sac.log_alpha.numpy() - log_alpha, -HP.alpha_learning_rate * np.sign(gaps),
                               rtol=1e-3)
    tau = HP.target_update_tau
    for new_target, new_online, old_target in zip(snapshot(sac.target_critic.weights), new_critic, target):
        np.testing.assert_allclose(new_target, tau * new_online + (1 - tau) * old_target, atol=1e-6)


def test_changing_one_agents_rewards_moves_only_that_agents_weights():
    n_agents, k = 4, 1
    base = make_windows(n_agents, seed=4)
    changed = {name: a.copy() for name, a in base.items()}
    changed["reward"][:, :, k] += 1.0
    runs = []
    for windows in (base, changed):
        sac = EnsembleSAC(n_agents, n_agents, D, K, HP, seed=0)
        train(sac, windows, steps=2)
        slots = [v for opt in (sac.actor_optimizer, sac.critic_optimizer, sac.alpha_optimizer)
                 for v in opt.variables if v.shape.rank >= 1]     # Adam's moments (not its counters)
        runs.append([(v.shape.rank == 4 and v.shape[0] == 2, v.numpy()) for v in sac.variables + slots])
    assert_only_agent_moved(runs, k, n_agents)


def test_ensemble_updates_equal_n_separate_single_agent_updates():
    n_agents, steps = 3, 3
    ensemble = EnsembleSAC(n_agents, n_agents, D, K, HP, seed=5)
    singles = []
    for g in range(n_agents):
        single = EnsembleSAC(1, 1, D, K, HP, seed=100 + g)
        for name, critic in (("actor", False), ("critic", True), ("target_critic", True)):
            for mine, theirs in zip(getattr(single, name).weights, getattr(ensemble, name).weights):
                mine.assign(theirs.numpy()[:, g:g + 1] if critic else theirs.numpy()[g:g + 1])
        single.log_alpha.assign(ensemble.log_alpha.numpy()[g:g + 1])
        singles.append(single)
    w = make_windows(n_agents, seed=6)
    out = train(ensemble, w, steps)
    single_out = [train(s, {name: (a[:, g:g + 1] if "noise" in name else a[:, :, g:g + 1])
                            for name, a in w.items()}, steps) for g, s in enumerate(singles)]
    for i in (3, 4, 5):                                   # critic, actor and temperature losses
        assert out[i] == pytest.approx(sum(o[i] for o in single_out), rel=1e-5, abs=1e-6)
    for g, single in enumerate(singles):
        for name, critic in (("actor", False), ("critic", True), ("target_critic", True)):
            for we, ws in zip(getattr(ensemble, name).weights, getattr(single, name).weights):
                we = we.numpy()[:, g:g + 1] if critic else we.numpy()[g:g + 1]
                np.testing.assert_allclose(we, ws.numpy(), atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(ensemble.log_alpha.numpy()[g], single.log_alpha.numpy()[0], atol=1e-6)
