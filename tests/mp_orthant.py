"""High-precision references (mpmath, :data:`DPS` digits) of the 4-d Gaussian orthant probability and of the ReLU
truncated second moment, for near-singular covariances (tests/test_orthant_collinear.py).

Independent of tsdyn.orthant's path: P4 is integrated along R(s) = I + s (R - I) from the identity
(P = 1/16), where all six correlations move (Plackett 1954: dP/d rho_ij = phi_2(0, 0; rho_ij)
P(rest > 0 | x_i = x_j = 0)), by tanh-sinh quadrature split geometrically towards s = 1, where a
near-collinear pair makes the rate steep; every Schur complement is taken in 40-digit arithmetic,
so the cancellations of nearly collinear fields cost nothing. The input covariance is read exactly
(each float is a rational number).

Forty digits, not 25: conditioning on two nearly collinear fields when a third is near both (a
triple) cancels about 2 log10(1 / (1 - r)) digits in the Schur complement, 26 at 1 - r = 1e-13, and
at 25 digits the reference I4 itself was off by up to 2.4e-8 there (40 and 60 digits agree to all
printed digits).
"""
from __future__ import annotations

import itertools

import mpmath as mp

DPS = 40


def _matrix(C):
    return [[mp.mpf(float(C[i][j])) for j in range(len(C))] for i in range(len(C))]


def _corr(C):
    n = len(C)
    return [[C[i][j] / mp.sqrt(C[i][i] * C[j][j]) for j in range(n)] for i in range(n)]


def _p2(c11, c12, c22):
    if c11 <= 0 or c22 <= 0:
        return mp.mpf(1) / 4
    r = max(mp.mpf(-1), min(mp.mpf(1), c12 / mp.sqrt(c11 * c22)))
    return mp.mpf(1) / 4 + mp.asin(r) / (2 * mp.pi)


def _given(C, k, q, x, y):
    """Schur complement entries (xx, xy, yy) of C given C_k = C_q = 0."""
    det = C[k][k] * C[q][q] - C[k][q] ** 2

    def s(a, b):
        return C[a][b] - (C[q][q] * C[a][k] * C[b][k] - C[k][q] * (C[a][k] * C[b][q] + C[a][q] * C[b][k])
                          + C[k][k] * C[a][q] * C[b][q]) / det
    return s(x, x), s(x, y), s(y, y)


def orthant4(C) -> mp.mpf:
    """P(X > 0) for X ~ N(0, C), C 4 x 4."""
    with mp.workdps(DPS):
        R = _corr(_matrix(C))

        def rate(s):
            Rs = [[R[i][j] * (s if i != j else 1) for j in range(4)] for i in range(4)]
            out = mp.mpf(0)
            for i, j in itertools.combinations(range(4), 2):
                k, l = [m for m in range(4) if m not in (i, j)]
                out += R[i][j] / (2 * mp.pi * mp.sqrt(1 - Rs[i][j] ** 2)) * _p2(*_given(Rs, i, j, k, l))
            return out
        cuts = [mp.mpf(0)] + [1 - mp.mpf(10) ** (-e) for e in range(3, 17, 3)] + [mp.mpf(1)]
        return mp.mpf(1) / 16 + mp.quad(rate, cuts)


def relu_i4(C, p4: mp.mpf | None = None) -> mp.mpf:
    """E[x3 x4 1{x1, x2, x3, x4 > 0}] (indices 0..3 of C; Tallis 1961 at truncation 0); ``p4``: P(X > 0)
    if already known (:func:`orthant4`)."""
    with mp.workdps(DPS):
        A = _matrix(C)
        y, z = 2, 3
        total = A[y][z] * (orthant4(C) if p4 is None else p4)
        for k in range(4):
            for q in range(4):
                if q == k:
                    continue
                x, w = [m for m in range(4) if m not in (k, q)]
                det = A[k][k] * A[q][q] - A[k][q] ** 2
                bracket = A[z][q] - A[z][k] * A[k][q] / A[k][k]
                total += A[y][k] * bracket / (2 * mp.pi * mp.sqrt(det)) * _p2(*_given(A, k, q, x, w))
        return total
