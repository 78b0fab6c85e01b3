"""The market-mechanism interface: a mechanism *proposes* trades, this base class *settles* them.

A period's trading (docs/model.md section 2, steps 3-4) is split in two so that no mechanism
can break the accounting:

1. :meth:`Mechanism.propose` (the one method a subclass overrides) sees one asset's posted
   prices and returns a :class:`Proposal`: arrays ``(buyer, seller, price)`` meaning
   "``buyer[i]`` buys one lot from ``seller[i]`` at ``price[i]``".
2. :meth:`Mechanism.execute` (final; do not override) validates the posted prices and the
   proposal (each agent at most once per asset, valid indices, finite positive prices),
   checks each side's feasibility and settles the feasible trades:

   * tree seller: holds at least one lot, ``s >= delta_s`` (no short selling);
   * tree buyer: pays out of this period's income, ``p delta_s <= e``;
   * bond seller (borrower): ``b' = -delta_b >= -borrowing_limit``;
   * bond buyer (lender): pays out of the income left after the tree purchase,
     ``q delta_b <= e - p delta_s 1[bought tree]``.

   The tree is settled first, then the bond. Sale proceeds are *not* usable to pay for a
   purchase in the same period (they are paid out as consumption). A trade with an
   infeasible side is not executed; only the infeasible side is flagged.

Every executed trade moves the same lot and the same cash amount between two agents, so
total shares, total bonds (zero) and total consumption (= total dividends) are conserved
whatever the mechanism proposes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

# Relative slack when comparing holdings/cash with a lot, so that a holding of exactly one
# lot built from repeated float additions (e.g. 1.0 - 99 * 0.01) still counts as one lot.
FEASIBILITY_RTOL = 1e-9


class MechanismError(RuntimeError):
    """A mechanism proposed trades that violate the :class:`Proposal` contract (a bug in it)."""


@dataclass(frozen=True)
class Proposal:
    """Proposed trades of one lot each for one asset.

    ``buyer[i]`` buys one lot from ``seller[i]`` at settlement price ``price[i]``. Every
    agent appears at most once in ``buyer`` and ``seller`` together.
    """

    buyer: np.ndarray   # int, [M]
    seller: np.ndarray  # int, [M]
    price: np.ndarray   # float64, [M]

    @classmethod
    def empty(cls) -> "Proposal":
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))

    def __len__(self) -> int:
        return int(self.buyer.shape[0])


@dataclass
class Settlement:
    """Executed trades of one period, per agent.

    ``*_trade`` is signed (+ bought, - sold) in asset units; ``*_cash`` is the cash paid by
    the agent for that asset (negative = received). Consumption is
    ``income - tree_cash - bond_cash``.
    """

    tree_trade: np.ndarray
    bond_trade: np.ndarray
    tree_cash: np.ndarray
    bond_cash: np.ndarray
    tree_volume: int                 # lots traded
    bond_volume: int
    tree_settlement_price: float     # mean settlement price, nan if no trade
    bond_settlement_price: float
    invalid_tree: np.ndarray         # [N] bool: posted tree price non-finite, <= 0 or > cap
    invalid_bond: np.ndarray
    infeasible_tree: np.ndarray      # [N] bool: matched, but own side could not execute
    infeasible_bond: np.ndarray
    # an order mechanism's reported price (may exist without trade); NaN for posted prices
    tree_clearing_price: float = float("nan")
    bond_clearing_price: float = float("nan")


@dataclass(frozen=True)
class TradingRules:
    """The parameters :meth:`Mechanism.execute` needs (taken from ``MarketConfig``)."""

    tree_lot: float
    bond_lot: float
    borrowing_limit: float
    max_price: float
    # heterogeneous agents (None: every agent has the scalars above): agent k's bound
    # b_k >= -borrowing_limits[k], and lot multipliers (a trade moves the lot times the smaller
    # of its two sides' multipliers)
    borrowing_limits: np.ndarray | None = field(default=None, compare=False)
    lot_scale: np.ndarray | None = field(default=None, compare=False)


def valid_prices(posted: np.ndarray, max_price: float) -> np.ndarray:
    """Posted prices that may enter the market: finite, ``0 < price <= max_price``."""
    return (posted > 0.0) & (posted <= max_price)  # NaN compares False; +inf > cap


class Mechanism(ABC):
    """A rule that turns one asset's posted prices into proposed one-lot trades.

    Subclasses override :meth:`propose` only. Call sequence per period (done by the market)::

        settlement = mechanism.execute(tree_price, bond_price, income, shares, rules, rng)
    """

    name: str = "mechanism"

    @abstractmethod
    def propose(self, posted: np.ndarray, active: np.ndarray,
                rng: np.random.Generator) -> Proposal:
        """Propose trades for one asset.

        ``posted`` is the [N] float64 array of posted prices (reservation values);
        ``active[k]`` is False where agent k's posted price is invalid (non-finite, <= 0 or
        above the cap); there ``posted[k]`` is NaN, and such agents must not appear in the
        proposal.
        Use ``rng`` for all randomness so that runs are reproducible.
        """

    def warm_up(self, n_agents: int) -> None:
        """Optional hook, called once by the market when it is built: compile or allocate
        what the mechanism needs for ``n_agents`` agents, so that the first period (and any
        timing around it) does not pay for it. The default does nothing."""

    def begin_period(self, n: int, rng: np.random.Generator) -> None:
        """Optional hook, called once per period before ``propose`` (e.g. to draw one pairing
        that both assets share). The default does nothing."""

    # ------------------------------------------------------------------ settlement
    def execute(self, tree_price: np.ndarray, bond_price: np.ndarray, income: np.ndarray,
                shares: np.ndarray, rules: TradingRules,
                rng: np.random.Generator) -> Settlement:
        """Match, check feasibility and settle both assets (tree first, then bond)."""
        n = income.shape[0]
        tree_price = posted_prices("tree_price", tree_price, n)
        bond_price = posted_prices("bond_price", bond_price, n)
        tree_ok = valid_prices(tree_price, rules.max_price)
        bond_ok = valid_prices(bond_price, rules.max_price)
        if not tree_ok.all():  # invalid posted prices become NaN for the mechanism
            tree_price = np.where(tree_ok, tree_price, np.nan)
        if not bond_ok.all():
            bond_price = np.where(bond_ok, bond_price, np.nan)
        self.begin_period(n, rng)

        # Tree: seller needs one lot of shares, buyer needs the price out of income.
        tree = self._checked(self.propose(tree_price, tree_ok, rng), tree_ok, n)
        lot = rules.tree_lot
        if rules.lot_scale is not None:  # heterogeneous lots: the smaller side's
            lot = lot * np.minimum(rules.lot_scale[tree.buyer], rules.lot_scale[tree.seller])
        cost = tree.price * lot
        buyer_ok = income[tree.buyer] >= cost * (1.0 - FEASIBILITY_RTOL)
        seller_ok = shares[tree.seller] >= lot * (1.0 - FEASIBILITY_RTOL)
        tree_trade, tree_cash, infeasible_tree, tree_volume, tree_mean = _settle(
            tree, cost, lot, buyer_ok, seller_ok, n)

        # Bond: the seller borrows (b' = -delta_b), the buyer lends out of remaining income.
        bond = self._checked(self.propose(bond_price, bond_ok, rng), bond_ok, n)
        lot = rules.bond_lot
        if rules.lot_scale is not None:
            lot = lot * np.minimum(rules.lot_scale[bond.buyer], rules.lot_scale[bond.seller])
        cost = bond.price * lot
        # Income left after tree purchases; tree sale proceeds do not count.
        cash_left = income - np.maximum(tree_cash, 0.0)
        buyer_ok = cash_left[bond.buyer] >= cost * (1.0 - FEASIBILITY_RTOL)
        if rules.borrowing_limits is None:
            seller_ok = np.full(len(bond), lot <= rules.borrowing_limit * (1.0 + FEASIBILITY_RTOL))
        else:  # agent k's own bound b' = -lot >= -borrowing_limits[k]
            seller_ok = lot <= rules.borrowing_limits[bond.seller] * (1.0 + FEASIBILITY_RTOL)
        bond_trade, bond_cash, infeasible_bond, bond_volume, bond_mean = _settle(
            bond, cost, lot, buyer_ok, seller_ok, n)

        return Settlement(tree_trade, bond_trade, tree_cash, bond_cash, tree_volume,
                          bond_volume, tree_mean, bond_mean, ~tree_ok, ~bond_ok,
                          infeasible_tree, infeasible_bond)

    def _checked(self, proposal: Proposal, active: np.ndarray, n: int) -> Proposal:
        """Enforce the Proposal contract; raise MechanismError naming the broken rule.

        Skipped only for the library's own mechanism classes, which set
        ``verified_proposals = True`` in their class body and whose output the tests hold to
        the contract. The flag is read from the class itself, not inherited, so every
        user-written mechanism (including a subclass of a library one) is always checked.
        """
        if type(self).__dict__.get("verified_proposals", False):
            return proposal
        buyer = np.asarray(proposal.buyer)
        seller = np.asarray(proposal.seller)
        price = np.asarray(proposal.price, dtype=np.float64)
        m = buyer.shape[0]
        if buyer.ndim != 1 or seller.shape != (m,) or price.shape != (m,):
            raise MechanismError(f"{self.name}: buyer, seller, price must be 1-D of equal length")
        if m == 0:
            return Proposal.empty()
        if not (np.issubdtype(buyer.dtype, np.integer) and np.issubdtype(seller.dtype, np.integer)):
            raise MechanismError(f"{self.name}: buyer and seller must be integer indices")
        both = np.concatenate((buyer, seller))
        if both.min() < 0 or both.max() >= n:
            raise MechanismError(f"{self.name}: agent index out of range [0, {n})")
        if np.bincount(both, minlength=n).max() > 1:
            raise MechanismError(f"{self.name}: an agent appears in more than one trade")
        if not active[both].all():
            raise MechanismError(f"{self.name}: an agent with an invalid posted price trades")
        if not (np.isfinite(price).all() and (price > 0).all()):
            raise MechanismError(f"{self.name}: settlement prices must be finite and positive")
        return Proposal(buyer, seller, price)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_FLOAT64 = np.dtype(np.float64)


def posted_prices(name: str, prices, n: int, what: str = "posted prices") -> np.ndarray:
    """Posted prices (or another per-agent action, ``what``) as a contiguous float64 [N] array
    (no copy if they already are one); a wrong size is a caller bug (ValueError)."""
    if (type(prices) is np.ndarray and prices.dtype is _FLOAT64 and prices.shape == (n,)
            and prices.strides == (8,)):  # the cheapest test of a contiguous float64 [N]
        return prices
    prices = np.asarray(prices, dtype=np.float64)
    if prices.size != n:
        raise ValueError(f"{name}: expected {n} {what} (one per agent), "
                         f"got shape {prices.shape}")
    return np.ascontiguousarray(prices.reshape(n))


def _settle(proposal: Proposal, cost: np.ndarray, lot: float, buyer_ok: np.ndarray,
            seller_ok: np.ndarray, n: int):
    """Execute the trades whose both sides are feasible; flag the infeasible sides."""
    trade = np.zeros(n)
    cash = np.zeros(n)
    infeasible = np.zeros(n, dtype=bool)
    done = buyer_ok & seller_ok
    if done.all():
        buyer, seller, paid, price = proposal.buyer, proposal.seller, cost, proposal.price
    else:
        infeasible[proposal.buyer[~buyer_ok]] = True
        infeasible[proposal.seller[~seller_ok]] = True
        done = done.nonzero()[0]
        buyer, seller, paid = proposal.buyer[done], proposal.seller[done], cost[done]
        price = proposal.price[done]
        if np.ndim(lot):  # per-trade lots (heterogeneous agents)
            lot = lot[done]
    trade[buyer] = lot
    trade[seller] = -lot
    cash[buyer] = paid
    cash[seller] = -paid
    volume = int(buyer.shape[0])
    mean_price = float(price.sum()) / volume if volume else float("nan")
    return trade, cash, infeasible, volume, mean_price
