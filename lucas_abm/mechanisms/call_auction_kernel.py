"""Compiled (numba) passes over the orders of the call auction (docs/market.md, "The
limit-order call auction").

:func:`lucas_abm.mechanisms.call_auction.clear_orders` and :meth:`CallAuction.match
<lucas_abm.mechanisms.call_auction.CallAuction.match>` spend their time in passes over all N
orders; numpy makes about twelve of them per asset (buy and sell quantities, each order's
bin, two weighted histograms, the orders in the bins around the crossing, the fills). Here
they are three loops:

* :func:`histograms`: for each order its bin ``k = min(int((L - lo) bins / (hi - lo)),
  bins - 1)`` (0 for a refused order, whose limit is NaN) and the demand and supply
  histograms ``D_k += max(x, 0)``, ``S_k += max(-x, 0)``;
* :func:`orders_in_bins`: the orders with ``g1 <= k <= g2`` and ``x != 0``, in index order;
* :func:`fills`: ``x phi`` for every order that executes at the clearing price P
  (``(L - P) x >= 0``), with ``phi`` the buyers' or the sellers' pro-rata fraction.

**Bitwise equal to numpy.** Each histogram adds the same weights in the same (index) order
as ``np.bincount``; a weight's sign of zero cannot change a sum that starts at +0.0; the
fills are the numpy path's three products in the same order. ``tests/test_hetero_market.py``
compares both paths on random books (refused orders, zero quantities, ties, 1 to 4,096
bins). numba is optional: without it, or below :data:`COMPILED_MIN_ORDERS` orders (where
numpy's passes cost microseconds), the numpy path runs.
"""
from __future__ import annotations

import numpy as np

from lucas_abm import kernels

# Below this many orders the numpy passes are cheap and the first call's compilation
# (about half a second, once per process) would dominate.
COMPILED_MIN_ORDERS = 20_000

_kernels = None
_warm = False


def available() -> bool:
    """numba is installed (the compiled passes can run)."""
    return kernels.AVAILABLE


def _compile():
    numba = kernels.numba

    @numba.njit(nogil=True)
    def histograms(limit, quantity, lo, scale, bins):
        """Bins and weighted histograms of the orders (see the module docstring)."""
        n = limit.shape[0]
        idx = np.empty(n, np.int32)
        buy = np.zeros(bins)
        sell = np.zeros(bins)
        top = bins - 1
        for i in range(n):
            v = (limit[i] - lo) * scale
            k = 0
            if v >= 0.0:                     # False for NaN: a refused order, bin 0
                k = min(int(v), top)
            idx[i] = k
            x = quantity[i]
            # np.maximum(x, 0.0) and np.maximum(-x, 0.0), NaN propagating
            buy[k] += x if (x >= 0.0 or x != x) else 0.0
            sell[k] += -x if (-x >= 0.0 or x != x) else 0.0
        return idx, buy, sell

    @numba.njit(nogil=True)
    def orders_in_bins(idx, quantity, g1, g2):
        """Indices (ascending) of the orders in bins g1..g2 with a nonzero quantity."""
        n = idx.shape[0]
        out = np.empty(n, np.int64)
        count = 0
        for i in range(n):      # branch-free: the bins are in random order
            out[count] = i
            count += (g1 <= idx[i]) & (idx[i] <= g2) & (quantity[i] != 0.0)
        return out[:count].copy()

    @numba.njit(nogil=True)
    def fills(limit, quantity, price, buy_fill, sell_fill):
        """x (phi 1[executes]) per order, the products of the numpy path in its order."""
        n = limit.shape[0]
        out = np.empty(n)
        for i in range(n):
            x = quantity[i]
            phi = buy_fill if x > 0.0 else sell_fill
            executes = (limit[i] - price) * x >= 0.0    # False for NaN
            out[i] = x * (phi * (1.0 if executes else 0.0))
        return out

    return histograms, orders_in_bins, fills


def compiled():
    """The three kernels, compiled on first use."""
    global _kernels
    if _kernels is None:
        _kernels = _compile()
    return _kernels


def warm_up() -> None:
    """Compile the three kernels (about half a second, once per process) by running them on
    two orders."""
    global _warm
    if _warm:
        return
    histograms, orders_in_bins, fills_ = compiled()
    limit, quantity = np.array([1.0, 2.0]), np.array([1.0, -1.0])
    idx, _, _ = histograms(limit, quantity, 1.0, 1.0, 2)
    orders_in_bins(idx, quantity, 0, 1)
    fills_(limit, quantity, 1.5, 1.0, 1.0)
    _warm = True


def use_compiled(n: int, compiled_passes: bool | None) -> bool:
    """Whether to run the compiled passes: ``compiled_passes`` if given (True needs numba),
    else when numba is installed and there are at least :data:`COMPILED_MIN_ORDERS` orders."""
    if compiled_passes is None:
        return available() and n >= COMPILED_MIN_ORDERS
    if compiled_passes and not available():
        raise RuntimeError("the call auction's compiled passes need numba installed")
    return bool(compiled_passes)
