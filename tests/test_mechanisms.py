"""Market mechanisms: pairing, settlement prices, the call auction's clearing rule and
rationing, the registry, and the base-class contract that protects the invariants."""
from __future__ import annotations

import numpy as np
import pytest

from lucas_abm.dividends import ConstantDividend
from lucas_abm.environment import MarketEnvironment
from lucas_abm.errors import ConfigError
from lucas_abm.market import LucasMarket, MarketConfig, invariant_violation
from lucas_abm.mechanisms import (BargainingPairwiseMatching, CallAuction, Mechanism,
                                  MechanismError, PairwiseMatching, Proposal, check_parameters,
                                  make_mechanism)
from lucas_abm.utility import CRRAUtility


def propose(mech, posted, seed=0):
    posted = np.asarray(posted, dtype=float)
    return mech.propose(posted, np.isfinite(posted), np.random.default_rng(seed))


def test_pairwise_higher_poster_buys_at_midpoint_and_each_agent_trades_once():
    posted = np.array([0.9, 0.8, 0.7, 0.7, 1.2, np.nan, 0.5])  # odd N, one invalid
    prop = propose(PairwiseMatching(), posted, seed=3)
    both = np.concatenate((prop.buyer, prop.seller))
    assert len(set(both.tolist())) == both.size
    assert 5 not in both
    assert np.all(posted[prop.buyer] > posted[prop.seller])
    np.testing.assert_allclose(prop.price, 0.5 * (posted[prop.buyer] + posted[prop.seller]))


def test_a_period_uses_its_pairing_twice_then_propose_draws_fresh_pairs():
    # Inside a market period the tree and the bond share one pairing (two uses); a call of
    # propose on its own afterwards draws a new pairing from the generator it is given.
    n = 40
    mech = PairwiseMatching()
    market = LucasMarket(MarketConfig(n_agents=n), ConstantDividend(), CRRAUtility(1.0), mech,
                         seed=0, backend="numpy")
    market.reset()
    posted = np.random.default_rng(1).permutation(n) / n + 0.5        # distinct prices
    assert market.step(posted, posted).tree_volume == n // 2
    for seed in (2, 3):
        prop = propose(mech, posted, seed)
        got = {frozenset(p) for p in zip(prop.buyer.tolist(), prop.seller.tolist())}
        first, second = PairwiseMatching().pairs(n, np.random.default_rng(seed))
        assert got == {frozenset(p) for p in zip(first.tolist(), second.tolist())}


def test_equal_prices_never_trade():
    prop = propose(PairwiseMatching(), np.full(101, 0.85))
    assert len(prop) == 0


def test_pairing_is_uniform_over_the_three_matchings_of_four_agents():
    mech, rng = PairwiseMatching(), np.random.default_rng(1)
    counts = {}
    draws = 6000
    for _ in range(draws):
        a, b = mech.pairs(4, rng)
        key = frozenset(frozenset(p) for p in zip(a.tolist(), b.tolist()))
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 3
    for c in counts.values():  # binomial(6000, 1/3): sd = 36.5
        assert abs(c - draws / 3) < 5 * 36.5


@pytest.mark.parametrize("theta", [0.0, 0.3, 1.0])
def test_bargaining_settles_at_theta_weighted_price(theta):
    posted = np.random.default_rng(0).uniform(0.5, 1.5, 50)
    prop = propose(BargainingPairwiseMatching(theta), posted)
    hi, lo = posted[prop.buyer], posted[prop.seller]
    np.testing.assert_allclose(prop.price, theta * hi + (1 - theta) * lo, rtol=1e-15)
    assert len(prop) == 25


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("theta", [0.0, 0.3, 1.0])
def test_bargaining_market_settles_both_assets_at_the_theta_price_hand_computed(theta, backend):
    # Two agents always meet. Agent 0 buys the tree (0.9 > 0.8) and sells the bond
    # (0.94 < 0.96): p = 0.8 + 0.1 theta, q = 0.94 + 0.02 theta, lots 0.01.
    y = ConstantDividend().ybar
    market = LucasMarket(MarketConfig(n_agents=2), ConstantDividend(), CRRAUtility(1.0),
                         BargainingPairwiseMatching(theta), seed=0, backend=backend)
    market.reset()
    out = market.step(np.array([0.9, 0.8]), np.array([0.94, 0.96]))
    p, q = 0.8 + 0.1 * theta, 0.94 + 0.02 * theta
    assert out.tree_settlement_price == pytest.approx(p, rel=1e-14)
    assert out.bond_settlement_price == pytest.approx(q, rel=1e-14)
    np.testing.assert_allclose(out.consumption, [y - 0.01 * p + 0.01 * q,
                                                 y + 0.01 * p - 0.01 * q], rtol=1e-13)
    np.testing.assert_allclose(market.shares, [1.01, 0.99], rtol=1e-15)
    np.testing.assert_allclose(market.bonds, [-0.01, 0.01], rtol=1e-15)


def test_bargaining_with_half_is_pairwise():
    posted = np.random.default_rng(0).uniform(0.5, 1.5, 40)
    a, b = propose(PairwiseMatching(), posted, 7), propose(BargainingPairwiseMatching(0.5), posted, 7)
    np.testing.assert_array_equal(a.buyer, b.buyer)
    np.testing.assert_array_equal(a.price, b.price)


def test_call_auction_hand_example_and_random_rationing():
    posted = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    # Sorted gaps: j sellers -> volume min(j, 5-j); j=2 and j=3 tie at 2, lowest gap wins:
    # price (2+3)/2 = 2.5, sellers {0, 1}, two of the three buyers {2, 3, 4} trade.
    counts = np.zeros(5)
    for seed in range(3000):
        prop = propose(CallAuction(), posted, seed)
        assert len(prop) == 2
        np.testing.assert_array_equal(prop.price, [2.5, 2.5])
        assert set(prop.seller.tolist()) == {0, 1}
        counts[prop.buyer] += 1
    # Each buyer is rationed out with probability 1/3: trades in 2000 of 3000 (sd 25.8).
    assert np.all(np.abs(counts[2:] - 2000) < 5 * 25.8)


def brute_force_volume(posted):
    v = np.sort(posted[np.isfinite(posted)])
    cands = 0.5 * (v[1:] + v[:-1])
    best = 0
    for p in cands:
        best = max(best, min(int((v > p).sum()), int((v < p).sum())))
    return best


@pytest.mark.parametrize("seed", range(20))
def test_call_auction_maximises_volume_at_a_uniform_price(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    posted = np.round(rng.uniform(0.5, 1.5, n), 1)  # many ties
    posted[rng.random(n) < 0.1] = np.nan
    prop = propose(CallAuction(), posted, seed)
    assert len(prop) == brute_force_volume(posted)
    if len(prop):
        price = prop.price[0]
        assert np.all(prop.price == price)
        assert np.all(posted[prop.buyer] > price) and np.all(posted[prop.seller] < price)
        # Short side trades in full.
        n_buy, n_sell = np.sum(posted > price), np.sum(posted < price)
        assert len(prop) == min(n_buy, n_sell)


class Fixed:
    """A constructor with one required parameter."""

    def __init__(self, width):
        self.width = width


def test_mechanism_parameters_are_checked_against_the_constructor():
    with pytest.raises(ConfigError) as err:
        check_parameters(PairwiseMatching, {"theta": 0.3})
    assert str(err.value) == ("mechanism_params.theta: must be left out (PairwiseMatching takes "
                              "no parameters), got 0.3")
    with pytest.raises(ConfigError) as err:
        check_parameters(Fixed, {}, field="economy.mechanism_params")
    assert str(err.value) == "economy.mechanism_params.width: must be given (required by Fixed)"
    with pytest.raises(ConfigError) as err:
        check_parameters(Fixed, {"width": 1, "depth": 2})
    assert str(err.value) == "mechanism_params.depth: must be a parameter of Fixed (width), got 2"
    check_parameters(Fixed, {"width": 1})
    check_parameters(BargainingPairwiseMatching, {})     # theta has a default


def test_an_unimportable_mechanism_module_is_a_one_line_error():
    with pytest.raises(ConfigError) as err:
        make_mechanism("no_such_module_h14:Thing")
    assert str(err.value) == (
        "mechanism: must be an importable module:ClassName (the module is looked up in the "
        "installed packages and the working directory), got 'no_such_module_h14:Thing' "
        "(No module named 'no_such_module_h14')")


def test_a_mechanism_by_import_path_and_its_refusals(tmp_path, monkeypatch):
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))   # resolve_mechanism appends the cwd
    monkeypatch.chdir(tmp_path)
    (tmp_path / "h14_user_mechs.py").write_text(
        "from lucas_abm.mechanisms import PairwiseMatching\n"
        "class Outer:\n    class Inner(PairwiseMatching):\n        name = 'inner'\n"
        "class NotAMechanism:\n    pass\n")
    (tmp_path / "h14_broken_mech.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "h14_more_mechs.py").write_text(
        "from lucas_abm.mechanisms import Mechanism, PairwiseMatching\n"
        "class Abstract(Mechanism):\n    pass\n"
        "class Picky(PairwiseMatching):\n"
        "    def __init__(self, width=1):\n"
        "        if width < 0:\n            raise ValueError('width < 0')\n")
    mech = make_mechanism("h14_user_mechs:Outer.Inner")      # dotted attribute path
    assert type(mech).__name__ == "Inner" and isinstance(mech, PairwiseMatching)
    for spec, detail in [("h14_user_mechs:NotAMechanism",
                          "h14_user_mechs has <class 'h14_user_mechs.NotAMechanism'> under "
                          "'NotAMechanism'"),
                         ("h14_user_mechs:Missing", "h14_user_mechs has nothing under 'Missing'")]:
        with pytest.raises(ConfigError) as err:
            make_mechanism(spec)
        assert str(err.value) == (f"mechanism: must be the import path of a "
                                  f"lucas_abm.mechanisms.Mechanism subclass, got {spec!r} ({detail})")
    from lucas_abm.mechanisms import build_mechanism

    with pytest.raises(ConfigError) as err:
        build_mechanism("h14_more_mechs:Abstract", field="economy.mechanism")
    assert str(err.value) == ("economy.mechanism: must be a Mechanism subclass that overrides "
                              "propose, got 'h14_more_mechs:Abstract'")
    with pytest.raises(ConfigError) as err:
        build_mechanism("h14_more_mechs:Picky", {"width": -1}, params_field="economy.params")
    assert str(err.value) == ("economy.params: must be parameters accepted by Picky, got "
                              "{'width': -1} (width < 0)")
    with pytest.raises(ConfigError) as err:     # the constructor's own ConfigError, renamed
        build_mechanism("bargaining", {"theta": 1.5}, params_field="economy.params")
    assert str(err.value) == "economy.params.theta: must be in [0, 1], got 1.5"
    with pytest.raises(ConfigError) as err:
        make_mechanism("h14_broken_mech:Thing")
    assert str(err.value) == ("mechanism: must be an importable module:ClassName, got "
                              "'h14_broken_mech:Thing' (importing h14_broken_mech raised "
                              "RuntimeError: boom)")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_feasibility_allows_a_relative_slack_of_1e_9_and_no_more(backend):
    # Tree buyer: income >= p lot (1 - 1e-9); tree seller: shares >= lot (1 - 1e-9). A holding
    # of one lot built from float additions must count as one lot, 2e-9 short must not.
    lot, p = 0.01, 0.85
    for short, ok in ((0.5e-9, True), (2e-9, False)):
        # buyer's income (one share, constant dividend) just short of the price of a lot
        y = p * lot * (1 - short)
        market = LucasMarket(MarketConfig(n_agents=2), ConstantDividend(y), CRRAUtility(1.0),
                             PairwiseMatching(), seed=0, backend=backend)
        market.reset()
        out = market.step(np.array([0.9, 0.8]), np.array([0.95, 0.95]))
        assert out.tree_volume == ok and out.infeasible[0] == (not ok)
        # seller's shares just short of a lot (the buyer is rich)
        market = LucasMarket(MarketConfig(n_agents=2, initial_shares=lot * (1 - short)),
                             ConstantDividend(10.0), CRRAUtility(1.0), PairwiseMatching(),
                             seed=0, backend=backend)
        market.reset()
        out = market.step(np.array([0.9, 0.8]), np.array([0.95, 0.95]))
        assert out.tree_volume == ok and out.infeasible[1] == (not ok)


def test_registry():
    assert isinstance(make_mechanism("pairwise"), PairwiseMatching)
    assert make_mechanism("bargaining", theta=0.2).theta == 0.2
    assert isinstance(make_mechanism("call-auction"), CallAuction)
    with pytest.raises(ConfigError, match="mechanism: must be one of pairwise, bargaining, call-auction"):
        make_mechanism("walrasian")
    with pytest.raises(ConfigError, match="theta"):
        make_mechanism("bargaining", theta=1.5)


class SellerPriceNeighbours(Mechanism):
    """A user-written mechanism: agents 2i and 2i+1 meet; trade at the seller's price."""

    name = "seller-price-neighbours"

    def propose(self, posted, active, rng):
        first, second = np.arange(0, posted.size - 1, 2), np.arange(1, posted.size, 2)
        p1, p2 = posted[first], posted[second]
        buy1, buy2 = p1 > p2, p2 > p1
        buyer = np.concatenate((first[buy1], second[buy2]))
        seller = np.concatenate((second[buy1], first[buy2]))
        return Proposal(buyer, seller, posted[seller])


def test_a_new_mechanism_runs_through_the_environment():
    n = 10
    market = LucasMarket(MarketConfig(n_agents=n, horizon=3), ConstantDividend(),
                         CRRAUtility(1.0), SellerPriceNeighbours(), seed=0)
    env = MarketEnvironment(market)
    env.reset()
    tree = np.array([0.9, 0.8] * 5)
    bond = np.array([0.94, 0.96] * 5)
    step = env.step(np.stack([tree, bond], axis=1).astype(np.float32))
    out = env.last_market_step
    y = ConstantDividend().ybar
    # Even agents buy a tree lot at the seller's 0.8 and sell a bond lot at the
    # seller's (their own) 0.94; prices arrive as float32 actions.
    np.testing.assert_allclose(out.tree_trade, [0.01, -0.01] * 5)
    np.testing.assert_allclose(out.bond_trade, [-0.01, 0.01] * 5)
    p, q = float(np.float32(0.8)), float(np.float32(0.94))
    np.testing.assert_allclose(out.consumption[0], y - 0.01 * p + 0.01 * q, rtol=1e-12)
    np.testing.assert_allclose(step.reward[0], np.log(y - 0.01 * p + 0.01 * q), rtol=1e-6)
    assert invariant_violation(market, out) < 1e-15


class Cheater(Mechanism):
    def __init__(self, buyer, seller, price):
        self.proposal = Proposal(np.array(buyer), np.array(seller), np.array(price, dtype=float))

    def propose(self, posted, active, rng):
        return self.proposal


@pytest.mark.parametrize("buyer,seller,price,match", [
    ([0, 0], [1, 2], [0.8, 0.8], "more than one trade"),
    ([0], [0], [0.8], "more than one trade"),
    ([0], [5], [0.8], "out of range"),
    ([0], [1], [np.nan], "finite and positive"),
    ([0], [1], [-1.0], "finite and positive"),
    ([0], [1], [0.0], "finite and positive"),
    ([0], [3], [0.8], "invalid posted price"),
    ([0.0], [1.0], [0.8], "integer"),
])
def test_the_base_class_rejects_proposals_that_break_the_contract(buyer, seller, price, match):
    market = LucasMarket(MarketConfig(n_agents=4), ConstantDividend(), CRRAUtility(1.0),
                         Cheater(buyer, seller, price), seed=0)
    market.reset()
    with pytest.raises(MechanismError, match=match):
        market.step(np.array([0.9, 0.8, 0.85, np.nan]), np.full(4, 0.95))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_one_pairing_per_period_serves_both_assets(backend):
    market = LucasMarket(MarketConfig(n_agents=40), ConstantDividend(), CRRAUtility(1.0),
                         PairwiseMatching(), seed=0, backend=backend)
    market.reset()
    rng = np.random.default_rng(0)
    tree = rng.uniform(0.5, 1.0, 40)
    out = market.step(tree, tree + 0.1)  # same ranking in both markets, same pairs
    np.testing.assert_array_equal(out.tree_trade, out.bond_trade)


class DuplicatingPairs(PairwiseMatching):
    """A user subclass of a library mechanism with a broken pairing: still checked."""

    def pairs(self, n, rng):
        return np.zeros(n // 2, dtype=np.int64), np.arange(1, n // 2 + 1)


def test_subclasses_of_library_mechanisms_are_checked():
    market = LucasMarket(MarketConfig(n_agents=6), ConstantDividend(), CRRAUtility(1.0),
                         DuplicatingPairs(), seed=0)
    market.reset()
    with pytest.raises(MechanismError, match="more than one trade"):
        market.step(np.array([0.5, 0.6, 0.7, 0.8, 0.9, 1.0]), np.full(6, 0.95))
