"""Compiled (numba) fast path for one period of the pairwise market.

:meth:`lucas_abm.market.LucasMarket.step` with :class:`~lucas_abm.mechanisms.PairwiseMatching`
or :class:`~lucas_abm.mechanisms.BargainingPairwiseMatching` does about a hundred numpy
array operations per period; at N = 1,200 agents each costs about a microsecond of dispatch,
more than the arithmetic. This module computes the same period compiled, in O(N):

1. the random pairing: ``perm = rng.permutation(N)``, agent ``perm[i]`` meets
   ``perm[N//2 + i]``. The Fisher-Yates shuffle is NumPy's own algorithm (``random_interval``
   with masked rejection on 32-bit draws), drawing from the market's own PCG64 bit generator
   through its C interface, so the pairing, and the generator state after it, are
   bit-for-bit those of ``rng.permutation(N)``;
2. one pass over the pairs: an agent trades only with its partner, so a pair's whole
   period is settled at once. Tree first: the higher poster buys one lot at
   ``theta p_hi + (1 - theta) p_lo`` if the buyer's income covers it and the seller holds a
   lot; then the bond, paid out of income left after a tree purchase, the seller borrowing
   at most the limit (as :meth:`lucas_abm.mechanisms.base.Mechanism.execute`);
3. one pass over the agents: consumption ``c = e - tree cash - bond cash``, penalties, new
   shares ``s + dS``; and, after the next dividend is drawn, the observation.

Every float operation is the one the numpy path performs, in the same order, so holdings,
trades, cash flows, consumption and penalties are bitwise equal to the numpy path
(``tests/test_kernels.py``); only the mean settlement price (a sum in a different order) may
differ in the last bit. Utility is evaluated by the caller with the same numpy ufunc as the
numpy path.

numba is optional: :data:`AVAILABLE` is False without it and the market uses numpy.
"""
from __future__ import annotations

import numpy as np

from lucas_abm.mechanisms.base import FEASIBILITY_RTOL

try:  # pragma: no cover - exercised whenever numba is installed (it is in install_requires)
    import numba
except ImportError:  # pragma: no cover
    numba = None

AVAILABLE = numba is not None

# Rows of the float64 block written by ``pairwise_period``; CLIPPED is max(c, floor).
TREE_TRADE, BOND_TRADE, TREE_CASH, BOND_CASH, CONSUMPTION, INCOME, PENALTY, SHARES, CLIPPED = \
    range(9)
FLOAT_ROWS = 9
# Rows of the bool block.
INVALID, INFEASIBLE = range(2)

_kernels = None  # (period, observation), compiled on first use (about a second)


def _compile():
    """Build the kernels. The PCG64 ``next_uint32`` C function is the same for every PCG64
    instance; each call passes the address of the market generator's own state."""
    next_uint32 = np.random.PCG64().ctypes.next_uint32
    lower = 1.0 - FEASIBILITY_RTOL
    upper = 1.0 + FEASIBILITY_RTOL

    @numba.njit(nogil=True)
    def permutation(n, state):
        """``rng.permutation(n)`` bit for bit: NumPy's Fisher-Yates, ``j = random_interval(i)``
        for i = n-1, ..., 1, where ``random_interval`` draws ``next_uint32 & mask`` (mask: the
        smallest 2^k - 1 >= i) until the draw is <= i. Written so that a rejected draw swaps
        ``p[i]`` with itself and does not advance ``i``, and so that the mask is halved when
        ``i`` falls to ``mask >> 1`` instead of being recomputed from ``i`` at every draw
        (that recomputation, ten dependent operations, was the loop's critical path: 5.7 us
        against 3.2 us at N = 1,200). Unsigned indices: no negative-index checks in the
        period's pair loop."""
        perm = np.arange(n, dtype=np.uint64)
        i = n - 1
        mask = i
        mask |= mask >> 1
        mask |= mask >> 2
        mask |= mask >> 4
        mask |= mask >> 8
        mask |= mask >> 16
        while i > 0:
            value = next_uint32(state) & mask
            accept = value <= i
            j = value if accept else i
            tmp = perm[i]
            perm[i] = perm[j]
            perm[j] = tmp
            i -= 1 if accept else 0
            mask = mask >> 1 if i <= mask >> 1 else mask  # i fell to 2^(k-1) - 1
        return perm

    @numba.njit(nogil=True, inline="always")
    def trade_price(p1, p2, theta):
        """theta p_hi + (1 - theta) p_lo (computed as the numpy path does)."""
        if theta == 0.5:
            return 0.5 * (p1 + p2)
        return min(p1, p2) + theta * abs(p1 - p2)

    @numba.njit(nogil=True)
    def period(tree_price, bond_price, shares, bonds, dividend, state, theta, tree_lot,
               bond_lot, borrowing_limit, max_price, invalid_penalty, infeasible_penalty,
               consumption_floor, out, flags):
        n = shares.shape[0]
        tree_trade = out[TREE_TRADE]
        bond_trade = out[BOND_TRADE]
        tree_cash = out[TREE_CASH]
        bond_cash = out[BOND_CASH]
        consumption = out[CONSUMPTION]
        income = out[INCOME]
        penalty = out[PENALTY]
        new_shares = out[SHARES]
        clipped = out[CLIPPED]
        lot_needed = tree_lot * lower
        bond_seller_ok = bond_lot <= borrowing_limit * upper  # the same for every borrower

        # 1. the pairing: agent perm[i] meets perm[m + i]; with N odd, perm[N - 1] sits out
        perm = permutation(n, state)
        m = n // 2
        if n % 2:
            k = perm[n - 1]
            income[k] = shares[k] * dividend + bonds[k]
            tree_trade[k] = 0.0
            bond_trade[k] = 0.0
            tree_cash[k] = 0.0
            bond_cash[k] = 0.0
            penalty[k] = 0.0
            flags[INFEASIBLE, k] = False
        tree_volume = 0
        bond_volume = 0
        tree_sum = 0.0
        bond_sum = 0.0

        # 2. one pass over the pairs: both agents of a pair trade with each other only, so
        # both assets are settled here (tree first, then bond)
        for i in range(m):
            a = perm[i]
            b = perm[m + i]
            income_a = shares[a] * dividend + bonds[a]
            income_b = shares[b] * dividend + bonds[b]
            income[a] = income_a
            income[b] = income_b
            pa = tree_price[a]
            pb = tree_price[b]
            pa = pa if pa > 0.0 and pa <= max_price else np.nan  # NaN: invalid, no trade
            pb = pb if pb > 0.0 and pb <= max_price else np.nan
            qa = bond_price[a]
            qb = bond_price[b]
            qa = qa if qa > 0.0 and qa <= max_price else np.nan
            qb = qb if qb > 0.0 and qb <= max_price else np.nan

            # tree: the seller needs one lot; the buyer pays out of income
            a_buys = pa > pb
            matched = a_buys or pb > pa  # False for equal prices or an invalid (NaN) one
            buyer = a if a_buys else b
            seller = b if a_buys else a
            price = trade_price(pa, pb, theta)
            cost = price * tree_lot
            buyer_ok = (income_a if a_buys else income_b) >= cost * lower
            seller_ok = shares[seller] >= lot_needed
            done = matched and buyer_ok and seller_ok
            tree_trade[buyer] = tree_lot if done else 0.0
            tree_trade[seller] = -tree_lot if done else 0.0
            tree_cash[buyer] = cost if done else 0.0
            tree_cash[seller] = -cost if done else 0.0
            buyer_bad_tree = matched and not buyer_ok
            seller_bad_tree = matched and not seller_ok
            a_bad_tree = buyer_bad_tree if a_buys else seller_bad_tree
            b_bad_tree = seller_bad_tree if a_buys else buyer_bad_tree
            tree_volume += 1 if done else 0
            tree_sum += price if done else 0.0

            # bond: the seller borrows; the buyer lends out of income left after a tree
            # purchase (sale proceeds do not count)
            a_lends = qa > qb
            matched = a_lends or qb > qa
            buyer = a if a_lends else b
            seller = b if a_lends else a
            price = trade_price(qa, qb, theta)
            cost = price * bond_lot
            cash_left = income[buyer] - max(tree_cash[buyer], 0.0)
            buyer_ok = cash_left >= cost * lower
            done = matched and buyer_ok and bond_seller_ok
            bond_trade[buyer] = bond_lot if done else 0.0
            bond_trade[seller] = -bond_lot if done else 0.0
            bond_cash[buyer] = cost if done else 0.0
            bond_cash[seller] = -cost if done else 0.0
            buyer_bad_bond = matched and not buyer_ok
            seller_bad_bond = matched and not bond_seller_ok
            a_bad_bond = buyer_bad_bond if a_lends else seller_bad_bond
            b_bad_bond = seller_bad_bond if a_lends else buyer_bad_bond
            bond_volume += 1 if done else 0
            bond_sum += price if done else 0.0

            flags[INFEASIBLE, a] = a_bad_tree or a_bad_bond
            flags[INFEASIBLE, b] = b_bad_tree or b_bad_bond
            penalty[a] = infeasible_penalty * (1.0 * a_bad_tree + 1.0 * a_bad_bond)
            penalty[b] = infeasible_penalty * (1.0 * b_bad_tree + 1.0 * b_bad_bond)

        # 3. every agent: consumption (and its floored value for utility), penalties per
        # asset (invalid prices, infeasible sides), holdings
        for k in range(n):
            c = income[k] - tree_cash[k] - bond_cash[k]
            consumption[k] = c
            clipped[k] = max(c, consumption_floor)
            p = tree_price[k]
            q = bond_price[k]
            invalid_tree = not (p > 0.0 and p <= max_price)
            invalid_bond = not (q > 0.0 and q <= max_price)
            penalty[k] = (invalid_penalty * (1.0 * invalid_tree + 1.0 * invalid_bond)
                          + penalty[k])
            new_shares[k] = shares[k] + tree_trade[k]
            flags[INVALID, k] = invalid_tree or invalid_bond
        return tree_volume, bond_volume, tree_sum, bond_sum

    @numba.njit(nogil=True)
    def observation(shares, bonds, dividend, public, obs):
        """Columns shares, bonds, dividend, income (s y + b), then the public columns."""
        for k in range(shares.shape[0]):
            obs[k, 0] = shares[k]
            obs[k, 1] = bonds[k]
            obs[k, 2] = dividend
            obs[k, 3] = shares[k] * dividend + bonds[k]
            for j in range(public.shape[0]):
                obs[k, 4 + j] = public[j]

    return period, observation


def _compiled():
    global _kernels
    if _kernels is None:
        _kernels = _compile()
    return _kernels


def warm_up() -> None:
    """Compile the kernels now (about a second, once per process) by running them on two
    agents, so that the first market step, and any timing around it, does not pay for it.
    (numba cannot cache them on disk: they call the generator through a ctypes pointer.)"""
    if _kernels is not None:
        return
    two = np.ones(2)
    pairwise_period(two, two, two, np.zeros(2), 1.0, np.random.default_rng(0), 0.5, 0.1, 0.1,
                    0.1, 10.0, 1.0, 0.1, 1e-6)
    observation(two, two, 1.0, np.zeros(0))


def pairwise_period(tree_price: np.ndarray, bond_price: np.ndarray, shares: np.ndarray,
                    bonds: np.ndarray, dividend: float, rng: np.random.Generator,
                    theta: float, tree_lot: float, bond_lot: float, borrowing_limit: float,
                    max_price: float, invalid_penalty: float, infeasible_penalty: float,
                    consumption_floor: float):
    """One pairwise period. Prices, shares and bonds: contiguous float64 [N].

    Returns ``(out, flags, tree_volume, bond_volume, tree_mean, bond_mean)``: ``out`` is
    [FLOAT_ROWS, N] float64 with rows :data:`TREE_TRADE` ... :data:`CLIPPED` filled (SHARES:
    the holdings after trading; CLIPPED: ``max(c, consumption_floor)``), ``flags`` [2, N] bool
    (:data:`INVALID`, :data:`INFEASIBLE`); mean settlement prices are NaN without trades.
    Advances ``rng`` exactly as ``rng.permutation(N)`` does.
    """
    if type(rng.bit_generator) is not np.random.PCG64:  # the kernel reads PCG64's C state
        raise TypeError("pairwise_period draws from a PCG64 generator "
                        "(numpy.random.default_rng), got " + type(rng.bit_generator).__name__)
    period, _ = _compiled()
    n = shares.shape[0]
    out = np.empty((FLOAT_ROWS, n))
    flags = np.empty((2, n), np.bool_)
    tree_volume, bond_volume, tree_sum, bond_sum = period(
        tree_price, bond_price, shares, bonds, dividend, rng.bit_generator.ctypes.state_address,
        theta, tree_lot, bond_lot, borrowing_limit, max_price, invalid_penalty,
        infeasible_penalty, consumption_floor, out, flags)
    tree_mean = tree_sum / tree_volume if tree_volume else float("nan")
    bond_mean = bond_sum / bond_volume if bond_volume else float("nan")
    return out, flags, tree_volume, bond_volume, tree_mean, bond_mean


def observation(shares: np.ndarray, bonds: np.ndarray, dividend: float,
                public: np.ndarray) -> np.ndarray:
    """[N, 4 + len(public)] float32: shares, bonds, dividend, income ``s y + b``, public."""
    _, fill = _compiled()
    obs = np.empty((shares.shape[0], 4 + public.shape[0]), np.float32)
    fill(shares, bonds, dividend, public, obs)
    return obs
