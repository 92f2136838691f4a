"""Analytic Jacobian of the fused ODE right-hand side (:mod:`tsdyn.dynamics.ode_rhs`).

d(dy/dt)/dy for the implicit solvers: each of I2, I3, I4, J2 (:mod:`tsdyn.integrals`, whose
pieces it evaluates: lambda_3, lambda_4, lambda_1 of I4 and the I3 numerator) is differentiated with respect to
the covariance entries of its fields. Tested against central finite differences of the RHS and
of the readable equations (:mod:`tsdyn.dynamics.equations`) in tests/test_ode.py.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from tsdyn.dynamics.ode_state import FASTMATH, covariance_terms, pair_weights, variable_index
from tsdyn.integrals import FOUR_OVER_PI2, TWO_OVER_PI, i3_numerator_nb, i4_lambda_nb, lambda_det_nb


@numba.njit(cache=True, inline="always")
def _scatter(row: np.ndarray, at: int, value: float) -> None:
    if at >= 0:
        row[at] += value


@numba.njit(cache=True, fastmath=FASTMATH)
def jacobian_kernel(y: np.ndarray, T: np.ndarray, vstar: np.ndarray, K: int, lr: float, lr2: float,
                    sigma2: float, s4: np.ndarray, asin4: np.ndarray, lr_sq: float) -> np.ndarray:
    """d(dy/dt)/dy of :func:`tsdyn.dynamics.ode_rhs.rhs`, analytically, given the I4 arcsin arguments and their arcsins.

    Every integral is differentiated with respect to each covariance entry of
    its fields and the result is added to the state variable holding that
    entry, so fields that coincide (I4(i, k, i, b), ...) are handled by the
    same scatter. ``s4`` and ``asin4`` are ``args4`` of :func:`~tsdyn.dynamics.ode_rhs.first_stage`
    before and after the arcsin; ``lr_sq`` the factor of the lr^2 terms (lr^2 / B).
    """
    M = T.shape[0]
    L = K + M
    n = y.shape[0]
    vbase = K * (K + 1) // 2 + K * M
    C, c, od = covariance_terms(y, T, vstar, K)
    idx = variable_index(K, M)
    J = np.zeros((n, n))

    # G[i, b] = sum_a c_a I3(i, b, a), I3 = (2/pi) N / ((1 + C11) sqrt(L3)) with fields (1, 2, 3) = (i, b, a),
    # N = C23 (1 + C11) - C12 C13 (i3_numerator: the derivatives are those of N), L3 = lambda_3.
    G = np.zeros((K, L))
    dG = np.zeros((K, L, n))
    for i in range(K):
        a1 = od[i]
        for b in range(L):
            row = dG[i, b]
            for a in range(L):
                rs = 1.0 / math.sqrt(lambda_det_nb(a1, C[i, a], od[a]))
                Nn = i3_numerator_nb(a1, C[i, b], C[i, a], C[b, a])
                u = TWO_OVER_PI * Nn / a1 * rs
                G[i, b] += c[a] * u
                if a < K:
                    row[vbase + a] += u
                w = TWO_OVER_PI * c[a] * rs / a1
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
            L4 = lambda_det_nb(a1, C12, a2)
            rs4 = 1.0 / math.sqrt(L4)
            H = 0.0
            for q in range(weights4.shape[0]):
                H += weights4[q] * asin4[q, p]
            H *= FOUR_OVER_PI2 * rs4
            J2 = TWO_OVER_PI * rs4
            lr2_ = lr_sq
            row[vbase + i] += lr2_ * c[k] * (H + sigma2 * J2)
            row[vbase + k] += lr2_ * c[i] * (H + sigma2 * J2)
            mult = lr2_ * c[i] * c[k]
            # sigma^2 J2(i, k): dJ2 = -(1/2) (2/pi) L4^(-3/2) dL4
            g = -0.5 * mult * sigma2 * J2 * rs4 * rs4
            _scatter(row, idx[i, i], g * a2)
            _scatter(row, idx[k, k], g * a1)
            _scatter(row, idx[i, k], -2.0 * g * C12)
            for a in range(L):
                L1[a] = i4_lambda_nb(L4, a1, a2, C12, C[i, a], C[k, a], od[a])
            # I4 with fields (1, 2, 3, 4) = (i, k, a, b) = (4/pi^2) L4^(-1/2) arcsin(s), s = L0 / sqrt(L1 L2):
            # dI4 = (4/pi^2) [L4^(-1/2) (1 - s^2)^(-1/2) ds - (1/2) L4^(-3/2) arcsin(s) dL4],
            # ds = dL0 / sqrt(L1 L2) - (s/2) (dL1 / L1 + dL2 / L2).
            q = 0
            for a in range(L):
                C13, C23, o3 = C[i, a], C[k, a], od[a]
                for b in range(a, L):
                    C14, C24, C34, o4 = C[i, b], C[k, b], C[a, b], od[b]
                    s = s4[q, p]
                    I4 = FOUR_OVER_PI2 * rs4 * asin4[q, p]
                    if a < K:
                        row[vbase + a] += mult * 2.0 * c[b] * I4
                    if b < K and b > a:
                        row[vbase + b] += mult * 2.0 * c[a] * I4
                    wq = mult * weights4[q]
                    inv12 = 1.0 / math.sqrt(L1[a] * L1[b])
                    A = wq * FOUR_OVER_PI2 * rs4 / math.sqrt(max(1.0 - s * s, 1e-300))
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
                z = C[i, a] * rz  # i2_argument, with rz kept for the derivative
                if a < K:
                    row[vbase + a] += -lr2 * TWO_OVER_PI * math.asin(min(1.0, max(-1.0, z)))
                w = -lr2 * TWO_OVER_PI * c[a] / math.sqrt(max(1.0 - z * z, 1e-300))
                _scatter(row, idx[i, a], w * rz)
                _scatter(row, idx[i, i], -0.5 * w * z / od[i])
                _scatter(row, idx[a, a], -0.5 * w * z / od[a])
    return J
