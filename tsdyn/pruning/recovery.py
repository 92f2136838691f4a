"""Measures of recovery after pruning: pure functions on eps_g(Delta t) curves and states.

* :func:`time_within_final`, :func:`time_to_reach`: when a retraining curve settles
  (within 10 % of its final value) and when it comes within 2x of the unpruned
  student's eps_g (issue 13, part 3).
* :func:`claims`: the one-shot inequalities of pruning Theorems 1-3 (as NOTES.md
  states them) evaluated on mean eps_g at any Delta t, so their survival under
  retraining can be read off.
* :func:`initial_rate`: d eps_g / d t at Delta t = 0 from the ODE's rates
  (theory/retraining.md, Sec. 1).
* :func:`paired_z`: the agreement criterion of SGD retraining with its ODE (part 5).
* :func:`first_exit_time`: the end of the symmetric plateau on a recorded curve (part 4).
"""
from __future__ import annotations

import math

import numpy as np

from tsdyn.checks import check_real
from tsdyn.eg import eg
from tsdyn.order_parameters import OrderParameters


def time_within_final(dt: np.ndarray, eg: np.ndarray, *, tol: float = 0.1) -> float:
    """First Delta t from which eps_g stays within ``tol`` (relative) of its last value eps_g(Delta t_max)."""
    dt, eg = np.asarray(dt, dtype=float), np.asarray(eg, dtype=float)
    tol = check_real("tol", tol, low=0.0, low_open=True)
    if dt.shape != eg.shape or dt.size == 0:
        raise ValueError(f"dt and eg must be non-empty arrays of one shape, got {dt.shape} and {eg.shape}")
    if not np.all(np.isfinite(eg)):
        return math.nan
    outside = np.abs(eg - eg[-1]) > tol * abs(eg[-1])
    if not outside.any():
        return float(dt[0])
    return float(dt[np.nonzero(outside)[0][-1] + 1])


def time_to_reach(dt: np.ndarray, eg: np.ndarray, target: float) -> float:
    """First Delta t with eps_g <= ``target`` (NaN if the curve never gets there)."""
    dt, eg = np.asarray(dt, dtype=float), np.asarray(eg, dtype=float)
    below = np.nonzero(eg <= target)[0]
    return float(dt[below[0]]) if below.size else math.nan


def claims(mean: dict[tuple[str, str], float], kn: int, M: int, *, resolution: float = 1e-6) -> list[dict]:
    """The inequalities of Theorems 1-3 on mean eps_g, ``mean[(method, reweight)]``, at one Delta t.

    Theorem 1 (k_n <= M): random >= DPP and importance >= DPP, without and with reweighting;
    Theorem 2: DPP >= random edge without reweighting; Theorem 3: DPP <= random edge with it
    (NOTES.md's corrected statements). A claim whose methods are missing is skipped. Means equal to
    ``resolution`` (relative; the ODE's integration accuracy, where every K' = M retraining ends in the same
    state) satisfy the ">=": they are equal.
    """
    pairs = []
    if kn <= M:
        pairs += [("theorem 1", rw, big, "dpp") for rw in ("none", "optimal") for big in ("random", "importance")]
    pairs += [("theorem 2", "none", "dpp", "random_edge"), ("theorem 3", "optimal", "random_edge", "dpp")]
    out = []
    for theorem, rw, big, small in pairs:
        if (big, rw) in mean and (small, rw) in mean:
            lhs, rhs = mean[(big, rw)], mean[(small, rw)]
            out.append(dict(claim=f"{theorem}: {big} >= {small}", reweight=rw, larger=lhs, smaller=rhs,
                            holds=bool(lhs >= rhs - resolution * abs(rhs))))
    return out


def initial_rate(op: OrderParameters, *, lr: float, lr2: float | None = None, sigma: float = 0.0,
                 h: float = 1e-6) -> dict[str, float]:
    """d eps_g / dt at the state ``op`` under the ODEs (Goldt et al. 2019), split by what moves.

    The chain rule along the rates (dQ, dR, dv) of :mod:`tsdyn.dynamics.equations`: a central
    difference of the closed-form eps_g (pruning eqs 5-8) along each part of the rate vector
    (error O(h^2)). ``v`` is the second layer's part, ``w_lr`` the first layer's part of order
    lr (gradient flow), ``w_lr2`` the part of order lr^2 (SGD noise, sigma included).
    """
    from tsdyn.dynamics.equations import dQ_dt, dR_dt, dv_dt

    lr = check_real("lr", lr, low=0.0, low_open=True)
    lr2 = lr if lr2 is None else check_real("lr2", lr2, low=0.0)
    dQ_full = dQ_dt(op, lr, sigma)
    dQ_first = dQ_dt(op, lr, 0.0) - lr**2 * _second_order_q(op, sigma=0.0)
    parts = {"v": (0.0 * dQ_full, 0.0 * op.R, dv_dt(op, lr2)),
             "w_lr": (dQ_first, dR_dt(op, lr), 0.0 * op.v),
             "w_lr2": (dQ_full - dQ_first, 0.0 * op.R, 0.0 * op.v)}
    out = {name: _directional(op, d, h) for name, d in parts.items()}
    out["total"] = sum(out.values())
    return out


def _second_order_q(op: OrderParameters, *, sigma: float) -> np.ndarray:
    """The lr^2 term of dQ/dt divided by lr^2 (from the Q equation at two rates: it is quadratic in lr)."""
    from tsdyn.dynamics.equations import dQ_dt

    return dQ_dt(op, 2.0, sigma) / 2.0 - dQ_dt(op, 1.0, sigma)


def _directional(op: OrderParameters, d, h: float) -> float:
    dQ, dR, dv = d

    # eps_g itself, not a validated state: a start on the domain's edge (the ideal student, R = Q = T)
    # has neighbours on either side of it, and eqs 5-8 are smooth across.
    def at(s):
        return float(eg(op.Q + s * dQ, op.R + s * dR, op.T, op.v + s * dv, op.vstar))

    return float((at(h) - at(-h)) / (2 * h))


def paired_z(sgd: np.ndarray, ode: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and z-score over draws of d_j = eps_sgd,j - eps_ode,j, per record time ((draws, times) arrays).

    Each draw is one pruned start, retrained once by SGD and once by its own ODE, so the d_j are
    independent; a correct ODE leaves mean(d) within ~2 standard errors of 0 (up to its O(1/N) bias).
    """
    sgd, ode = np.atleast_2d(sgd), np.atleast_2d(ode)
    if sgd.shape != ode.shape or sgd.shape[0] < 2:
        raise ValueError(f"sgd and ode must be (draws >= 2, times) arrays of one shape, got {sgd.shape}, {ode.shape}")
    d = sgd - ode
    se = d.std(axis=0, ddof=1) / math.sqrt(d.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, d.mean(axis=0) / se, 0.0)
    return d.mean(axis=0), z


def first_exit_time(times: np.ndarray, eg: np.ndarray, *, t_plateau: float, fraction: float = 0.5) -> float:
    """First record time after ``t_plateau`` with eps_g below ``fraction`` of eps_g(t_plateau) (NaN: none)."""
    times, eg = np.asarray(times, dtype=float), np.asarray(eg, dtype=float)
    i0 = int(np.argmin(np.abs(times - t_plateau)))
    after = np.nonzero((times > times[i0]) & (eg < fraction * eg[i0]))[0]
    return float(times[after[0]]) if after.size else math.nan


def ideal_dpp_initial_rate(*, M: int, k: int, Z: int, vstar: float, lr: float, sigma: float = 0.0,
                           reweight: str = "none") -> dict[str, float]:
    """d eps_g / dt at Delta t = 0 after DPP node pruning of the ideal student (ansatz A6), in closed form.

    Under A6 (T = I, Z copies w_i = w*_n of each teacher node, v_i = v*/Z) the k-DPP with kernel Q keeps
    k <= M nodes of distinct blocks (pruning Lemma 2); each kept node is its teacher node, with
    a = v*/Z (``reweight="none"``) or a = v* (``"optimal"``, pruning eq 10). With b = v*, lr2 = lr
    and the Gaussian averages of g = erf(x/sqrt 2) below (theory/retraining.md, Sec. 1):

    v     = -lr k (b - a)^2 / 9
    w_lr  = -lr a^2 [k (b - a)^2 / (3 pi^2) + k (k - 1) (b - a)^2 / pi^2 + k (M - k) b^2 / pi^2]
    w_lr2 = lr^2 a^2 [k a (a + b) / (2 pi sqrt 3) E_ii + k (k - 1) / 2 a^2 / pi E_ik]

    with E_ii = E[g'_i^2 (Delta^2 + sigma^2)] and E_ik = E[g'_i g'_k (Delta^2 + sigma^2)] (Delta the
    output error; the fields of distinct teacher nodes are independent, so these are sums of the
    moments E[g'] = 1/sqrt(pi), E[g'^2] = 2/(pi sqrt 3), E[g^2] = 1/3,
    E[g' g^2] = 2 asin(1/3) / pi^(3/2), E[g'^2 g^2] = 4 asin(1/4) / (sqrt(3) pi^2).
    """
    if reweight not in ("none", "optimal"):
        raise ValueError(f"reweight must be 'none' or 'optimal', got {reweight!r}")
    if not 1 <= k <= M:
        raise ValueError(f"k must be an integer in 1..M = {M}, got {k}")
    pi, s3 = math.pi, math.sqrt(3.0)
    g1, g2, gg = 1 / math.sqrt(pi), 2 / (pi * s3), 1 / 3
    e3, e4 = 2 * math.asin(1 / 3) / pi**1.5, 4 * math.asin(1 / 4) / (s3 * pi**2)
    b = float(vstar)
    a = b / Z if reweight == "none" else b
    d2 = (a - b) ** 2
    v = -lr * k * d2 / 9
    w_lr = -lr * a**2 * (k * d2 / (3 * pi**2) + k * (k - 1) * d2 / pi**2 + k * (M - k) * b**2 / pi**2)
    e_ii = d2 * e4 + d2 * (k - 1) * g2 * gg + b**2 * (M - k) * g2 * gg + sigma**2 * g2
    e_ik = d2 * (2 * e3 * g1 + (k - 2) * g1**2 * gg) + b**2 * (M - k) * g1**2 * gg + sigma**2 * g1**2
    w_lr2 = lr**2 * a**2 * (k * e_ii * a * (a + b) / (2 * pi * s3) + k * (k - 1) / 2 * e_ik * a**2 / pi)
    return {"v": v, "w_lr": w_lr, "w_lr2": w_lr2, "total": v + w_lr + w_lr2}
