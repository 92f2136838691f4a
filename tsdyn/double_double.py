"""Double-double arithmetic (Dekker 1971; Shewchuk 1997) for the few cancelling sums of the ReLU integrals.

A value is a pair (hi, lo) with hi = fl(hi + lo): about 32 significant digits from float64 alone
(error-free TwoSum and Dekker's TwoProduct by splitting, no FMA needed). :mod:`tsdyn.orthant` uses it
for the Schur complements of nearly collinear fields, C_xx - (...)/det, whose float64 value would
lose all digits of a conditional variance of order 1 - r (r the correlation of the near copies).
"""
from __future__ import annotations

import numba

#: 2^27 + 1: Dekker's splitting constant for 53-bit mantissas.
_SPLIT = 134217729.0


@numba.njit(cache=True, inline="always")
def two_sum(a: float, b: float):
    """(s, e) with s = fl(a + b) and a + b = s + e exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@numba.njit(cache=True, inline="always")
def two_prod(a: float, b: float):
    """(p, e) with p = fl(a b) and a b = p + e exactly (Dekker's split product)."""
    p = a * b
    t = _SPLIT * a
    ah = t - (t - a)
    al = a - ah
    t = _SPLIT * b
    bh = t - (t - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@numba.njit(cache=True, inline="always")
def add(ah: float, al: float, bh: float, bl: float):
    """(a + b) of two double-doubles."""
    s, e = two_sum(ah, bh)
    e += al + bl
    return two_sum(s, e)


@numba.njit(cache=True, inline="always")
def mul(ah: float, al: float, bh: float, bl: float):
    """(a b) of two double-doubles."""
    p, e = two_prod(ah, bh)
    e += ah * bl + al * bh
    return two_sum(p, e)


@numba.njit(cache=True, inline="always")
def div(ah: float, al: float, bh: float, bl: float):
    """(a / b) of two double-doubles (one Newton correction of the float quotient)."""
    q = ah / bh
    ph, pl = mul(q, 0.0, bh, bl)
    rh, rl = add(ah, al, -ph, -pl)
    return two_sum(q, (rh + rl) / bh)


@numba.njit(cache=True, inline="always")
def prod3(a: float, b: float, c: float):
    """a b c of three floats as a double-double."""
    ph, pl = two_prod(a, b)
    return mul(ph, pl, c, 0.0)
