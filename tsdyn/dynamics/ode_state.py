"""The flat state of the order-parameter ODEs and the covariance it encodes.

The state is one vector ``y = (Q upper triangle, R row-major, v)``; T and v* are constants.
Every field (lambda_1..K, nu_1..M) is one index a of the joint covariance
C = [[Q, R], [R^T, T]], and the output error Delta = sum_a c_a g(field_a) with c = (v, -v*)
(Goldt et al. 2019, Sec. 2), which turns each of their sums over students and over teachers
into one sum over a. These helpers are shared by the RHS (:mod:`tsdyn.dynamics.ode_rhs`) and
its Jacobian (:mod:`tsdyn.dynamics.ode_jacobian`).
"""
from __future__ import annotations

import math

import numba
import numpy as np

#: Re-association and fused multiply-add only, so that LLVM vectorises the long loops of the
#: kernels over student pairs; NaN/inf semantics are kept.
FASTMATH = {"reassoc", "contract"}


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


@numba.njit(cache=True)
def covariance_terms(y: np.ndarray, T: np.ndarray, vstar: np.ndarray, K: int):
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
