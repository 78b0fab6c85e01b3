"""Compiled (numba) fast path for one period of the pairwise market.

:meth:`lucas_abm.market.LucasMarket.step` with :class:`~lucas_abm.mechanisms.PairwiseMatching`
or :class:`~lucas_abm.mechanisms.BargainingPairwiseMatching` does about a hundred numpy
array operations per period; at N = 1,200 agents each costs about a microsecond of dispatch,
more than the arithmetic. This module computes the same period compiled, in O(N):

1. the random pairing: ``perm = rng.permutation(N)``, agent ``perm[i]`` meets
   ``perm[N//2 + i]``, drawn by the compiled shuffle of :mod:`lucas_abm.pcg64_shuffle`
   (NumPy's own Fisher-Yates on the market's PCG64 state), so the pairing, and the
   generator state after it, are bit-for-bit those of ``rng.permutation(N)``;
2. gather: each pair's posted prices and holdings are copied into *pair order* (row ``i``
   of the "a" arrays is agent ``perm[i]``, of the "b" arrays its partner ``perm[N//2 + i]``);
3. settle (:func:`settle_pairs`): one pass over the pairs in pair order. An agent trades
   only with its partner, so a pair's whole period is settled at once. Tree first: the
   higher poster buys one lot at ``theta p_hi + (1 - theta) p_lo`` if the buyer's income
   covers it and the seller holds a lot; then the bond, paid out of income left after a
   tree purchase, the seller borrowing at most the limit (as
   :meth:`lucas_abm.mechanisms.base.Mechanism.execute`). Every outcome is a select, not a
   branch, and the arrays are contiguous, so LLVM vectorises the loop (8 pairs per
   instruction with AVX-512);
4. scatter: trades, consumption and the count of infeasible sides go back to agent order;
5. one pass over the agents (vectorised): income, floored consumption, penalties, flags,
   the new holdings and the next observation's private columns (the caller draws next
   period's dividend before the period, so the observation is written in the same pass).

Why this shape: a loop that settles each pair in place, reading and writing agent arrays at
``perm[i]``, cannot be vectorised, and its feasibility branches are mispredicted once many
agents hold no shares (as in the benchmark's steady state: 14.5 us per period at N = 1,200
against 9.9 us for the passes above; docs/market.md).

Every float operation is the one the numpy path performs, in the same order, so holdings,
trades, consumption and penalties are bitwise equal to the numpy path
(``tests/test_kernels.py``); only the mean settlement price (a sum in a different order) may
differ in the last bit. Utility is evaluated by the caller with the same numpy ufunc as the
numpy path.

numba is optional: :data:`AVAILABLE` is False without it and the market uses numpy.
:class:`~lucas_abm.pcg64_shuffle.PCG64State` is re-exported here.
"""
from __future__ import annotations

import math

import numpy as np

from lucas_abm.mechanisms.base import FEASIBILITY_RTOL
from lucas_abm.pcg64_shuffle import PCG64State, check_shuffle, compile_shuffle

try:  # pragma: no cover - exercised whenever numba is installed (it is in install_requires)
    import numba
except ImportError:  # pragma: no cover
    numba = None

AVAILABLE = numba is not None

# Rows of the float64 block written by ``pairwise_period``; CLIPPED is max(c, floor).
TREE_TRADE, BOND_TRADE, CONSUMPTION, INCOME, PENALTY, SHARES, CLIPPED = range(7)
FLOAT_ROWS = 7
# The settle pass reads 8 arrays and writes 10. LLVM vectorises a loop over distinct arrays
# only after checking at run time that they do not overlap, and by default it gives up when
# that takes more than 8 comparisons; this loop needs about 130 (10 written x 8 read plus
# the written pairs). Without the higher limit the period takes 18 us instead of 9.9 us at
# N = 1,200. The limit is a process-wide LLVM setting and only enables more of these
# checks; it changes no result.
LLVM_RUNTIME_CHECK_LIMIT = 256
# Rows of the bool block.
INVALID, INFEASIBLE = range(2)

# (period, observation, permutation, shuffle, (trade_price, is_valid, one_if)), compiled on
# first use (about a second); lucas_abm.heterogeneous_kernel reuses the last two
_kernels = None


def _raise_vectoriser_check_limit() -> None:
    """Let LLVM vectorise loops over many distinct arrays (see LLVM_RUNTIME_CHECK_LIMIT).
    LLVM accepts a command-line option once per process; the kernels compile once."""
    import llvmlite.binding as llvm

    llvm.set_option("lucas_abm", f"-runtime-memory-check-threshold={LLVM_RUNTIME_CHECK_LIMIT}")


def _compile():
    """Build the kernels: the tuple kept in ``_kernels`` (numba compiles each at first call)."""
    _raise_vectoriser_check_limit()
    permutation, shuffle = compile_shuffle()  # the pairing (lucas_abm.pcg64_shuffle)
    lower = 1.0 - FEASIBILITY_RTOL
    upper = 1.0 + FEASIBILITY_RTOL

    @numba.njit(nogil=True, inline="always")
    def trade_price(p1, p2, theta):
        """theta p_hi + (1 - theta) p_lo (computed as the numpy path does); a select, not a
        branch, so that the settle loop stays vectorisable."""
        midpoint = 0.5 * (p1 + p2)
        general = min(p1, p2) + theta * abs(p1 - p2)
        return midpoint if theta == 0.5 else general

    @numba.njit(nogil=True, inline="always")
    def is_valid(price, max_price):
        """A posted price is valid in (0, max_price] (False for NaN)."""
        return (price > 0.0) & (price <= max_price)

    @numba.njit(nogil=True, inline="always")
    def valid_or_nan(price, max_price):
        """A valid posted price, else NaN (it compares False: no trade)."""
        return price if is_valid(price, max_price) else np.nan

    @numba.njit(nogil=True, inline="always")
    def one_if(flag):
        return 1.0 if flag else 0.0

    @numba.njit(nogil=True, inline="always")
    def signs(done, a_buys, b_buys):
        """+1 bought, -1 sold, 0 for the two sides of a pair; b's sign is computed, not
        negated, so that 0 stays +0.0."""
        return (one_if(done & a_buys) - one_if(done & b_buys),
                one_if(done & b_buys) - one_if(done & a_buys))

    @numba.njit(nogil=True, inline="always")
    def infeasible_sides(a_buys, b_buys, buyer_ok, seller_ok):
        """1.0 for a side of a matched pair that could not execute, else 0.0 (a, b)."""
        return (one_if((a_buys & (not buyer_ok)) | (b_buys & (not seller_ok))),
                one_if((b_buys & (not buyer_ok)) | (a_buys & (not seller_ok))))

    @numba.njit(nogil=True)
    def settle_pairs(tree_a, tree_b, bond_a, bond_b, shares_a, shares_b, bonds_a, bonds_b,
                     dividend, theta, tree_lot, bond_lot, max_price, lot_needed,
                     bond_seller_ok, tree_trade_a, tree_trade_b, bond_trade_a, bond_trade_b,
                     consumption_a, consumption_b, bad_a, bad_b, tree_paid, bond_paid):
        """Settle pair i of every pair, given in pair order: posted prices, holdings (inputs);
        signed trades, consumption ``c = e - tree cash - bond cash`` and the number of
        infeasible sides (0, 1 or 2) of each agent, and the settlement prices (0 for no
        trade) of each pair (outputs)."""
        for i in range(tree_a.shape[0]):
            s_a = shares_a[i]
            s_b = shares_b[i]
            income_a = s_a * dividend + bonds_a[i]
            income_b = s_b * dividend + bonds_b[i]
            pa = valid_or_nan(tree_a[i], max_price)
            pb = valid_or_nan(tree_b[i], max_price)
            qa = valid_or_nan(bond_a[i], max_price)
            qb = valid_or_nan(bond_b[i], max_price)

            # tree: the seller needs one lot; the buyer pays out of income
            a_buys = pa > pb
            b_buys = pb > pa  # neither for equal prices or an invalid (NaN) one
            price = trade_price(pa, pb, theta)
            buyer_ok = (income_a if a_buys else income_b) >= price * tree_lot * lower
            seller_ok = (s_b if a_buys else s_a) >= lot_needed
            done = (a_buys | b_buys) & buyer_ok & seller_ok
            price = price if done else 0.0
            tree_paid[i] = price
            cost = price * tree_lot
            sign_a, sign_b = signs(done, a_buys, b_buys)
            tree_cash_a = cost * sign_a
            tree_cash_b = cost * sign_b
            tree_trade_a[i] = tree_lot * sign_a
            tree_trade_b[i] = tree_lot * sign_b
            a_bad, b_bad = infeasible_sides(a_buys, b_buys, buyer_ok, seller_ok)

            # bond: the seller borrows; the buyer lends out of income left after a tree
            # purchase (sale proceeds do not count)
            a_lends = qa > qb
            b_lends = qb > qa
            price = trade_price(qa, qb, theta)
            cash_left = ((income_a - max(tree_cash_a, 0.0)) if a_lends
                         else (income_b - max(tree_cash_b, 0.0)))
            buyer_ok = cash_left >= price * bond_lot * lower
            done = (a_lends | b_lends) & buyer_ok & bond_seller_ok
            price = price if done else 0.0
            bond_paid[i] = price
            cost = price * bond_lot
            sign_a, sign_b = signs(done, a_lends, b_lends)
            bond_trade_a[i] = bond_lot * sign_a
            bond_trade_b[i] = bond_lot * sign_b
            consumption_a[i] = income_a - tree_cash_a - cost * sign_a
            consumption_b[i] = income_b - tree_cash_b - cost * sign_b
            a_bond_bad, b_bond_bad = infeasible_sides(a_lends, b_lends, buyer_ok,
                                                      bond_seller_ok)
            bad_a[i] = a_bad + a_bond_bad
            bad_b[i] = b_bad + b_bond_bad

    @numba.njit(nogil=True)
    def agent_pass(tree_price, bond_price, shares, bonds, dividend, max_price,
                   invalid_penalty, infeasible_penalty, consumption_floor, tree_trade,
                   consumption, bad, income, penalty, new_shares, clipped, invalid,
                   infeasible):
        """Every agent, in order: income ``s y + b``, ``max(c, floor)``, penalties per asset
        (invalid prices, infeasible sides), flags and holdings ``s + dS``."""
        for k in range(shares.shape[0]):
            bad_sides = bad[k]
            income[k] = shares[k] * dividend + bonds[k]
            clipped[k] = max(consumption[k], consumption_floor)
            invalid_tree = not is_valid(tree_price[k], max_price)
            invalid_bond = not is_valid(bond_price[k], max_price)
            penalty[k] = (invalid_penalty * (one_if(invalid_tree) + one_if(invalid_bond))
                          + infeasible_penalty * bad_sides)
            new_shares[k] = shares[k] + tree_trade[k]
            invalid[k] = invalid_tree | invalid_bond
            infeasible[k] = bad_sides > 0.0

    @numba.njit(nogil=True)
    def period(tree_price, bond_price, shares, bonds, dividend, next_dividend, lcg, buffered,
               theta, tree_lot, bond_lot, borrowing_limit, max_price, invalid_penalty,
               infeasible_penalty, consumption_floor, out, flags, obs):
        n = shares.shape[0]
        m = n // 2
        tree_trade = out[TREE_TRADE]
        bond_trade = out[BOND_TRADE]
        consumption = out[CONSUMPTION]
        bad = np.empty(n)  # the number of infeasible sides of each agent: 0, 1 or 2

        # 1. the pairing: agent perm[i] meets perm[m + i]; with N odd, perm[N - 1] sits out
        perm = permutation(n, lcg, buffered)

        # 2. gather into pair order: rows 0-7 inputs, 8-15 outputs of settle_pairs
        pairs = np.empty((16, m))
        for i in range(m):
            a = perm[i]
            b = perm[m + i]
            pairs[0, i] = tree_price[a]
            pairs[1, i] = tree_price[b]
            pairs[2, i] = bond_price[a]
            pairs[3, i] = bond_price[b]
            pairs[4, i] = shares[a]
            pairs[5, i] = shares[b]
            pairs[6, i] = bonds[a]
            pairs[7, i] = bonds[b]

        # 3. settle every pair
        settle_pairs(pairs[0], pairs[1], pairs[2], pairs[3], pairs[4], pairs[5], pairs[6],
                     pairs[7], dividend, theta, tree_lot, bond_lot, max_price,
                     tree_lot * lower, bond_lot <= borrowing_limit * upper,
                     pairs[8], pairs[9], pairs[10], pairs[11], pairs[12], pairs[13],
                     pairs[14], pairs[15], out[INCOME, :m], out[SHARES, :m])
        tree_paid = out[INCOME, :m]  # settlement prices; INCOME and SHARES are written
        bond_paid = out[SHARES, :m]  # by agent_pass, after these are summed below

        # 4. back to agent order; count the trades and sum their prices on the way (the
        # scatter's stores, not these adds, set the loop's pace)
        tree_volume = 0
        bond_volume = 0
        tree_sum = 0.0
        bond_sum = 0.0
        for i in range(m):
            a = perm[i]
            b = perm[m + i]
            tree_trade[a] = pairs[8, i]
            tree_trade[b] = pairs[9, i]
            bond_trade[a] = pairs[10, i]
            bond_trade[b] = pairs[11, i]
            consumption[a] = pairs[12, i]
            consumption[b] = pairs[13, i]
            bad[a] = pairs[14, i]
            bad[b] = pairs[15, i]
            tree_volume += tree_paid[i] > 0.0  # a settled price is > 0
            bond_volume += bond_paid[i] > 0.0
            tree_sum += tree_paid[i]
            bond_sum += bond_paid[i]
        if n % 2:
            k = perm[n - 1]
            tree_trade[k] = 0.0
            bond_trade[k] = 0.0
            consumption[k] = shares[k] * dividend + bonds[k] - 0.0 - 0.0
            bad[k] = 0.0

        # 5. every agent, then the private columns of the next observation (the public ones,
        # if any, are the caller's)
        agent_pass(tree_price, bond_price, shares, bonds, dividend, max_price,
                   invalid_penalty, infeasible_penalty, consumption_floor, tree_trade,
                   consumption, bad, out[INCOME], out[PENALTY], out[SHARES], out[CLIPPED],
                   flags[INVALID], flags[INFEASIBLE])
        observation(out[SHARES], bond_trade, next_dividend, obs[0, :0], obs)
        return tree_volume, bond_volume, tree_sum, bond_sum

    @numba.njit(nogil=True)
    def observation(shares, bonds, dividend, public, obs):
        """Columns shares, bonds, dividend, income (s y + b), then the public columns (obs
        columns beyond 4 + len(public) are left as they are)."""
        n = shares.shape[0]
        if obs.shape[1] == 4:  # through a flat view with a constant stride of 4, so that
            flat = obs.reshape(4 * n)  # LLVM vectorises the interleaved stores
            for k in range(n):
                flat[4 * k] = shares[k]
                flat[4 * k + 1] = bonds[k]
                flat[4 * k + 2] = dividend
                flat[4 * k + 3] = shares[k] * dividend + bonds[k]
            return
        for k in range(n):
            obs[k, 0] = shares[k]
            obs[k, 1] = bonds[k]
            obs[k, 2] = dividend
            obs[k, 3] = shares[k] * dividend + bonds[k]
            for j in range(public.shape[0]):
                obs[k, 4 + j] = public[j]

    return period, observation, permutation, shuffle, (trade_price, is_valid, one_if)


def _compiled():
    global _kernels
    if _kernels is None:
        _kernels = _compile()
    return _kernels


def warm_up() -> None:
    """Compile the kernels now (about a second, once per process; they are not cached on
    disk) by running them on two agents, so that the first market step, and any timing
    around it, does not pay for it; then check the shuffle against NumPy's
    (:func:`lucas_abm.pcg64_shuffle.check_shuffle`)."""
    if _kernels is not None:
        return
    two = np.ones(2)
    pairwise_period(two, two, two, np.zeros(2), 1.0, np.random.default_rng(0), 0.5, 0.1, 0.1,
                    0.1, 10.0, 1.0, 0.1, 1e-6, 1.0)
    observation(two, two, 1.0, np.zeros(0))
    check_shuffle()


class PairwisePeriod:
    """The compiled pairwise period bound to one market's trading rules and generator.

    A market makes one (and a new one when it is reseeded with a new generator); each call
    is one period. ``rng`` is advanced exactly as ``rng.permutation(N)`` advances it.
    """

    def __init__(self, rng: np.random.Generator, theta: float, tree_lot: float,
                 bond_lot: float, borrowing_limit: float, max_price: float,
                 invalid_penalty: float, infeasible_penalty: float, consumption_floor: float):
        self.state = PCG64State(rng)
        self._period = _compiled()[0]
        self._rules = (theta, tree_lot, bond_lot, borrowing_limit, max_price, invalid_penalty,
                       infeasible_penalty, consumption_floor)

    def __call__(self, tree_price: np.ndarray, bond_price: np.ndarray, shares: np.ndarray,
                 bonds: np.ndarray, dividend: float, next_dividend: float,
                 obs_columns: int = 4):
        """One period. Prices, shares and bonds: contiguous float64 [N].

        Returns ``(out, flags, obs, tree_volume, bond_volume, tree_mean, bond_mean)``:
        ``out`` is [FLOAT_ROWS, N] float64 with rows :data:`TREE_TRADE` ... :data:`CLIPPED`
        (SHARES: the holdings after trading; CLIPPED: ``max(c, consumption_floor)``),
        ``flags`` [2, N] bool (:data:`INVALID`, :data:`INFEASIBLE`); ``obs`` [N, obs_columns]
        float32 has the private columns 0-3 of the next observation (shares, bonds,
        ``next_dividend``, income at it), the others are left to the caller; the mean
        settlement prices are NaN without trades.
        """
        n = shares.shape[0]
        out = np.empty((FLOAT_ROWS, n))
        flags = np.empty((2, n), np.bool_)
        obs = np.empty((n, obs_columns), np.float32)
        tree_volume, bond_volume, tree_sum, bond_sum = self._period(
            tree_price, bond_price, shares, bonds, dividend, next_dividend, self.state.lcg,
            self.state.buffered, *self._rules, out, flags, obs)
        tree_mean = tree_sum / tree_volume if tree_volume else math.nan
        bond_mean = bond_sum / bond_volume if bond_volume else math.nan
        return out, flags, obs, tree_volume, bond_volume, tree_mean, bond_mean


def pairwise_period(tree_price: np.ndarray, bond_price: np.ndarray, shares: np.ndarray,
                    bonds: np.ndarray, dividend: float, rng: np.random.Generator,
                    theta: float, tree_lot: float, bond_lot: float, borrowing_limit: float,
                    max_price: float, invalid_penalty: float, infeasible_penalty: float,
                    consumption_floor: float, next_dividend: float, obs_columns: int = 4):
    """One pairwise period with a generator and rules given per call (see
    :class:`PairwisePeriod`, which a market makes once, for the returned tuple)."""
    return PairwisePeriod(rng, theta, tree_lot, bond_lot, borrowing_limit, max_price,
                          invalid_penalty, infeasible_penalty, consumption_floor)(
        tree_price, bond_price, shares, bonds, dividend, next_dividend, obs_columns)


def observation(shares: np.ndarray, bonds: np.ndarray, dividend: float,
                public: np.ndarray) -> np.ndarray:
    """[N, 4 + len(public)] float32: shares, bonds, dividend, income ``s y + b``, public."""
    fill = _compiled()[1]
    obs = np.empty((shares.shape[0], 4 + public.shape[0]), np.float32)
    fill(shares, bonds, dividend, public, obs)
    return obs
