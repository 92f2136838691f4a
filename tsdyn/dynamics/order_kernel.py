"""Numba kernel of the exact order-parameter chain of online SGD (``theory/order_engine.md``).

State. The teacher and student vectors are kept by their coordinates in an
orthonormal basis of (a space containing) their span, scaled by 1/sqrt(N):

    w*_n / sqrt(N) = sum_m LT[n, m] b_m,                      (teacher span: b_0..b_{M-1})
    w_k  / sqrt(N) = sum_m A[k, m] b_m + sum_c Cs[k, c] b_{M+c},  c < K + j,

stored together as C = [A | Cs] (K x (M + K + period), kept transposed as CT),
so that Q = A A^T + Cs Cs^T = C C^T, R = A LT^T and T = LT LT^T exactly
(theory/order_engine.md, eq. (2)). The basis itself is never stored: the
input distribution is rotation invariant, so only the coordinates matter.

One step (theory/order_engine.md, eqs (3)-(6)). The coordinates of a fresh
input x ~ N(0, I_N) in the basis are z ~ N(0, I_{M+K+j}) and its squared norm
orthogonal to the basis is rho ~ chi^2_{N-M-K-j}, independent of z. The fields
are nu = LT z_T, lambda = A z_T + Cs z_S; with the error signal
delta = sum_m v*_m g(nu_m) - sum_k v_k g(lambda_k) + sigma zeta
(= -Delta of :mod:`tsdyn.dynamics.sgd_kernel`) and u_k = (eta/N) v_k g'(lambda_k) delta,
the SGD step w_k += (eta/sqrt N) v_k g'(lambda_k) delta x becomes

    C[k, :M+K+j] += u_k z,   C[k, M+K+j] = u_k sqrt(rho),
    v_k  += (eta_v/N) delta g(lambda_k),

the last coordinate along the new basis direction x_perp / |x_perp|. This is
the SGD step itself written in coordinates, not an approximation: Q, R, v
after it equal those of the updated weights (tests/test_order_engine.py).

Compression. Each step adds one basis direction; every ``period`` steps the
student part is refactorised, Cs <- F with F F^T = Cs Cs^T (K x K, Cholesky
of the Gram matrix), which changes the basis but not Q, R: rotation invariance
again. The amortised cost per step is O(K (M + K + period) + K^3 / period),
never O(N). Omega = [[T, R^T], [R, Q]] is the Gram matrix of the coordinates,
so it stays positive semi-definite by construction at every step; near-dependent
student vectors (a pivot losing all but 1e-8 of its diagonal) switch the
refactorisation to pivoted Cholesky, which cannot fail (a zero pivot leaves a
zero column).

Determinism: which normals a step reads is a function of its index alone
(:func:`normals_offset`), so a run does not depend on where it is cut
(record times, chunks). ``fastmath`` is limited to re-association, keeping
NaN/inf semantics for the divergence check (as in :mod:`tsdyn.dynamics.sgd_kernel`).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from tsdyn.conventions import g_prime_scalar, g_scalar
from tsdyn.dynamics.sgd_kernel import DIVERGENCE_BOUND, FINITE

_FASTMATH = {"reassoc"}
#: A Cholesky pivot keeping less than this fraction of its diagonal means near-dependent student
#: vectors: the compression then switches to the pivoted factorisation, whose entries stay bounded.
PIVOT_RTOL = 1e-8
#: Pivoted Cholesky stops at pivots below this fraction of the largest diagonal (rounding level).
GRAM_RTOL = 1e-14

__all__ = ["DIVERGENCE_BOUND", "FINITE", "PIVOT_RTOL", "cycle_normals", "normals_offset", "order_step",
           "order_steps", "compress", "gram_factor"]


@numba.njit(cache=True, inline="always")
def cycle_normals(M: int, K: int, period: int) -> int:
    """Normals drawn by one compression cycle: sum over j < period of M + K + j."""
    return period * (M + K) + period * (period - 1) // 2


@numba.njit(cache=True, inline="always")
def normals_offset(s: int, M: int, K: int, period: int) -> int:
    """Index of the first normal of step s (counted from a cycle boundary) in the flat stream."""
    j = s % period
    return (s // period) * cycle_normals(M, K, period) + j * (M + K) + j * (j - 1) // 2


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def order_step(CT, LT, v, vstar, z, off, rho, width, zeta, rate_w, rate_v, sigma, train_v, lam, u):
    """One SGD step in coordinates; returns False if lambda or delta diverged (state then unchanged).

    Parameters
    ----------
    CT : (>= width + 1, K) student coordinates, CT[c, k] = C[k, c] (module docstring), updated in place.
        Basis-major, so that fields and updates run along K contiguous nodes.
    LT : (M, M) lower-triangular teacher coordinates.
    v : (K,) student second layer (updated in place).  vstar : (M,) teacher second layer.
    z, off : the coordinates of the input are z[off:off + width]: the first M in the teacher
        span, the rest along the other basis directions. (An offset, not a slice: no view per step.)
    rho : squared norm of the input orthogonal to the basis (chi^2_{N-width}).
    width : basis directions in use (M + K + j); row ``width`` of CT receives the new one.
    zeta : label noise.  rate_w, rate_v : eta/N (coordinates are w/sqrt N) and eta_v/N.
    lam, u : (K,) work arrays (on return: the fields lambda and the steps u).
    """
    K, M = CT.shape[1], LT.shape[0]
    delta = sigma * zeta
    for n in range(M):
        nu = 0.0
        for m in range(n + 1):
            nu += LT[n, m] * z[off + m]
        delta += vstar[n] * g_scalar(nu)
    z0 = z[off]
    for k in range(K):
        lam[k] = z0 * CT[0, k]
    for c in range(1, width):
        zc = z[off + c]
        for k in range(K):
            lam[k] += zc * CT[c, k]
    for k in range(K):
        if not abs(lam[k]) <= DIVERGENCE_BOUND:   # as sgd_kernel: a saturated g hides a blown-up weight
            return False
        u[k] = g_scalar(lam[k])                   # u holds g(lambda) until delta is known
        delta -= v[k] * u[k]
    if not abs(delta) <= DIVERGENCE_BOUND:        # also catches NaN
        return False
    for k in range(K):
        gk = u[k]
        u[k] = rate_w * delta * v[k] * g_prime_scalar(lam[k])   # from the pre-step v, as SGD
        if train_v:
            v[k] += rate_v * delta * gk
    for c in range(width):
        zc = z[off + c]
        for k in range(K):
            CT[c, k] += zc * u[k]
    r = math.sqrt(rho)
    for k in range(K):
        CT[width, k] = r * u[k]
    return True


@numba.njit(cache=True, nogil=True)
def gram_factor(S, F):
    """F with F F^T = S for a symmetric positive semi-definite S (K x K), by pivoted Cholesky.

    S is overwritten (it holds the Schur complements). Pivoting on the largest
    remaining diagonal bounds |F[i, c]| <= F[p, c] for the pivot p, so small
    pivots cannot blow up; elimination stops when every remaining pivot is at
    most :data:`GRAM_RTOL` of the largest diagonal of S (the remaining
    complement, positive semi-definite, is then that small in every entry:
    rounding), leaving zero columns. The result is a factor in a permuted, not a triangular, layout,
    which is all the chain needs (any F with F F^T = S gives the same law).
    """
    K = S.shape[0]
    F[:, :] = 0.0
    floor = 0.0
    for i in range(K):
        floor = max(floor, GRAM_RTOL * S[i, i])
    active = np.ones(K, dtype=np.bool_)
    for c in range(K):
        p, d = -1, floor
        for i in range(K):
            if active[i] and S[i, i] > d:
                p, d = i, S[i, i]
        if p < 0:                               # remaining complement at rounding level: rank c reached
            break
        active[p] = False
        root = math.sqrt(d)
        F[p, c] = root
        for i in range(K):
            if active[i]:
                F[i, c] = S[i, p] / root
        for i in range(K):
            if active[i]:
                fi = F[i, c]
                for k in range(K):
                    if active[k]:
                        S[i, k] -= fi * F[k, c]


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _gram(CT, M, width, S):
    """S = Cs Cs^T, Cs = CT[M:width].T: a sum of outer products of rows, contiguous along K."""
    K = CT.shape[1]
    for i in range(K):
        for k in range(i + 1):
            S[i, k] = 0.0
    for c in range(M, width):
        for i in range(K):
            ri = CT[c, i]
            for k in range(i + 1):             # lower triangle; mirrored below
                S[i, k] += ri * CT[c, k]
    for i in range(K):
        for k in range(i):
            S[k, i] = S[i, k]


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _cholesky_inplace(S) -> bool:
    """Lower Cholesky factor of S in its lower triangle; False if a pivot keeps < PIVOT_RTOL of its diagonal."""
    K = S.shape[0]
    for j in range(K):
        d = S[j, j]
        for c in range(j):
            d -= S[j, c] * S[j, c]
        if not d > PIVOT_RTOL * S[j, j]:       # S[j, j] is still the original diagonal here
            return False
        root = math.sqrt(d)
        S[j, j] = root
        inv = 1.0 / root
        for i in range(j + 1, K):
            acc = S[i, j]
            for c in range(j):
                acc -= S[i, c] * S[j, c]
            S[i, j] = acc * inv
    return True


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def compress(CT, M, width, S, F):
    """Cs <- F with F F^T = Cs Cs^T, Cs = CT[M:width].T; rows M+K.. of CT <- 0. A = CT[:M].T is untouched.

    Plain Cholesky when every pivot keeps more than :data:`PIVOT_RTOL` of its
    diagonal (well conditioned: its backward error is rounding), else the
    pivoted :func:`gram_factor`, which cannot fail. S, F: (K, K) work arrays.
    Rows of CT at and beyond ``width`` must be zero (they are, between cycles).
    """
    K = CT.shape[1]
    _gram(CT, M, width, S)
    if _cholesky_inplace(S):
        for c in range(K):                     # CT[M + c, k] = L[k, c], zero above the diagonal
            for k in range(c):
                CT[M + c, k] = 0.0
            for k in range(c, K):
                CT[M + c, k] = S[k, c]
    else:
        _gram(CT, M, width, S)                 # rare: S was overwritten; redo it, factor with pivoting
        gram_factor(S, F)
        for c in range(K):
            for k in range(K):
                CT[M + c, k] = F[k, c]
    for c in range(M + K, width):
        for k in range(K):
            CT[c, k] = 0.0


@numba.njit(cache=True, nogil=True)
def order_steps(CT, LT, v, vstar, normals, chi2, noise, lo, hi, period, rate_w, rate_v, sigma, train_v):
    """Run steps lo..hi-1 of a chunk that starts at a cycle boundary; return FINITE or the bad step.

    Step s reads the normals at :func:`normals_offset` (s), ``chi2[s]`` and
    ``noise[s]``; it uses width M + K + s % period and, when s % period is the
    last of a cycle, compresses. ``chi2[s]`` must be chi^2 with
    N - M - K - s % period degrees of freedom. Returns the index s of the first
    step whose fields or error signal diverged (the state is then that after
    s steps of the chunk), else FINITE (-1).
    """
    K, M = CT.shape[1], LT.shape[0]
    lam, u = np.empty(K), np.empty(K)
    S, F = np.empty((K, K)), np.empty((K, K))
    j, off = lo % period, normals_offset(lo, M, K, period)
    for s in range(lo, hi):                    # j = s % period and off = normals_offset(s), kept incrementally
        width = M + K + j
        if not order_step(CT, LT, v, vstar, normals, off, chi2[s], width, noise[s], rate_w, rate_v, sigma,
                          train_v, lam, u):
            return s
        off += width
        j += 1
        if j == period:
            compress(CT, M, width + 1, S, F)
            j = 0
    return FINITE
