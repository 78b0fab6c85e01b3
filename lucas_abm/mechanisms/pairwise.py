"""Random pairwise matching (the thesis mechanism, model.md section 2 step 3).

Agents are paired by a random permutation (an odd agent out does not trade). In a pair
whose posted prices differ, the higher poster buys one lot from the lower poster at

    price = theta * p_hi + (1 - theta) * p_lo,

theta = 1/2 (the midpoint) in :class:`PairwiseMatching`; :class:`BargainingPairwiseMatching`
lets theta, the seller's bargaining power, range over [0, 1]. Equal prices: no trade.
Each asset is paired with its own permutation. Cost O(N).
"""
from __future__ import annotations

import numpy as np

from lucas_abm.errors import check_range
from lucas_abm.mechanisms.base import Mechanism, Proposal


class PairwiseMatching(Mechanism):
    """Random pairs; the higher poster buys one lot at the midpoint of the two prices."""

    name = "pairwise"
    theta = 0.5  # settlement weight on the higher (buyer's) posted price

    def pairs(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A uniformly random pairing: agent ``first[i]`` meets ``second[i]``; N//2 pairs."""
        perm = rng.permutation(n)
        m = n // 2
        return perm[:m], perm[m:2 * m]

    def propose(self, posted: np.ndarray, active: np.ndarray,
                rng: np.random.Generator) -> Proposal:
        first, second = self.pairs(posted.shape[0], rng)
        p1, p2 = posted[first], posted[second]  # NaN where invalid: compares False
        first_buys = np.flatnonzero(p1 > p2)
        second_buys = np.flatnonzero(p2 > p1)
        buyer = np.concatenate((first[first_buys], second[second_buys]))
        seller = np.concatenate((second[first_buys], first[second_buys]))
        p_hi = np.concatenate((p1[first_buys], p2[second_buys]))
        p_lo = np.concatenate((p2[first_buys], p1[second_buys]))
        return Proposal(buyer, seller, self.theta * p_hi + (1.0 - self.theta) * p_lo)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BargainingPairwiseMatching(PairwiseMatching):
    """Pairwise matching with settlement ``theta p_hi + (1 - theta) p_lo``, theta in [0, 1].

    theta = 1: the seller captures the whole surplus (trade at the buyer's posted price);
    theta = 0: the buyer does; theta = 1/2 is :class:`PairwiseMatching`.
    """

    name = "bargaining"

    def __init__(self, theta: float = 0.5):
        self.theta = check_range("theta", theta, 0.0, 1.0, low_open=False, high_open=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(theta={self.theta:g})"
