"""benchmarks/_jax_dqn.py held to the TensorFlow learner it restates (the ``reference`` and
``check`` commands of benchmarks/dqn_at_scale.py).

``reference`` (this repository's environment) runs orchestrator.dqn.EnsembleDQN, one agent and
one group, on a fixed batch of transitions and saves its initial heads, its mean |TD errors|
and both networks' weights after REFERENCE_STEPS updates; ``check`` (NumPy and JAX only) runs
the JAX learner from the same seed on the same batch and reports the largest relative
difference of each. Float32 arithmetic in both: about 1e-6.
"""
from __future__ import annotations

import numpy as np

REFERENCE_STEPS = 3


def reference_batch(spec: dict, size: int = 64, seed: int = 7) -> dict:
    """A fixed batch of transitions (x_t, actions, n-step return, x_{t+n}) for the check."""
    rng = np.random.default_rng(seed)
    g = spec["grid"]
    return {"x_t": rng.normal(size=(size, 4)).astype(np.float32),
            "tree_action": rng.integers(0, len(g["tree"]), size).astype(np.int32),
            "bond_action": rng.integers(0, len(g["bond"]), size).astype(np.int32),
            "ret": rng.normal(size=size).astype(np.float32),
            "x_tn": rng.normal(size=(size, 4)).astype(np.float32)}


def tensorflow_reference(spec: dict, seed: int = 0) -> dict:
    """orchestrator.dqn.EnsembleDQN (one agent, one group) on :func:`reference_batch`: its
    initial heads, and its online and target weights after REFERENCE_STEPS updates, with a
    learning rate that decays over 2 updates (so the schedule's end is reached)."""
    import tensorflow as tf

    from orchestrator.dqn import DQNHyperparameters, EnsembleDQN

    lc, g = spec["learner"], spec["grid"]
    n = lc["n_step"]
    hp = DQNHyperparameters(discount=spec["beta"], n_step=n, learning_rate=lc["learning_rate"],
                            final_learning_rate=lc["final_learning_rate"], decay_updates=2,
                            target_update_tau=lc["target_update_tau"], huber_delta=lc["huber_delta"],
                            hidden=tuple(lc["hidden"]))
    dqn = EnsembleDQN(1, 1, 4, len(g["tree"]), len(g["bond"]), hp, seed=seed,
                      tree_basis=np.asarray(g["tree_basis"], np.float32), bond_basis=np.asarray(g["bond_basis"], np.float32))
    b = reference_batch(spec)
    size = len(b["ret"])
    obs = np.zeros((size, n + 1, 1, 4), np.float32)
    obs[:, 0, 0], obs[:, n, 0] = b["x_t"], b["x_tn"]
    reward = np.zeros((size, n, 1), np.float32)
    reward[:, 0, 0] = b["ret"]                      # the n-step return, all in the first reward
    actions = (np.repeat(b["tree_action"][:, None, None], n, 1), np.repeat(b["bond_action"][:, None, None], n, 1))
    heads = dqn.online(tf.constant(b["x_t"][None]))
    out = {"value": heads.value.numpy()[0], "tree": heads.tree_advantage.numpy()[0],
           "bond": heads.bond_advantage.numpy()[0]}
    td = []
    for _ in range(REFERENCE_STEPS):
        _, err, _ = dqn.train_step(tf.constant(obs), tf.constant(actions[0]), tf.constant(actions[1]), tf.constant(reward))
        td.append(float(err))
    out["td_error"] = np.asarray(td)
    for net in ("online", "target"):
        for i, w in enumerate(getattr(dqn, net).weights):
            out[f"{net}_{i}"] = w.numpy()[0].reshape(-1)
    return out


def jax_check(spec: dict, reference: dict, seed: int = 0) -> dict:
    """benchmarks/_jax_dqn.py on the same batch: the largest relative differences from the
    TensorFlow learner's heads, TD errors and weights (float32 arithmetic: ~1e-6)."""
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")
    import jax.numpy as jnp

    import _jax_dqn as dq

    lc, g = spec["learner"], spec["grid"]
    bases = (jnp.asarray(g["tree_basis"], jnp.float32), jnp.asarray(g["bond_basis"], jnp.float32))
    params = dq.init_params(4, tuple(lc["hidden"]), 1 + bases[0].shape[0] + bases[1].shape[0], seed)
    b = reference_batch(spec)
    batch = tuple(jnp.asarray(b[k]) for k in ("x_t", "tree_action", "bond_action", "ret", "x_tn"))

    def rel(a, ref):
        a, ref = np.asarray(a, np.float64).reshape(-1), np.asarray(ref, np.float64).reshape(-1)
        return float(np.max(np.abs(a - ref)) / max(np.max(np.abs(ref)), 1e-30))

    heads = dq.q_heads(params, batch[0], *bases)
    diff = {"heads": max(rel(h, reference[k]) for h, k in zip(heads, ("value", "tree", "bond")))}
    target, opt, td = params, dq.adam_init(params), []
    for _ in range(REFERENCE_STEPS):
        (_, err), grads = jax.value_and_grad(dq.td_loss, has_aux=True)(
            params, target, batch, bases, float(spec["beta"] ** lc["n_step"]), lc["huber_delta"])
        lr = dq.learning_rate(opt.step, lc["learning_rate"], lc["final_learning_rate"], 2)
        params, opt = dq.adam_apply(params, grads, opt, lr)
        target = dq.polyak(target, params, lc["target_update_tau"])
        td.append(float(err))
    diff["td_error"] = rel(td, reference["td_error"])
    for net, p in (("online", params), ("target", target)):
        weights = list(p.kernels) + list(p.biases) + [p.head_kernel, p.head_bias]
        diff[net] = max(rel(w, reference[f"{net}_{i}"]) for i, w in enumerate(weights))
    return diff
