"""A straightforward per-agent implementation of the pairwise market, written with Mesa.

This is the baseline for ``benchmarks/market_step.py``: the same economics as
:class:`lucas_abm.market.LucasMarket` with :class:`lucas_abm.mechanisms.PairwiseMatching`
(docs/model.md section 2), written the way an agent-based modeller would write it in Mesa 2.x:
one ``Agent`` object per trader holding its own shares and bonds, a Python loop over the
random pairs, and a ``RandomActivation`` schedule in which every agent consumes and updates
its holdings. Feasibility and penalties follow :mod:`lucas_abm.mechanisms.base`: the tree is
settled first, then the bond; a buyer pays out of this period's income (sale proceeds not
usable); a tree seller needs one lot; a bond seller needs ``bond_lot <= borrowing_limit``.

Benchmark-only dependency: ``pip install -e .[bench]`` (mesa>=2.3,<3).
"""
from __future__ import annotations

import math

import mesa
import numpy as np

from lucas_abm.dividends import DividendProcess
from lucas_abm.market import MarketConfig
from lucas_abm.mechanisms.base import FEASIBILITY_RTOL
from lucas_abm.utility import CRRAUtility

_LOWER = 1.0 - FEASIBILITY_RTOL


class Trader(mesa.Agent):
    """One agent: holdings, this period's income, posted prices and cash flows."""

    def __init__(self, unique_id: int, model: "MesaLucasMarket", shares: float):
        super().__init__(unique_id, model)
        self.shares = shares
        self.bonds = 0.0
        self.income = 0.0
        self.tree_price = math.nan
        self.bond_price = math.nan
        self.paid = 0.0          # cash paid for purchases (negative: received for sales)
        self.tree_trade = 0.0
        self.bond_trade = 0.0
        self.penalty = 0.0
        self.consumption = 0.0
        self.reward = 0.0

    def post(self, tree_price: float, bond_price: float, dividend: float) -> None:
        """Start of period: income e = s y + b, post prices, pay invalid-price penalties."""
        cfg = self.model.config
        self.income = self.shares * dividend + self.bonds
        self.paid = self.tree_trade = self.bond_trade = self.penalty = 0.0
        self.tree_price = tree_price if 0.0 < tree_price <= cfg.max_price else math.nan
        self.bond_price = bond_price if 0.0 < bond_price <= cfg.max_price else math.nan
        self.penalty += cfg.invalid_price_penalty * (math.isnan(self.tree_price)
                                                     + math.isnan(self.bond_price))

    def step(self) -> None:
        """End of period: consume what is left, collect the reward, update holdings."""
        cfg = self.model.config
        self.consumption = self.income - self.paid
        c = max(self.consumption, cfg.consumption_floor)
        gamma = self.model.utility.gamma
        u = math.log(c) if gamma == 1.0 else c ** (1.0 - gamma) / (1.0 - gamma)
        self.reward = u - self.penalty
        self.shares += self.tree_trade
        self.bonds = self.bond_trade


class MesaLucasMarket(mesa.Model):
    """The pairwise Lucas-tree market, one Mesa agent per trader."""

    def __init__(self, config: MarketConfig, dividend: DividendProcess, utility: CRRAUtility,
                 seed: int | None = None):
        super().__init__(seed=seed)
        self.config = config
        self.utility = utility
        self.dividend_process = dividend
        self.rng = np.random.default_rng(seed)
        self.dividend = dividend.initial(self.rng)
        self.schedule = mesa.time.RandomActivation(self)
        self.traders = [Trader(k, self, config.initial_shares) for k in range(config.n_agents)]
        for trader in self.traders:
            self.schedule.add(trader)

    def random_pairs(self) -> list[tuple[Trader, Trader]]:
        order = list(self.traders)
        self.random.shuffle(order)
        return list(zip(order[0::2], order[1::2]))

    def trade_tree(self, a: Trader, b: Trader) -> None:
        pa, pb = a.tree_price, b.tree_price
        if math.isnan(pa) or math.isnan(pb) or pa == pb:
            return
        buyer, seller = (a, b) if pa > pb else (b, a)
        lot = self.config.tree_lot
        cost = 0.5 * (pa + pb) * lot
        buyer_ok = buyer.income >= cost * _LOWER
        seller_ok = seller.shares >= lot * _LOWER
        self._settle(buyer, seller, buyer_ok, seller_ok, cost, lot, "tree_trade")

    def trade_bond(self, a: Trader, b: Trader) -> None:
        qa, qb = a.bond_price, b.bond_price
        if math.isnan(qa) or math.isnan(qb) or qa == qb:
            return
        buyer, seller = (a, b) if qa > qb else (b, a)
        lot = self.config.bond_lot
        cost = 0.5 * (qa + qb) * lot
        buyer_ok = buyer.income - max(buyer.paid, 0.0) >= cost * _LOWER  # proceeds not usable
        seller_ok = lot <= self.config.borrowing_limit * (1.0 + FEASIBILITY_RTOL)
        self._settle(buyer, seller, buyer_ok, seller_ok, cost, lot, "bond_trade")

    def _settle(self, buyer, seller, buyer_ok, seller_ok, cost, lot, field) -> None:
        if buyer_ok and seller_ok:
            buyer.paid += cost
            seller.paid -= cost
            setattr(buyer, field, lot)
            setattr(seller, field, -lot)
            return
        if not buyer_ok:
            buyer.penalty += self.config.infeasible_trade_penalty
        if not seller_ok:
            seller.penalty += self.config.infeasible_trade_penalty

    def step(self, tree_price, bond_price, pairs=None) -> None:
        """One period. ``pairs``: optional index arrays ``(first, second)`` to reuse a pairing.

        As in the vectorised market, one pairing per period serves both assets; the tree is
        settled in every pair before any bond.
        """
        y = self.dividend
        for trader, p, q in zip(self.traders, tree_price, bond_price):
            trader.post(float(p), float(q), y)
        pairs = self._pairs(pairs)
        for a, b in pairs:
            self.trade_tree(a, b)
        for a, b in pairs:
            self.trade_bond(a, b)
        self.schedule.step()
        self.dividend = self.dividend_process.next(y, self.rng)

    def _pairs(self, pairs):
        if pairs is None:
            return self.random_pairs()
        return [(self.traders[i], self.traders[j]) for i, j in zip(*pairs)]

    def holdings(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.array([t.shares for t in self.traders]),
                np.array([t.bonds for t in self.traders]))
