"""Gaussian orthant probabilities, the pieces of the ReLU integrals (:mod:`tsdyn.tallis` builds on them).

For a centred Gaussian X with covariance C and a set S of its coordinates (at most four),
P(S) = P(X_s > 0 for s in S): closed form for |S| <= 3 (Sheppard; Plackett 1954,
P2 = 1/4 + asin(rho)/(2 pi), P3 = 1/8 + sum_{s<t} asin(rho_st)/(4 pi)); for |S| = 4 no
elementary closed form is known, and :func:`orthant4_from_corr` reduces it to a one-dimensional integral
by Plackett's identity dP/d rho_ij = phi_2(0, 0; rho_ij) P(others > 0 | X_i = X_j = 0)
(the orthant form of Price's theorem) along the path R(s) from a block-diagonal correlation
matrix (two independent pairs: P = P2 P2) to R, evaluated by adaptive Gauss-Kronrod (7, 15)
to a relative error of :data:`ORTHANT_RTOL` (tests/test_activation_integrals.py: against scipy
``quad`` of the same path, against Genz-free brute-force quadrature and Monte Carlo).

Near-collinear fields (a student that has learnt its teacher: 1 - r ~ exp(-t / 26) in the ReLU
ODE, below 1e-16 by t ~ 900) make the conditional variances differences of nearly
equal numbers, of order 1 - r; in float64 they would keep 1e-16 / (1 - r) of their digits, and that
rounding does not cancel between the terms of the two near copies (1e-5 relative error of P4 at
1 - r = 1e-14, and a noisy, slow adaptive quadrature). Every Schur complement whose variance or
determinant has cancelled below :data:`DOUBLE_DOUBLE_BELOW` of its scale is therefore taken in
double-double arithmetic (:mod:`tsdyn.double_double`); three nearly collinear fields also put a
step into the path rate near its end, which :func:`_first_panels` resolves. Together they keep P4
and I4 within 1e-8 relative of a 40-digit reference down to 1 - r = 1e-14, for pairs and for triples
(tests/test_orthant_collinear.py). Coordinates listed twice in S (I4(i, i, a, b), ...) or collinear
to 1 - r <= :data:`COLLINEAR` (a few ulps, where the fields are equal in float64) count once;
negatively collinear ones make P(S) = 0. All functions are Numba-compiled (they run inside the
ODE kernel) and take the covariance matrix and indices into it.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from tsdyn import double_double as dd

TWO_PI = 2.0 * math.pi
#: Error aimed at by the adaptive quadrature of the four-dimensional orthant probability, relative
#: to the probability (from a first 15-point estimate), at least 1e-16 absolute.
ORTHANT_RTOL = 1e-10
#: Relative size below which a Schur complement of :func:`_p2_given_pair` is redone in double-double.
DOUBLE_DOUBLE_BELOW = 1e-4
#: Narrowest panel of that quadrature (in tau): below it the Kronrod-Gauss difference is rounding.
MIN_PANEL = 1e-4
#: Correlations this close to +-1 count as collinear coordinates (about 4 ulps of 1: the merge
#: changes P4 by O(sqrt(1 - r)) <= 1e-8 relative).
COLLINEAR = 1e-15
#: At most this many bisections of the path integral (reached only near singular covariances).
MAX_PANELS = 400
#: A cross pair of the path nearer collinear than this (1 - |r|) gets the decade panels of :func:`_first_panels`.
LADDER_BELOW = 1e-2
#: At most this many decades (1 - tau from 0.1 down to 1e-11, 1 - s to 1e-22: below any float64 gap).
LADDER_RUNGS = 10

# Gauss-Kronrod (7, 15) nodes and weights on [-1, 1] (Piessens et al., QUADPACK qk15).
_XGK = np.array([0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
                 0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
                 0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
                 0.207784955007898467600689403773245, 0.0])
_WGK = np.array([0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                 0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                 0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                 0.204432940075298892414161999234649, 0.209482141084727828012999174891714])
_WG = np.array([0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
                0.381830050505118944950369775488975, 0.417959183673469387755102040816327])


@numba.njit(cache=True)
def corr(c11: float, c12: float, c22: float) -> float:
    """c12 / sqrt(c11 c22) clipped to [-1, 1] (0 if a variance vanishes)."""
    d = c11 * c22
    if not d > 0.0:
        return 0.0
    return min(1.0, max(-1.0, c12 / math.sqrt(d)))


@numba.njit(cache=True)
def orthant2(c11: float, c12: float, c22: float) -> float:
    """P(X1 > 0, X2 > 0) = 1/4 + asin(rho)/(2 pi) (Sheppard)."""
    return 0.25 + math.asin(corr(c11, c12, c22)) / TWO_PI


@numba.njit(cache=True)
def _schur(C, k: int, q: int, x: int, y: int, dh: float, dl: float) -> float:
    """C_xy - [C_xk C_xq] [[C_kk, C_kq], [C_kq, C_qq]]^-1 [C_yk C_yq]^T (conditional covariance given
    X_k = X_q = 0; (dh, dl) its determinant) in double-double: for x nearly collinear with k or q this
    difference is of order 1 - r and float64 would keep only 1e-16 / (1 - r) of its digits."""
    nh, nl = dd.prod3(C[q, q], C[x, k], C[y, k])
    th, tl = dd.prod3(C[k, q], C[x, k], C[y, q])
    nh, nl = dd.add(nh, nl, -th, -tl)
    th, tl = dd.prod3(C[k, q], C[x, q], C[y, k])
    nh, nl = dd.add(nh, nl, -th, -tl)
    th, tl = dd.prod3(C[k, k], C[x, q], C[y, q])
    nh, nl = dd.add(nh, nl, th, tl)
    qh, ql = dd.div(nh, nl, dh, dl)
    sh, sl = dd.add(C[x, y], 0.0, -qh, -ql)
    return sh + sl


@numba.njit(cache=True)
def _det2(C, k: int, q: int):
    """C_kk C_qq - C_kq^2 in double-double."""
    ah, al = dd.two_prod(C[k, k], C[q, q])
    bh, bl = dd.two_prod(C[k, q], C[k, q])
    return dd.add(ah, al, -bh, -bl)


@numba.njit(cache=True)
def _p2_given_pair(C, k: int, q: int, x: int, y: int) -> float:
    """P(X_x > 0, X_y > 0 | X_k = X_q = 0) for the covariance C.

    The Schur complement of the (k, q) block is taken in float64 and, where a conditional variance
    or the block's determinant has cancelled below :data:`DOUBLE_DOUBLE_BELOW` of its scale (X_x a
    near copy of X_k, ...), again in double-double (:func:`_schur`): float64 would keep only
    1e-16 / (1 - r) of its digits and that rounding does not cancel between the terms of the two
    copies (tests/test_orthant_collinear.py).
    """
    ckk, cqq, ckq = C[k, k], C[q, q], C[k, q]
    det = ckk * cqq - ckq * ckq
    if det > DOUBLE_DOUBLE_BELOW * ckk * cqq:
        cxx = C[x, x] - (cqq * C[x, k] ** 2 - 2.0 * ckq * C[x, k] * C[x, q] + ckk * C[x, q] ** 2) / det
        cyy = C[y, y] - (cqq * C[y, k] ** 2 - 2.0 * ckq * C[y, k] * C[y, q] + ckk * C[y, q] ** 2) / det
        if cxx > DOUBLE_DOUBLE_BELOW * C[x, x] and cyy > DOUBLE_DOUBLE_BELOW * C[y, y]:
            cxy = C[x, y] - (cqq * C[x, k] * C[y, k] - ckq * (C[x, k] * C[y, q] + C[x, q] * C[y, k])
                             + ckk * C[x, q] * C[y, q]) / det
            return orthant2(cxx, cxy, cyy)
    dh, dl = _det2(C, k, q)
    if not dh + dl > 0.0:
        return 0.25
    return orthant2(_schur(C, k, q, x, x, dh, dl), _schur(C, k, q, x, y, dh, dl), _schur(C, k, q, y, y, dh, dl))


@numba.njit(cache=True)
def _p2_given(R, i, j, k, l) -> float:
    """P(X_k > 0, X_l > 0 | X_i = X_j = 0) for the correlation matrix R (4 x 4)."""
    return _p2_given_pair(R, i, j, k, l)


@numba.njit(cache=True)
def _path_rate(R, a, b, c, d, s, Rs) -> float:
    """d P4(R(s)) / ds on the path keeping the pairs (a, b), (c, d) and scaling the cross correlations by s."""
    for x in range(4):
        for y in range(4):
            Rs[x, y] = R[x, y]
    for x, y in ((a, c), (a, d), (b, c), (b, d)):
        Rs[x, y] = s * R[x, y]
        Rs[y, x] = Rs[x, y]
    out = 0.0
    for x, y, k, l in ((a, c, b, d), (a, d, b, c), (b, c, a, d), (b, d, a, c)):
        r = Rs[x, y]
        if R[x, y] != 0.0:
            out += R[x, y] / (TWO_PI * math.sqrt(max(1.0 - r * r, 1e-300))) * _p2_given(Rs, x, y, k, l)
    return out


@numba.njit(cache=True, inline="always")
def _rate_in_tau(R, a, b, c, d, tau, Rs) -> float:
    """The path rate in tau, s = 1 - (1 - tau)^2: ds = 2 (1 - tau) d tau cancels the (1 - s)^(-1/2)
    of phi_2 at s = 1 when a cross pair is collinear, so near-singular R stay smooth."""
    return 2.0 * (1.0 - tau) * _path_rate(R, a, b, c, d, 1.0 - (1.0 - tau) ** 2, Rs)


@numba.njit(cache=True)
def _gk15(R, a, b, c, d, lo, hi, Rs):
    """(Kronrod 15-point value, |Kronrod - Gauss 7|) of the path rate on [lo, hi] of tau."""
    half, mid = 0.5 * (hi - lo), 0.5 * (hi + lo)
    fc = _rate_in_tau(R, a, b, c, d, mid, Rs)
    k, g = fc * _WGK[7], fc * _WG[3]
    for j in range(7):
        f = _rate_in_tau(R, a, b, c, d, mid - half * _XGK[j], Rs) + _rate_in_tau(R, a, b, c, d, mid + half * _XGK[j], Rs)
        k += _WGK[j] * f
        if j % 2 == 1:
            g += _WG[j // 2] * f
    return k * half, abs((k - g) * half)


@numba.njit(cache=True)
def _first_panels(R, a, b, c, d, los, his) -> int:
    """The panels in tau the path integral starts from (stored in los, his); their count.

    [0, 1] unless a cross pair is nearly collinear (1 - |r| = gap < :data:`LADDER_BELOW`), as it is
    in every pairing of three nearly collinear fields (two students on one teacher). Its term of the
    rate, 2 (1 - tau) / sqrt(1 - s^2 r^2) ~ 2 (1 - tau) / sqrt(2 ((1 - tau)^2 + gap)), then falls from
    O(1) to 0 within 1 - tau ~ sqrt(gap) of tau = 1, a step the 15 points of [0, 1] do not sample: their
    Gauss and Kronrod values agree and the missing area, O(sqrt(gap)), passed as converged (1.7e-7 of P4
    at gap = 1e-13). So [0, 1] is cut into decades of 1 - tau, from 0.1 down to sqrt(gap) / 100 for the
    nearest cross pair (each decade smooth in tau; starting the decades at 10 sqrt(gap) instead left
    up to 7e-9 of P4 at gap = 1e-13, the others' tails).
    """
    gap = 1.0 - max(max(abs(R[a, c]), abs(R[a, d])), max(abs(R[b, c]), abs(R[b, d])))
    los[0], his[0] = 0.0, 1.0
    if not gap < LADDER_BELOW:
        return 1
    width = 0.1
    floor = 0.01 * math.sqrt(max(gap, 0.0))
    n = 0
    lo = 0.0
    while width > floor and n < LADDER_RUNGS:
        los[n], his[n] = lo, 1.0 - width
        lo, width, n = 1.0 - width, 0.1 * width, n + 1
    los[n], his[n] = lo, 1.0
    return n + 1


@numba.njit(cache=True)
def orthant4_from_corr(R) -> float:
    """P(X > 0) of a 4-dimensional Gaussian with correlation matrix R (module docstring).

    The path starts from the pairing whose cross correlations are smallest (so the rate
    phi_2 ~ (1 - s^2 rho^2)^(-1/2) stays smooth), and the integral over s in [0, 1] is
    bisected where Kronrod and Gauss disagree by more than their share of ORTHANT_RTOL
    (in tau, s = 1 - (1 - tau)^2: :func:`_rate_in_tau`).
    """
    best, pa, pb, pc, pd = 2.0, 0, 1, 2, 3
    for a, b, c, d in ((0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2)):
        worst = max(max(abs(R[a, c]), abs(R[a, d])), max(abs(R[b, c]), abs(R[b, d])))
        if worst < best:
            best, pa, pb, pc, pd = worst, a, b, c, d
    base = (0.25 + math.asin(R[pa, pb]) / TWO_PI) * (0.25 + math.asin(R[pc, pd]) / TWO_PI)
    Rs = np.empty((4, 4))
    los = np.empty(MAX_PANELS)
    his = np.empty(MAX_PANELS)
    pieces = np.empty((4, LADDER_RUNGS + 1))        # the first panels' lo, hi, value, error (one allocation)
    first = _first_panels(R, pa, pb, pc, pd, pieces[0], pieces[1])
    for t in range(first):
        pieces[2, t], pieces[3, t] = _gk15(R, pa, pb, pc, pd, pieces[0, t], pieces[1, t], Rs)
    tol = max(ORTHANT_RTOL * abs(base + pieces[2, :first].sum()), 1e-16)
    total, n = 0.0, 0
    for t in range(first):                          # keep the converged first panels, halve the others
        lo, hi = pieces[0, t], pieces[1, t]
        if pieces[3, t] <= tol * (hi - lo) or hi - lo < MIN_PANEL:
            total += pieces[2, t]
        else:
            los[n], his[n] = lo, 0.5 * (lo + hi)
            los[n + 1], his[n + 1] = 0.5 * (lo + hi), hi
            n += 2
    used = n
    while n > 0:
        n -= 1
        lo, hi = los[n], his[n]
        val, err = _gk15(R, pa, pb, pc, pd, lo, hi, Rs)
        if err <= tol * (hi - lo) or used + 2 > MAX_PANELS or hi - lo < MIN_PANEL:
            total += val
        else:
            mid = 0.5 * (lo + hi)
            los[n], his[n] = lo, mid
            los[n + 1], his[n + 1] = mid, hi
            n += 2
            used += 2
    return min(1.0, max(0.0, base + total))


@numba.njit(cache=True)
def distinct_set(C, S, n, out) -> int:
    """Copy the n indices S into ``out`` without repeats or positively collinear coordinates; count.

    Returns -1 if two coordinates are negatively collinear (then P(all > 0) = 0).
    """
    m = 0
    for t in range(n):
        s = S[t]
        keep = True
        for u in range(m):
            o = out[u]
            if o == s:
                keep = False
                break
            r = corr(C[s, s], C[s, o], C[o, o])
            if r >= 1.0 - COLLINEAR:
                keep = False
                break
            if r <= -1.0 + COLLINEAR:
                return -1
        if keep:
            out[m] = s
            m += 1
    return m


@numba.njit(cache=True)
def orthant(C, S, n) -> float:
    """P(X_s > 0 for the n distinct coordinates s in S), n <= 4."""
    if n == 0:
        return 1.0
    if n == 1:
        return 0.5
    if n == 2:
        return orthant2(C[S[0], S[0]], C[S[0], S[1]], C[S[1], S[1]])
    R = np.empty((n, n))
    for x in range(n):
        for y in range(n):
            R[x, y] = corr(C[S[x], S[x]], C[S[x], S[y]], C[S[y], S[y]])
    if n == 3:
        return 0.125 + (math.asin(R[0, 1]) + math.asin(R[0, 2]) + math.asin(R[1, 2])) / (2.0 * TWO_PI)
    return orthant4_from_corr(R)


@numba.njit(cache=True)
def _orthant_given(C, S, n, k, q) -> float:
    """P(X_s > 0, s in S minus {k, q} | X_k = X_q = 0): at most two coordinates remain."""
    x = -1
    y = -1
    m = 0
    for t in range(n):                              # the (at most two) remaining coordinates, without allocating
        if S[t] != k and S[t] != q:
            if m == 0:
                x = S[t]
            else:
                y = S[t]
            m += 1
    if m == 0:
        return 1.0
    if m == 1:
        return 0.5
    return _p2_given_pair(C, k, q, x, y)
