"""Compiled (numba) pairwise period of the heterogeneous market (docs/market.md).

The same period as :meth:`lucas_abm.mechanisms.PairwiseMatching.propose` plus
:meth:`lucas_abm.mechanisms.base.Mechanism.execute` with per-agent lots, borrowing limits
and non-tradable income (:mod:`lucas_abm.heterogeneous`), bit for bit, in three passes:

1. the pairing: ``perm = rng.permutation(N)`` drawn by the compiled shuffle of
   :mod:`lucas_abm.pcg64_shuffle` (NumPy's algorithm on the market's own PCG64 state: the same
   pairing and the same generator state after it), then ``partner[perm[i]] = perm[N//2 + i]``
   and back (with N odd, ``perm[N - 1]`` is its own partner: equal prices, no trade);
2. one pass over the agents writes each agent's record, one 64-byte row of a persistent
   ``[N, 8]`` array aligned to the cache line: valid-or-NaN tree and bond prices, shares,
   income ``s y + b + w``, lot scale ``s0`` and borrowing limit (the last two written once);
3. one pass over the agents settles each agent's pair from its own record (in order) and its
   partner's (one random cache line): the tree, then the bond, exactly as the numpy path
   (lot ``delta min(s0_a, s0_b)``, the buyer pays out of income, the seller holds a lot; the
   bond buyer out of income left after a tree purchase, the seller within its limit), and
   writes everything the market returns for the agent (trades, income, consumption, its
   floor, penalties, flags, new holdings, the next observation's private columns). Each
   pair is computed twice, once from each side, by the same commutative float operations, so
   the two sides agree; the pair is counted once, from its lower index.

Why this shape: at N = 10^6 the per-agent arrays (8 MB each) do not fit the caches, and a
pass that gathers pairs into pair order and scatters results back touches about 15 random
cache lines per agent; here an agent touches one (its partner's record; the partner table
is 8 MB and stays in the last-level cache). The scratch arrays live as long as the market,
so a period allocates only its outputs.

Every float operation is the numpy path's, in the same order: holdings, trades,
consumption, penalties, flags and observations are bitwise equal
(``tests/test_hetero_kernel.py``); the mean settlement price (a sum in another order) may
differ in the last bits. Utility is the caller's (the same ufuncs as the numpy path).
"""
from __future__ import annotations

import math

import numpy as np

from lucas_abm import kernels
from lucas_abm.kernels import FLOAT_ROWS, PCG64State
from lucas_abm.mechanisms.base import FEASIBILITY_RTOL

RECORD = 8  # float64 per agent record: one 64-byte cache line
# The settle pass asks for the record of the agent this many agents ahead's partner (a
# software prefetch): the pass's loads then do not wait on memory. Without it a period at
# N = 10^6 takes several times longer: the branches on the partner's prices are resolved
# only when its record arrives, and each mispredicted one discards the loads issued after it.
PREFETCH_AHEAD = 64
TREE, BOND, SHARES, INCOME, SCALE, LIMIT = range(6)

_kernel = None


def _compile():
    numba = kernels.numba
    import numba.extending
    from llvmlite import ir as llvm_ir
    shuffle = kernels._compiled()[3]
    trade_price, is_valid, one_if = kernels._compiled()[4]
    lower = 1.0 - FEASIBILITY_RTOL
    upper = 1.0 + FEASIBILITY_RTOL
    rows = (kernels.TREE_TRADE, kernels.BOND_TRADE, kernels.CONSUMPTION, kernels.INCOME,
            kernels.PENALTY, kernels.SHARES, kernels.CLIPPED)
    TREE_TRADE, BOND_TRADE, CONSUMPTION, INCOME_ROW, PENALTY, SHARES_ROW, CLIPPED = rows

    @numba.extending.intrinsic
    def prefetch_record(typingctx, records, row):
        """Hint the CPU to load row ``row`` of a [N, RECORD] float64 array (llvm.prefetch:
        a read, kept in all cache levels); it changes no value."""
        signature = numba.types.void(records, row)

        def codegen(context, builder, sig, args):
            array = context.make_array(sig.args[0])(context, builder, args[0])
            byte = llvm_ir.IntType(8).as_pointer()
            i32 = llvm_ir.IntType(32)
            offset = builder.mul(builder.zext(args[1], llvm_ir.IntType(64)),
                                 llvm_ir.Constant(llvm_ir.IntType(64), 8 * RECORD))
            address = builder.gep(builder.bitcast(array.data, byte), [offset])
            function = builder.module.declare_intrinsic(
                "llvm.prefetch", fnty=llvm_ir.FunctionType(llvm_ir.VoidType(), [byte, i32, i32, i32]))
            builder.call(function, [address, llvm_ir.Constant(i32, 0), llvm_ir.Constant(i32, 3),
                                    llvm_ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return signature, codegen

    @numba.njit(nogil=True)
    def pair_partners(perm, partner, lcg, buffered):
        """This period's pairing (``rng.permutation``) as a partner table."""
        n = perm.shape[0]
        for k in range(n):
            perm[k] = k
        shuffle(perm, lcg, buffered)
        m = n // 2
        for i in range(m):
            a = perm[i]
            b = perm[m + i]
            partner[a] = b
            partner[b] = a
        if n % 2:
            partner[perm[n - 1]] = perm[n - 1]

    @numba.njit(nogil=True)
    def period(tree_price, bond_price, shares, bonds, endowment, next_endowment, dividend,
               next_dividend, lcg, buffered, theta, tree_lot, bond_lot, max_price,
               invalid_penalty, infeasible_penalty, consumption_floor, perm, partner, rec,
               out, flags, obs):
        n = shares.shape[0]
        income_rows = endowment.shape[0] == n
        pair_partners(perm, partner, lcg, buffered)
        for k in range(n):  # records: a sequential pass
            income = shares[k] * dividend + bonds[k]
            if income_rows:
                income = income + endowment[k]
            p = tree_price[k]
            q = bond_price[k]
            rec[k, TREE] = p if is_valid(p, max_price) else np.nan
            rec[k, BOND] = q if is_valid(q, max_price) else np.nan
            rec[k, SHARES] = shares[k]
            rec[k, INCOME] = income

        tree_volume = 0
        bond_volume = 0
        tree_sum = 0.0
        bond_sum = 0.0
        ahead = n - PREFETCH_AHEAD
        for k in range(n):
            if k < ahead:
                prefetch_record(rec, partner[k + PREFETCH_AHEAD])
            o = partner[k]
            pa = rec[k, TREE]
            pb = rec[o, TREE]
            qa = rec[k, BOND]
            qb = rec[o, BOND]
            s_a = rec[k, SHARES]
            s_b = rec[o, SHARES]
            income_a = rec[k, INCOME]
            income_b = rec[o, INCOME]
            scale = min(rec[k, SCALE], rec[o, SCALE])

            # tree: the seller needs a lot; the buyer pays out of income
            a_buys = pa > pb
            b_buys = pb > pa
            price = trade_price(pa, pb, theta)
            lot = tree_lot * scale
            cost = price * lot
            buyer_ok = (income_a if a_buys else income_b) >= cost * lower
            seller_ok = (s_b if a_buys else s_a) >= lot * lower
            done = (a_buys | b_buys) & buyer_ok & seller_ok
            sign_a = one_if(done & a_buys) - one_if(done & b_buys)
            sign_b = one_if(done & b_buys) - one_if(done & a_buys)
            paid = cost if done else 0.0
            tree_cash_a = paid * sign_a
            tree_cash_b = paid * sign_b
            tree_trade = lot * sign_a
            bad = one_if((a_buys & (not buyer_ok)) | (b_buys & (not seller_ok)))
            first = k < o
            tree_volume += 1 if done & first else 0
            tree_sum += price if done & first else 0.0

            # bond: the seller borrows within its limit; the buyer lends out of the income
            # left after a tree purchase (sale proceeds do not count)
            a_lends = qa > qb
            b_lends = qb > qa
            price = trade_price(qa, qb, theta)
            lot = bond_lot * scale
            cost = price * lot
            cash_left = ((income_a - max(tree_cash_a, 0.0)) if a_lends
                         else (income_b - max(tree_cash_b, 0.0)))
            buyer_ok = cash_left >= cost * lower
            seller_ok = lot <= (rec[o, LIMIT] if a_lends else rec[k, LIMIT]) * upper
            done = (a_lends | b_lends) & buyer_ok & seller_ok
            sign_a = one_if(done & a_lends) - one_if(done & b_lends)
            paid = cost if done else 0.0
            bond_trade = lot * sign_a
            consumption = income_a - tree_cash_a - paid * sign_a
            bad += one_if((a_lends & (not buyer_ok)) | (b_lends & (not seller_ok)))
            bond_volume += 1 if done & first else 0
            bond_sum += price if done & first else 0.0

            # everything the market returns for agent k
            invalid_tree = not is_valid(tree_price[k], max_price)
            invalid_bond = not is_valid(bond_price[k], max_price)
            new_shares = s_a + tree_trade
            out[TREE_TRADE, k] = tree_trade
            out[BOND_TRADE, k] = bond_trade
            out[CONSUMPTION, k] = consumption
            out[INCOME_ROW, k] = income_a
            out[PENALTY, k] = (invalid_penalty * (one_if(invalid_tree) + one_if(invalid_bond))
                               + infeasible_penalty * bad)
            out[SHARES_ROW, k] = new_shares
            out[CLIPPED, k] = max(consumption, consumption_floor)
            flags[0, k] = invalid_tree | invalid_bond
            flags[1, k] = bad > 0.0
            obs[k, 0] = new_shares
            obs[k, 1] = bond_trade
            obs[k, 2] = next_dividend
            if income_rows:  # numpy: the float32 column, then += w_{t+1} in float64
                obs[k, 3] = np.float64(np.float32(new_shares * next_dividend + bond_trade)) \
                    + next_endowment[k]
            else:
                obs[k, 3] = new_shares * next_dividend + bond_trade
        return tree_volume, bond_volume, tree_sum, bond_sum

    return period


def _compiled():
    """The period, compiled on first use and run once on two agents (with and without
    income), so that numba's compilation (a few seconds) is not paid in the first period."""
    global _kernel
    if _kernel is None:
        period = _compile()
        two, empty = np.ones(2), np.empty(0)
        for income in (empty, two):
            period(two, two, two, np.zeros(2), income, income, 1.0, 1.0, np.zeros(4, np.uint64),
                   np.zeros(2, np.uint32), 0.5, 0.1, 0.1, 10.0, 1.0, 0.1, 1e-6,
                   np.empty(2, np.uint64), np.empty(2, np.uint64), _aligned_records(2),
                   np.empty((FLOAT_ROWS, 2)), np.empty((2, 2), np.bool_),
                   np.empty((2, 4), np.float32))
        _kernel = period
    return _kernel


def _aligned_records(n: int) -> np.ndarray:
    """A [n, RECORD] float64 array whose rows start on 64-byte boundaries."""
    buffer = np.empty(n * RECORD + RECORD)
    offset = (-buffer.ctypes.data % 64) // 8
    return buffer[offset:offset + n * RECORD].reshape(n, RECORD)


class HeterogeneousPairwisePeriod:
    """The compiled pairwise period of one heterogeneous market: its rules, its generator,
    its agents' lot scales and borrowing limits, and the scratch arrays (kept between calls).
    ``rng`` is advanced exactly as ``rng.permutation(N)`` advances it."""

    def __init__(self, rng: np.random.Generator, theta: float, tree_lot: float, bond_lot: float,
                 lot_scale: np.ndarray | None, borrowing_limits: np.ndarray, max_price: float,
                 invalid_penalty: float, infeasible_penalty: float, consumption_floor: float):
        kernels.warm_up()
        self.state = PCG64State(rng)
        self._period = _compiled()
        n = borrowing_limits.shape[0]
        self._perm = np.empty(n, np.uint64)
        self._partner = np.empty(n, np.uint64)
        self._rec = _aligned_records(n)
        self._rec[:, SCALE] = 1.0 if lot_scale is None else lot_scale
        self._rec[:, LIMIT] = borrowing_limits
        self._rules = (theta, tree_lot, bond_lot, max_price, invalid_penalty,
                       infeasible_penalty, consumption_floor)

    def __call__(self, tree_price: np.ndarray, bond_price: np.ndarray, shares: np.ndarray,
                 bonds: np.ndarray, dividend: float, next_dividend: float, obs_columns: int = 4,
                 endowment: np.ndarray | None = None, next_endowment: np.ndarray | None = None):
        """One period; as :meth:`lucas_abm.kernels.PairwisePeriod.__call__` (the same
        returned tuple), with this period's non-tradable income ``endowment`` (w_t, part of
        income) and next period's ``next_endowment`` (w_{t+1}, in the next observation's
        income column), both [N] float64 or None (no income)."""
        n = shares.shape[0]
        none = np.empty(0)
        out = np.empty((FLOAT_ROWS, n))
        flags = np.empty((2, n), np.bool_)
        obs = np.empty((n, obs_columns), np.float32)
        tree_volume, bond_volume, tree_sum, bond_sum = self._period(
            tree_price, bond_price, shares, bonds, none if endowment is None else endowment,
            none if next_endowment is None else next_endowment, dividend, next_dividend,
            self.state.lcg, self.state.buffered, *self._rules, self._perm, self._partner,
            self._rec, out, flags, obs)
        tree_mean = tree_sum / tree_volume if tree_volume else math.nan
        bond_mean = bond_sum / bond_volume if bond_volume else math.nan
        return out, flags, obs, tree_volume, bond_volume, tree_mean, bond_mean
