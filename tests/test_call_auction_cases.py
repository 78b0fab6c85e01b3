"""The call auction's posted-price rule (lucas_abm/mechanisms/call_auction.py) on the
smallest cases, by hand: two agents, the lowest-gap tie-break, no gap, and inactive agents.
"""
from __future__ import annotations

import numpy as np

from lucas_abm.mechanisms.call_auction import CallAuction


def propose(posted, active=None):
    posted = np.asarray(posted, float)
    active = np.ones(posted.size, bool) if active is None else np.asarray(active)
    return CallAuction().propose(posted, active, np.random.default_rng(0))


def test_two_agents_trade_one_lot_at_the_midpoint():
    p = propose([1.2, 1.0])                    # one seller (1.0), one buyer (1.2): j = 1
    assert p.buyer.tolist() == [0] and p.seller.tolist() == [1]
    np.testing.assert_allclose(p.price, [1.1], rtol=1e-15)


def test_volume_maximising_gap_and_its_rationing():
    # sorted 1.0, 1.0, 2.0, 3.0: gaps after positions 1 (2 sellers, 2 buyers) and 2 (3, 1)
    p = propose([3.0, 1.0, 2.0, 1.0])
    np.testing.assert_allclose(p.price, [1.5, 1.5], rtol=1e-15)
    assert sorted(p.buyer.tolist()) == [0, 2] and sorted(p.seller.tolist()) == [1, 3]
    # 1, 2, 3: two gaps with volume 1 each: the lowest, 1.5, with seller 0
    p = propose([1.0, 2.0, 3.0])
    np.testing.assert_allclose(p.price, [1.5], rtol=1e-15)
    assert p.seller.tolist() == [0] and p.buyer.tolist() in ([1], [2])


def test_no_gap_or_no_active_pair_means_no_trade():
    for posted, active in [([1.0, 1.0, 1.0], None), ([1.0, 2.0], [True, False]), ([], None)]:
        p = propose(posted, active)
        assert p.buyer.size == 0 and p.seller.size == 0 and p.price.size == 0
    assert np.isnan(CallAuction().clearing_price(np.array([0.9, 0.9]))[0])
