"""Weight groups of unequal sizes (orchestrator/learners/layout.py): a population's types with
different counts share one network per type in every learner. The padded layout must give
each agent its own slot and make every loss the sum over groups of each group's mean over its
own agents' samples, so that one ensemble of two unequal groups learns exactly what two
separate ensembles of one group each learn. Real TF models, no mocks."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from orchestrator.learners.layout import GroupLayout
from orchestrator.learners.sac import EnsembleSAC, SACHyperparameters
from orchestrator.learners.td3 import EnsembleTD3, TD3Hyperparameters

D, K, B, N_STEP, BETA = 3, 2, 5, 2, 0.95
INDEX = np.array([0, 1, 0, 0])          # group 0: agents 0, 2, 3; group 1: agent 1 (not contiguous)


def test_slots_and_means():
    """Agents go to their group's next free slot; the empty slot holds zeros, is dropped when
    acting and weighs 0 in the means; equal contiguous blocks are the agents themselves."""
    layout = GroupLayout(4, 2, INDEX)
    assert layout.padded and layout.per_group == 3 and layout.counts.tolist() == [3, 1]
    assert layout.agent_slots.tolist() == [0, 3, 1, 2]                # slots 4, 5: group 1's empty ones
    tagged = tf.constant(np.arange(1, 5, dtype=np.float32)[None, :, None])     # agent i carries i + 1
    grouped = layout.to_groups(tf.repeat(tagged, 2, axis=0))                  # [2, B=2 * 3, 1]
    assert grouped[..., 0].numpy().tolist() == [[1, 3, 4, 1, 3, 4], [2, 0, 0, 2, 0, 0]]
    acting = layout.by_group(tagged[0])                                        # [2, 3, 1]
    assert layout.to_agents(acting)[:, 0].numpy().tolist() == [1, 2, 3, 4]
    values = tf.constant([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [10.0, 99.0, 99.0, 20.0, 99.0, 99.0]])
    np.testing.assert_allclose(layout.group_means(values).numpy(), [3.5, 15.0], rtol=1e-6)
    np.testing.assert_allclose(float(layout.agents_mean(values)), (21 + 30) / 8, rtol=1e-6)
    np.testing.assert_allclose(float(layout.agents_mean(tf.stack([values, 2 * values]))),
                               1.5 * (21 + 30) / 8, rtol=1e-6)
    blocks = GroupLayout(4, 2, [0, 0, 1, 1])
    assert not blocks.padded and blocks.agent_slots.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(blocks.group_means(values).numpy(), values.numpy().mean(1), rtol=1e-6)
    with pytest.raises(ValueError, match="multiple of groups"):
        GroupLayout(5, 2)
    with pytest.raises(ValueError, match="every group needs at least one agent"):
        GroupLayout(3, 3, [0, 0, 2])


def copy_group(big, part, g: int) -> None:
    """Part's weights (one group) := group g's slice of the big ensemble's (networks, targets,
    SAC's temperature)."""
    for name in ("actor", "critic", "target_actor", "target_critic"):
        if not hasattr(big, name):
            continue
        twin = getattr(big, name).members == (2, big.groups)
        for mine, theirs in zip(getattr(part, name).weights, getattr(big, name).weights):
            mine.assign(theirs[:, g:g + 1] if twin else theirs[g:g + 1])
    if hasattr(big, "log_alpha"):
        part.log_alpha.assign(big.log_alpha[g:g + 1] + 0.1 * g)
        big.log_alpha[g].assign(part.log_alpha[0])                     # the groups' temperatures differ


def group_slice(big, variable: tf.Variable, g: int) -> np.ndarray:
    twin = variable.shape.rank == 4                   # critics: [2, G, fan_in, fan_out] (biases [2, G, 1, out])
    return variable.numpy()[:, g:g + 1] if twin else variable.numpy()[g:g + 1]


@pytest.mark.parametrize("algorithm", ["td3", "sac"])
def test_unequal_groups_learn_as_separate_ensembles(algorithm):
    """Groups of 3 and 1 agents in one ensemble (agents interleaved) against two ensembles of
    one group each, started from the same weights and fed the same windows and noise: after
    three updates every weight of group g equals the separate ensemble's (rtol 1e-5), the
    critic loss is the sum of theirs, and the mean |TD error| the agents' mean."""
    if algorithm == "td3":
        cls, hp = EnsembleTD3, TD3Hyperparameters(discount=BETA, n_step=N_STEP, hidden=(8, 8), policy_delay=2)
    else:
        cls, hp = EnsembleSAC, SACHyperparameters(discount=BETA, n_step=N_STEP, hidden=(8, 8))
    big = cls(4, 2, D, K, hp, seed=3, group_index=INDEX)
    members = [np.flatnonzero(INDEX == g) for g in range(2)]
    parts = [cls(len(m), 1, D, K, hp, seed=10 + g) for g, m in enumerate(members)]
    for g, part in enumerate(parts):
        copy_group(big, part, g)
    rng = np.random.default_rng(0)
    for _ in range(3):
        obs = rng.standard_normal((B, N_STEP + 1, 4, D)).astype(np.float32)
        act = rng.uniform(-1, 1, (B, N_STEP, 4, K)).astype(np.float32)
        rew = rng.standard_normal((B, N_STEP, 4)).astype(np.float32)
        noises = [(0.3 * rng.standard_normal((B, 4, K))).astype(np.float32)
                  for _ in range(1 if algorithm == "td3" else 2)]
        info = big.update(obs, act, rew, *noises)
        infos = [part.update(obs[:, :, m], act[:, :, m], rew[:, :, m], *(z[:, m] for z in noises))
                 for part, m in zip(parts, members)]
        np.testing.assert_allclose(float(info.critic_loss), sum(float(i.critic_loss) for i in infos), rtol=1e-5)
        np.testing.assert_allclose(float(info.td_error),
                                   sum(float(i.td_error) * len(m) for i, m in zip(infos, members)) / 4, rtol=1e-5)
    for g, part in enumerate(parts):
        for mine, theirs in zip(part.variables, big.variables):
            np.testing.assert_allclose(mine.numpy(), group_slice(big, theirs, g), rtol=1e-5, atol=1e-7)
    # acting: each agent with its own group's actor
    x = rng.standard_normal((4, D)).astype(np.float32)
    together = big.greedy(x)
    for part, m in zip(parts, members):
        np.testing.assert_allclose(together[m], part.greedy(x[m]), rtol=1e-6)
