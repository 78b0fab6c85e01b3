"""Uniform-price call auction: one clearing price per asset per period.

Every agent with a valid posted price is a one-lot trader: at a candidate price ``P`` it
wants to buy one lot if its posted price is above ``P`` and to sell one lot if below (an
agent posting exactly ``P`` stays out). With the valid posted prices sorted,
``v_(1) <= ... <= v_(n)``, a price strictly between two adjacent distinct values
``v_(j) < v_(j+1)`` has ``j`` sellers and ``n - j`` buyers and executes
``min(j, n - j)`` lots. The auction picks the gap that **maximises executed volume**
(the lowest such gap on ties) and sets the clearing price at its midpoint,

    P = (v_(j) + v_(j+1)) / 2.

If all valid posted prices are equal nobody trades. **Rationing**: the long side of the
market is rationed uniformly at random (a random subset of its agents, as many as the
short side, trades); buyers and sellers are then paired at random, which matters only for
feasibility (a trade whose counterpart is infeasible does not execute). Cost O(N log N)
for the sort.
"""
from __future__ import annotations

import numpy as np

from lucas_abm.mechanisms.base import Mechanism, Proposal


class CallAuction(Mechanism):
    """Uniform-price, volume-maximising call auction with random rationing of the long side."""

    name = "call-auction"
    verified_proposals = True  # library class: the tests hold it to the Proposal contract

    def clearing_price(self, posted: np.ndarray) -> tuple[float, int]:
        """Return ``(P, j)`` for sorted valid prices: clearing price and number of sellers.

        ``(nan, 0)`` when no price separates a buyer from a seller.
        """
        n = posted.shape[0]
        gaps = np.flatnonzero(posted[1:] > posted[:-1])  # gap after 0-based position g
        if gaps.size == 0:
            return float("nan"), 0
        sellers = gaps + 1
        volume = np.minimum(sellers, n - sellers)
        g = gaps[int(np.argmax(volume))]
        return 0.5 * (float(posted[g]) + float(posted[g + 1])), int(g + 1)

    def propose(self, posted: np.ndarray, active: np.ndarray,
                rng: np.random.Generator) -> Proposal:
        traders = np.flatnonzero(active)
        order = traders[np.argsort(posted[traders], kind="stable")]
        price, j = self.clearing_price(posted[order])
        if j == 0:
            return Proposal.empty()
        sellers, buyers = order[:j], order[j:]
        volume = min(sellers.size, buyers.size)
        sellers = rng.permutation(sellers)[:volume]
        buyers = rng.permutation(buyers)[:volume]
        return Proposal(buyers, sellers, np.full(volume, price))
