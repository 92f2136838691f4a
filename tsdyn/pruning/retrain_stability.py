"""Can a pruned student relearn the teacher? Stability of the perfect state under the ODEs.

At sigma = 0 the perfect student (theory/retraining.md, Sec. 2) is a fixed point of the
ODEs of Goldt et al. 2019 at every learning rate: the output error vanishes, so every rate
does. Whether SGD retraining reaches it depends on its stability. Under the ideal ansatz
(A6: T = I, Z copies of each teacher node, each with v*/Z) the largest real part of the
Jacobian's eigenvalues there grows with lr v*^2 / Z: pruning to K' = M nodes (Z = 1) asks
the kept nodes to carry v* each, and above a critical rate the perfect state repels.
The Jacobian is a central difference of the readable equations (:mod:`tsdyn.dynamics.equations`);
modes with eigenvalue ~0 (redistributing v among copies, Z > 1) do not count as growth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsdyn.checks import check_int, check_real


@dataclass(frozen=True)
class _State:
    """Order parameters without validation: the perfect state is on the edge of the PSD domain,
    and its central differences step to both sides of it."""

    Q: np.ndarray
    R: np.ndarray
    T: np.ndarray
    v: np.ndarray
    vstar: np.ndarray

    @property
    def K(self) -> int:
        return self.Q.shape[0]

    def covariance(self) -> np.ndarray:
        return np.block([[self.Q, self.R], [self.R.T, self.T]])


def perfect_state(M: int, Z: int, vstar: float) -> _State:
    """The ideal student (A6) with T = I: Z copies of each teacher node, second layer v*/Z."""
    M, Z = check_int("M", M, low=1), check_int("Z", Z, low=1)
    R = np.repeat(np.eye(M), Z, axis=0)
    return _State(R @ R.T, R, np.eye(M), np.full(M * Z, float(vstar) / Z), np.full(M, float(vstar)))


def growth_rate(M: int, vstar: float, lr: float, *, Z: int = 1, h: float = 1e-6) -> float:
    """Largest real part of the ODE Jacobian's eigenvalues at :func:`perfect_state` (lr2 = lr, sigma = 0)."""
    from tsdyn.dynamics.equations import order_parameter_rates

    lr = check_real("lr", lr, low=0.0, low_open=True)
    s = perfect_state(M, Z, vstar)
    K = s.K
    iu = np.triu_indices(K)

    def rates(y):
        Q = np.zeros((K, K))
        Q[iu] = y[:len(iu[0])]
        Q = Q + np.triu(Q, 1).T
        R = y[len(iu[0]):len(iu[0]) + K * M].reshape(K, M)
        state = _State(Q, R, s.T, y[len(iu[0]) + K * M:], s.vstar)
        dQ, dR, dv = order_parameter_rates(state, lr=lr, lr2=lr)
        return np.concatenate([dQ[iu], dR.ravel(), dv])

    y0 = np.concatenate([s.Q[iu], s.R.ravel(), s.v])
    J = np.column_stack([(rates(y0 + h * e) - rates(y0 - h * e)) / (2 * h) for e in np.eye(y0.size)])
    return float(np.max(np.linalg.eigvals(J).real))


def critical_lr(M: int, vstar: float, *, Z: int = 1, lo: float = 1e-3, hi: float = 5.0, tol: float = 1e-3,
                zero: float = 1e-6) -> float:
    """The learning rate above which the perfect state repels (growth rate > ``zero``), by bisection in [lo, hi]."""
    if growth_rate(M, vstar, lo, Z=Z) > zero or growth_rate(M, vstar, hi, Z=Z) <= zero:
        return float("nan")
    while hi - lo > tol * lo:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if growth_rate(M, vstar, mid, Z=Z) <= zero else (lo, mid)
    return 0.5 * (lo + hi)
