"""Truncated second moments of a Gaussian, E[Y Z 1{X_S > 0}]: every ReLU integral of the ODE.

For a centred Gaussian X with covariance C, a set S of at most four coordinates and two more
coordinates Y, Z, Stein's lemma twice (Tallis 1961, the second moment of the truncated normal at
truncation point 0) gives

    C_YZ P(S) + sum_{k in S} C_Yk sum_{q in S, q != k} (C_Zq - C_Zk C_kq / C_kk)
                phi_2(0, 0; C_kk, C_kq, C_qq) P(S \\ {k, q} | X_k = X_q = 0),

with the orthant probabilities of :mod:`tsdyn.orthant`. With Y, Z, S fields of the ODE this is
every ReLU integral: I4 = E[Theta(u1) Theta(u2) relu(u3) relu(u4)] = E[u3 u4 1{u1, u2, u3, u4 > 0}]
and the mixed relu / linear ones. The cached form shares the set-only pieces of each 4-set
between the up to six I4 of one right-hand side (:func:`relu_cache`).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from tsdyn.orthant import TWO_PI, _orthant_given, distinct_set, orthant


def relu_cache(L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Empty workspace of :func:`truncated_moment_cached` for L fields: (ids, P, W).

    ``ids[key]`` is the slot of a sorted 4-set (key = ((s0 L + s1) L + s2) L + s3; -1: not yet
    seen; the last entry counts the slots used), ``P[slot]`` its orthant probability and
    ``W[slot, t, u]`` = phi_2(0, 0; C_kk, C_kq, C_qq) P(rest > 0 | X_k = X_q = 0) for its t-th and
    u-th coordinates (k, q): every piece of a Tallis moment over that set that does not depend on
    the moment's own coordinates (y, z). Reset with :func:`reset_relu_cache` per covariance.
    """
    n = max(1, math.comb(L, 4))
    ids = np.full(L**4 + 1, -1, dtype=np.int64)
    ids[-1] = 0
    return ids, np.empty(n), np.empty((n, 4, 4))


@numba.njit(cache=True)
def reset_relu_cache(ids) -> None:
    """Forget every stored set (a new covariance)."""
    ids[:] = -1
    ids[-1] = 0


@numba.njit(cache=True)
def stale_sets(ids, L: int, p: int, q: int) -> None:
    """Mark every stored 4-set holding the fields p and q as stale (recomputed, in its slot, when next
    met): after a change of C_pq only they change (the finite-difference Jacobian of the ODE)."""
    for key in range(ids.shape[0] - 1):
        if ids[key] < 0:
            continue
        has_p = has_q = False
        rest = key
        for _ in range(4):
            s = rest % L
            rest //= L
            has_p = has_p or s == p
            has_q = has_q or s == q
        if has_p and has_q:
            ids[key] = -2 - ids[key]


@numba.njit(cache=True)
def _set_slot(C, D, ids, P, W) -> int:
    """Slot of the 4-set D (sorted in place), computing its P4 and W on first sight."""
    for t in range(1, 4):                           # insertion sort of four indices
        x = D[t]
        u = t - 1
        while u >= 0 and D[u] > x:
            D[u + 1] = D[u]
            u -= 1
        D[u + 1] = x
    L = C.shape[0]
    key = ((D[0] * L + D[1]) * L + D[2]) * L + D[3]
    slot = ids[key]
    if slot >= 0:
        return slot
    if slot <= -2:                                  # marked stale by :func:`stale_sets`: recompute in place
        slot = -2 - slot
    else:
        slot = ids[ids.shape[0] - 1]
        ids[ids.shape[0] - 1] = slot + 1
    ids[key] = slot
    P[slot] = orthant(C, D, 4)
    for t in range(4):
        W[slot, t, t] = 0.0
        for u in range(t + 1, 4):
            k, q = D[t], D[u]
            det = C[k, k] * C[q, q] - C[k, q] ** 2
            w = _orthant_given(C, D, 4, k, q) / (TWO_PI * math.sqrt(det)) if det > 0.0 else 0.0
            W[slot, t, u] = w
            W[slot, u, t] = w
    return slot


@numba.njit(cache=True)
def truncated_moment_cached(C, y: int, z: int, S, n: int, ids, P, W) -> float:
    """:func:`truncated_moment` with the set-only pieces of four-dimensional sets shared through the
    workspace of :func:`relu_cache` (an ODE right-hand side meets each 4-set of fields up to six
    times: I4(i, k, a, b) for every split into a student pair (i, k) and a field pair (a, b))."""
    D = np.empty(4, dtype=np.int64)
    m = distinct_set(C, S, n, D)
    if m < 0:
        return 0.0
    if m < 4:
        return _tallis(C, y, z, D, m)
    slot = _set_slot(C, D, ids, P, W)
    total = C[y, z] * P[slot]
    for t in range(4):
        k = D[t]
        cyk = C[y, k]
        if cyk == 0.0:
            continue
        ratio = C[z, k] / C[k, k]
        for u in range(4):
            if u != t:
                q = D[u]
                total += cyk * (C[z, q] - ratio * C[k, q]) * W[slot, t, u]
    return total


@numba.njit(cache=True)
def truncated_moment(C, y: int, z: int, S, n: int) -> float:
    """E[X_y X_z 1{X_s > 0 for s in S}] (Tallis 1961 at truncation 0; module docstring); S has n <= 4 entries."""
    D = np.empty(4, dtype=np.int64)
    m = distinct_set(C, S, n, D)
    if m < 0:
        return 0.0
    return _tallis(C, y, z, D, m)


@numba.njit(cache=True)
def _tallis(C, y: int, z: int, D, m: int) -> float:
    """The Tallis sum of :func:`truncated_moment` over the m distinct coordinates D.

    Summed over unordered pairs {k, q}, whose two terms share phi_2 P(rest > 0 | X_k = X_q = 0): for a
    near-collinear pair the terms are O(1) and cancel to O(sqrt(1 - r)), so the shared factor's
    rounding scales only their sum (taken once per ordered pair, the two roundings differ and left
    1.9e-7 of I4 for a near-collinear triple at 1 - r = 2e-14).
    """
    total = C[y, z] * orthant(C, D, m)
    for t in range(m):
        k = D[t]
        for u in range(t + 1, m):
            q = D[u]
            det = C[k, k] * C[q, q] - C[k, q] ** 2
            if not det > 0.0:
                continue
            pair = (C[y, k] * (C[z, q] - C[z, k] * C[k, q] / C[k, k])
                    + C[y, q] * (C[z, k] - C[z, q] * C[k, q] / C[q, q]))
            if pair != 0.0:
                total += pair / (TWO_PI * math.sqrt(det)) * _orthant_given(C, D, m, k, q)
    return total
