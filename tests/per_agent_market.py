"""A plain-Python, one-object-per-agent reference of the pairwise market (no numpy in the rules).

Written independently of :mod:`lucas_abm.mechanisms.base` and :mod:`lucas_abm.kernels` from
the rules in docs/market.md (docs/model.md section 2), one trader and one pair at a time, so that
the vectorised settlement and the compiled kernel can both be checked against it in the unit
suite (``benchmarks/mesa_baseline.py`` says the same in Mesa, which does not fit the pinned
stack's typing-extensions and so runs only under ``.[bench]``):

* income ``e = s y + b``; a posted price is valid iff ``0 < price <= max_price``, each
  invalid one costs ``invalid_price_penalty``;
* in each pair the higher poster buys one lot at the midpoint ``(p_a + p_b) / 2``; equal or
  invalid prices do not trade;
* tree first: the seller needs ``s >= tree_lot``, the buyer ``p tree_lot <= e``;
* then the bond: the seller (borrower) needs ``bond_lot <= borrowing_limit``, the buyer
  ``q bond_lot <= e - (tree purchase paid)``; tree *sale* proceeds do not count;
* an infeasible side pays ``infeasible_trade_penalty``; consumption ``c = e - paid``;
  reward ``u(max(c, floor)) - penalties``; ``s' = s + tree trade``, ``b' = bond trade``.

The comparisons allow the same relative slack (1e-9) on holdings and cash as the package.
"""
from __future__ import annotations

import math

SLACK = 1e-9


class Trader:
    def __init__(self, shares: float):
        self.shares = shares
        self.bonds = 0.0
        self.reset_period(0.0)

    def reset_period(self, income: float) -> None:
        self.income = income
        self.tree_paid = 0.0     # cash paid for a tree purchase (> 0 only when buying)
        self.paid = 0.0          # all cash paid (negative: received)
        self.tree_trade = 0.0
        self.bond_trade = 0.0
        self.penalty = 0.0
        self.consumption = 0.0
        self.reward = 0.0


class PerAgentMarket:
    """``step(tree_prices, bond_prices, first, second)`` with the pairing given as index lists."""

    def __init__(self, config, dividend: float, gamma: float):
        self.config = config
        self.dividend = dividend          # constant dividend y
        self.gamma = gamma
        self.traders = [Trader(config.initial_shares) for _ in range(config.n_agents)]

    def valid(self, price: float) -> bool:
        return 0.0 < price <= self.config.max_price   # False for NaN

    def step(self, tree_prices, bond_prices, first, second) -> None:
        cfg = self.config
        for t, p, q in zip(self.traders, tree_prices, bond_prices):
            t.reset_period(t.shares * self.dividend + t.bonds)
            t.penalty += cfg.invalid_price_penalty * ((not self.valid(p)) + (not self.valid(q)))
        pairs = [(int(i), int(j)) for i, j in zip(first, second)]
        for i, j in pairs:
            self.trade(i, j, tree_prices, cfg.tree_lot, tree=True)
        for i, j in pairs:
            self.trade(i, j, bond_prices, cfg.bond_lot, tree=False)
        for t in self.traders:
            t.consumption = t.income - t.paid
            c = max(t.consumption, cfg.consumption_floor)
            u = math.log(c) if self.gamma == 1.0 else c ** (1.0 - self.gamma) / (1.0 - self.gamma)
            t.reward = u - t.penalty
            t.shares += t.tree_trade
            t.bonds = t.bond_trade

    def trade(self, i: int, j: int, prices, lot: float, tree: bool) -> None:
        pi, pj = float(prices[i]), float(prices[j])
        if not (self.valid(pi) and self.valid(pj)) or pi == pj:
            return
        b, s = (i, j) if pi > pj else (j, i)
        buyer, seller = self.traders[b], self.traders[s]
        cost = 0.5 * (pi + pj) * lot
        if tree:
            buyer_ok = buyer.income >= cost * (1.0 - SLACK)
            seller_ok = seller.shares >= lot * (1.0 - SLACK)
        else:
            buyer_ok = buyer.income - buyer.tree_paid >= cost * (1.0 - SLACK)
            seller_ok = lot <= self.config.borrowing_limit * (1.0 + SLACK)
        if not buyer_ok:
            buyer.penalty += self.config.infeasible_trade_penalty
        if not seller_ok:
            seller.penalty += self.config.infeasible_trade_penalty
        if not (buyer_ok and seller_ok):
            return
        buyer.paid += cost
        seller.paid -= cost
        if tree:
            buyer.tree_paid = cost
            buyer.tree_trade, seller.tree_trade = lot, -lot
        else:
            buyer.bond_trade, seller.bond_trade = lot, -lot

    def holdings(self):
        return [t.shares for t in self.traders], [t.bonds for t in self.traders]
