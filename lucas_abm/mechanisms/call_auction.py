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

**Limit orders** (:meth:`CallAuction.match`, orders with quantities,
:mod:`lucas_abm.mechanisms.orders`). Demand and supply at a price P are

    D(P) = sum of x_k over buy orders with L_k >= P,   S(P) = sum of |x_k| over sell orders with L_k <= P,

and the executed volume V(P) = min(D(P), S(P)) is quasi-concave in P (D falls, S rises),
maximal at limit prices. The clearing price is the **midpoint of the interval of prices that
maximise V** (one price when unique). **Rationing: pro rata on the long side** - every buy
order with L_k >= P fills ``x_k min(1, S/D)`` and every sell order with L_k <= P fills
``x_k min(1, D/S)`` (no price priority, no randomness). If no price executes anything,
nothing trades and the reported clearing price is the midpoint of the range of valid limit
prices, quotes (x = 0) included, so traders quoting one common reservation value p report p.

The interval is found in O(N) with a **histogram over a price grid**: orders are binned into
:data:`GRID_BINS` equal bins between the lowest and highest limit; cumulative sums give D at
each bin's lower edge and S at its upper edge, hence bounds on V in every bin; only the
orders in the bins whose upper bound reaches the best lower bound (the bins around the
crossing, an interval) are sorted, O(k log k) with k ~ N / bins. The result is exactly that
of a full sort (the bins only prune prices that cannot maximise V).

**Demand schedules** (:meth:`CallAuction.execute_schedules`): price-taking traders' linear
schedules, cleared where they sum to zero (:mod:`lucas_abm.mechanisms.schedules`). The
constructor's ``tree_settlement`` says how schedule traders pay for trees: ``"cash"`` (out
of this period's income, the default) or ``"bonds"`` (on margin, at the bond's clearing
price; config ``economy.mechanism_params: {tree_settlement: bonds}``), and with ``"bonds"``
``financed_fraction`` (in (0, 1], default 1) is the part of each purchase paid in bonds, the
rest in cash. Posted prices and limit orders always settle in cash, and ``"bonds"`` refuses
them.
"""
from __future__ import annotations

import numpy as np

from lucas_abm.errors import ConfigError
from lucas_abm.mechanisms import call_auction_kernel
from lucas_abm.mechanisms.base import Proposal, Settlement, TradingRules
from lucas_abm.mechanisms.orders import Fills, OrderMechanism
from lucas_abm.mechanisms.schedules import TREE_SETTLEMENTS, Schedules, execute_schedules

GRID_BINS = 4096


class CallAuction(OrderMechanism):
    """Uniform-price, volume-maximising call auction: posted prices (one lot each, random
    rationing of the long side) or limit orders with quantities (pro-rata rationing)."""

    name = "call-auction"
    verified_proposals = True  # library class: the tests hold it to the Proposal contract
    verified_fills = True      # and to the Fills contract
    # Limit orders: run the passes over all orders compiled (True), in numpy (False), or
    # compiled from COMPILED_MIN_ORDERS orders when numba is installed (None). Bitwise the
    # same fills either way (lucas_abm/mechanisms/call_auction_kernel.py).
    compiled_passes: bool | None = None

    def __init__(self, tree_settlement: str = "cash", financed_fraction: float = 1.0):
        if tree_settlement not in TREE_SETTLEMENTS:
            raise ConfigError("tree_settlement", "'cash' (trees paid out of income) or 'bonds' "
                              "(paid with bonds; demand schedules only)", tree_settlement)
        if isinstance(financed_fraction, bool) or not isinstance(financed_fraction, (int, float)) \
                or not 0.0 < financed_fraction <= 1.0:
            raise ConfigError("financed_fraction", "a number in (0, 1]: the part of a tree purchase "
                              "paid in bonds", financed_fraction)
        if tree_settlement == "cash" and financed_fraction != 1.0:
            raise ConfigError("financed_fraction", "1 (the default) unless tree_settlement is 'bonds'",
                              financed_fraction)
        self.tree_settlement = tree_settlement
        self.financed_fraction = float(financed_fraction)

    def __repr__(self) -> str:
        extra = f", financed_fraction={self.financed_fraction!r}" if self.financed_fraction != 1.0 else ""
        return f"{type(self).__name__}(tree_settlement={self.tree_settlement!r}{extra})"

    def _cash_only(self) -> None:
        if self.tree_settlement != "cash":
            raise ConfigError("mechanism_params.tree_settlement", "'cash' for posted prices and limit "
                              "orders ('bonds' settles demand schedules only)", self.tree_settlement)

    def warm_up(self, n_agents: int) -> None:
        """Compile the passes over the orders now if the market's limit orders will use them."""
        if call_auction_kernel.use_compiled(n_agents, self.compiled_passes):
            call_auction_kernel.warm_up()

    def execute(self, tree_price, bond_price, income, shares, rules, rng) -> Settlement:
        self._cash_only()
        return super().execute(tree_price, bond_price, income, shares, rules, rng)

    def execute_orders(self, orders, income, shares, rules, rng) -> Settlement:
        self._cash_only()
        return super().execute_orders(orders, income, shares, rules, rng)

    def match(self, limit: np.ndarray, quantity: np.ndarray,
              rng: np.random.Generator) -> Fills:
        price, buy_fill, sell_fill = clear_orders(limit, quantity,
                                                  compiled_passes=self.compiled_passes)
        if buy_fill == 0.0:
            return Fills(np.zeros_like(quantity), price, price)
        if call_auction_kernel.use_compiled(quantity.shape[0], self.compiled_passes):
            fill = call_auction_kernel.compiled()[2](limit, quantity, price, buy_fill, sell_fill)
            return Fills(fill, price, price)
        # an order executes iff (L - P) x >= 0 (buyers L >= P, sellers L <= P; refused: NaN)
        with np.errstate(invalid="ignore"):
            executes = (limit - price) * quantity >= 0.0
        fraction = np.where(quantity > 0, buy_fill, sell_fill)
        fraction *= executes
        return Fills(quantity * fraction, price, price)

    def execute_schedules(self, schedules: Schedules, income: np.ndarray, shares: np.ndarray,
                          bonds: np.ndarray, rules: TradingRules) -> Settlement:
        """Clear linear demand schedules at the uniform price where they sum to zero; trees
        settle as ``self.tree_settlement`` and ``self.financed_fraction`` say."""
        return execute_schedules(schedules, income, shares, bonds, rules, self.tree_settlement,
                                 self.financed_fraction)

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


def clear_orders(limit: np.ndarray, quantity: np.ndarray, bins: int = GRID_BINS,
                 compiled_passes: bool | None = None) -> tuple[float, float, float]:
    """The uniform clearing price of limit orders and the fill fractions of buyers and sellers.

    ``limit`` is NaN for refused orders (their ``quantity`` is 0). Returns ``(P, phi_b, phi_s)``:
    buy orders with ``L >= P`` fill ``phi_b x``, sell orders with ``L <= P`` fill ``phi_s x``;
    ``(P, 0, 0)`` when nothing executes (P the midpoint of the valid limits; NaN if none).
    ``compiled_passes``: run the passes over all orders compiled
    (:mod:`~lucas_abm.mechanisms.call_auction_kernel`; bitwise the same result); None: when
    numba is installed and there are at least ``COMPILED_MIN_ORDERS`` orders.
    """
    if limit.size == 0:
        return float("nan"), 0.0, 0.0
    lo, hi = float(np.fmin.reduce(limit)), float(np.fmax.reduce(limit))  # NaN only if all NaN
    if not np.isfinite(lo):
        return float("nan"), 0.0, 0.0
    quote = 0.5 * (lo + hi)
    compiled = call_auction_kernel.use_compiled(limit.shape[0], compiled_passes)
    if hi == lo:  # one common limit price: it is the only candidate
        return _fractions(quote, float(np.maximum(quantity, 0.0).sum()),
                          float(np.maximum(-quantity, 0.0).sum()))
    scale = bins / (hi - lo)
    if compiled:
        histograms, orders_in_bins, _ = call_auction_kernel.compiled()
        idx, buy_h, sell_h = histograms(limit, quantity, lo, scale, bins)
    else:
        buy_q, sell_q = np.maximum(quantity, 0.0), np.maximum(-quantity, 0.0)
        with np.errstate(invalid="ignore"):
            idx = ((limit - lo) * scale).astype(np.int32)   # NaN -> garbage, weight 0 below
        np.clip(idx, 0, bins - 1, out=idx)
        buy_h = np.bincount(idx, weights=buy_q, minlength=bins)
        sell_h = np.bincount(idx, weights=sell_q, minlength=bins)
    d_edge = np.cumsum(buy_h[::-1])[::-1]            # D at each bin's lower edge
    s_edge = np.cumsum(sell_h)                       # S at each bin's upper edge
    upper = np.minimum(d_edge, s_edge)               # V <= upper anywhere in the bin
    lower = np.minimum(np.append(d_edge[1:], 0.0), np.insert(s_edge[:-1], 0, 0.0))
    best = lower.max()                               # V_max >= best
    cand = np.flatnonzero((upper >= best) & (upper > 0))
    if cand.size == 0:
        return quote, 0.0, 0.0
    g1, g2 = int(cand[0]), int(cand[-1])
    d_above = float(d_edge[g2 + 1]) if g2 + 1 < bins else 0.0
    s_below = float(s_edge[g1 - 1]) if g1 > 0 else 0.0
    if compiled:
        inside = orders_in_bins(idx, quantity, g1, g2)
    else:
        inside = np.flatnonzero(np.subtract(idx, np.int32(g1)).view(np.uint32) <= g2 - g1)
        inside = inside[quantity[inside] != 0]                  # orders in bins g1..g2
    levels, inverse = np.unique(limit[inside], return_inverse=True)
    b = np.bincount(inverse, weights=np.maximum(quantity[inside], 0.0), minlength=levels.size)
    s = np.bincount(inverse, weights=np.maximum(-quantity[inside], 0.0), minlength=levels.size)
    demand = d_above + np.cumsum(b[::-1])[::-1]     # D at each candidate level
    supply = s_below + np.cumsum(s)                 # S at each candidate level
    volume = np.minimum(demand, supply)
    v_max = volume.max() if volume.size else 0.0
    if v_max <= 0:
        return quote, 0.0, 0.0
    top = np.flatnonzero(volume == v_max)
    j, k = int(top[0]), int(top[-1])
    price = 0.5 * (float(levels[j]) + float(levels[k]))
    # D(P), S(P) at the midpoint: no level lies strictly between levels[j] and levels[k] that
    # changes V; buyers at levels >= P and sellers at levels <= P
    above = int(np.searchsorted(levels, price, side="left"))
    below = int(np.searchsorted(levels, price, side="right")) - 1
    return _fractions(price, float(demand[above]), float(supply[below]))


def _fractions(price: float, demand: float, supply: float) -> tuple[float, float, float]:
    """Pro rata on the long side: buyers fill min(1, S/D), sellers min(1, D/S)."""
    if demand <= 0 or supply <= 0:
        return price, 0.0, 0.0
    return price, min(1.0, supply / demand), min(1.0, demand / supply)
