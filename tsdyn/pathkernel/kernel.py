"""Path kernel of the two-layer student (path-kernel paper, Sec. 3, eqs 9-16).

A path runs input i -> hidden node k -> output; its value is v_p = v_k * w_ki.
The parameters are theta = (w, v) in this order: w row-major (index k*N + i),
then v. A first-layer ``mask`` (K, N) removes edges: a pruned edge is neither a
parameter nor part of a path, so it contributes nothing to the kernel (setting
w_ki = 0 would not do: d(v_k w_ki)/d w_ki = v_k stays non-zero).

The path kernel is Pi = J J^T with J = d v_p / d theta (P x m). In this network
a path contains exactly one first-layer weight, so Pi is block-diagonal over the
hidden nodes: Pi_k = v_k^2 I + w_k w_k^T on node k's kept edges, and

    Tr Pi = sum_k (n_k v_k^2 + |w_k|^2),   n_k = kept edges of node k.    (path-kernel eq 14)

The constant 1/sqrt(N) of the fields and g'(lambda) belong to the data factor
J_v^f of the NTK, not to Pi: Pi depends on the architecture and theta only.

Besides the explicit definition (small networks only: J is P x (P + K)) this
module provides the two path objectives of the paper, both multilinear in the
per-layer magnitudes,

    R_PK(x, theta) = 1^T (prod_l theta_l^2) x = sum_ki v_k^2 w_ki^2 x_i   (path-kernel eq 15)
    R_SF(x, theta) = 1^T (prod_l |theta_l|) x = sum_ki |v_k| |w_ki| x_i   (path-kernel eq 16)

and their gradients with respect to theta^2 and |theta|; the sum of the
theta^2-gradient of R_PK at x = 1 is Tr Pi (Sec. 3.1).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tsdyn.checks import check_array

#: Largest number of paths for which the explicit Jacobian / kernel is built.
MAX_EXPLICIT_PATHS = 20_000


class LayerArrays(NamedTuple):
    """A pair of per-layer arrays shaped like (w, v): gradients, scores, masks."""

    w: np.ndarray
    v: np.ndarray


def as_network(w, v, mask=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate a student (w: K x N, v: K) and its first-layer mask; return float arrays.

    ``mask=None`` keeps every edge. Raises ``ValueError`` naming the bad argument.
    """
    w = check_array("w", w, ndim=2)
    v = check_array("v", v, shape=(w.shape[0],))
    return w, v, as_mask(mask, w.shape)


def as_mask(mask, shape: tuple[int, int]) -> np.ndarray:
    """First-layer mask as a boolean (K, N) array; ``None`` keeps everything."""
    if mask is None:
        return np.ones(shape, dtype=bool)
    arr = np.asarray(mask)
    if arr.shape != tuple(shape):
        raise ValueError(f"mask must have the shape of w {tuple(shape)}, got {arr.shape}")
    if arr.dtype != bool and not np.all((arr == 0) | (arr == 1)):
        raise ValueError("mask must be boolean (or contain only 0 and 1)")
    return arr.astype(bool)


def as_input(x, N: int) -> np.ndarray:
    """Input vector of the path objectives: ``None`` means x = 1 (all paths, weight one)."""
    if x is None:
        return np.ones(N)
    return check_array("x", x, shape=(N,))


# ---------------------------------------------------------------- definition
def path_values(w, v, mask=None) -> np.ndarray:
    """Values v_k w_ki of the kept paths, in row-major order of the kept edges (path-kernel eq 9)."""
    w, v, mask = as_network(w, v, mask)
    return (v[:, None] * w)[mask]


def path_jacobian(w, v, mask=None) -> np.ndarray:
    """J = d(path values)/d theta from the definition, shape (P, P + K).

    Columns: the kept first-layer weights (row-major), then v_1..v_K. Row p of
    path (k, i) has v_k in the column of w_ki and w_ki in the column of v_k
    (path-kernel paper, (J_theta^v)_pj = v_p / theta_j on the path).
    """
    w, v, mask = as_network(w, v, mask)
    K = w.shape[0]
    nodes, inputs = np.nonzero(mask)
    P = nodes.size
    if P > MAX_EXPLICIT_PATHS:
        raise ValueError(f"the explicit path Jacobian needs P <= {MAX_EXPLICIT_PATHS} kept paths, got {P}")
    J = np.zeros((P, P + K))
    rows = np.arange(P)
    J[rows, rows] = v[nodes]
    J[rows, P + nodes] = w[nodes, inputs]
    return J


def path_kernel(w, v, mask=None) -> np.ndarray:
    """Path kernel Pi = J J^T (P x P) from the explicit Jacobian (path-kernel paper Sec. 3)."""
    J = path_jacobian(w, v, mask)
    return J @ J.T


def path_kernel_eigenvalues(w, v, mask=None) -> np.ndarray:
    """Eigenvalues of Pi in closed form, sorted ascending.

    Pi_k = v_k^2 I_{n_k} + w_k w_k^T has v_k^2 with multiplicity n_k - 1 and
    v_k^2 + |w_k|^2 once (n_k >= 1 kept edges of node k).
    """
    w, v, mask = as_network(w, v, mask)
    counts = mask.sum(axis=1)
    norms = np.sum(np.where(mask, w, 0.0) ** 2, axis=1)
    alive = counts > 0
    bulk = np.repeat(v[alive] ** 2, counts[alive] - 1)
    top = v[alive] ** 2 + norms[alive]
    return np.sort(np.concatenate([bulk, top]))


# ---------------------------------------------------------------- objectives
def path_kernel_objective(x, w, v, mask=None) -> float:
    """R_PK(x, theta) = 1^T (prod_l theta_l^2) x = sum_ki v_k^2 w_ki^2 x_i (path-kernel eq 15)."""
    w, v, mask = as_network(w, v, mask)
    x = as_input(x, w.shape[1])
    return float(np.sum((v**2)[:, None] * np.where(mask, w**2, 0.0) * x[None, :]))


def path_kernel_objective_grad_sq(x, w, v, mask=None) -> LayerArrays:
    """Gradient of R_PK with respect to theta^2 = (w^2, v^2) (path-kernel eq 15).

    dR/d(w_ki^2) = v_k^2 x_i on kept edges (0 on pruned ones, which are no
    parameters); dR/d(v_k^2) = sum_i w_ki^2 x_i over node k's kept edges.
    """
    w, v, mask = as_network(w, v, mask)
    x = as_input(x, w.shape[1])
    w_sq = np.where(mask, w**2, 0.0)
    return LayerArrays(np.where(mask, (v**2)[:, None] * x[None, :], 0.0), w_sq @ x)


def path_kernel_trace(w, v, mask=None) -> float:
    """Tr Pi by the gradient identity of Sec. 3.1: sum_j dR_PK(1, theta)/d theta_j^2 (path-kernel eqs 14-15)."""
    grad = path_kernel_objective_grad_sq(None, w, v, mask)
    return float(grad.w.sum() + grad.v.sum())


def synflow_objective(x, w, v, mask=None) -> float:
    """R_SF(x, theta) = 1^T (prod_l |theta_l|) x = sum_ki |v_k| |w_ki| x_i (path-kernel eq 16)."""
    w, v, mask = as_network(w, v, mask)
    x = as_input(x, w.shape[1])
    return float(np.sum(np.abs(v)[:, None] * np.where(mask, np.abs(w), 0.0) * x[None, :]))


def synflow_objective_grad_abs(x, w, v, mask=None) -> LayerArrays:
    """Gradient of R_SF with respect to |theta| = (|w|, |v|) (path-kernel eq 16).

    dR/d|w_ki| = |v_k| x_i on kept edges; dR/d|v_k| = sum_i |w_ki| x_i over kept edges.
    """
    w, v, mask = as_network(w, v, mask)
    x = as_input(x, w.shape[1])
    w_abs = np.where(mask, np.abs(w), 0.0)
    return LayerArrays(np.where(mask, np.abs(v)[:, None] * x[None, :], 0.0), w_abs @ x)
