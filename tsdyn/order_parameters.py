"""Order parameters Q, R, T of the teacher-student network and their validation.

Q_ik = w_i . w_k / N,  R_in = w_i . w*_n / N,  T_nm = w*_n . w*_m / N
(pruning paper Sec. 2, with erratum 5: the teacher-teacher overlap is T).
Together with the second-layer weights v (student) and v* (teacher) they fix the
generalisation error (:mod:`tsdyn.eg`) and obey closed ODEs (:mod:`tsdyn.dynamics.ode`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsdyn.checks import check_array

#: Tolerance for symmetry / positive semi-definiteness of covariance blocks.
PSD_TOL = 1e-9


def Q(w: np.ndarray) -> np.ndarray:
    """Student-student overlap Q = w w^T / N (K x K), w of shape (K, N)."""
    w = np.asarray(w, dtype=float)
    return w @ w.T / w.shape[1]


def R(w: np.ndarray, wstar: np.ndarray) -> np.ndarray:
    """Student-teacher overlap R = w w*^T / N (K x M)."""
    w = np.asarray(w, dtype=float)
    return w @ np.asarray(wstar, dtype=float).T / w.shape[1]


def T(wstar: np.ndarray) -> np.ndarray:
    """Teacher-teacher overlap T = w* w*^T / N (M x M)."""
    return Q(wstar)


def as_vstar(vstar, M: int) -> np.ndarray:
    """Teacher second layer as a length-M vector; a scalar means all entries equal."""
    arr = np.asarray(vstar, dtype=float)
    if arr.ndim == 0:
        arr = np.full(M, float(arr))
    if arr.shape != (M,):
        raise ValueError(f"vstar must be a scalar or have length M = {M}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("vstar contains NaN or infinite entries")
    return arr


@dataclass(frozen=True)
class OrderParameters:
    """State (Q, R, T, v, v*) of a teacher-student pair, validated on construction.

    Attributes
    ----------
    Q : (K, K) student-student overlaps.
    R : (K, M) student-teacher overlaps.
    T : (M, M) teacher-teacher overlaps.
    v : (K,) student second layer.
    vstar : (M,) teacher second layer.
    """

    Q: np.ndarray
    R: np.ndarray
    T: np.ndarray
    v: np.ndarray
    vstar: np.ndarray

    def __post_init__(self):
        Qa, Ra, Ta, va, vsa = validate(self.Q, self.R, self.T, self.v, self.vstar)
        for name, arr in zip("Q R T v vstar".split(), (Qa, Ra, Ta, va, vsa)):
            arr = np.array(arr)  # our own frozen copy: never freeze the caller's live array
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def K(self) -> int:
        return self.Q.shape[0]

    @property
    def M(self) -> int:
        return self.T.shape[0]

    @classmethod
    def from_weights(cls, w: np.ndarray, v: np.ndarray, wstar: np.ndarray, vstar) -> "OrderParameters":
        """Order parameters of a network given by its weights (w: K x N, w*: M x N)."""
        w = check_array("w", w, ndim=2)
        wstar = check_array("wstar", wstar, shape=(None, w.shape[1]))
        return cls(Q(w), R(w, wstar), T(wstar), np.asarray(v, dtype=float), as_vstar(vstar, wstar.shape[0]))

    def covariance(self) -> np.ndarray:
        """Joint covariance of the fields (lambda_1..K, nu_1..M): [[Q, R], [R^T, T]]."""
        return np.block([[self.Q, self.R], [self.R.T, self.T]])

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"Q": np.array(self.Q), "R": np.array(self.R), "T": np.array(self.T),
                "v": np.array(self.v), "vstar": np.array(self.vstar)}


def validate(Q, R, T, v, vstar, *, tol: float = PSD_TOL):
    """Check shapes and the valid domain of order parameters; return them as arrays.

    Raises ``ValueError`` naming what is wrong if Q or T is not square, symmetric
    and positive semi-definite, if shapes disagree, or if the joint covariance
    [[Q, R], [R^T, T]] of the fields is not positive semi-definite (which also
    guarantees every arcsin argument of pruning eqs 5-8 lies in [-1, 1]).
    """
    Q = check_array("Q", Q, ndim=2)
    T = check_array("T", T, ndim=2)
    K, M = Q.shape[0], T.shape[0]
    if Q.shape != (K, K):
        raise ValueError(f"Q must be square (K x K), got shape {Q.shape}")
    if T.shape != (M, M):
        raise ValueError(f"T must be square (M x M), got shape {T.shape}")
    R = check_array("R", R, shape=(K, M))
    v = check_array("v", v, shape=(K,))
    vstar = as_vstar(vstar, M)
    check_psd("Q", Q, tol=tol)
    check_psd("T", T, tol=tol)
    check_psd("the joint covariance [[Q, R], [R^T, T]]", np.block([[Q, R], [R.T, T]]), tol=tol)
    return Q, R, T, v, vstar


def check_psd(name: str, C: np.ndarray, *, tol: float = PSD_TOL) -> None:
    """Raise ``ValueError`` unless C is symmetric positive semi-definite (relative tol)."""
    scale = max(1.0, float(np.max(np.abs(C)))) if C.size else 1.0
    asym = float(np.max(np.abs(C - C.T))) if C.size else 0.0
    if asym > tol * scale:
        raise ValueError(f"{name} must be symmetric, but |C - C^T| reaches {asym:.3g}")
    if C.size:
        lam_min = float(np.linalg.eigvalsh(0.5 * (C + C.T))[0])
        if lam_min < -tol * scale * C.shape[0]:
            raise ValueError(f"{name} must be positive semi-definite, but its smallest eigenvalue is {lam_min:.3g}")
