"""Continuous actions: the one place where an actor's output becomes posted prices.

An actor-critic agent outputs a in [-1, 1]^k through tanh, as TF-Agents' ``ActorNetwork`` does
with one ``BoundedTensorSpec`` of shape (k,). Column j of the action is mapped affinely onto
the interval [low_j, high_j] of the config's ``actions`` section:

    price_j = low_j + (a_j + 1) / 2 * (high_j - low_j)          a_j = -1 -> low_j, +1 -> high_j

Columns: 0 = posted tree price (``actions.tree_low .. tree_high``), 1 = posted bond price
(``actions.bond_low .. bond_high``); a mechanism that takes order quantities would append
columns with their own bounds (``values`` maps any k). The grid steps of the Q-learners'
action set are not used: the actor-critic prices are continuous.

Acting adds Gaussian exploration noise in action units, clipped back into the bounds
(TF-Agents' ``GaussianPolicy(clip=True)``): a = clip(mu(x) + sigma z, -1, 1), z ~ N(0, 1).
sigma may differ by column: ``PriceBox.tick`` is the market's price tick (the config's
``tree_step``, ``bond_step``) in action units, 2 h_j / (high_j - low_j), so that a noise floor
of k ticks, sigma_j = max(sigma, k tick_j), is the same number of ticks of either price
(docs/learning.md, "Actor-critic learners": one tick is 0.0125 action units of the tree price
and 0.033 of the bond price).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orchestrator.config import ActionGridConfig

ACTION_COLUMNS = ("tree_price", "bond_price")


@dataclass(frozen=True)
class PriceBox:
    """The affine map between actions in [-1, 1]^k and posted prices in [low, high]."""

    low: np.ndarray     # [k]
    high: np.ndarray    # [k]
    step: np.ndarray | None = None   # [k] the price tick of each column, in price units

    @classmethod
    def from_config(cls, config: ActionGridConfig) -> "PriceBox":
        return cls(low=np.array([config.tree_low, config.bond_low]),
                   high=np.array([config.tree_high, config.bond_high]),
                   step=np.array([config.tree_step, config.bond_step]))

    @property
    def tick(self) -> np.ndarray:
        """The price tick in action units, 2 step_j / (high_j - low_j), [k]."""
        if self.step is None:
            raise ValueError("PriceBox.tick needs the price steps (PriceBox.from_config)")
        return 2.0 * self.step / (self.high - self.low)

    def noise_scale(self, sigma: float, floor_ticks: float = 0.0) -> np.ndarray:
        """sigma_j = max(sigma, floor_ticks * tick_j): action-unit noise per column, [k]."""
        if floor_ticks <= 0:
            return np.full(self.dim, float(sigma))
        return np.maximum(float(sigma), floor_ticks * self.tick)

    @property
    def dim(self) -> int:
        return len(self.low)

    def values(self, action: np.ndarray) -> np.ndarray:
        """action [N, k] in [-1, 1] -> low + (a + 1) / 2 (high - low), [N, k] float64."""
        return self.low + (np.asarray(action, np.float64) + 1.0) * 0.5 * (self.high - self.low)

    def prices(self, action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """action [N, 2] in [-1, 1] -> (tree price [N], bond price [N])."""
        price = self.values(action)
        return price[:, 0], price[:, 1]

    def actions(self, tree_price: np.ndarray, bond_price: np.ndarray) -> np.ndarray:
        """The inverse map: posted prices -> action [N, 2] float32 (a = 2 (p - low)/(high - low) - 1)."""
        price = np.stack([tree_price, bond_price], axis=-1)
        return (2.0 * (price - self.low) / (self.high - self.low) - 1.0).astype(np.float32)

    def action_spec(self):
        """TF-Agents' spec of the action: BoundedTensorSpec((k,), float32, -1, 1)."""
        import tensorflow as tf
        from tf_agents.specs import tensor_spec

        return tensor_spec.BoundedTensorSpec((self.dim,), tf.float32, -1.0, 1.0, name="action")


def gaussian_exploration(action: np.ndarray, noise_std, rng: np.random.Generator) -> np.ndarray:
    """a = clip(a + sigma z, -1, 1), z ~ N(0, 1) per agent and column (sigma in action units:
    a number, or one per column [k])."""
    if np.all(np.asarray(noise_std) <= 0):
        return np.asarray(action, np.float32)
    noisy = action + noise_std * rng.standard_normal(np.shape(action))
    return np.clip(noisy, -1.0, 1.0).astype(np.float32)


def epsilon_local_exploration(action: np.ndarray, epsilon: float, local_fraction: float,
                              local_width, rng: np.random.Generator) -> np.ndarray:
    """The Q-learners' exploration (orchestrator.agents) on continuous prices, per agent and column.

    With probability ``epsilon`` a price is not the actor's: with probability ``local_fraction``
    it moves by N(0, w_j^2) (``local_width`` w_j in action units: the config's local_width
    ticks times PriceBox.tick), otherwise it is drawn uniformly from [-1, 1]; clipped to [-1, 1].
    The other prices are mu(x): late in training (epsilon 0.1) nine agents in ten post their
    deterministic prices, so the market the critics learn from is the one the actors make.
    """
    a = np.asarray(action, np.float64)
    explore = rng.random(a.shape) < epsilon
    local = rng.random(a.shape) < local_fraction
    moved = np.where(local, a + np.asarray(local_width) * rng.standard_normal(a.shape),
                     rng.uniform(-1.0, 1.0, a.shape))
    return np.clip(np.where(explore, moved, a), -1.0, 1.0).astype(np.float32)
