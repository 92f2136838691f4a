"""Weights with the law of SGD's, drawn from the order parameters: the order engine's runs made prunable.

The order-parameter engine (:mod:`tsdyn.dynamics.order_engine`) follows (Q, R, v)
exactly in law but keeps no weights, while edge pruning, path-kernel scores and
retraining with a mask need the weights themselves. Symmetry gives them back,
exactly in law.

Why it is exact. Fix the teacher w* (M x N). The inputs are isotropic and the
student's initial w is i.i.d. Gaussian, and an SGD step commutes with every
rotation O of R^N (w -> w O^T, x -> O x); so for every O that fixes the rows of
w* (O w*^T = w*^T) the law of the whole run (w_t, v_t), given w*, is invariant
under w -> w O^T. Given (Q, R) the weights are therefore spread uniformly over
the orbit {w : w w^T / N = Q, w w*^T / N = R} of that group. Writing
w = R T^-1 w* + sqrt(N) F U, with U (K x N) orthonormal rows orthogonal to the
teacher span and F F^T = Q - R T^-1 R^T, the first term is fixed by R and the
orbit is that of U, on which the invariant law is Haar's. :func:`weights_in_law`
draws U from it (QR of a projected Gaussian matrix, the triangular factor's diagonal made positive).
With (Q, R, v) from the order chain and w* from the run's seed, the pair
(w, w*) has the law of the weights engine's at that time (theory/weights_in_law.md).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from tsdyn.checks import check_array
from tsdyn.trajectory import Trajectory

#: Relative size of a negative eigenvalue of Q - R T^-1 R^T put down to rounding (not a bad Q).
PSD_TOLERANCE = 1e-10


def weights_in_law(Q: np.ndarray, R: np.ndarray, wstar: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """First-layer weights w (K x N) with w w^T/N = Q and w w*^T/N = R, uniform on that set given w*.

    Parameters
    ----------
    Q : (K, K) student overlaps, symmetric positive semi-definite.
    R : (K, M) student-teacher overlaps.
    wstar : (M, N) teacher weights with independent rows; N >= M + K.
    rng : the draws of the frame orthogonal to the teacher span.

    Returns
    -------
    numpy.ndarray
        w, exactly consistent with (Q, R, T = w* w*^T / N) up to rounding, and
        drawn from the invariant (Haar) law on the set of such w (module docstring).

    Raises
    ------
    ValueError
        If the shapes disagree, N < M + K, T is singular, or Q - R T^-1 R^T is not
        positive semi-definite (then no weights have these overlaps).
    """
    wstar = check_array("wstar", wstar, ndim=2)
    M, N = wstar.shape
    Q = check_array("Q", Q, ndim=2)
    K = Q.shape[0]
    Q = check_array("Q", Q, shape=(K, K))
    R = check_array("R", R, shape=(K, M))
    if N < M + K:
        raise ValueError(f"N must be >= M + K = {M + K} to hold K weight vectors beside the teacher span, got N = {N}")
    if not np.allclose(Q, Q.T, rtol=0, atol=PSD_TOLERANCE * max(1.0, float(np.abs(Q).max()))):
        raise ValueError("Q must be symmetric positive semi-definite, got an asymmetric Q")
    T = wstar @ wstar.T / N
    try:
        A = np.linalg.solve(T, R.T).T                         # R T^-1
    except np.linalg.LinAlgError:
        raise ValueError("wstar must have linearly independent rows (T = w* w*^T / N singular)") from None
    S = Q - A @ R.T
    S = 0.5 * (S + S.T)
    eigval, eigvec = np.linalg.eigh(S)
    if eigval.min() < -PSD_TOLERANCE * max(1.0, float(np.abs(Q).max())):
        raise ValueError(f"Q - R T^-1 R^T must be positive semi-definite (Q, R and T of one network), its smallest "
                         f"eigenvalue is {eigval.min():.3g}")
    F = eigvec * np.sqrt(np.clip(eigval, 0.0, None))          # F F^T = S
    frame = _haar_frame(wstar, K, rng)
    return A @ wstar + np.sqrt(N) * (F @ frame)


def _haar_frame(wstar: np.ndarray, K: int, rng: np.random.Generator) -> np.ndarray:
    """K orthonormal rows in the complement of the rows of w*, Haar-distributed there."""
    M, N = wstar.shape
    basis, _ = np.linalg.qr(wstar.T)                           # (N, M): the teacher span
    G = rng.standard_normal((N, K))
    G -= basis @ (basis.T @ G)
    U, r = np.linalg.qr(G)
    return (U * np.sign(np.diag(r))).T                         # signs fixed: Haar, not QR's convention


def with_weights_in_law(traj: Trajectory, wstar: np.ndarray, rng: np.random.Generator) -> Trajectory:
    """``traj`` (an order-engine run) with final weights drawn in law from its final Q, R and the teacher ``wstar``.

    ``wstar`` must be the run's teacher: T = w* w*^T / N must equal the run's T
    (to rounding); a different teacher raises ``ValueError``.
    """
    wstar = check_array("wstar", wstar, ndim=2)
    T = wstar @ wstar.T / wstar.shape[1]
    if T.shape != traj.T.shape or not np.allclose(T, traj.T, rtol=1e-12, atol=1e-12):
        raise ValueError("wstar is not the run's teacher: its T = w* w*^T / N differs from the trajectory's T")
    w = weights_in_law(traj.Q[-1], traj.R[-1], wstar, rng)
    info = dict(traj.info, final_weights="in_law")
    return dataclasses.replace(traj, w=w, wstar=np.array(wstar), info=info)
