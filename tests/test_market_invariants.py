"""Property tests: the market invariants hold after every step, for any actions.

For random agent counts, lots, borrowing limits, mechanisms and posted prices that include
NaN, +-inf, 0, negative and huge values: total shares are constant, total bonds are zero,
total consumption equals total dividends, no share holding is negative and no bond position
is below the borrowing limit. Consumption is also recomputed independently from the trades.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from lucas_abm.dividends import ConstantDividend, IIDLognormalDividend
from lucas_abm.market import LucasMarket, MarketConfig, invariant_violation
from lucas_abm.mechanisms import Mechanism, Proposal, make_mechanism
from lucas_abm.utility import CRRAUtility
from market_strategies import scenarios

TOL = 1e-12


class ArbitraryProposals(Mechanism):
    """A user mechanism proposing random disjoint pairs at arbitrary positive prices, with
    no regard for posted prices: the base class alone must keep the invariants."""

    name = "arbitrary"

    def propose(self, posted, active, rng):
        agents = rng.permutation(np.flatnonzero(active))
        m = agents.size // 2
        price = np.exp(rng.uniform(-8.0, 8.0, m))  # 3e-4 .. 3e3
        return Proposal(agents[:m], agents[m:2 * m], price)


def build_mechanism(name, theta):
    if name == "arbitrary":
        return ArbitraryProposals()
    return make_mechanism(name, **({"theta": theta} if name == "bargaining" else {}))


@settings(max_examples=150, deadline=None)
@given(scenario=scenarios(),
       tree_lot=st.sampled_from([0.01, 0.05, 0.3, 1.0, 1.5]),
       bond_lot=st.sampled_from([0.01, 0.1, 1.0]),
       borrowing_limit=st.sampled_from([0.0, 0.01, 0.1, 2.0]),
       mechanism=st.sampled_from(["pairwise", "bargaining", "call-auction", "arbitrary"]),
       theta=st.floats(0.0, 1.0),
       stochastic=st.booleans(),
       gamma=st.sampled_from([0.5, 1.0, 3.0]),
       seed=st.integers(0, 2 ** 31))
def test_invariants_hold_for_any_actions(scenario, tree_lot, bond_lot, borrowing_limit,
                                         mechanism, theta, stochastic, gamma, seed):
    n, actions = scenario
    config = MarketConfig(n_agents=n, horizon=50, tree_lot=tree_lot, bond_lot=bond_lot,
                          borrowing_limit=borrowing_limit, public_information=True)
    dividend = IIDLognormalDividend(mu=-3.0, sigma=0.5) if stochastic else ConstantDividend()
    mech = build_mechanism(mechanism, theta)
    market = LucasMarket(config, dividend, CRRAUtility(gamma), mech, seed=seed)
    market.reset()
    total = n * config.initial_shares
    for tree_price, bond_price in actions:
        shares, bonds = market.shares.copy(), market.bonds.copy()
        out = market.step(tree_price, bond_price)
        assert invariant_violation(market, out) <= TOL
        assert abs(market.shares.sum() - total) <= TOL * n
        assert abs(market.bonds.sum()) <= TOL * n
        assert abs(out.consumption.sum() - total * out.dividend) <= TOL * n
        assert market.shares.min() >= -TOL
        assert market.bonds.min() >= -borrowing_limit - TOL
        # Independent accounting: c = s y + b - (price paid per unit) x (units bought).
        income = shares * out.dividend + bonds
        np.testing.assert_allclose(out.income, income, rtol=0, atol=1e-15)
        trade_value = income - out.consumption
        traded = (out.tree_trade != 0) | (out.bond_trade != 0)
        assert np.all(trade_value[~traded] == 0.0)
        # Each agent trades at most one lot per asset; invalid posters never trade.
        assert set(np.unique(np.abs(out.tree_trade))) <= {0.0, tree_lot}
        assert set(np.unique(np.abs(out.bond_trade))) <= {0.0, bond_lot}
        bad_tree = ~((tree_price > 0) & (tree_price <= config.max_price))
        assert np.all(out.tree_trade[bad_tree] == 0)
        # Penalties: exactly the invalid and infeasible flags, never negative rewards' cause otherwise.
        assert np.all(out.invalid == (bad_tree | ~((bond_price > 0) & (bond_price <= config.max_price))))
        assert np.all((out.penalty > 0) == (out.invalid | out.infeasible))
        assert np.all(np.isfinite(out.reward))
        assert out.observation.dtype == np.float32 and np.all(np.isfinite(out.observation))
        if out.truncated:
            market.reset()
