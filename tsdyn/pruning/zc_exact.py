"""Exact expected GEs of node pruning at every k_n up to K = 20, without listing subsets in Python.

The GE of the student pruned to S with its second layer unchanged (pruning eqs 5-8) is
quadratic in the indicator s of S:

    eps(S) = 1/2 sum_{i,j in S} v_i v_j G_ij - sum_{i in S} v_i h_i + 1/2 t0,

with G = I2(Q) (eq B1, the post-activation covariance), h = I2(R) v* and
t0 = v*^T I2(T) v*. So its expectation under any distribution of S needs only the
first and second inclusion probabilities pi_i = P(i in S) and pi_ij = P(i, j in S)
(:func:`expected_eps`): for random node pruning pi_i = k/K, pi_ij = k(k-1)/(K(K-1));
for a k-DPP with kernel L (:func:`kdpp_inclusion`) the subsets containing A sum to

    sum_{|S| = k, S >= A} det L_S = det L_A  e_{k-|A|}(spectrum of L / L_A),

L / L_A the Schur complement of L_A on the other nodes (det L_S = det L_A det of the
complement's block), normalised by e_k(spectrum of L) (Kulesza & Taskar 2012, eq 5.31).

The GE-optimal reweighted eps_hat(S) = 1/2 t0 - 1/2 h_S^T G_SS^+ h_S is not quadratic;
:func:`epshat_expectations` sums it over all C(K, k) subsets in a Numba loop
(Cholesky per subset), for random node pruning and for each k-DPP kernel at once.
Both are tested against the direct enumeration of :mod:`tsdyn.pruning.zc`.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from tsdyn.checks import check_int
from tsdyn.integrals import I2_matrix
from tsdyn.order_parameters import OrderParameters
from tsdyn.pruning.dpp import kernel_spectrum

#: Cholesky pivots below this fraction of the largest diagonal count as zero: for G_SS the
#: direction is dropped (the least-squares optimum on the span, as the pseudo-inverse of
#: :func:`tsdyn.pruning.reweighting.optimal_second_layer`); for a DPP kernel det L_S = 0.
PIVOT_RTOL = 1e-12


def quadratic_form(op: OrderParameters) -> tuple[np.ndarray, np.ndarray, float]:
    """(G, h, t0) of eps(S) = 1/2 sum_{i,j in S} v_i v_j G_ij - sum_{i in S} v_i h_i + 1/2 t0 (module docstring)."""
    dQ, dT = np.diag(op.Q), np.diag(op.T)
    G = I2_matrix(dQ, op.Q, dQ)
    h = I2_matrix(dQ, op.R, dT) @ op.vstar
    t0 = float(op.vstar @ I2_matrix(dT, op.T, dT) @ op.vstar)
    return G, h, t0


def expected_eps(op: OrderParameters, pi: np.ndarray, pij: np.ndarray) -> float:
    """E[eps(S)] from the inclusion probabilities pi_i and pi_ij (diagonal ignored: pi_ii = pi_i)."""
    G, h, t0 = quadratic_form(op)
    P = np.array(pij, dtype=float)
    np.fill_diagonal(P, pi)
    w = op.v[:, None] * op.v[None, :] * G
    return float(0.5 * np.sum(w * P) - np.dot(op.v * h, pi) + 0.5 * t0)


def random_inclusion(K: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """pi_i = k/K and pi_ij = k(k-1)/(K(K-1)) of a uniformly random size-k subset of K nodes."""
    K = check_int("K", K, low=1)
    k = check_int("k", k, low=0, high=K, high_name="K")
    pair = k * (k - 1) / (K * (K - 1)) if K > 1 else 0.0
    return np.full(K, k / K), np.full((K, K), pair)


def _esp_batch(lam: np.ndarray, k_max: int) -> np.ndarray:
    """e_l(lam[b]) for l = 0..k_max per row b of a (B, n) array (negative round-off clipped to 0): (B, k_max + 1).

    The recursion of :func:`tsdyn.pruning.dpp.elementary_symmetric`, vectorised over rows.
    """
    lam = np.clip(np.asarray(lam, dtype=float), 0.0, None)
    E = np.zeros((lam.shape[0], k_max + 1))
    E[:, 0] = 1.0
    for m in range(lam.shape[1]):
        E[:, 1:] = E[:, 1:] + lam[:, m:m + 1] * E[:, :-1]
    return E


def _subset_masses(L: np.ndarray, sets: np.ndarray, k_max: int) -> np.ndarray:
    """sum over |S| = l + a, S >= A of det L_S for each row A of ``sets`` (B, a), l = 0..k_max: (B, k_max + 1).

    det L_A e_l(eig(L / L_A)) (module docstring), batched: one Schur complement and one
    eigendecomposition per set. A set with det L_A <= PIVOT_RTOL (a copy of a node) gets 0.
    """
    K, (B, a) = L.shape[0], sets.shape
    out = np.zeros((B, k_max + 1))
    if B == 0:
        return out
    keep = np.ones((B, K), dtype=bool)
    np.put_along_axis(keep, sets, False, axis=1)
    rest = np.nonzero(keep)[1].reshape(B, K - a)
    LA = L[sets[:, :, None], sets[:, None, :]]
    det = np.linalg.det(LA)
    ok = det > PIVOT_RTOL
    if not ok.any() or K == a:
        out[ok, 0] = det[ok]
        return out
    LA, sets_ok, rest_ok = LA[ok], sets[ok], rest[ok]
    cross = L[rest_ok[:, :, None], sets_ok[:, None, :]]                          # (B', K - a, a)
    schur = L[rest_ok[:, :, None], rest_ok[:, None, :]] - cross @ np.linalg.solve(LA, np.swapaxes(cross, 1, 2))
    lam = np.linalg.eigvalsh(0.5 * (schur + np.swapaxes(schur, 1, 2)))
    e = _esp_batch(lam, min(k_max, K - a))
    out[np.flatnonzero(ok), :e.shape[1]] = det[ok, None] * e
    return out


def kdpp_inclusion(L: np.ndarray, ks) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """First and second inclusion probabilities (pi_i, pi_ij) of the k-DPP with kernel L, exactly, per k in ``ks``.

    P(A in S) = det L_A e_{k-|A|}(eig(L / L_A)) / e_k(eig L) for A = {i} and {i, j}
    (module docstring); pairs with det L_A = 0 (two copies of one node) get 0. One
    eigendecomposition per node and pair serves every k. A k above rank(L) (no k-DPP) is left out.
    """
    L = np.asarray(L, dtype=float)
    lam, _ = kernel_spectrum(L)
    K = lam.size
    ks = [check_int("k", k, low=1, high=K, high_name="K") for k in ks]
    if not ks:
        return {}
    top = float(lam.max())
    L, lam = L / top, lam / top            # the probabilities are scale free; this keeps e_l in range
    k_max = max(ks)
    norm = _esp_batch(lam[None, :], k_max)[0]
    ks = [k for k in ks if k <= np.count_nonzero(lam) and norm[k] > 0]
    singles = _subset_masses(L, np.arange(K)[:, None], k_max)                  # (K, k_max + 1)
    pairs = np.zeros((K, K, k_max + 1))
    if k_max >= 2 and K >= 2:
        iu = np.triu_indices(K, 1)
        mass = _subset_masses(L, np.stack(iu, axis=1), k_max)
        pairs[iu] = mass
        pairs[iu[1], iu[0]] = mass
    out = {}
    for k in ks:
        pij = pairs[:, :, k - 2] / norm[k] if k >= 2 else np.zeros((K, K))
        out[k] = (singles[:, k - 1] / norm[k], pij)
    return out


# ------------------------------------------------------------ eps_hat by enumeration (Numba)
@numba.njit(cache=True)
def _cholesky_into(A, n, out, rtol):
    # Lower Cholesky factor of A[:n, :n] into out; a pivot <= rtol * max diag is set to 0 (that
    # direction dropped). Returns the log-determinant over the kept pivots and the number dropped.
    top = 0.0
    for i in range(n):
        top = max(top, A[i, i])
    logdet, dropped = 0.0, 0
    for j in range(n):
        s = A[j, j]
        for m in range(j):
            s -= out[j, m] * out[j, m]
        if s <= rtol * top:
            dropped += 1
            for i in range(j, n):
                out[i, j] = 0.0
            continue
        d = math.sqrt(s)
        out[j, j] = d
        logdet += 2.0 * math.log(d)
        for i in range(j + 1, n):
            s = A[i, j]
            for m in range(j):
                s -= out[i, m] * out[j, m]
            out[i, j] = s / d
    return logdet, dropped


@numba.njit(cache=True)
def _explained(C, b, n):
    # b^T A^+ b from the (possibly column-dropped) Cholesky factor C of A: forward substitution.
    y = np.zeros(n)
    total = 0.0
    for i in range(n):
        if C[i, i] == 0.0:
            continue
        s = b[i]
        for m in range(i):
            s -= C[i, m] * y[m]
        y[i] = s / C[i, i]
        total += y[i] * y[i]
    return total


@numba.njit(cache=True)
def _epshat_sums(G, h, kernels, k, rtol):
    # Over every size-k subset S (lexicographic): sum of eps_hat(S) - t0/2, and per kernel q the
    # sums of det(L_q,S) eps_hat(S) and det(L_q,S), relative to the largest det (a common factor).
    K = G.shape[0]
    nq = kernels.shape[0]
    idx = np.arange(k)
    A = np.empty((k, k))
    C = np.zeros((k, k))
    b = np.empty(k)
    plain = 0.0
    weighted = np.zeros(nq)
    norms = np.zeros(nq)
    ref = np.full(nq, -np.inf)
    count = 0
    while True:
        for a in range(k):
            b[a] = h[idx[a]]
            for c in range(k):
                A[a, c] = G[idx[a], idx[c]]
        _cholesky_into(A, k, C, rtol)
        value = -0.5 * _explained(C, b, k)
        plain += value
        count += 1
        for q in range(nq):
            for a in range(k):
                for c in range(k):
                    A[a, c] = kernels[q, idx[a], idx[c]]
            logdet, dropped = _cholesky_into(A, k, C, rtol)
            if dropped == 0:
                # Running log-sum-exp: the weights det L_S are kept relative to the largest so far.
                if logdet > ref[q]:
                    shrink = math.exp(ref[q] - logdet) if ref[q] > -np.inf else 0.0
                    weighted[q] *= shrink
                    norms[q] *= shrink
                    ref[q] = logdet
                w = math.exp(logdet - ref[q])
                weighted[q] += w * value
                norms[q] += w
        # next combination in lexicographic order
        i = k - 1
        while i >= 0 and idx[i] == K - k + i:
            i -= 1
        if i < 0:
            break
        idx[i] += 1
        for j in range(i + 1, k):
            idx[j] = idx[j - 1] + 1
    return plain / count, weighted, norms


def epshat_expectations(op: OrderParameters, k: int, kernels: dict[str, np.ndarray]) -> dict[str, float]:
    """Exact E[eps_hat] over all C(K, k) subsets: ``"random"`` and, per kernel name, its k-DPP.

    A kernel whose every det L_S vanishes (k > rank) is left out. Cost C(K, k) (1 + len(kernels))
    Cholesky factorisations of size k; C(20, 10) = 184 756 subsets take about 0.1 s.
    """
    k = check_int("k", k, low=1, high=op.K, high_name="K")
    G, h, t0 = quadratic_form(op)
    names = list(kernels)
    stack = np.array([np.asarray(kernels[n], dtype=float) / float(np.max(np.diag(kernels[n]))) for n in names])
    stack = stack.reshape(len(names), op.K, op.K)
    plain, weighted, norms = _epshat_sums(G, h, stack, k, PIVOT_RTOL)
    out = {"random": float(plain + 0.5 * t0)}
    for q, name in enumerate(names):
        if norms[q] > 0:
            out[name] = float(weighted[q] / norms[q] + 0.5 * t0)
    return out
