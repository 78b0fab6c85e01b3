"""NumPy's ``rng.permutation`` / ``rng.shuffle`` compiled (numba), bit for bit.

The compiled market periods (:mod:`lucas_abm.kernels`, :mod:`lucas_abm.heterogeneous_kernel`)
draw their random pairing here, from the market's own generator: the Fisher-Yates shuffle is
NumPy's own algorithm (``random_interval`` with masked rejection on 32-bit draws), drawing
from the market's PCG64 bit generator through its C state (:class:`PCG64State`; PCG64 is
inlined), so the pairing, and the generator state after it, are bit-for-bit those of
``rng.permutation(N)``.

:func:`compile_shuffle` returns the jitted ``(permutation, shuffle)``, built on first use and
cached, so that a compiled kernel can call ``shuffle`` from inside compiled code;
:func:`check_shuffle` compares them with NumPy once per process (run by
:func:`lucas_abm.kernels.warm_up`).

numba is optional: :data:`AVAILABLE` is False without it (:class:`PCG64State` needs only
NumPy).
"""
from __future__ import annotations

import ctypes

import numpy as np

try:  # pragma: no cover - exercised whenever numba is installed (it is in install_requires)
    import numba
    import numba.extending
    from llvmlite import ir as llvm_ir
except ImportError:  # pragma: no cover
    numba = None

AVAILABLE = numba is not None

_shuffle = None  # (permutation, shuffle), compiled on first use


class PCG64State:
    """The C state of a PCG64 generator, as arrays the compiled shuffle reads and advances.

    ``lcg``: uint64[4], the 128-bit LCG state (low, high word) and increment (low, high);
    ``buffered``: uint32[2], NumPy's ``has_uint32`` flag and ``uinteger`` (a 64-bit output is
    handed out as two 32-bit draws, low half first). The object holds the bit generator, so
    the memory the arrays view stays valid while it exists. The layout is NumPy 1.x's
    ``pcg64_state`` (``numpy/random/src/pcg64/pcg64.h``); :func:`check_shuffle` (run by
    :func:`lucas_abm.kernels.warm_up`) checks it against ``rng.permutation`` before any market
    uses it.
    """

    def __init__(self, rng: np.random.Generator):
        bit_generator = rng.bit_generator
        if type(bit_generator) is not np.random.PCG64:
            raise TypeError("the compiled market draws from a PCG64 generator "
                            "(numpy.random.default_rng), got " + type(bit_generator).__name__)
        self.bit_generator = bit_generator
        address = bit_generator.ctypes.state_address  # pcg64_state*
        lcg_address = ctypes.c_void_p.from_address(address).value  # its pcg_state pointer
        self.lcg = np.ctypeslib.as_array((ctypes.c_uint64 * 4).from_address(lcg_address))
        self.buffered = np.ctypeslib.as_array((ctypes.c_uint32 * 2).from_address(address + 8))


def _compile():
    """Build the shuffle (numba compiles each function at its first call)."""
    multiplier = (0x2360ED051FC65DA4 << 64) | 0x4385DF649FCCF645  # PCG's 128-bit default

    @numba.extending.intrinsic
    def lcg_step(typingctx, high, low, inc_high, inc_low):
        """PCG64's state update ``s = s * multiplier + inc (mod 2^128)`` on (high, low) uint64
        words, as one 128-bit LLVM multiply (numba has no 128-bit integer type)."""
        u64 = numba.types.uint64
        signature = numba.types.UniTuple(u64, 2)(u64, u64, u64, u64)

        def codegen(context, builder, sig, args):
            i128 = llvm_ir.IntType(128)

            def join(hi, lo):
                return builder.or_(builder.shl(builder.zext(hi, i128), llvm_ir.Constant(i128, 64)),
                                   builder.zext(lo, i128))

            state = builder.add(builder.mul(join(args[0], args[1]),
                                            llvm_ir.Constant(i128, multiplier)),
                                join(args[2], args[3]))
            high = builder.trunc(builder.lshr(state, llvm_ir.Constant(i128, 64)),
                                 llvm_ir.IntType(64))
            low = builder.trunc(state, llvm_ir.IntType(64))
            return context.make_tuple(builder, sig.return_type, [high, low])

        return signature, codegen

    @numba.njit(nogil=True)
    def permutation(n, lcg, buffered):
        """``rng.permutation(n)`` bit for bit (see :func:`shuffle`)."""
        perm = np.arange(n, dtype=np.uint64)
        shuffle(perm, lcg, buffered)
        return perm

    @numba.njit(nogil=True)
    def shuffle(perm, lcg, buffered):
        """Shuffle ``perm`` in place as ``rng.shuffle`` does (``rng.permutation(n)`` is the
        shuffle of ``arange(n)``), bit for bit, advancing the generator's state (see
        :class:`PCG64State`) as NumPy does: Fisher-Yates, ``j = random_interval(i)`` for
        i = n-1, ..., 1, where ``random_interval`` draws 32 bits ``& mask`` (mask: the
        smallest 2^k - 1 >= i) until the draw is <= i. PCG64 (XSL-RR output) is inlined: its
        state stays in registers (2.6 us at N = 1,200, against 3.2 us calling NumPy's C
        function per draw). A rejected draw swaps ``p[i]`` with itself and does not advance
        ``i``; the inner loop runs while the mask is constant, so the mask is not on the
        loop's critical path. Unsigned indices: no negative-index checks in the period."""
        n = perm.shape[0]
        if n < 2:
            return
        low, high, inc_low, inc_high = lcg[0], lcg[1], lcg[2], lcg[3]
        has_half = buffered[0] != 0
        half = np.uint64(buffered[1])
        i = n - 1
        mask = i
        mask |= mask >> 1
        mask |= mask >> 2
        mask |= mask >> 4
        mask |= mask >> 8
        mask |= mask >> 16
        while i > 0:
            lower_half = mask >> 1
            while i > lower_half:
                if has_half:  # the high 32 bits of the last 64-bit output
                    draw = half
                    has_half = False
                else:
                    high, low = lcg_step(high, low, inc_high, inc_low)
                    x = high ^ low  # XSL-RR: xor the halves, rotate right by the top 6 bits
                    rotation = high >> np.uint64(58)
                    output = (x >> rotation) | (x << ((np.uint64(64) - rotation) & np.uint64(63)))
                    draw = output & np.uint64(0xFFFFFFFF)
                    half = output >> np.uint64(32)
                    has_half = True
                value = draw & mask
                accept = value <= i
                j = value if accept else i
                tmp = perm[i]
                perm[i] = perm[j]
                perm[j] = tmp
                i -= 1 if accept else 0
            mask = lower_half
        lcg[0] = low
        lcg[1] = high
        buffered[0] = 1 if has_half else 0
        buffered[1] = half  # NumPy keeps the last high half, used or not

    return permutation, shuffle


def compile_shuffle():
    """The jitted ``(permutation, shuffle)``: ``permutation(n, lcg, buffered)`` returns
    ``rng.permutation(n)`` as uint64, ``shuffle(perm, lcg, buffered)`` shuffles a uint64 array
    in place as ``rng.shuffle``; ``lcg`` and ``buffered`` are a :class:`PCG64State`'s arrays,
    advanced as NumPy advances the generator. Built once per process (needs numba)."""
    global _shuffle
    if _shuffle is None:
        _shuffle = _compile()
    return _shuffle


def check_shuffle() -> None:
    """The compiled shuffle must be ``rng.permutation``: same pairing, same generator state
    after it (also with a 32-bit half buffered). Checked once per process (by
    :func:`lucas_abm.kernels.warm_up`), so that a NumPy whose PCG64 state is laid out
    differently fails loudly instead of pairing differently."""
    permutation = compile_shuffle()[0]
    for n in (2, 3, 1000, 1201):
        ref, fast = np.random.default_rng(n), np.random.default_rng(n)
        for rng in (ref, fast):
            rng.integers(0, 7, size=n % 2, dtype=np.uint32)  # n odd: leave a half buffered
        state = PCG64State(fast)
        if not (np.array_equal(ref.permutation(n), permutation(n, state.lcg, state.buffered))
                and ref.bit_generator.state == fast.bit_generator.state):
            raise RuntimeError(f"lucas_abm.pcg64_shuffle: the compiled shuffle differs from "
                               f"NumPy {np.__version__}'s rng.permutation; use backend='numpy'")
