"""Orders with quantities: a mechanism whose action is a limit order per asset.

With posted prices and one lot per pair (:mod:`lucas_abm.mechanisms.base`) a trader cannot
rebalance to a heterogeneous-equilibrium portfolio, and a large trader cannot trade large.
Here each agent k submits, for each asset, an **order** ``(L_k, x_k)``: a limit price ``L_k``
and a signed quantity ``x_k`` (+ buy up to x_k units at a price <= L_k, - sell up to |x_k|
at a price >= L_k; ``x_k = 0`` is a quote: it states the reservation value ``L_k`` and
trades nothing). A bond purchase is lending, a bond sale borrowing; bonds are one-period,
so the bond fill *is* next period's position, ``b_{t+1} = fill`` (docs/model.md section 2).

:meth:`OrderMechanism.match` (the one method a subclass overrides) turns one asset's
orders into :class:`Fills`. :meth:`OrderMechanism.execute_orders` (final; do not
override) does everything that keeps the market's invariants:

1. **refuse** invalid orders (limit non-finite, <= 0 or above the price cap; quantity
   non-finite): quantity 0, flagged ``invalid`` (the market's penalty);
2. **clip** infeasible ones, flagged ``infeasible`` (penalty) where the clip exceeds round-off:

   * tree sale at most the shares held, ``x >= -s`` (no short selling);
   * bond sale at most the borrowing limit, ``x >= -borrowing_limit_k`` (one-period bonds);
   * purchases financed by income plus the own sales valued at their limit prices:
     ``L^tree x^tree_+ + L^bond x^bond_+ <= max(0, e + L^tree x^tree_- + L^bond x^bond_-)``;
     where violated both purchases are scaled down by one factor in [0, 1];

3. check the mechanism's fills (unless the class is a verified library class): same sign
   as the order and no larger, buyers pay at most and sellers receive at least their limit,
   fills summing to zero up to round-off; a violation is a :class:`MechanismError`;
4. settle: ``trade = fill``, ``cash = fill * price``.

Every fill moves a quantity from sellers to buyers at one price per agent, so total shares
and total bonds are conserved and total consumption equals total income up to round-off,
whatever the orders (NaN and inf included). Sale proceeds count in the budget at their
limit price: if a rationed sale had financed a purchase, consumption can fall below zero
(the market then evaluates utility at its consumption floor, as for a posted-price trade).
"""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np

from lucas_abm.mechanisms.base import (FEASIBILITY_RTOL, Mechanism, MechanismError, Settlement,
                                       TradingRules, posted_prices, valid_prices)

#: |sum of fills| allowed, relative to the volume, before fills count as not conserving.
CONSERVATION_RTOL = 1e-9


@dataclass(frozen=True)
class Orders:
    """One period's orders: limit prices and signed quantities per asset, each [N]."""

    tree_price: np.ndarray
    tree_quantity: np.ndarray
    bond_price: np.ndarray
    bond_quantity: np.ndarray


@dataclass(frozen=True)
class Fills:
    """One asset's execution: ``quantity[k]`` signed (+ bought) at ``price`` (a number for a
    uniform price, or [N] per agent); ``clearing_price`` is the price the mechanism reports
    (NaN if none; it may be reported without trade, e.g. a call auction's quote midpoint)."""

    quantity: np.ndarray
    price: float | np.ndarray
    clearing_price: float


class OrderMechanism(Mechanism):
    """A mechanism that trades limit orders with quantities. Subclasses override :meth:`match`.

    The market calls ``execute_orders(orders, income, shares, rules, rng)`` when an action
    has quantities; a class that also overrides ``propose`` trades posted prices too.
    """

    name = "order-mechanism"

    @abstractmethod
    def match(self, limit: np.ndarray, quantity: np.ndarray,
              rng: np.random.Generator) -> Fills:
        """Fill one asset's orders.

        ``limit`` [N] float64 (NaN where the order was refused), ``quantity`` [N] float64,
        signed, already clipped to feasibility (0 where refused). Return :class:`Fills` with
        ``|fill_k| <= |quantity_k|`` of the same sign, prices within each filled limit, and
        fills summing to zero. Use ``rng`` for all randomness.
        """

    def propose(self, posted, active, rng):
        raise MechanismError(f"{self.name} trades orders with quantities: call the market's step "
                             "with tree_quantity and bond_quantity")

    # ------------------------------------------------------------------ settlement
    def execute_orders(self, orders: Orders, income: np.ndarray, shares: np.ndarray,
                       rules: TradingRules, rng: np.random.Generator) -> Settlement:
        """Refuse, clip, match and settle both assets (see the module docstring)."""
        n = income.shape[0]
        lt = posted_prices("tree_price", orders.tree_price, n, "limit prices")
        lb = posted_prices("bond_price", orders.bond_price, n, "limit prices")
        xt = posted_prices("tree_quantity", orders.tree_quantity, n, "order quantities")
        xb = posted_prices("bond_quantity", orders.bond_quantity, n, "order quantities")
        with np.errstate(invalid="ignore"):
            ok_t = valid_prices(lt, rules.max_price) & np.isfinite(xt)
            ok_b = valid_prices(lb, rules.max_price) & np.isfinite(xb)
        lt, xt = _refuse(lt, xt, ok_t)
        lb, xb = _refuse(lb, xb, ok_b)
        limits = rules.borrowing_limits
        limits = rules.borrowing_limit if limits is None else limits
        xt_c = np.maximum(xt, -shares)                        # no short sale of the tree
        xb_c = np.maximum(xb, -limits)                        # borrow at most the limit
        cash_t, cash_b = lt * xt_c, lb * xb_c                 # purchases +, sales - at limits
        spend = np.maximum(cash_t, 0.0) + np.maximum(cash_b, 0.0)
        over = spend > np.maximum(income - np.minimum(cash_t, 0.0) - np.minimum(cash_b, 0.0), 0.0)
        if over.any():  # scale both purchases down so that they cost the budget (rare)
            i = over.nonzero()[0]
            budget = np.maximum(income[i] - np.minimum(cash_t[i], 0.0) - np.minimum(cash_b[i], 0.0), 0.0)
            scale = budget / spend[i]
            xt_c[i] = np.where(xt_c[i] > 0, xt_c[i] * scale, xt_c[i])
            xb_c[i] = np.where(xb_c[i] > 0, xb_c[i] * scale, xb_c[i])
        bad_t = xt_c != xt                                    # clipped (refused ones are 0 = 0)
        bad_b = xb_c != xb

        tree = self._checked_fills(self.match(lt, xt_c, rng), lt, xt_c, n)
        bond = self._checked_fills(self.match(lb, xb_c, rng), lb, xb_c, n)
        tree_cash = _cash(tree)
        bond_cash = _cash(bond)
        t_vol, t_mean = traded_volume(tree.quantity, tree_cash, rules.tree_lot)
        b_vol, b_mean = traded_volume(bond.quantity, bond_cash, rules.bond_lot)
        return Settlement(tree.quantity, bond.quantity, tree_cash, bond_cash, t_vol, b_vol,
                          t_mean, b_mean, ~ok_t, ~ok_b, bad_t, bad_b,
                          tree.clearing_price, bond.clearing_price)

    def _checked_fills(self, fills: Fills, limit: np.ndarray, quantity: np.ndarray,
                       n: int) -> Fills:
        """Enforce the :class:`Fills` contract; skipped only for verified library classes
        (``verified_fills = True`` in the class body itself, never inherited)."""
        if type(self).__dict__.get("verified_fills", False):
            return fills
        fill = np.asarray(fills.quantity, dtype=np.float64)
        if fill.shape != (n,) or not np.isfinite(fill).all():
            raise MechanismError(f"{self.name}: fills must be {n} finite numbers")
        price = np.broadcast_to(np.asarray(fills.price, dtype=np.float64), (n,))
        traded = fill != 0
        if not (np.isfinite(price[traded]).all() and (price[traded] > 0).all()):
            raise MechanismError(f"{self.name}: settlement prices must be finite and positive")
        slack = FEASIBILITY_RTOL * np.abs(quantity)
        if np.any(fill * np.sign(quantity) < -slack) or np.any(np.abs(fill) > np.abs(quantity) + slack):
            raise MechanismError(f"{self.name}: a fill exceeds its order or has the wrong sign")
        rel = FEASIBILITY_RTOL * limit[traded]
        if np.any(np.where(fill[traded] > 0, price[traded] - limit[traded],
                           limit[traded] - price[traded]) > rel):
            raise MechanismError(f"{self.name}: a fill is outside its limit price")
        if abs(fill.sum()) > CONSERVATION_RTOL * max(np.abs(fill).sum(), 1e-300):
            raise MechanismError(f"{self.name}: fills do not sum to zero (bought != sold)")
        return Fills(fill, fills.price, float(fills.clearing_price))


def _refuse(limit: np.ndarray, quantity: np.ndarray, ok: np.ndarray):
    """Refused orders: limit NaN, quantity 0 (no copy when every order is valid)."""
    if ok.all():
        return limit, quantity
    return np.where(ok, limit, np.nan), np.where(ok, quantity, 0.0)


def _cash(fills: Fills) -> np.ndarray:
    """Cash paid per agent, fill x price (0 where nothing filled, whatever the price)."""
    if np.ndim(fills.price) == 0 and np.isfinite(fills.price):
        return fills.quantity * fills.price
    with np.errstate(invalid="ignore"):
        return np.where(fills.quantity != 0, fills.quantity * fills.price, 0.0)


def traded_volume(fill: np.ndarray, cash: np.ndarray, lot: float) -> tuple[float, float]:
    """(lots bought, volume-weighted mean price; NaN without trade). Bought = sold, so each is
    half the absolute total (up to round-off)."""
    units = 0.5 * float(np.abs(fill).sum())
    if units <= 0:
        return 0.0, float("nan")
    return units / lot, 0.5 * float(np.abs(cash).sum()) / units
