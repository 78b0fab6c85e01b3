"""OrderMechanism.execute_orders and its Fills contract (lucas_abm/mechanisms/orders.py),
by hand: which orders are refused, how infeasible ones are clipped (short sale, borrowing
limit, budget scaled at the limit prices), the cash and volumes settled from given fills,
and every way a mechanism's fills can break the contract (with the relative slack 1e-9).
"""
from __future__ import annotations

import numpy as np
import pytest

from lucas_abm.mechanisms.base import MechanismError, TradingRules
from lucas_abm.mechanisms.call_auction import CallAuction
from lucas_abm.mechanisms.orders import Fills, OrderMechanism, Orders

RULES = TradingRules(tree_lot=0.5, bond_lot=0.25, borrowing_limit=0.1, max_price=10.0)


class Scripted(OrderMechanism):
    """Returns the given fills (tree first, then bond) and records what match was given."""

    name = "scripted"

    def __init__(self, *fills):
        self.fills, self.seen = list(fills), []

    def match(self, limit, quantity, rng):
        self.seen.append((limit.copy(), quantity.copy()))
        return self.fills.pop(0)


def test_refuse_clip_match_and_settle_by_hand():
    income = np.array([1.0, 1.0, 0.3, 2.0])
    shares = np.array([1.0, 2.0, 1.0, 0.5])
    orders = Orders(tree_price=np.array([2.0, 1.0, 1.5, np.nan]),
                    tree_quantity=np.array([0.4, -3.0, 0.5, 1.0]),
                    bond_price=np.array([0.9, 0.95, 0.9, 0.9]),
                    bond_quantity=np.array([0.0, 0.2, 0.2, -0.3]))
    tree = Fills(np.array([0.4, -0.4, 0.0, 0.0]), 1.5, 1.5)
    bond = Fills(np.array([0.0, 0.05, 0.0, -0.05]), np.array([np.nan, 0.92, 0.92, 0.92]), 0.92)
    mech = Scripted(tree, bond)
    s = mech.execute_orders(orders, income, shares, RULES, np.random.default_rng(0))
    (lt, xt), (lb, xb) = mech.seen
    # agent 3's tree limit is NaN: refused (quantity 0); agent 1 sells at most its 2 shares;
    # agent 3 borrows at most 0.1; agent 2 buys 0.5 x 1.5 + 0.2 x 0.9 = 0.93 > income 0.3:
    # both purchases scaled by 0.3 / 0.93
    np.testing.assert_array_equal(lt[:3], [2.0, 1.0, 1.5])
    assert np.isnan(lt[3])
    np.testing.assert_allclose(xt, [0.4, -2.0, 0.5 * 0.3 / 0.93, 0.0], rtol=1e-15)
    np.testing.assert_array_equal(lb, [0.9, 0.95, 0.9, 0.9])
    np.testing.assert_allclose(xb, [0.0, 0.2, 0.2 * 0.3 / 0.93, -0.1], rtol=1e-15)
    assert s.invalid_tree.tolist() == [False, False, False, True]
    assert s.invalid_bond.tolist() == [False, False, False, False]
    assert s.infeasible_tree.tolist() == [False, True, True, False]
    assert s.infeasible_bond.tolist() == [False, False, True, True]
    # settlement of the given fills: cash = fill x price, 0 where nothing filled
    np.testing.assert_array_equal(s.tree_trade, [0.4, -0.4, 0.0, 0.0])
    np.testing.assert_allclose(s.tree_cash, [0.6, -0.6, 0.0, 0.0], rtol=1e-15)
    np.testing.assert_array_equal(s.bond_trade, [0.0, 0.05, 0.0, -0.05])
    np.testing.assert_allclose(s.bond_cash, [0.0, 0.046, 0.0, -0.046], rtol=1e-15)
    assert s.tree_volume == pytest.approx(0.4 / 0.5, rel=1e-15)           # lots bought
    assert s.bond_volume == pytest.approx(0.05 / 0.25, rel=1e-15)
    assert s.tree_settlement_price == pytest.approx(1.5, rel=1e-15)
    assert s.bond_settlement_price == pytest.approx(0.92, rel=1e-15)
    assert s.tree_clearing_price == 1.5 and s.bond_clearing_price == 0.92


def test_over_budget_scales_only_the_purchases_not_the_sales():
    # income 0: selling 0.1 tree at limit 1.0 finances 0.1 of the bond purchase 0.5 x 0.9 = 0.45
    orders = Orders(tree_price=np.array([1.0, 1.0]), tree_quantity=np.array([-0.1, 0.0]),
                    bond_price=np.array([0.9, 0.9]), bond_quantity=np.array([0.5, 0.0]))
    none = Fills(np.zeros(2), np.nan, np.nan)
    mech = Scripted(none, none)
    s = mech.execute_orders(orders, np.zeros(2), np.ones(2), RULES, np.random.default_rng(0))
    (_, xt), (_, xb) = mech.seen
    np.testing.assert_array_equal(xt, [-0.1, 0.0])
    np.testing.assert_allclose(xb, [0.5 * 0.1 / 0.45, 0.0], rtol=1e-15)
    assert s.infeasible_tree.tolist() == [False, False] and s.infeasible_bond.tolist() == [True, False]


def test_invalid_limits_and_quantities_are_refused_and_no_trade_has_no_price():
    n = 5
    orders = Orders(tree_price=np.array([0.0, -1.0, 10.5, np.inf, 10.0]),
                    tree_quantity=np.array([1.0, 1.0, 1.0, 1.0, np.nan]),
                    bond_price=np.full(n, 0.9),
                    bond_quantity=np.array([np.inf, -np.inf, 0.0, 0.01, -0.01]))
    zero = Fills(np.zeros(n), np.nan, np.nan)
    mech = Scripted(zero, Fills(np.array([0.0, 0.0, 0.0, 0.01, -0.01]), 0.9, 0.9))
    s = mech.execute_orders(orders, np.ones(n), np.ones(n), RULES, np.random.default_rng(0))
    assert s.invalid_tree.all()                                  # 0, < 0, > cap, inf; NaN quantity
    assert s.invalid_bond.tolist() == [True, True, False, False, False]
    (lt, xt), (lb, xb) = mech.seen
    assert np.isnan(lt).all() and (xt == 0).all()
    np.testing.assert_array_equal(xb, [0.0, 0.0, 0.0, 0.01, -0.01])
    assert not s.infeasible_tree.any() and not s.infeasible_bond.any()
    assert s.tree_volume == 0.0 and np.isnan(s.tree_settlement_price)
    np.testing.assert_array_equal(s.tree_cash, np.zeros(n))
    assert s.bond_volume == pytest.approx(0.04, rel=1e-12)
    assert s.bond_settlement_price == pytest.approx(0.9, rel=1e-15)


@pytest.mark.parametrize("field, what", [("tree_price", "limit prices"), ("tree_quantity", "order quantities"),
                                         ("bond_price", "limit prices"), ("bond_quantity", "order quantities")])
def test_orders_of_the_wrong_size_are_refused_by_field(field, what):
    # quantities were called "posted prices" in the message
    values = {"tree_price": np.ones(3), "tree_quantity": np.zeros(3),
              "bond_price": np.ones(3), "bond_quantity": np.zeros(3)}
    values[field] = np.ones(4)
    with pytest.raises(ValueError, match=rf"^{field}: expected 3 {what} \(one per agent\)"):
        Scripted().execute_orders(Orders(**values), np.ones(3), np.ones(3), RULES,
                                  np.random.default_rng(0))


LIMIT = np.array([1.0, 2.0, 1.5])
QTY = np.array([-1.0, 2.0, -1.0])          # 0 and 2 sell at >= 1.0, >= 1.5; 1 buys at <= 2.0


@pytest.mark.parametrize("fill, price, message", [
    ([-1.0, 2.0], 1.5, "fills must be 3 finite numbers"),
    ([-1.0, np.nan, -1.0], 1.5, "fills must be 3 finite numbers"),
    ([-1.0, 2.0, -1.0], 0.0, "settlement prices must be finite and positive"),
    ([-1.0, 2.0, -1.0], -1.5, "settlement prices must be finite and positive"),
    ([-1.0, 2.0, -1.0], [1.5, np.inf, 1.5], "settlement prices must be finite and positive"),
    ([1.0, 0.0, -1.0], 1.5, "a fill exceeds its order or has the wrong sign"),
    ([-1.0, 2.0 * (1 + 2e-9), -1.0 - 2e-9 * 2.0], 1.5, "a fill exceeds its order or has the wrong sign"),
    ([-1.0, 2.0, -1.0], 1.4, "a fill is outside its limit price"),                # seller 2 gets < 1.5
    ([-1.0, 2.0, -1.0], [1.5, 2.0 * (1 + 2e-9), 1.5], "a fill is outside its limit price"), # buyer pays > 2
    ([-1.0, 1.5, -1.0], 1.5, r"fills do not sum to zero \(bought != sold\)"),
])
def test_fills_breaking_the_contract_are_a_mechanism_error(fill, price, message):
    mech = Scripted()
    with pytest.raises(MechanismError, match=rf"^scripted: {message}"):
        mech._checked_fills(Fills(np.array(fill), price, 1.5), LIMIT, QTY, 3)


def test_fills_within_the_slack_pass_and_come_back_as_float64():
    mech = Scripted()
    # 5e-10 relative: inside FEASIBILITY_RTOL = 1e-9 (a buyer paying 2 (1 + 5e-10) of limit 2)
    out = mech._checked_fills(Fills(np.array([-1.0, 2.0 * (1 + 5e-10), -1.0 - 1e-9]),
                                    np.array([1.5, 2.0 * (1 + 5e-10), 1.5]), np.float32(1.5)),
                              LIMIT, QTY, 3)
    assert out.quantity.dtype == np.float64 and type(out.clearing_price) is float
    # a price that is NaN or 0 where nothing trades is no settlement price
    ok = mech._checked_fills(Fills(np.array([0.0, 1.0, -1.0]), np.array([0.0, 1.5, 1.5]), 1.5),
                             LIMIT, QTY, 3)
    np.testing.assert_array_equal(ok.quantity, [0.0, 1.0, -1.0])
    ok = mech._checked_fills(Fills(np.zeros(3), np.nan, np.nan), LIMIT, QTY, 3)
    assert np.isnan(ok.clearing_price)


class Subclass(CallAuction):
    """Inherits verified_fills = True, but a subclass is checked all the same."""

    def match(self, limit, quantity, rng):
        return Fills(np.maximum(quantity, 0.0), 1.5, 1.5)    # buys only: bought != sold


def test_the_verified_flag_is_not_inherited_and_propose_is_refused():
    with pytest.raises(MechanismError, match="call-auction: fills do not sum to zero"):
        Subclass()._checked_fills(Subclass().match(LIMIT, QTY, None), LIMIT, QTY, 3)
    fills = Fills(QTY, 1.5, 1.5)
    assert CallAuction()._checked_fills(fills, LIMIT, QTY, 3) is fills   # library class: trusted
    with pytest.raises(MechanismError, match=r"^scripted trades orders with quantities: call the "
                                             r"market's step with tree_quantity and bond_quantity$"):
        Scripted().propose(np.ones(3), np.ones(3, bool), np.random.default_rng(0))
