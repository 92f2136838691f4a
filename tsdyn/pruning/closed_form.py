"""Closed-form GEs of pruned students under the ideal ansatz (A6) of the pruning paper.

Ideal ansatz (NOTES.md): K = Z M nodes in M blocks of Z; T = I; Q_ik = 1 inside
a block, 0 elsewhere; R_in = 1 if node i is in block n; v_i = v*/Z. Then every
arcsin argument of pruning eqs 5-8 is 1/2 or 0 and the GE of a pruned network has the
closed forms below (derivations: theory/pruning_lemmas.md). Every function
broadcasts over arrays of its arguments; GEs are 1/2 E[(Delta phi)^2] (erratum 3).

These closed forms hold for g = erf(x/sqrt 2) only (the arcsin of 1/2 is erf's kernel); for
ReLU or linear students the exact GE of a pruned network is :func:`tsdyn.pruning.operators.subset_eg`
with ``activation=``, and no lemma here applies.
"""
from __future__ import annotations

import math
from itertools import combinations

import numpy as np
from scipy.special import gammaln
from scipy.stats import hypergeom

from tsdyn.conventions import DEFAULT_VSTAR
from tsdyn.checks import check_int, check_values
from tsdyn.order_parameters import OrderParameters, as_vstar

#: E[g(u)^2] for u ~ N(0, 1) over 2: the GE per lost teacher node is v*^2 / 6 (arcsin(1/2) = pi/6).
SIXTH = 1.0 / 6.0


# ------------------------------------------------------------ ideal ansatz
def ideal_order_parameters(M: int, Z: int, vstar=DEFAULT_VSTAR) -> OrderParameters:
    """Order parameters of the ideal converged student (ansatz A6): K = Z M, blocks of Z.

    Q = I_M (x) 1_Z 1_Z^T (rank M), R = I_M (x) 1_Z, T = I_M, v_i = v*_n / Z for i in block n.
    """
    M, Z = check_int("M", M, low=1), check_int("Z", Z, low=1)
    vstar = as_vstar(vstar, M)
    Q = np.kron(np.eye(M), np.ones((Z, Z)))
    R = np.kron(np.eye(M), np.ones((Z, 1)))
    return OrderParameters(Q, R, np.eye(M), np.repeat(vstar / Z, Z), vstar)


def ideal_block_of(M: int, Z: int) -> np.ndarray:
    """Teacher node learnt by each student node of the ideal ansatz: i // Z."""
    return np.arange(check_int("M", M, low=1) * check_int("Z", Z, low=1)) // Z


# ---------------------------------------------------------------- Lemma 3
def lemma3_eps(l, Z, vstar=DEFAULT_VSTAR) -> np.ndarray:
    """GE of the node-pruned ideal student with l_m survivors in block m (Lemma 3, pruning eq 21).

    eps = v*^2/6 sum_m (1 - l_m/Z)^2, summed over the last axis of ``l``. It holds
    for any 0 <= l_m <= Z (the paper's hypothesis sum_m l_m <= M is not needed).
    """
    Z = check_values("Z", Z, low=1, integer=True)
    l = check_values("l", l, low=0, high=Z[..., None] if Z.ndim else Z, integer=True)
    return SIXTH * np.asarray(vstar, dtype=float) ** 2 * np.sum((1.0 - l / Z[..., None]) ** 2, axis=-1)


def lemma3_epshat(l, vstar=DEFAULT_VSTAR) -> np.ndarray:
    """GE of the same network after GE-optimal (or DIVNET) reweighting: v*^2/6 x #(blocks with l_m = 0).

    A block with a survivor is recovered exactly: its nodes are parallel, so the
    survivors can carry the whole weight v* of the block.
    """
    l = check_values("l", l, low=0, integer=True)
    return SIXTH * np.asarray(vstar, dtype=float) ** 2 * np.sum(l == 0, axis=-1)


def block_count_vectors(k_n: int, M: int, Z: int) -> np.ndarray:
    """Every (l_1..l_M) with sum k_n and 0 <= l_m <= Z: the block counts a node pruning can leave.

    Stars and bars; shape (count, M).
    """
    M = check_int("M", M, low=1)
    Z = check_int("Z", Z, low=1)
    k_n = check_int("k_n", k_n, low=0, high=M * Z, high_name="K")
    bars = np.array(list(combinations(range(k_n + M - 1), M - 1)), dtype=int).reshape(-1, M - 1)
    edges = np.column_stack([np.full(len(bars), -1), bars, np.full(len(bars), k_n + M - 1)])
    counts = np.diff(edges, axis=1) - 1
    return counts[np.all(counts <= Z, axis=1)]


def block_count_pmf(l, Z: int) -> np.ndarray:
    """Multivariate hypergeometric P(l) = prod_m C(Z, l_m) / C(Z M, sum l) of random node pruning."""
    l = np.asarray(l, dtype=int)
    M, k = l.shape[-1], l.sum(axis=-1)
    log_num = np.sum([_log_comb(Z, l[..., m]) for m in range(M)], axis=0)
    return np.exp(log_num - _log_comb(Z * M, k))


def _log_comb(n, k) -> np.ndarray:
    return gammaln(np.asarray(n) + 1.0) - gammaln(np.asarray(k) + 1.0) - gammaln(np.asarray(n) - k + 1.0)


# ---------------------------------------------------------------- Lemma 2
def eps_dpp_node(k_n, M, Z, vstar=DEFAULT_VSTAR) -> np.ndarray:
    """GE of DPP node pruning, pruning eq 9 (Lemma 2): v*^2 [k_n/6 (1 - 1/Z)^2 + (M - k_n)/6], k_n <= M.

    The k-DPP of the ideal Q keeps one node in each of k_n blocks (erratum 10). A
    non-integer k_n gives the linear interpolation used for Figure 4 (k_n/M = cZ).
    """
    M = check_values("M", M, low=1)
    Z = check_values("Z", Z, low=1)
    k_n = check_values("k_n", k_n, low=0, high=M)
    return SIXTH * np.asarray(vstar, dtype=float) ** 2 * (k_n * (1.0 - 1.0 / Z) ** 2 + M - k_n)


def epshat_dpp_node(k_n, M, vstar=DEFAULT_VSTAR) -> np.ndarray:
    """GE of reweighted DPP node pruning (DIVNET), pruning eq 10 (Lemma 2): (M - k_n) v*^2/6, k_n <= M."""
    M = check_values("M", M, low=1)
    k_n = check_values("k_n", k_n, low=0, high=M)
    return SIXTH * np.asarray(vstar, dtype=float) ** 2 * (M - k_n)


# ------------------------------------------------------ random node pruning
def eps_random_node(k_n, M, Z, vstar=DEFAULT_VSTAR) -> np.ndarray:
    """Exact E[eps] of random node pruning of the ideal student (mean over all size-k_n subsets).

    Each block count l_m is hypergeometric (K = ZM nodes, Z in the block, k_n drawn):
    E[l] = k_n/M, Var[l] = k_n (1/M)(1 - 1/M)(K - k_n)/(K - 1), and by Lemma 3
    E[eps] = M v*^2/6 [(1 - E[l]/Z)^2 + Var[l]/Z^2].
    """
    M = check_values("M", M, low=1, integer=True)
    Z = check_values("Z", Z, low=1, integer=True)
    K = M * Z
    k_n = check_values("k_n", k_n, low=0, high=K, integer=True)
    mean = k_n / M
    var = np.where(K > 1, k_n * (1.0 / M) * (1.0 - 1.0 / M) * (K - k_n) / np.maximum(K - 1.0, 1.0), 0.0)
    return SIXTH * np.asarray(vstar, dtype=float) ** 2 * M * ((1.0 - mean / Z) ** 2 + var / Z**2)


def epshat_random_node(k_n, M, Z, vstar=DEFAULT_VSTAR) -> np.ndarray:
    """Exact E[epshat] of reweighted random node pruning: M v*^2/6 P(l_m = 0) = M v*^2/6 C(K-Z, k_n)/C(K, k_n)."""
    M = check_values("M", M, low=1, integer=True)
    Z = check_values("Z", Z, low=1, integer=True)
    k_n = check_values("k_n", k_n, low=0, high=M * Z, integer=True)
    return SIXTH * np.asarray(vstar, dtype=float) ** 2 * M * hypergeom.pmf(0, M * Z, Z, k_n)


# ---------------------------------------------------------- random edges
def edge_arcsines(c, Z) -> tuple[np.ndarray, np.ndarray]:
    """The two arcsine combinations of pruning eq 15 for the expected edge-pruned ideal student (Lemma 6).

    a = (1/Z) arcsin(c/(1+c)) + (1 - 1/Z) arcsin(c^2/(1+c))   (student-student, f1 = M v*^2 a / pi)
    b = arcsin(c / sqrt(2 (1+c)))                              (student-teacher, f3 = 2 M v*^2 b / pi)
    """
    c = check_values("c", c, low=0.0, high=1.0)
    Z = check_values("Z", Z, low=1)
    a = np.arcsin(c / (1.0 + c)) / Z + (1.0 - 1.0 / Z) * np.arcsin(c * c / (1.0 + c))
    b = np.arcsin(c / np.sqrt(2.0 * (1.0 + c)))
    return a, b


def eps_edge_scaled(A, c, Z, M, vstar=DEFAULT_VSTAR) -> np.ndarray:
    """GE of the expected random-edge-pruned ideal student with second layer A v, pruning eq 15.

    M v*^2/pi [A^2 a + pi/6 - 2 A b] with a, b of :func:`edge_arcsines`.
    """
    a, b = edge_arcsines(c, Z)
    M = check_values("M", M, low=1)
    A = np.asarray(A, dtype=float)
    return M * np.asarray(vstar, dtype=float) ** 2 / math.pi * (A * A * a + math.pi / 6.0 - 2.0 * A * b)


def eps_random_edge(c, Z, M, vstar=DEFAULT_VSTAR) -> np.ndarray:
    """GE of the expected random-edge-pruned ideal student, pruning eq 11 (Lemma 4): pruning eq 15 at A = 1."""
    return eps_edge_scaled(1.0, c, Z, M, vstar)


def optimal_edge_scale(c, Z) -> np.ndarray:
    """Minimiser A* = b / a of pruning eq 15 (Theorem 3).

    At c = 0 the network is silent and every A gives M v*^2/6; we return the
    limit c -> 0+ of b/a, Z / sqrt 2, so that A* is continuous in c.
    """
    a, b = edge_arcsines(c, Z)
    Z = np.asarray(Z, dtype=float)
    return np.divide(b, a, out=np.broadcast_to(Z / math.sqrt(2.0), np.shape(a)).copy(), where=a > 0)


def epshat_random_edge(c, Z, M, vstar=DEFAULT_VSTAR) -> np.ndarray:
    """Minimum over A of pruning eq 15 (Theorem 3): M v*^2/pi [pi/6 - b^2/a]; M v*^2/6 at c = 0."""
    a, b = edge_arcsines(c, Z)
    M = check_values("M", M, low=1)
    gain = np.divide(b * b, a, out=np.zeros(np.shape(a)), where=a > 0)
    return M * np.asarray(vstar, dtype=float) ** 2 / math.pi * (math.pi / 6.0 - gain)
