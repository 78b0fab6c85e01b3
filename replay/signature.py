"""The replay item schema, derived in one place from the market's observation spec.

One item is an n-step window of the **whole market** starting at step t (agent axis inside
the item, never one item per agent)::

    observation  [n+1, N, D] float32   x_t, ..., x_{t+n}       (x_{t+n} bootstraps the target)
    tree_action  [n,   N]    int32     a^tree_t, ..., a^tree_{t+n-1}   (tree-price grid index)
    bond_action  [n,   N]    int32     a^bond_t, ..., a^bond_{t+n-1}   (bond-price grid index)
    reward       [n,   N]    float32   r_t, ..., r_{t+n-1}

(the actions are int32 grid indices for the Q-learners, ``learner.algorithm: dqn``; float32
actions in [-1, 1], before the map to prices, for the actor-critics td3 and sac: see
:func:`action_dtype`)

which is what the n-step double-DQN target needs for every agent k::

    G^k_t = sum_{i<n} beta^i r^k_{t+i}
            + beta^n Q_target^k(x^k_{t+n}, argmax_a Q_online^k(x^k_{t+n}, a))

The observation width D is ``len(LucasMarket.observation_names)``: the private columns
(:data:`lucas_abm.market.PRIVATE_OBSERVATIONS`), plus the public ones
(:data:`lucas_abm.market.PUBLIC_OBSERVATIONS`) when ``public_information`` is on.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lucas_abm.errors import ConfigError
from lucas_abm.market import PRIVATE_OBSERVATIONS, PUBLIC_OBSERVATIONS

if TYPE_CHECKING:  # TensorFlow is imported only when a signature is built (fast CLI errors)
    import tensorflow as tf

FIELDS = ("observation", "tree_action", "bond_action", "reward")
ACTION_DTYPES = {"dqn": "int32", "td3": "float32", "sac": "float32", "adaptive": "float32"}   # by learner.algorithm (its choices)


def _check_int(field: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(field, f"an integer >= {low}", value)
    return value


def observation_dimension(public_information: bool = False) -> int:
    """D, the number of observation columns the market hands each agent."""
    if not isinstance(public_information, bool):
        raise ConfigError("public_information", "true or false", public_information)
    return len(PRIVATE_OBSERVATIONS) + (len(PUBLIC_OBSERVATIONS) if public_information else 0)


def action_dtype(algorithm: str = "dqn") -> str:
    """dtype of the action fields for ``learner.algorithm``: int32 indices or float32 in [-1, 1]."""
    if algorithm not in ACTION_DTYPES:
        raise ConfigError("learner.algorithm", "one of " + ", ".join(ACTION_DTYPES), algorithm)
    return ACTION_DTYPES[algorithm]


def experience_signature(n_agents: int, observation_dim: int, n_step: int,
                         actions: str = "int32") -> dict[str, tf.TensorSpec]:
    """Table signature of one n-step window of N agents with D observation columns; ``actions``
    is the dtype of tree_action and bond_action (int32 or float32, :func:`action_dtype`)."""
    n = _check_int("n_step", n_step, 1)
    agents = _check_int("n_agents", n_agents, 1)
    d = _check_int("observation_dim", observation_dim, 1)
    if actions not in ("int32", "float32"):
        raise ConfigError("actions", "int32 or float32", actions)
    import tensorflow as tf

    a = tf.as_dtype(actions)
    return {
        "observation": tf.TensorSpec([n + 1, agents, d], tf.float32, name="observation"),
        "tree_action": tf.TensorSpec([n, agents], a, name="tree_action"),
        "bond_action": tf.TensorSpec([n, agents], a, name="bond_action"),
        "reward": tf.TensorSpec([n, agents], tf.float32, name="reward"),
    }


def signature_from_environment(env: Any, n_step: int, actions: str = "int32") -> dict[str, tf.TensorSpec]:
    """Signature for a :class:`~lucas_abm.environment.MarketEnvironment` or a ``LucasMarket``.

    For the TF-Agents environment N is its batch size (the agents) and D the length of its
    observation spec; for the market N is ``n_agents`` and D ``len(observation_names)``.
    """
    if hasattr(env, "observation_spec") and hasattr(env, "batch_size"):
        spec = env.observation_spec()
        if len(spec.shape) != 1:
            raise ConfigError("observation_spec", "a vector spec of shape (D,)", tuple(spec.shape))
        return experience_signature(int(env.batch_size), int(spec.shape[0]), n_step, actions)
    if hasattr(env, "observation_names") and hasattr(env, "n_agents"):
        return experience_signature(int(env.n_agents), len(env.observation_names), n_step, actions)
    raise ConfigError("env", "a MarketEnvironment or a LucasMarket", type(env).__name__)


def signature_dims(signature: dict[str, tf.TensorSpec]) -> tuple[int, int, int]:
    """(n_agents, observation_dim, n_step) of a signature made by :func:`experience_signature`."""
    if set(signature) != set(FIELDS):
        raise ConfigError("signature", "a dict with keys " + ", ".join(FIELDS), sorted(signature))
    n_plus_1, agents, d = signature["observation"].shape.as_list()
    return agents, d, n_plus_1 - 1
