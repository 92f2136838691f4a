"""Right-hand side of the order-parameter ODEs (Goldt et al. 2019; Saad & Solla 1995).

With t = steps / N, Delta = sum_j v_j g(lambda_j) - sum_n v*_n g(nu_n) the
noise-free output error and the SGD step of NOTES.md, the N -> infinity limit is

    dR_in/dt = -lr v_i E[g'(lambda_i) nu_n Delta]
             = lr v_i [ sum_m v*_m I3(i,n,m) - sum_j v_j I3(i,n,j) ]
    dQ_ik/dt = -lr v_i E[g'(lambda_i) lambda_k Delta] + (i <-> k)
               + lr^2 v_i v_k ( E[g'(lambda_i) g'(lambda_k) Delta^2] + sigma^2 J2(i,k) )
    dv_i/dt  = -lr2 E[g(lambda_i) Delta] = lr2 [ sum_n v*_n I2(i,n) - sum_j v_j I2(i,j) ]

(Goldt et al. 2019, the ODEs for R, Q and v, with the integrals of :mod:`tsdyn.integrals`;
derived again from the SGD step of NOTES.md and checked against it by Monte Carlo in tests/test_ode.py).
Writing every field as one index a of the joint covariance C = [[Q, R], [R^T, T]]
and Delta = sum_a c_a g(field_a) with c = (v, -v*) turns each sum over students
and teachers into one sum over a, which is how the kernel below evaluates it.

The state is one flat vector ``y = (Q upper triangle, R row-major, v)``; T and
v* are constants. :func:`rhs` gives dy/dt, :func:`jacobian` its analytic
Jacobian (for the implicit solvers; about 4 RHS evaluations' cost at K = 6 and
12 at K = 20, where finite differences would cost n + 1 = 331), and
:class:`OdeRhs` wraps both as ``f(t, y)``. This module knows nothing about time
stepping (:mod:`tsdyn.dynamics.ode` owns the solvers).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from tsdyn.integrals import ARCSIN_SLACK

_TWO_OVER_PI = 2.0 / math.pi
_FOUR_OVER_PI2 = 4.0 / math.pi**2


def pack(Q: np.ndarray, R: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Flat state (Q upper triangle row by row, R row-major, v) of one time."""
    iu = np.triu_indices(Q.shape[0])
    return np.concatenate([np.asarray(Q, dtype=float)[iu], np.ravel(R), np.ravel(v)]).astype(float)


def unpack(y: np.ndarray, K: int, M: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`pack`, batched over leading axes of ``y``: (Q, R, v)."""
    y = np.asarray(y, dtype=float)
    lead = y.shape[:-1]
    nq = K * (K + 1) // 2
    iu = np.triu_indices(K)
    Q = np.zeros(lead + (K, K))
    Q[..., iu[0], iu[1]] = y[..., :nq]
    Q[..., iu[1], iu[0]] = y[..., :nq]
    R = y[..., nq:nq + K * M].reshape(lead + (K, M))
    v = y[..., nq + K * M:].copy()
    return Q, R, v


@numba.njit(cache=True)
def joint_covariance(y: np.ndarray, T: np.ndarray, K: int) -> np.ndarray:
    """C = [[Q, R], [R^T, T]] of the fields (lambda_1..K, nu_1..M) from a flat state."""
    M = T.shape[0]
    L = K + M
    C = np.empty((L, L))
    p = 0
    for i in range(K):
        for k in range(i, K):
            C[i, k] = y[p]
            C[k, i] = y[p]
            p += 1
    for i in range(K):
        for n in range(M):
            C[i, K + n] = y[p]
            C[K + n, i] = y[p]
            p += 1
    for n in range(M):
        for m in range(M):
            C[K + n, K + m] = T[n, m]
    return C


#: Re-association and fused multiply-add only, so that LLVM vectorises the long
#: loops over student pairs; NaN/inf semantics are kept.
_FASTMATH = {"reassoc", "contract"}


@numba.njit(cache=True)
def fields(y: np.ndarray, T: np.ndarray, vstar: np.ndarray, K: int):
    """(C, c, 1 + diag C): joint covariance, output weights c = (v, -v*) with Delta = sum_a c_a g(field_a)."""
    M = T.shape[0]
    C = joint_covariance(y, T, K)
    c = np.empty(K + M)
    vbase = K * (K + 1) // 2 + K * M
    for a in range(K):
        c[a] = y[vbase + a]
    for n in range(M):
        c[K + n] = -vstar[n]
    one_d = np.empty(K + M)
    for a in range(K + M):
        one_d[a] = 1.0 + C[a, a]
    return C, c, one_d


@numba.njit(cache=True)
def pair_weights(c: np.ndarray) -> np.ndarray:
    """c_a c_b for field pairs a <= b (row-major), doubled off the diagonal: sum_ab = sum_(a<=b) weight."""
    L = c.shape[0]
    out = np.empty(L * (L + 1) // 2)
    q = 0
    for a in range(L):
        for b in range(a, L):
            out[q] = c[a] * c[b] * (2.0 if b > a else 1.0)
            q += 1
    return out


@numba.njit(cache=True, fastmath=_FASTMATH)
def first_stage(y: np.ndarray, T: np.ndarray, vstar: np.ndarray, K: int, lr: float, sigma2: float,
                args4: np.ndarray, args2: np.ndarray):
    """Everything of d y / dt except the arcsin sums, plus those sums' arguments.

    Returns ``(dy, weights4, prefactor4, c)``; fills ``args4[q, p]`` with the
    I4 arcsin argument of student pair p = (i <= k) and field pair q = (a <= b),
    and ``args2[i, a]`` with that of I2(i, a). The arcsins are taken by NumPy in one vectorised call
    (its SIMD arcsin is several times faster than the scalar libm one Numba
    calls) and :func:`second_stage` contracts them. Student pairs run along
    the last axis so that the inner loops are long and vectorise.

    With Delta = sum_a c_a g(field_a), c = (v, -v*):

    * G[i, b] = E[g'(lambda_i) field_b Delta] = sum_a c_a I3(i, b, a)
      = (2/pi) [sum_a C_ba s_ia - C_ib / (1 + C_ii) sum_a C_ia s_ia],
      s_ia = c_a / sqrt((1 + C_ii)(1 + C_aa) - C_ia^2), gives the lr terms;
    * H_ik = E[g'(lambda_i) g'(lambda_k) Delta^2] = sum_ab c_a c_b I4(i, k, a, b)
      = prefactor4[p] / (lr^2 v_i v_k) * sum_q weights4[q] arcsin(args4[q, p]),
      symmetric in (i, k) and (a, b), so only i <= k and a <= b are formed.
    """
    M = T.shape[0]
    L = K + M
    P = K * (K + 1) // 2
    C, c, one_d = fields(y, T, vstar, K)
    weights4 = pair_weights(c)

    G = np.empty((K, L))
    s = np.empty(L)
    for i in range(K):
        diag_sum = 0.0
        for a in range(L):
            s[a] = c[a] / math.sqrt(one_d[i] * one_d[a] - C[i, a] ** 2)
            diag_sum += C[i, a] * s[a]
        for b in range(L):
            acc = 0.0
            for a in range(L):
                acc += C[b, a] * s[a]
            G[i, b] = _TWO_OVER_PI * (acc - C[i, b] / one_d[i] * diag_sum)

    # Per student pair p = (i, k): L4 = (1+C_ii)(1+C_kk) - C_ik^2, and per field a
    # r = L1(a)^(-1/2), xr = C_ia r, zr = C_ka r (I4 of :mod:`tsdyn.integrals` with fields (i, k, a, b)).
    dy = np.zeros(y.shape[0])
    prefactor4 = np.empty(P)
    L4 = np.empty(P)
    Cik = np.empty(P)
    odi = np.empty(P)
    odk = np.empty(P)
    r = np.empty((L, P))
    xr = np.empty((L, P))
    zr = np.empty((L, P))
    p = 0
    for i in range(K):
        for k in range(i, K):
            L4[p] = one_d[i] * one_d[k] - C[i, k] ** 2
            Cik[p], odi[p], odk[p] = C[i, k], one_d[i], one_d[k]
            for a in range(L):
                xr[a, p] = C[i, a]
                zr[a, p] = C[k, a]
            inv_sqrt_L4 = 1.0 / math.sqrt(L4[p])
            lr2_vv = lr * lr * c[i] * c[k]
            prefactor4[p] = lr2_vv * _FOUR_OVER_PI2 * inv_sqrt_L4
            dy[p] = -lr * (c[i] * G[i, k] + c[k] * G[k, i]) + lr2_vv * sigma2 * _TWO_OVER_PI * inv_sqrt_L4
            p += 1
    for i in range(K):
        for n in range(M):
            dy[p] = -lr * c[i] * G[i, K + n]
            p += 1

    # r_a r_b L0(a, b) with L0 = L4 C_ab - (1+C_ii) C_ka C_kb - (1+C_kk) C_ia C_ib + C_ik (C_ia C_kb + C_ib C_ka)
    #   = C_ab (L4 r_a) r_b + (C_ik xr_a - (1+C_ii) zr_a) zr_b + (C_ik zr_a - (1+C_kk) xr_a) xr_b.
    for a in range(L):
        for p in range(P):
            xa, za = xr[a, p], zr[a, p]
            r[a, p] = 1.0 / math.sqrt(L4[p] * one_d[a] - za * za * odi[p] - xa * xa * odk[p]
                                      + 2.0 * Cik[p] * xa * za)
            xr[a, p] = xa * r[a, p]
            zr[a, p] = za * r[a, p]

    A1 = np.empty(P)
    A2 = np.empty(P)
    A3 = np.empty(P)
    q = 0
    for a in range(L):
        for p in range(P):
            A1[p] = L4[p] * r[a, p]
            A2[p] = Cik[p] * xr[a, p] - odi[p] * zr[a, p]
            A3[p] = Cik[p] * zr[a, p] - odk[p] * xr[a, p]
        for b in range(a, L):
            Cab = C[a, b]
            for p in range(P):
                args4[q, p] = Cab * A1[p] * r[b, p] + A2[p] * zr[b, p] + A3[p] * xr[b, p]
            q += 1
    for i in range(K):
        for a in range(L):
            args2[i, a] = C[i, a] / math.sqrt(one_d[i] * one_d[a])
    return dy, weights4, prefactor4, c


@numba.njit(cache=True, fastmath=_FASTMATH)
def second_stage(dy: np.ndarray, asin4: np.ndarray, asin2: np.ndarray, weights4: np.ndarray,
                 prefactor4: np.ndarray, c: np.ndarray, lr2: float) -> tuple[np.ndarray, bool]:
    """``dy`` plus the lr^2 I4 sums in dQ and the I2 sums in dv (lr2 = 0: frozen v); all finite?"""
    Lp, P = asin4.shape
    K, L = asin2.shape
    out = dy.copy()
    H = np.zeros(P)
    for q in range(Lp):
        w = weights4[q]
        for p in range(P):
            H[p] += w * asin4[q, p]
    for p in range(P):
        out[p] += prefactor4[p] * H[p]
    if lr2 != 0.0:
        start = out.shape[0] - K
        for i in range(K):
            acc = 0.0
            for a in range(L):
                acc += c[a] * asin2[i, a]
            out[start + i] = -lr2 * _TWO_OVER_PI * acc
    finite = True
    for x in out:
        finite = finite and math.isfinite(x)
    return out, finite


def arcsin_buffer(K: int, M: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Work buffer of :func:`first_stage`: (flat, I4 view (L(L+1)/2, K(K+1)/2), I2 view (K, L))."""
    L = K + M
    n4 = (L * (L + 1) // 2) * (K * (K + 1) // 2)
    flat = np.empty(n4 + K * L)
    return flat, flat[:n4].reshape(L * (L + 1) // 2, K * (K + 1) // 2), flat[n4:].reshape(K, L)


def rhs(y: np.ndarray, T: np.ndarray, vstar: np.ndarray, K: int, lr: float, lr2: float, sigma2: float,
        buffer: tuple | None = None) -> tuple[np.ndarray, bool]:
    """d y / dt of the ODEs above, and whether every arcsin argument was valid.

    ``lr2 = 0`` freezes the second layer; ``sigma2`` is the noise variance.
    An arcsin argument beyond [-1, 1] (the state left the valid domain, or a
    solver's trial stage overshot) is clipped so that the derivative stays
    finite, and the flag is False if one exceeded 1 by more than round-off
    (:data:`tsdyn.integrals.ARCSIN_SLACK`) or the result is not finite.
    ``buffer`` is an optional :func:`arcsin_buffer` to reuse.
    """
    flat, args4, args2 = arcsin_buffer(K, T.shape[0]) if buffer is None else buffer
    dy0, weights4, prefactor4, c = first_stage(y, T, vstar, K, lr, sigma2, args4, args2)
    # Common case without a per-element bound check: an argument beyond +-1 gives NaN here
    # (and a RuntimeWarning unless the caller silenced it with np.errstate) ...
    np.arcsin(flat, out=flat)
    dy, finite = second_stage(dy0, args4, args2, weights4, prefactor4, c, lr2)
    if finite:
        return dy, True
    # ... and only then are the arguments formed again, measured and clipped.
    dy0, weights4, prefactor4, c = first_stage(y, T, vstar, K, lr, sigma2, args4, args2)
    worst = float(np.max(np.abs(flat))) if flat.size else 0.0
    np.arcsin(np.clip(flat, -1.0, 1.0, out=flat), out=flat)
    dy, finite = second_stage(dy0, args4, args2, weights4, prefactor4, c, lr2)
    return dy, bool(finite and worst <= 1.0 + ARCSIN_SLACK)


@numba.njit(cache=True)
def covariance_is_psd(y: np.ndarray, T: np.ndarray, K: int, tol: float) -> bool:
    """Whether y is finite and C = [[Q, R], [R^T, T]] has smallest eigenvalue >= -tol * max(1, max|C|) * size.

    Decided by a Cholesky factorisation of C shifted by that margin (cheap enough
    to run after every solver step).
    """
    for x in y:
        if not math.isfinite(x):
            return False
    C = joint_covariance(y, T, K)
    L = C.shape[0]
    scale = 1.0
    for a in range(L):
        for b in range(L):
            scale = max(scale, abs(C[a, b]))
    shift = tol * scale * L
    for a in range(L):
        C[a, a] += shift
    for j in range(L):
        d = C[j, j]
        for m in range(j):
            d -= C[j, m] ** 2
        if not d > 0.0:
            return False
        C[j, j] = math.sqrt(d)
        for i in range(j + 1, L):
            acc = C[i, j]
            for m in range(j):
                acc -= C[i, m] * C[j, m]
            C[i, j] = acc / C[j, j]
    return True


@numba.njit(cache=True)
def variable_index(K: int, M: int) -> np.ndarray:
    """idx[x, z]: position in the flat state of the covariance entry C_xz (-1: teacher-teacher, constant)."""
    L = K + M
    idx = np.full((L, L), -1, dtype=np.int64)
    p = 0
    for i in range(K):
        for k in range(i, K):
            idx[i, k] = p
            idx[k, i] = p
            p += 1
    for i in range(K):
        for n in range(M):
            idx[i, K + n] = p
            idx[K + n, i] = p
            p += 1
    return idx


@numba.njit(cache=True, inline="always")
def _scatter(row: np.ndarray, at: int, value: float) -> None:
    if at >= 0:
        row[at] += value


@numba.njit(cache=True, fastmath=_FASTMATH)
def jacobian_kernel(y: np.ndarray, T: np.ndarray, vstar: np.ndarray, K: int, lr: float, lr2: float,
                    sigma2: float, s4: np.ndarray, asin4: np.ndarray) -> np.ndarray:
    """d(dy/dt)/dy of :func:`rhs`, analytically, given the I4 arcsin arguments and their arcsins.

    Every integral is differentiated with respect to each covariance entry of
    its fields and the result is added to the state variable holding that
    entry, so fields that coincide (I4(i, k, i, b), ...) are handled by the
    same scatter. ``s4`` and ``asin4`` are ``args4`` of :func:`first_stage`
    before and after the arcsin.
    """
    M = T.shape[0]
    L = K + M
    n = y.shape[0]
    vbase = K * (K + 1) // 2 + K * M
    C, c, od = fields(y, T, vstar, K)
    idx = variable_index(K, M)
    J = np.zeros((n, n))

    # G[i, b] = sum_a c_a I3(i, b, a), I3 = (2/pi) N / ((1 + C11) sqrt(L3)) with fields (1, 2, 3) = (i, b, a),
    # N = C23 (1 + C11) - C12 C13, L3 = (1 + C11)(1 + C33) - C13^2.
    G = np.zeros((K, L))
    dG = np.zeros((K, L, n))
    for i in range(K):
        a1 = od[i]
        for b in range(L):
            row = dG[i, b]
            for a in range(L):
                rs = 1.0 / math.sqrt(a1 * od[a] - C[i, a] ** 2)
                Nn = C[b, a] * a1 - C[i, b] * C[i, a]
                u = _TWO_OVER_PI * Nn / a1 * rs
                G[i, b] += c[a] * u
                if a < K:
                    row[vbase + a] += u
                w = _TWO_OVER_PI * c[a] * rs / a1
                rs2 = rs * rs
                _scatter(row, idx[i, i], w * (C[b, a] - Nn / a1 - 0.5 * Nn * od[a] * rs2))
                _scatter(row, idx[i, b], -w * C[i, a])
                _scatter(row, idx[i, a], w * (-C[i, b] + Nn * C[i, a] * rs2))
                _scatter(row, idx[b, a], w * a1)
                _scatter(row, idx[a, a], -0.5 * w * a1 * Nn * rs2)

    weights4 = pair_weights(c)
    L1 = np.empty(L)
    p = 0
    for i in range(K):
        for k in range(i, K):
            row = J[p]
            for x in range(n):
                row[x] = -lr * (c[i] * dG[i, k, x] + c[k] * dG[k, i, x])
            row[vbase + i] += -lr * G[i, k]
            row[vbase + k] += -lr * G[k, i]
            a1, a2, C12 = od[i], od[k], C[i, k]
            L4 = a1 * a2 - C12 * C12
            rs4 = 1.0 / math.sqrt(L4)
            H = 0.0
            for q in range(weights4.shape[0]):
                H += weights4[q] * asin4[q, p]
            H *= _FOUR_OVER_PI2 * rs4
            J2 = _TWO_OVER_PI * rs4
            lr2_ = lr * lr
            row[vbase + i] += lr2_ * c[k] * (H + sigma2 * J2)
            row[vbase + k] += lr2_ * c[i] * (H + sigma2 * J2)
            mult = lr2_ * c[i] * c[k]
            # sigma^2 J2(i, k): dJ2 = -(1/2) (2/pi) L4^(-3/2) dL4
            g = -0.5 * mult * sigma2 * J2 * rs4 * rs4
            _scatter(row, idx[i, i], g * a2)
            _scatter(row, idx[k, k], g * a1)
            _scatter(row, idx[i, k], -2.0 * g * C12)
            for a in range(L):
                L1[a] = L4 * od[a] - C[k, a] ** 2 * a1 - C[i, a] ** 2 * a2 + 2.0 * C12 * C[i, a] * C[k, a]
            # I4 with fields (1, 2, 3, 4) = (i, k, a, b) = (4/pi^2) L4^(-1/2) arcsin(s), s = L0 / sqrt(L1 L2):
            # dI4 = (4/pi^2) [L4^(-1/2) (1 - s^2)^(-1/2) ds - (1/2) L4^(-3/2) arcsin(s) dL4],
            # ds = dL0 / sqrt(L1 L2) - (s/2) (dL1 / L1 + dL2 / L2).
            q = 0
            for a in range(L):
                C13, C23, o3 = C[i, a], C[k, a], od[a]
                for b in range(a, L):
                    C14, C24, C34, o4 = C[i, b], C[k, b], C[a, b], od[b]
                    s = s4[q, p]
                    I4 = _FOUR_OVER_PI2 * rs4 * asin4[q, p]
                    if a < K:
                        row[vbase + a] += mult * 2.0 * c[b] * I4
                    if b < K and b > a:
                        row[vbase + b] += mult * 2.0 * c[a] * I4
                    wq = mult * weights4[q]
                    inv12 = 1.0 / math.sqrt(L1[a] * L1[b])
                    A = wq * _FOUR_OVER_PI2 * rs4 / math.sqrt(max(1.0 - s * s, 1e-300))
                    hs = 0.5 * s
                    i1, i2 = 1.0 / L1[a], 1.0 / L1[b]
                    B = -0.5 * wq * I4 / L4
                    _scatter(row, idx[i, i], A * ((a2 * C34 - C23 * C24) * inv12
                                                  - hs * ((a2 * o3 - C23 * C23) * i1 + (a2 * o4 - C24 * C24) * i2))
                             + B * a2)
                    _scatter(row, idx[k, k], A * ((a1 * C34 - C13 * C14) * inv12
                                                  - hs * ((a1 * o3 - C13 * C13) * i1 + (a1 * o4 - C14 * C14) * i2))
                             + B * a1)
                    _scatter(row, idx[i, k], A * ((-2.0 * C12 * C34 + C13 * C24 + C14 * C23) * inv12
                                                  - hs * ((-2.0 * C12 * o3 + 2.0 * C13 * C23) * i1
                                                          + (-2.0 * C12 * o4 + 2.0 * C14 * C24) * i2))
                             - 2.0 * B * C12)
                    _scatter(row, idx[i, a], A * ((-C14 * a2 + C12 * C24) * inv12
                                                  - hs * (-2.0 * C13 * a2 + 2.0 * C12 * C23) * i1))
                    _scatter(row, idx[i, b], A * ((-C13 * a2 + C12 * C23) * inv12
                                                  - hs * (-2.0 * C14 * a2 + 2.0 * C12 * C24) * i2))
                    _scatter(row, idx[k, a], A * ((-C24 * a1 + C12 * C14) * inv12
                                                  - hs * (-2.0 * C23 * a1 + 2.0 * C12 * C13) * i1))
                    _scatter(row, idx[k, b], A * ((-C23 * a1 + C12 * C13) * inv12
                                                  - hs * (-2.0 * C24 * a1 + 2.0 * C12 * C14) * i2))
                    _scatter(row, idx[a, a], -A * hs * L4 * i1)
                    _scatter(row, idx[b, b], -A * hs * L4 * i2)
                    _scatter(row, idx[a, b], A * L4 * inv12)
                    q += 1
            p += 1
    for i in range(K):
        for m in range(M):
            row = J[p]
            for x in range(n):
                row[x] = -lr * c[i] * dG[i, K + m, x]
            row[vbase + i] += -lr * G[i, K + m]
            p += 1
    if lr2 != 0.0:
        # dv_i/dt = -lr2 (2/pi) sum_a c_a arcsin(z_ia), z_ia = C_ia / sqrt((1 + C_ii)(1 + C_aa)).
        for i in range(K):
            row = J[vbase + i]
            for a in range(L):
                rz = 1.0 / math.sqrt(od[i] * od[a])
                z = C[i, a] * rz
                if a < K:
                    row[vbase + a] += -lr2 * _TWO_OVER_PI * math.asin(min(1.0, max(-1.0, z)))
                w = -lr2 * _TWO_OVER_PI * c[a] / math.sqrt(max(1.0 - z * z, 1e-300))
                _scatter(row, idx[i, a], w * rz)
                _scatter(row, idx[i, i], -0.5 * w * z / od[i])
                _scatter(row, idx[a, a], -0.5 * w * z / od[a])
    return J


def jacobian(y: np.ndarray, T: np.ndarray, vstar: np.ndarray, K: int, lr: float, lr2: float, sigma2: float,
             buffer: tuple | None = None) -> np.ndarray:
    """Jacobian d(dy/dt)/dy of :func:`rhs` at ``y`` (analytic; an (n, n) array)."""
    flat, args4, args2 = arcsin_buffer(K, T.shape[0]) if buffer is None else buffer
    first_stage(y, T, vstar, K, lr, sigma2, args4, args2)
    s4 = args4.copy()
    np.arcsin(np.clip(flat, -1.0, 1.0, out=flat), out=flat)
    return jacobian_kernel(y, T, vstar, K, lr, lr2, sigma2, s4, args4)


class OdeRhs:
    """The ODE right-hand side as a callable ``f(t, y)`` for a fixed (T, v*, K, rates).

    Parameters
    ----------
    T : (M, M) teacher overlaps.
    vstar : (M,) teacher second layer.
    K : number of student nodes.
    lr, lr2 : learning rates of the first and second layer (lr2 = 0 freezes v).
    sigma : output-noise standard deviation.

    Attributes
    ----------
    nfev, njev : number of evaluations of f and of its Jacobian so far.
    in_domain : whether every arcsin argument of the last evaluation was in [-1, 1].
    """

    def __init__(self, T: np.ndarray, vstar: np.ndarray, K: int, *, lr: float, lr2: float, sigma: float):
        self.T = np.ascontiguousarray(T, dtype=float)
        self.vstar = np.ascontiguousarray(vstar, dtype=float)
        self.K = int(K)
        self.lr, self.lr2, self.sigma2 = float(lr), float(lr2), float(sigma) ** 2
        self.nfev = 0
        self.njev = 0
        self.in_domain = True
        self._buffer = arcsin_buffer(self.K, self.T.shape[0])

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        """d f / d y at ``y`` (:func:`jacobian`), for implicit solvers."""
        self.njev += 1
        return jacobian(y, self.T, self.vstar, self.K, self.lr, self.lr2, self.sigma2, self._buffer)

    def __call__(self, t: float, y: np.ndarray) -> np.ndarray:
        self.nfev += 1
        dy, self.in_domain = rhs(y, self.T, self.vstar, self.K, self.lr, self.lr2, self.sigma2, self._buffer)
        return dy
