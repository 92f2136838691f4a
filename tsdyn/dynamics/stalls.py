"""Which fixed point a stalled run sits at: its block structure, its drift, and the symmetric plateau.

A run that does not specialise by its cap (:mod:`tsdyn.dynamics.specialise`)
is described, not hidden: how many teacher nodes have an aligned active node,
which active nodes are not aligned and with which two teacher nodes they
overlap most (a node between two teacher nodes is a mixture), the relative
drift |dy/dt| / |y| of the ODE at the state (small at a fixed point or a slow
saddle), and its GE against that of the student-symmetric plateau of the same
(K, M, eta, sigma) (:func:`tsdyn.dynamics.plateau.find_plateau`, Saad & Solla 1995).
"""
from __future__ import annotations

import numpy as np

from tsdyn.dynamics.ode_rhs import OdeRhs, pack
from tsdyn.dynamics.plateau import find_plateau
from tsdyn.dynamics.specialise import COS_MIN, alignment
from tsdyn.eg import eg_of
from tsdyn.order_parameters import OrderParameters


def plateau_eg(T: np.ndarray, vstar: np.ndarray, K: int, *, lr: float, sigma: float, t_relax: float = 200.0) -> float:
    """eps_g of the student-symmetric plateau of (T, v*, K, eta, sigma); NaN for K = 1 (no plateau).

    ``t_relax``: :func:`tsdyn.dynamics.plateau.find_plateau`'s relaxation time before Newton.
    """
    return float(find_plateau(T, vstar, K, lr=lr, sigma=sigma, t_relax=t_relax).eg) if K >= 2 else float("nan")


def stall_summary(op: OrderParameters, *, lr: float, sigma: float, cos_min: float = COS_MIN) -> dict:
    """Flat description of the state ``op`` (see the module docstring), CSV-ready; the plateau is :func:`plateau_eg`'s."""
    a = alignment(op, cos_min=cos_min)
    norms = np.sqrt(np.outer(np.diag(op.Q), np.diag(op.T)))
    cos = np.abs(op.R / norms)
    good = a.active & (a.cosine >= cos_min)
    covered = np.unique(a.teacher[good])
    loose = np.flatnonzero(a.active & ~good)
    top2 = np.sort(cos, axis=1)[:, -2:] if op.M > 1 else np.column_stack([cos[:, 0], cos[:, 0]])
    y = pack(op.Q, op.R, op.v)
    drift = OdeRhs(op.T, op.vstar, op.K, lr=lr, lr2=lr, sigma=sigma)(0.0, y)
    # Teacher node n covered by s_n active nodes: the sizes of the partially specialised state.
    sizes = np.bincount(a.teacher[a.active], minlength=op.M)
    return dict(eg=float(eg_of(op)),
                covered_teachers=int(covered.size), active_sizes=" ".join(map(str, sizes.tolist())),
                unaligned_active=int(loose.size),
                unaligned_cosines=" ".join(f"{cos[i].max():.2f}/{top2[i, 0]:.2f}" for i in loose),
                Qii_max=float(np.diag(op.Q).max()),
                relative_drift=float(np.linalg.norm(drift) / np.linalg.norm(y)))
