"""Retraining a pruned student: its start states and its recovery, in theory (ODE) and simulation.

Node pruning keeps the order-parameter description closed: the student pruned
to the nodes S is a K' = |S| student with Q_SS, R_S and v_S (or the reweighted
second layer), and the same teacher (pruning paper Sec. 3, Table 1). So the
ODEs of Goldt et al. 2019 integrate its retraining from that state, the exact
order-parameter engine runs it at any N, and the weights engine runs it from the
kept rows of w. Edge pruning does not close (theory/retraining.md, Sec. 3): its
retraining runs on the weights with the mask held.

The engines ask for K >= M. A student pruned below M nodes is padded with
*silent* nodes, w_i = 0 and v_i = 0: their SGD updates are proportional to
v_i (first layer) and to g(lambda_i) = erf(0) = 0 (second layer), so they stay
exactly zero, and the padded network computes, and learns, what the K' < M
student does (tests/test_retrain.py checks it against the unpadded ODE).
"""
from __future__ import annotations

import numpy as np

from tsdyn.checks import check_int, check_real
from tsdyn.order_parameters import OrderParameters
from tsdyn.pruning.dpp import sample_kdpp
from tsdyn.pruning.operators import (edge_scale, node_pruned, prune_student_edges, scaled, select_importance,
                                     select_random)

#: Pruning methods of the retraining study, as they appear in figures/retrain.csv.
NODE_METHODS = ("dpp", "importance", "random")
METHODS = NODE_METHODS + ("random_edge",)
#: Reweightings: node pruning's GE-optimal second layer, edge pruning's GE-optimal scale A of v.
REWEIGHTS = ("none", "optimal")
LEVELS = ("ode", "sgd")


# ------------------------------------------------------------ start states
def node_subsets(op: OrderParameters, method: str, k: int, draws: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The kept nodes of ``draws`` prunings by ``method`` (importance is deterministic: one subset).

    DPP is the k-DPP with kernel Q (pruning Lemma 1), random a uniform k-subset.
    """
    k = check_int("k", k, low=1, high=op.K, high_name="K")
    draws = check_int("draws", draws, low=1)
    if method == "importance":
        return [select_importance(op.v, k)]
    if method == "random":
        return [select_random(op.K, k, rng) for _ in range(draws)]
    if method == "dpp":
        return [np.sort(sample_kdpp(op.Q, k, rng)) for _ in range(draws)]
    raise ValueError(f"method must be one of {NODE_METHODS}, got {method!r}")


def node_start(op: OrderParameters, keep, reweight: str) -> OrderParameters:
    """The retraining start after node pruning: Q_SS, R_S, and v_S or the GE-optimal second layer."""
    if reweight not in REWEIGHTS:
        raise ValueError(f"reweight must be one of {REWEIGHTS}, got {reweight!r}")
    return node_pruned(op, np.asarray(keep), None if reweight == "none" else "optimal")


def node_start_weights(w: np.ndarray, op: OrderParameters, keep, reweight: str) -> tuple[np.ndarray, np.ndarray]:
    """Kept rows of w and the start's second layer (:func:`node_start`), for the weights engine."""
    start = node_start(op, keep, reweight)
    return np.asarray(w, dtype=float)[np.asarray(keep)], np.array(start.v)


def edge_start(w, v, wstar, vstar, mask, reweight: str) -> tuple[np.ndarray, np.ndarray, OrderParameters]:
    """Masked first layer, second layer (v, or A v with the GE-optimal A, Theorem 3) and the order parameters."""
    if reweight not in REWEIGHTS:
        raise ValueError(f"reweight must be one of {REWEIGHTS}, got {reweight!r}")
    pruned = prune_student_edges(w, v, wstar, vstar, mask)
    params = pruned.params if reweight == "none" else scaled(pruned.params, edge_scale(pruned.params))
    return pruned.w, np.array(params.v), params


def silent_padded(op: OrderParameters, K: int) -> OrderParameters:
    """``op`` with silent nodes (Q, R, v = 0 on their rows) appended up to K nodes (module docstring)."""
    K = check_int("K", K, low=op.K, low_name="the start's K")
    Q = np.zeros((K, K))
    Q[:op.K, :op.K] = op.Q
    R = np.zeros((K, op.M))
    R[:op.K] = op.R
    return OrderParameters(Q, R, op.T, np.concatenate([op.v, np.zeros(K - op.K)]), op.vstar)


def silent_padded_weights(w: np.ndarray, v: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``w, v`` with zero rows / entries appended up to K nodes (silent nodes)."""
    w, v = np.asarray(w, dtype=float), np.asarray(v, dtype=float)
    K = check_int("K", K, low=w.shape[0], low_name="the start's K")
    extra = K - w.shape[0]
    return np.vstack([w, np.zeros((extra, w.shape[1]))]), np.concatenate([v, np.zeros(extra)])


# ------------------------------------------------------------ retraining runs
def retrain_ode(start: OrderParameters, *, lr: float, sigma: float, times: np.ndarray) -> np.ndarray:
    """eps_g at ``times`` (from Delta t = 0) of the ODEs (Goldt et al. 2019) integrated from ``start``."""
    from tsdyn.dynamics.ode import integrate

    traj = integrate(start, lr=lr, sigma=sigma, times=times)
    return _complete(traj.eg, len(times))


def retrain_order(start: OrderParameters, *, N: int, lr: float, sigma: float, times: np.ndarray,
                  seed: int) -> np.ndarray:
    """eps_g at ``times`` of online SGD at input dimension N from ``start`` (exact order-parameter engine).

    ``times`` must be whole steps at N (the record grid of :func:`retrain_times`).
    """
    from tsdyn.simulate import simulate

    padded = silent_padded(start, max(start.K, start.M))
    steps = int(round(float(times[-1]) * N))
    traj = simulate(engine="order", start=padded, N=N, lr=lr, sigma=sigma, steps=steps, seed=int(seed), times=times)
    return _at(traj, times)


def retrain_weights(w: np.ndarray, v: np.ndarray, wstar: np.ndarray, vstar, *, lr: float, sigma: float,
                    times: np.ndarray, seed: int, mask: np.ndarray | None = None) -> np.ndarray:
    """eps_g at ``times`` of online SGD of the weights (w, v) against the teacher; ``mask`` holds w at 0 off it."""
    from tsdyn.simulate import Networks, simulate

    M = np.asarray(wstar).shape[0]
    K = max(w.shape[0], M)
    w, v = silent_padded_weights(w, v, K)
    if mask is not None and mask.shape[0] < K:
        mask = np.vstack([mask, np.zeros((K - mask.shape[0], mask.shape[1]), bool)])
    N = w.shape[1]
    steps = int(round(float(times[-1]) * N))
    traj = simulate(start=Networks(w, v, np.asarray(wstar, dtype=float), np.asarray(vstar, dtype=float)), lr=lr,
                    sigma=sigma, steps=steps, seed=int(seed), times=times, mask=mask)
    return _at(traj, times)


def retrain_times(dt_max: float, *, N: int, per_decade: int, dt_min: float = 0.1) -> np.ndarray:
    """Record times Delta t: 0, a log grid from ``dt_min`` to ``dt_max``, whole SGD steps at N."""
    from tsdyn.trajectory import record_grid

    return record_grid(check_real("dt_max", dt_max, low=0.0, low_open=True), per_decade=per_decade, tmin=dt_min, N=N)


def _at(traj, times: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(traj.times, np.asarray(times) - 1e-12)
    return _complete(traj.eg[np.minimum(idx, len(traj.eg) - 1)], len(times))


def _complete(eg: np.ndarray, n: int) -> np.ndarray:
    """``eg`` padded with NaN to n record times (an ODE run that stopped early: the failure stays visible)."""
    out = np.full(n, np.nan)
    out[:len(eg)] = eg[:n]
    return out
