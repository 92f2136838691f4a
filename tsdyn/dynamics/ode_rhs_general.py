"""The order-parameter ODEs for any supported activation pair (erf, relu, linear; Goldt et al. 2019).

Same equations as the fused erf kernel (:mod:`tsdyn.dynamics.ode_rhs`), with Delta = sum_a c_a
f_a(field_a), c = (v, -v*), and each field's activation code f_a (students: the student's,
teachers: the teacher's; :func:`tsdyn.activation_integrals.field_codes`):

    dR_in/dt = -lr c_i sum_a c_a I3(i, n, a)
    dQ_ik/dt = -lr [c_i sum_a c_a I3(i, k, a) + c_k sum_a c_a I3(k, i, a)]
               + (lr^2 / B) c_i c_k [sum_ab c_a c_b I4(i, k, a, b) + sigma^2 J2(i, k)]
    dv_i/dt  = -lr2 sum_a c_a I2(i, a)

with the integrals of :mod:`tsdyn.activation_integrals` (closed forms for erf and linear and for
ReLU's I2, I3, J2; ReLU's I4 by :mod:`tsdyn.orthant`). I4 is symmetric in (i, k) and in (a, b),
so only i <= k and a <= b are evaluated. The readable form is :mod:`tsdyn.dynamics.equations`
(``activation=``); tests/test_ode_general.py checks this kernel against it, against the fused erf
kernel (to 1e-12) and against a Monte-Carlo estimate of the SGD drift.
"""
from __future__ import annotations

import numba
import numpy as np

from tsdyn.activation_integrals import i3, i4_cached, j2, pair_mean
from tsdyn.dynamics.ode_state import covariance_terms
from tsdyn.tallis import relu_cache, reset_relu_cache, stale_sets


@numba.njit(cache=True)
def general_rhs_kernel(y: np.ndarray, T: np.ndarray, vstar: np.ndarray, K: int, lr: float, lr2: float,
                       sigma2: float, codes: np.ndarray, lr_sq: float, ids, P, W, reset: bool = True) -> np.ndarray:
    """d y / dt of the module's equations; ``lr_sq`` is the factor of the lr^2 terms (lr^2 / B).

    ``reset`` False keeps the 4-set pieces stored in (ids, P, W) that are not marked stale
    (:func:`general_jacobian_kernel`)."""
    M = T.shape[0]
    L = K + M
    C, c, _ = covariance_terms(y, T, vstar, K)
    gs = codes[0] if K > 0 else 0
    # G[i, b] = sum_a c_a I3(i, b, a): the lr terms of dQ (b a student) and dR (b a teacher).
    G = np.empty((K, L))
    for i in range(K):
        for b in range(L):
            acc = 0.0
            for a in range(L):
                acc += c[a] * i3(C, i, b, a, gs, codes[a])
            G[i, b] = acc
    dy = np.zeros(y.shape[0])
    if reset:
        reset_relu_cache(ids)                       # ReLU's per-4-set pieces, shared by the I4 below
    p = 0
    for i in range(K):
        for k in range(i, K):
            H = 0.0
            for a in range(L):
                for b in range(a, L):
                    w = c[a] * c[b] * (2.0 if b > a else 1.0)
                    H += w * i4_cached(C, i, k, a, b, gs, codes[a], codes[b], ids, P, W)
            dy[p] = -lr * (c[i] * G[i, k] + c[k] * G[k, i]) + lr_sq * c[i] * c[k] * (H + sigma2 * j2(C, i, k, gs))
            p += 1
    for i in range(K):
        for n in range(M):
            dy[p] = -lr * c[i] * G[i, K + n]
            p += 1
    if lr2 != 0.0:
        for i in range(K):
            acc = 0.0
            for a in range(L):
                acc += c[a] * pair_mean(gs, codes[a], C[i, i], C[i, a], C[a, a])
            dy[p] = -lr2 * acc
            p += 1
    return dy


def general_rhs(y, T, vstar, K: int, lr: float, lr2: float, sigma2: float, codes, batch: int = 1,
                work: tuple | None = None) -> tuple[np.ndarray, bool]:
    """(d y / dt, whether it is finite) for field activation ``codes`` (K students, M teachers).

    ``work`` is an optional :func:`tsdyn.tallis.relu_cache` workspace to reuse.
    """
    work = relu_cache(len(codes)) if work is None else work
    dy = general_rhs_kernel(np.asarray(y, dtype=float), T, vstar, int(K), float(lr), float(lr2), float(sigma2),
                            np.asarray(codes, dtype=np.int64), lr * lr / batch, *work)
    return dy, bool(np.all(np.isfinite(dy)))


@numba.njit(cache=True)
def state_fields(K: int, M: int) -> np.ndarray:
    """(p, q) fields of the covariance entry each state coordinate sets ((-1, -1) for v: no entry)."""
    nq = K * (K + 1) // 2
    out = np.full((nq + K * M + K, 2), -1, dtype=np.int64)
    x = 0
    for i in range(K):
        for k in range(i, K):
            out[x, 0], out[x, 1] = i, k
            x += 1
    for i in range(K):
        for n in range(M):
            out[x, 0], out[x, 1] = i, K + n
            x += 1
    return out


@numba.njit(cache=True, parallel=True)
def general_jacobian_kernel(y, T, vstar, K: int, lr: float, lr2: float, sigma2: float, codes, lr_sq: float,
                            ids, P, W, step: float) -> np.ndarray:
    """Forward-difference d(dy/dt)/dy of :func:`general_rhs_kernel` that recomputes only what a column moves.

    A state coordinate is one covariance entry C_pq (Q_ik or R_in) or one v_i: its column re-evaluates
    the closed forms but only the ReLU 4-sets holding both p and q (15 of the 70 of M = 2, K = 6; none
    for v), the others kept from the base point (:func:`tsdyn.tallis.stale_sets`). The result is
    the plain forward difference of the RHS (tests/test_ode_general.py). The columns are independent
    (each starts from its own copy of the base point's workspace), so they run in parallel threads
    (``numba.prange``) and the result does not depend on the number of threads.
    """
    n = y.shape[0]
    L = K + T.shape[0]
    f0 = general_rhs_kernel(y, T, vstar, K, lr, lr2, sigma2, codes, lr_sq, ids, P, W, True)
    fields = state_fields(K, T.shape[0])
    J = np.empty((n, n))
    for x in numba.prange(n):
        ids_x, P_x, W_x = ids.copy(), P.copy(), W.copy()
        if fields[x, 0] >= 0:
            stale_sets(ids_x, L, fields[x, 0], fields[x, 1])
        yp = y.copy()
        h = step * max(1.0, abs(y[x]))
        yp[x] = y[x] + h
        h = yp[x] - y[x]                            # the step actually taken in floating point
        J[:, x] = (general_rhs_kernel(yp, T, vstar, K, lr, lr2, sigma2, codes, lr_sq, ids_x, P_x, W_x, False) - f0) / h
    return J


def general_jacobian(y, T, vstar, K: int, lr: float, lr2: float, sigma2: float, codes, batch: int = 1,
                     step: float = 1e-6, work: tuple | None = None) -> np.ndarray:
    """d(dy/dt)/dy of :func:`general_rhs` by forward differences of relative step ``step``
    (:func:`general_jacobian_kernel`; implicit solvers only: the Newton iterations need it to a few digits).

    Why 1e-6 and not sqrt(machine epsilon) ~ 1e-8: ReLU's I4 comes from quadratures good to ~1e-10
    relative, so the RHS carries noise of that size; a step of 1e-8 turns it into errors of ~1e-2 in J,
    Newton fails near the learnt state and LSODA refreshes J over and over (252 Jacobians for M = 2,
    K = 6 to t = 1600, against 134 at 1e-6; the truncation error of 1e-6 is ~1e-6 relative;
    ``python benchmarks/bench_relu_ode.py``, benchmarks/RESULTS.md)."""
    codes = np.asarray(codes, dtype=np.int64)
    work = relu_cache(len(codes)) if work is None else work
    return general_jacobian_kernel(np.asarray(y, dtype=float), T, vstar, int(K), float(lr), float(lr2), float(sigma2),
                                   codes, lr * lr / batch, *work, float(step))
