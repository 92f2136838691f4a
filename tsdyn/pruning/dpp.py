"""k-DPPs over student nodes: kernels, an exact sampler, and exact enumeration.

A k-DPP with kernel L (K x K, symmetric PSD) is the distribution over subsets
S of {0..K-1} with |S| = k and P(S) = det(L_S) / e_k(lambda(L)), where e_k is
the k-th elementary symmetric polynomial of the eigenvalues of L (pruning
paper App. A with erratum 9; Kulesza & Taskar 2012, Sec. 5.2). It exists iff
rank(L) >= k. DPP node pruning keeps a k-DPP sample of the nodes; its kernel is
Q (Lemma 1), or its estimate from data (App. C), or the RBF kernel of DIVNET
(Mariet & Sra 2016).

With K <= 20 all C(K, k) subsets can be enumerated, so expectations over the
random-node and DPP subset distributions are computed exactly
(:class:`SubsetDistribution`) and no comparison depends on sampling noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from tsdyn.checks import check_array, check_int, check_real
from tsdyn.conventions import fields, g
from tsdyn.order_parameters import check_psd

#: Eigenvalues below this fraction of the largest (times K) count as zero: the kernel's rank.
RANK_RTOL = 1e-12
#: Subsets per batch when enumerating determinants or evaluating a quantity over subsets.
DEFAULT_BATCH = 16384
#: Largest ground set we enumerate (C(20, 10) = 184 756 subsets).
MAX_ENUMERATION_K = 20


# ------------------------------------------------------------------ kernels
def data_kernel(w: np.ndarray, n: int, rng: np.random.Generator, *, chunk: int = 10_000,
                progress: bool = False) -> np.ndarray:
    """Data estimate L = (1/n) H^T H / N of the DPP kernel (pruning paper App. C, Lemma 1).

    H (n x K) holds the pre-activations h_ij = t_j . w_i of the K nodes on n fresh
    inputs t_j ~ N(0, I_N) (no 1/sqrt(N): the 1/N in front supplies it), accumulated
    in chunks; E[L] = Q exactly, with Var(L_ik) = (Q_ii Q_kk + Q_ik^2) / n.
    """
    w = check_array("w", w, ndim=2)
    N = w.shape[1]
    gram = _accumulate_gram(lambda x: x @ w.T, w.shape[0], N, n, rng, chunk, progress)
    return gram / (n * N)


def divnet_kernel(w: np.ndarray, n: int, rng: np.random.Generator, *, beta: float | None = None,
                  chunk: int = 10_000, progress: bool = False) -> np.ndarray:
    """DIVNET kernel L_ij = exp(-beta ||a_i - a_j||^2) of Mariet & Sra 2016 (Sec. 3).

    a_i in R^n is the vector of post-activations g(w_i . t / sqrt N) of node i on
    n fresh Gaussian inputs. ``beta`` defaults to 10 / n, the bandwidth of their
    experiments. ||a_i - a_j||^2 = G_ii + G_jj - 2 G_ij is accumulated from the
    Gram matrix G chunk by chunk, so n may be large.
    """
    w = check_array("w", w, ndim=2)
    n = check_int("n", n, low=1)
    beta = 10.0 / n if beta is None else check_real("beta", beta, low=0.0, low_open=True)
    gram = _accumulate_gram(lambda x: g(fields(w, x)), w.shape[0], w.shape[1], n, rng, chunk, progress)
    d = np.diag(gram)
    sq_dist = np.maximum(d[:, None] + d[None, :] - 2.0 * gram, 0.0)
    return np.exp(-beta * sq_dist)


def _accumulate_gram(features: Callable[[np.ndarray], np.ndarray], K: int, N: int, n: int,
                     rng: np.random.Generator, chunk: int, progress: bool) -> np.ndarray:
    # Sum over inputs of features(x)^T features(x), never holding more than `chunk` inputs.
    n = check_int("n", n, low=1)
    chunk = check_int("chunk", chunk, low=1)
    gram = np.zeros((K, K))
    for start in tqdm(range(0, n, chunk), disable=not progress, desc="kernel", unit="chunk"):
        H = features(rng.standard_normal((min(chunk, n - start), N)))
        gram += H.T @ H
    return gram


# ---------------------------------------------------------- spectral basics
def _checked_kernel(L) -> np.ndarray:
    L = check_array("L", L, ndim=2)
    if L.shape[0] != L.shape[1]:
        raise ValueError(f"L must be square (K x K), got shape {L.shape}")
    check_psd("L", L)
    return 0.5 * (L + L.T)


def kernel_spectrum(L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending, those below the rank tolerance set to 0) and eigenvectors of L."""
    lam, vecs = np.linalg.eigh(_checked_kernel(L))
    top = float(lam[-1]) if lam.size else 0.0
    lam = np.where(lam > RANK_RTOL * max(top, 0.0) * max(lam.size, 1), lam, 0.0)
    return lam, vecs


def _check_rank(lam: np.ndarray, k: int) -> None:
    rank = int(np.count_nonzero(lam))
    if rank < k:
        raise ValueError(f"k must be <= rank(L) = {rank} for a k-DPP to exist (det L_S = 0 for every "
                         f"|S| = k > rank), got k = {k}")


def elementary_symmetric(lam: np.ndarray, k: int) -> np.ndarray:
    """Table E[l, m] = e_l(lam_1..lam_m) for l = 0..k, m = 0..len(lam) (Kulesza & Taskar Alg. 7).

    Recursion e_l^m = e_l^(m-1) + lam_m e_(l-1)^(m-1), e_0^m = 1.
    """
    lam = np.asarray(lam, dtype=float)
    E = np.zeros((k + 1, lam.size + 1))
    E[0, :] = 1.0
    for m in range(1, lam.size + 1):
        E[1:, m] = E[1:, m - 1] + lam[m - 1] * E[:-1, m - 1]
    return E


# ------------------------------------------------------------------ sampler
def sample_kdpp(L: np.ndarray, k: int, rng: np.random.Generator, *, size: int | None = None) -> np.ndarray:
    """Exact samples of the k-DPP with kernel L: sorted indices of the k kept nodes.

    Spectral algorithm (Kulesza & Taskar 2012, Alg. 1 with Alg. 8): eigenvector n
    enters the elementary DPP with probability lam_n e_(l-1)^(n-1) / e_l^n, then
    items are drawn from the projection DPP of the chosen eigenvectors one by one.
    Returns shape (k,), or (size, k) when ``size`` is given (the spectrum is computed once).

    Raises
    ------
    ValueError
        If k > rank(L) (the k-DPP does not exist) or k is not in [0, K].
    """
    lam, vecs = kernel_spectrum(L)
    K = lam.size
    k = check_int("k", k, low=0, high=K, high_name="K")
    _check_rank(lam, k)
    # The ratios are scale free; dividing by the top eigenvalue keeps e_l away from overflow.
    scaled = lam / lam[-1] if k else lam
    E = elementary_symmetric(scaled, k)
    draws = 1 if size is None else check_int("size", size, low=0)
    out = np.empty((draws, k), dtype=int)
    for d in range(draws):
        chosen, need = [], k
        for m in range(K, 0, -1):
            if need == 0:
                break
            if rng.random() * E[need, m] < scaled[m - 1] * E[need - 1, m - 1]:
                chosen.append(m - 1)
                need -= 1
        out[d] = _sample_projection_dpp(vecs[:, chosen], rng)
    return out[0] if size is None else out


def _sample_projection_dpp(V: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Kulesza & Taskar Alg. 1, second phase: V has orthonormal columns.
    items = []
    while V.shape[1]:
        cumulative = np.cumsum(np.sum(V * V, axis=1))
        i = min(int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")), V.shape[0] - 1)
        items.append(i)
        if V.shape[1] == 1:
            break
        j = int(np.argmax(np.abs(V[i])))
        # Project the span onto the complement of e_i: kill row i using column j, drop column j.
        V = V - np.outer(V[:, j] / V[i, j], V[i])
        V = np.linalg.qr(np.delete(V, j, axis=1))[0]
    return np.sort(np.array(items, dtype=int))


# -------------------------------------------------------------- enumeration
def all_subsets(K: int, k: int) -> np.ndarray:
    """All C(K, k) subsets of {0..K-1} of size k, as a (C(K, k), k) int array in lexicographic order."""
    K = check_int("K", K, low=0, high=MAX_ENUMERATION_K)
    k = check_int("k", k, low=0, high=K, high_name="K")
    count = math.comb(K, k)
    flat = np.fromiter((i for c in combinations(range(K), k) for i in c), dtype=np.int64, count=count * k)
    return flat.reshape(count, k)


def principal_submatrices(A: np.ndarray, subsets: np.ndarray) -> np.ndarray:
    """A[S, S] for every row S of ``subsets``: shape (len(subsets), k, k)."""
    return A[subsets[:, :, None], subsets[:, None, :]]


@dataclass(frozen=True)
class SubsetDistribution:
    """A distribution over the size-k subsets of the K student nodes, given exhaustively.

    Attributes
    ----------
    subsets : (C, k) int, every subset of size k.
    probs : (C,) their probabilities (summing to 1).
    K : size of the ground set.
    """

    subsets: np.ndarray
    probs: np.ndarray
    K: int

    @property
    def k(self) -> int:
        return self.subsets.shape[1]

    def expect(self, quantity: Callable[[np.ndarray], np.ndarray], *, batch: int = DEFAULT_BATCH) -> float:
        """Exact E[quantity(S)] = sum_S P(S) quantity(S).

        ``quantity`` maps a (B, k) batch of subsets to (B,) values; subsets of
        probability 0 are not evaluated.
        """
        support = np.flatnonzero(self.probs > 0)
        total = 0.0
        for start in range(0, support.size, batch):
            idx = support[start:start + batch]
            total += float(np.dot(self.probs[idx], quantity(self.subsets[idx])))
        return total

    def probability(self, event: Callable[[np.ndarray], np.ndarray]) -> float:
        """P(event) for a boolean ``event`` on (B, k) batches of subsets."""
        return self.expect(lambda s: np.asarray(event(s), dtype=float))

    def index_of(self, subset) -> int:
        """Row of ``subsets`` holding ``subset`` (any order)."""
        target = np.sort(np.asarray(subset, dtype=int))
        hits = np.flatnonzero(np.all(self.subsets == target, axis=1))
        if hits.size != 1:
            raise ValueError(f"subset must be a size-{self.k} subset of 0..{self.K - 1}, got {list(subset)}")
        return int(hits[0])


def uniform_subsets(K: int, k: int) -> SubsetDistribution:
    """Random node pruning: every size-k subset with probability 1 / C(K, k)."""
    subsets = all_subsets(K, k)
    return SubsetDistribution(subsets, np.full(len(subsets), 1.0 / len(subsets)), K)


def kdpp_subsets(L: np.ndarray, k: int, *, batch: int = DEFAULT_BATCH) -> SubsetDistribution:
    """The k-DPP with kernel L by exact enumeration: P(S) = det(L_S) / sum_|S'|=k det(L_S').

    Determinants are evaluated in batches; round-off negatives are set to 0.
    The normaliser equals e_k(lambda(L)) (checked in the tests).

    Raises
    ------
    ValueError
        If k > rank(L): every det(L_S) vanishes and the k-DPP does not exist.
    """
    lam, _ = kernel_spectrum(L)
    K = lam.size
    k = check_int("k", k, low=0, high=K, high_name="K")
    _check_rank(lam, k)
    L = _checked_kernel(L)
    subsets = all_subsets(K, k)
    dets = np.empty(len(subsets))
    for start in range(0, len(subsets), batch):
        block = subsets[start:start + batch]
        dets[start:start + batch] = np.linalg.det(principal_submatrices(L, block)) if k else 1.0
    dets = np.maximum(dets, 0.0)
    return SubsetDistribution(subsets, dets / dets.sum(), K)
