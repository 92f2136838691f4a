"""The symmetric plateau of the order-parameter ODEs and the law of its exit.

Online SGD of a K >= M student first learns the teacher's *mean*: every student
node takes the same overlaps, a fixed point of the ODEs (Saad & Solla 1995,
Sec. 4; Biehl, Riegler & Woehler 1996) on the manifold invariant under
permutations of the student nodes,

    Q_ii = q,  Q_ik = c (i != k),  R_in = r_n,  v_i = u            (all i, k, n).

The fixed point is a saddle of the full ODE: linearised there, the
symmetry-breaking directions grow like exp(mu t), with mu the largest real
eigenvalue of the analytic Jacobian (:func:`tsdyn.dynamics.ode_rhs.jacobian`).
An initial asymmetry of size s_0 = O(N^{-1/2}) (the random start, and the SGD
noise, which is of the same order; theory/ode_vs_simulation.md) is amplified to
O(1) after a time (1/mu) log(1/s_0), so the mean exit time grows like

    t_exit ~ (1 / (2 mu)) ln N + const,

with a spread that does not depend on N.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import root

from tsdyn.checks import check_int, check_real
from tsdyn.dynamics.ode_rhs import OdeRhs, pack, unpack
from tsdyn.eg import eg
from tsdyn.order_parameters import OrderParameters


@dataclass(frozen=True)
class Plateau:
    """The symmetric fixed point of the ODEs and its linear stability.

    Attributes
    ----------
    state : the fixed point as order parameters (Q_ii = q, Q_ik = c, R_in = r_n, v_i = u).
    eg : its generalisation error (pruning eqs 5-8).
    eigenvalues : eigenvalues of the Jacobian of the full ODE there, largest real part first.
    mu : the largest real part, the growth rate of the symmetry breaking (> 0 for a saddle).
    unstable : number of eigenvalues with real part > ``tol`` (with their multiplicity).
    residual : max |dy/dt| of the full ODE at ``state`` (0 at an exact fixed point).
    """

    state: OrderParameters
    eg: float
    eigenvalues: np.ndarray
    mu: float
    unstable: int
    residual: float

    def exit_slope(self) -> float:
        """Predicted growth of the mean exit time per unit of ln N: 1 / (2 mu)."""
        return 1.0 / (2.0 * self.mu)


def symmetric_state(q: float, c: float, r: np.ndarray, u: float, T: np.ndarray, vstar: np.ndarray,
                    K: int) -> OrderParameters:
    """Order parameters with every student node alike: Q_ii = q, Q_ik = c, R_in = r_n, v_i = u."""
    Q = np.full((K, K), float(c))
    np.fill_diagonal(Q, float(q))
    R = np.tile(np.asarray(r, dtype=float), (K, 1))
    return OrderParameters(Q, R, np.asarray(T, dtype=float), np.full(K, float(u)), np.asarray(vstar, dtype=float))


def _reduce(y: np.ndarray, K: int, M: int) -> np.ndarray:
    """Symmetric coordinates (q, c, r_1..r_M, u) of a flat state: the class averages."""
    Q, R, v = unpack(y, K, M)
    off = (Q.sum() - np.trace(Q)) / (K * (K - 1)) if K > 1 else 0.0
    return np.concatenate([[np.trace(Q) / K, off], R.mean(axis=0), [v.mean()]])


def _expand(x: np.ndarray, K: int, M: int) -> np.ndarray:
    Q = np.full((K, K), x[1])
    np.fill_diagonal(Q, x[0])
    return pack(Q, np.tile(x[2:2 + M], (K, 1)), np.full(K, x[2 + M]))


def find_plateau(T: np.ndarray, vstar: np.ndarray, K: int, *, lr: float, lr2: float | None = None,
                 sigma: float = 0.0, q0: float = 1.0, u0: float = 1.0, t_relax: float = 200.0,
                 tol: float = 1e-9) -> Plateau:
    """The student-symmetric fixed point of the ODEs (Goldt et al. 2019) and its eigenvalues.

    The ODE is first run inside the symmetric manifold (from Q = q0 I, R = 0,
    v = u0, evolved in the reduced coordinates, where it is attracting) to
    ``t_relax``; Newton's method (``scipy.optimize.root``) then solves the
    reduced fixed-point equations to machine precision. The eigenvalues are
    those of the *full* Jacobian (:meth:`OdeRhs.jacobian`), so ``mu`` includes
    every symmetry-breaking direction.

    Parameters
    ----------
    T : (M, M) teacher overlaps; vstar : (M,) teacher second layer; K : student nodes (>= 2).
    lr, lr2, sigma : rates and label-noise std, as in :func:`tsdyn.dynamics.ode.integrate`.
    q0, u0 : the symmetric start of the relaxation (student norm and second layer).
    t_relax : how long to relax inside the manifold before Newton.
    tol : an eigenvalue counts as unstable if its real part exceeds ``tol``.
    """
    T = np.atleast_2d(np.asarray(T, dtype=float))
    M = T.shape[0]
    vstar = np.asarray(vstar, dtype=float).reshape(M)
    K = check_int("K", K, low=2)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    lr2 = lr if lr2 is None else check_real("lr2", lr2, low=0.0)
    sigma = check_real("sigma", sigma, low=0.0)
    rhs = OdeRhs(T, vstar, K, lr=lr, lr2=lr2, sigma=sigma)

    def reduced(x):
        return _reduce(rhs(0.0, _expand(x, K, M)), K, M)

    x0 = np.concatenate([[q0, 0.0], np.zeros(M), [u0]])
    relaxed = solve_ivp(lambda t, x: reduced(x), (0.0, t_relax), x0, method="LSODA", rtol=1e-10, atol=1e-12)
    if not relaxed.success:
        raise RuntimeError(f"relaxation onto the plateau failed: {relaxed.message}")
    sol = root(reduced, relaxed.y[:, -1], method="hybr", tol=1e-13)
    y = _expand(sol.x, K, M)
    residual = float(np.max(np.abs(rhs(0.0, y))))
    if not residual < 1e-9:      # hybr may stop at "no further improvement" once at machine precision
        raise RuntimeError(f"no symmetric fixed point found (max |dy/dt| = {residual:.3g}): {sol.message}")
    eigenvalues = np.linalg.eigvals(rhs.jacobian(0.0, y))
    eigenvalues = eigenvalues[np.argsort(-eigenvalues.real)]
    Q, R, v = unpack(y, K, M)
    state = OrderParameters(Q, R, T, v, vstar)
    return Plateau(state=state, eg=float(eg(Q, R, T, v, vstar)), eigenvalues=eigenvalues,
                   mu=float(eigenvalues[0].real), unstable=int(np.sum(eigenvalues.real > tol)), residual=residual)


def first_passage(times: np.ndarray, eg_t: np.ndarray, level: float, *, after: float = 0.0) -> float:
    """First time ``t > after`` at which eps_g falls below ``level`` (linear in log eps between records).

    Returns NaN if it never does. Used for the plateau exit: ``level`` is a
    stated fraction of the plateau's eps_g.
    """
    times, eg_t = np.asarray(times, dtype=float), np.asarray(eg_t, dtype=float)
    level = check_real("level", level, low=0.0, low_open=True)
    below = np.flatnonzero((eg_t < level) & (times > after))
    if below.size == 0:
        return float("nan")
    j = below[0]
    if j == 0 or times[j - 1] <= after or eg_t[j - 1] <= 0:
        return float(times[j])
    # log eps_g is close to linear in t across an exit: interpolate there.
    a, b = np.log(eg_t[j - 1]), np.log(eg_t[j])
    frac = (a - np.log(level)) / (a - b)
    return float(times[j - 1] + frac * (times[j] - times[j - 1]))
