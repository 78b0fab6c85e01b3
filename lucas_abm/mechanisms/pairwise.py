"""Random pairwise matching (the thesis mechanism, docs/model.md section 2 step 3).

Agents are paired by a random permutation (an odd agent out does not trade). In a pair
whose posted prices differ, the higher poster buys one lot from the lower poster at

    price = theta * p_hi + (1 - theta) * p_lo,

theta = 1/2 (the midpoint) in :class:`PairwiseMatching`; :class:`BargainingPairwiseMatching`
lets theta, the seller's bargaining power, range over [0, 1]. Equal prices: no trade.
:class:`TickPairwiseMatching` (an addition to the thesis) is the same market with a price tick
h per asset: a pair trades only if ``p_hi - p_lo > h``.
One random pairing per period is shared by both assets (as in the thesis: a pair compares
tree prices and bond prices). Cost O(N).

**The compiled kernel runs instead of** :meth:`PairwiseMatching.propose`: with the market's
default ``backend="auto"`` (config key ``market.backend``, ``simulate --backend``) a market on
one of these two classes runs the whole period through :mod:`lucas_abm.kernels` (the same
pairing, trades and results, bitwise, as ``propose`` plus the base class' settlement), so an
edit to ``propose`` here has no effect until ``backend`` is ``numpy``. A subclass, or a copy
of these classes in your own module, is never compiled: it always runs its own ``propose``.
"""
from __future__ import annotations

import numpy as np

from lucas_abm.errors import check_range
from lucas_abm.mechanisms.base import FEASIBILITY_RTOL, Mechanism, Proposal


class PairwiseMatching(Mechanism):
    """Random pairs; the higher poster buys one lot at the midpoint of the two prices.

    On the ``numba`` (and, up to 300,000 agents, the default ``auto``) market backend the
    compiled kernel runs instead of :meth:`propose`; use ``backend="numpy"`` to run an edited
    ``propose`` of this class. Subclasses always run their own ``propose``.
    """

    name = "pairwise"
    verified_proposals = True  # library class: the tests hold it to the Proposal contract
    # The market may run this class through lucas_abm.kernels (same results, compiled). Read
    # from the class itself and only for this package's classes (market.has_compiled_kernel):
    # a subclass or a user's copy gets the numpy path.
    compiled_kernel = "pairwise"
    theta = 0.5  # settlement weight on the higher (buyer's) posted price

    _pairing: tuple[np.ndarray, np.ndarray] | None = None
    _pairing_uses = 0

    def pairs(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A uniformly random pairing: agent ``first[i]`` meets ``second[i]``; N//2 pairs."""
        perm = rng.permutation(n)
        m = n // 2
        return perm[:m], perm[m:2 * m]

    def begin_period(self, n: int, rng: np.random.Generator) -> None:
        """Draw this period's pairing, used by both the tree and the bond."""
        self._pairing = self.pairs(n, rng)
        self._pairing_uses = 2

    def propose(self, posted: np.ndarray, active: np.ndarray,
                rng: np.random.Generator) -> Proposal:
        n = posted.shape[0]
        if self._pairing_uses > 0:  # inside a market period: the shared pairing
            self._pairing_uses -= 1
            first, second = self._pairing
        else:  # called on its own: a fresh pairing
            first, second = self.pairs(n, rng)
        p1, p2 = posted[first], posted[second]  # NaN where invalid: compares False
        first_buys = p1 > p2
        trade = (first_buys | (p2 > p1)).nonzero()[0]  # valid pairs with different prices
        buyer = np.where(first_buys, first, second)[trade]
        seller = (first + second)[trade] - buyer
        if self.theta == 0.5:
            price = 0.5 * (p1 + p2)
        else:  # theta p_hi + (1 - theta) p_lo = p_lo + theta (p_hi - p_lo)
            price = np.fmin(p1, p2) + self.theta * np.abs(p1 - p2)
        return Proposal(buyer, seller, price[trade])

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BargainingPairwiseMatching(PairwiseMatching):
    """Pairwise matching with settlement ``theta p_hi + (1 - theta) p_lo``, theta in [0, 1].

    theta = 1: the seller captures the whole surplus (trade at the buyer's posted price);
    theta = 0: the buyer does; theta = 1/2 is :class:`PairwiseMatching`.
    """

    name = "bargaining"
    verified_proposals = True
    compiled_kernel = "pairwise"

    def __init__(self, theta: float = 0.5):
        self.theta = check_range("theta", theta, 0.0, 1.0, low_open=False, high_open=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(theta={self.theta:g})"


class TickPairwiseMatching(PairwiseMatching):
    """Pairwise matching with a price tick h per asset: a pair trades only if p_hi - p_lo > h.

    An addition to the thesis' market (docs/learning.md, "Independent learners"). A posted
    price is a reservation value; on a tick grid, two posts one tick apart leave no tick price
    strictly between them at which both sides gain, so they do not trade, as two equal posts
    do not in :class:`PairwiseMatching`. Pairs further apart trade one lot at the midpoint.
    ``tree_tick = bond_tick = 0`` is :class:`PairwiseMatching` (bitwise: the same pairing and
    trades). The comparison allows a relative slack of 1e-9, so that grid prices one tick
    apart (0.86 - 0.85 = 0.010000000000000009) count as one tick.

    Inside a market period the tree is proposed first, then the bond (``Mechanism.execute``);
    called on its own, :meth:`propose` applies ``tree_tick``. No compiled kernel: the market
    runs this class' :meth:`propose` on the numpy backend.
    """

    name = "pairwise-tick"
    verified_proposals = True  # a subset of PairwiseMatching's proposal

    def __init__(self, tree_tick: float = 0.0, bond_tick: float = 0.0):
        self.tree_tick = check_range("tree_tick", tree_tick, 0.0, None, low_open=False)
        self.bond_tick = check_range("bond_tick", bond_tick, 0.0, None, low_open=False)

    def propose(self, posted: np.ndarray, active: np.ndarray,
                rng: np.random.Generator) -> Proposal:
        tick = self.bond_tick if self._pairing_uses == 1 else self.tree_tick  # 2: tree, 1: bond
        proposal = super().propose(posted, active, rng)
        if tick == 0.0 or len(proposal) == 0:
            return proposal
        keep = posted[proposal.buyer] - posted[proposal.seller] > tick * (1.0 + FEASIBILITY_RTOL)
        return Proposal(proposal.buyer[keep], proposal.seller[keep], proposal.price[keep])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tree_tick={self.tree_tick:g}, bond_tick={self.bond_tick:g})"
