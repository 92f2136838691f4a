"""Second-layer reweighting after pruning, in the population limit (N, n -> infinity).

Node pruning keeps the nodes S and drops D. Two ways to refit v_S:

* DIVNET (Mariet & Sra 2016, Sec. 3.2): regress each dropped node's activation
  on the kept ones, alpha = argmin E[(a_D - alpha^T a_S)^2] = C_SS^+ C_SD, and fold
  the dropped weights in: v_S <- v_S + alpha v_D. With pre-activations C = Q;
  with post-activations C = I2(Q), I2(Q)_ij = E[g(lambda_i) g(lambda_j)].
* GE-optimal: pruning eqs 5-8 read eps = 1/2 v^T I2(Q) v - v^T I2(R) v* + const, so the
  best second layer is v_S = I2(Q_SS)^+ I2(R_S) v*.

Edge pruning rescales v -> A v; eps(A) = A^2 f1 + f2 - A f3 is minimal at
A = f3 / (2 f1) (Theorem 3 of the pruning paper, pruning eq 15, for any network).

Q_SS is singular whenever two kept nodes are parallel (two nodes of one block
of the ideal ansatz); we then use the pseudo-inverse (minimum-norm least
squares), which still attains the minimum since the right-hand sides lie in
the range of the Gram matrices.
"""
from __future__ import annotations

import numpy as np

from tsdyn.pruning.dpp import principal_submatrices
from tsdyn.activation_integrals import pair_mean_matrix
from tsdyn.conventions import activation_code, activation_pair
from tsdyn.integrals import I2_matrix

#: Relative cut-off of the pseudo-inverse: singular values below it (times the largest) count as 0.
PINV_RCOND = 1e-10
ACTIVATIONS = ("pre", "post")


def activation_covariance(Q: np.ndarray, activations: str = "post") -> np.ndarray:
    """E[a_i a_j] of the node activations: Q (pre-activations) or I2(Q) (post-activations, eq. B1)."""
    if activations == "pre":
        return np.asarray(Q, dtype=float)
    if activations == "post":
        d = np.diagonal(Q, axis1=-2, axis2=-1)
        return I2_matrix(d, Q, d)
    raise ValueError(f"activations must be one of {ACTIVATIONS}, got {activations!r}")


def complements(subsets: np.ndarray, K: int) -> np.ndarray:
    """The dropped nodes {0..K-1} \\ S for every row S of ``subsets``: shape (B, K - k), sorted."""
    kept = np.zeros((subsets.shape[0], K), dtype=bool)
    np.put_along_axis(kept, subsets, True, axis=1)
    return np.nonzero(~kept)[1].reshape(subsets.shape[0], K - subsets.shape[1])


def divnet_second_layer(C: np.ndarray, v: np.ndarray, subsets: np.ndarray) -> np.ndarray:
    """DIVNET reweighting v_S + C_SS^+ C_SD v_D for every row S of ``subsets`` ((B, k) -> (B, k)).

    C is the K x K activation covariance (:func:`activation_covariance`).
    """
    C, v = np.asarray(C, dtype=float), np.asarray(v, dtype=float)
    dropped = complements(subsets, C.shape[0])
    C_SS = principal_submatrices(C, subsets)
    C_SD = C[subsets[:, :, None], dropped[:, None, :]]
    alpha = np.linalg.pinv(C_SS, rcond=PINV_RCOND, hermitian=True) @ C_SD
    return v[subsets] + np.einsum("bsd,bd->bs", alpha, v[dropped])


def optimal_second_layer(Q: np.ndarray, R: np.ndarray, T: np.ndarray, vstar: np.ndarray,
                         activation="erf") -> np.ndarray:
    """GE-optimal second layer v = I2(Q)^+ I2(R) v* of a (pruned) student, minimising pruning eqs 5-8.

    Q (..., k, k) and R (..., k, M) may carry leading batch axes; returns (..., k).
    ``activation`` other than erf replaces I2 by that activation pair's Gaussian pair mean
    (:func:`tsdyn.eg.eg`), which keeps the GE quadratic in v, so the same least squares is exact.
    """
    Q, R = np.asarray(Q, dtype=float), np.asarray(R, dtype=float)
    gram, cross = _gram_and_cross(Q, R, T, activation)
    target = cross @ np.asarray(vstar, dtype=float)
    return (np.linalg.pinv(gram, rcond=PINV_RCOND, hermitian=True) @ target[..., None])[..., 0]


def optimal_scale(Q: np.ndarray, R: np.ndarray, T: np.ndarray, v: np.ndarray, vstar: np.ndarray,
                  activation="erf") -> np.ndarray | float:
    """GE-optimal A of the reweighting v -> A v: A = f3 / (2 f1) = v^T I2(R) v* / v^T I2(Q) v (pruning eq 15).

    When f1 = 0 (every node silent, e.g. edge pruning with c = 0) the GE does not
    depend on A and we return A = 0. Batched over leading axes. ``activation`` other
    than erf replaces I2 by that pair's Gaussian pair mean (the GE stays quadratic in A,
    so the same minimiser is exact); pruning eq 15's closed form in c and Z
    (:func:`tsdyn.pruning.closed_form.optimal_edge_scale`) is erf-only.
    """
    Q, R, v = (np.asarray(a, dtype=float) for a in (Q, R, v))
    gram, cross = _gram_and_cross(Q, R, T, activation)
    two_f1 = np.einsum("...i,...ij,...j->...", v, gram, v)
    f3 = np.einsum("...i,...in,n->...", v, cross, np.asarray(vstar, dtype=float))
    A = np.divide(f3, two_f1, out=np.zeros_like(f3), where=two_f1 > 0)
    return float(A) if np.ndim(A) == 0 else A


def _gram_and_cross(Q: np.ndarray, R: np.ndarray, T, activation) -> tuple[np.ndarray, np.ndarray]:
    """E[g(lambda_i) g(lambda_k)] and E[g(lambda_i) g(nu_n)] (I2 of pruning eqs 5-8, or the pair's Gaussian mean)."""
    dQ = np.diagonal(Q, axis1=-2, axis2=-1)
    dT = np.diag(np.asarray(T, dtype=float))
    teacher, student = activation_pair(activation)
    if teacher == student == "erf":
        return I2_matrix(dQ, Q, dQ), I2_matrix(dQ, R, dT)
    fs, ft = activation_code(student), activation_code(teacher)
    return pair_mean_matrix(fs, fs, dQ, Q, dQ), pair_mean_matrix(fs, ft, dQ, R, dT)
