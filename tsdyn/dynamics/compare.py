"""The order-parameter ODEs against online SGD: the agreement criteria and their statistics.

The ODEs (Goldt et al. 2019) are integrated from a simulation's exact initial
state at its record times (:func:`ode_from_start`); the functions below turn
single runs, an ensemble of independent runs and replicas (runs from one start on
other data, which differ by their SGD noise alone) into the tables the
``ode_vs_sim`` target writes. Where replicas spread by more than
:data:`COVERABLE_SPREAD` no deterministic function of the start, the ODE or any
other, is within +-:data:`TOLERANCE` of all of them (theory/ode_vs_simulation.md).
"""
from __future__ import annotations

import numpy as np

from tsdyn.dynamics.ode import integrate
from tsdyn.trajectory import Trajectory

#: Agreement asked of a single N = 500 run before the first plateau exit: |sim / ODE - 1| <= TOLERANCE.
TOLERANCE = 0.2
#: Largest spread max/min of replicas that one curve can cover within +-TOLERANCE.
COVERABLE_SPREAD = (1 + TOLERANCE) / (1 - TOLERANCE)
#: Record times up to the first plateau's exit, where single runs are asked to follow the ODE.
PRE_EXIT_T = 20.0


def ode_from_start(run: Trajectory, *, lr: float, sigma: float) -> dict:
    """Integrate the ODEs from a run's exact initial state at its record times.

    Returns ``times, eg_sim, eg_ode`` (as many as the ODE reached; fewer than the
    run's only if the ODE stopped, ``ode_message`` says why) and the ODE's
    ``ode_success, ode_message, ode_nfev, ode_seconds``.
    """
    ode = integrate(run.initial, lr=lr, sigma=sigma, times=run.times)
    n = len(ode.times)
    return dict(times=run.times[:n], eg_sim=run.eg[:n], eg_ode=ode.eg, ode_success=bool(ode.success),
                ode_message=ode.message, ode_nfev=int(ode.info["nfev"]), ode_seconds=float(ode.info["seconds"]))


def comparison_rows(comparison: dict, *, sigma: float, seed: int) -> list[dict]:
    """One row per record time of :func:`ode_from_start`: eg_sim, eg_ode, rel_diff = eg_sim / eg_ode - 1."""
    return [dict(seed=int(seed), sigma=float(sigma), t=float(t), eg_sim=float(eg_sim), eg_ode=float(eg_ode),
                 rel_diff=float(eg_sim / eg_ode - 1))
            for t, eg_sim, eg_ode in zip(comparison["times"], comparison["eg_sim"], comparison["eg_ode"])]


def worst_rel_diff(rows: list[dict]) -> tuple[float, float]:
    """The largest |rel_diff| of ``rows`` and the time t where it is reached."""
    row = max(rows, key=lambda r: abs(r["rel_diff"]))
    return abs(row["rel_diff"]), row["t"]


def ensemble_rows(comparisons: list[dict]) -> list[dict]:
    """Per record time, over independent runs (:func:`ode_from_start` each): mean and standard error of
    sim/ODE - 1 and of log(sim/ODE), the largest |sim/ODE - 1|, and the fraction within TOLERANCE.

    Where the ODE is the N -> infinity mean, the mean log-ratio is 0 within its error; single runs
    may leave the band where the plateau exits jitter, and at N = 500 the simulations leave the
    first plateau early on average (SGD noise adds to the symmetry breaking).
    """
    n = min(len(c["times"]) for c in comparisons)
    ratio = np.array([c["eg_sim"][:n] / c["eg_ode"][:n] for c in comparisons])
    rel, log_ratio, root = ratio - 1.0, np.log(ratio), np.sqrt(len(comparisons))
    return [dict(t=float(t), seeds=len(comparisons), mean_rel_diff=float(rel[:, i].mean()),
                 se_rel_diff=float(rel[:, i].std(ddof=1) / root), mean_log_ratio=float(log_ratio[:, i].mean()),
                 se_log_ratio=float(log_ratio[:, i].std(ddof=1) / root), max_abs_rel_diff=float(np.abs(rel[:, i]).max()),
                 fraction_within_tolerance=float(np.mean(np.abs(rel[:, i]) <= TOLERANCE)))
            for i, t in enumerate(comparisons[0]["times"][:n])]


def replica_curves(replicas: list[Trajectory], *, lr: float, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replicas of one start (the run itself first): record times (n,), their eps_g (replicas, n) and the ODE's (n,)."""
    ode = ode_from_start(replicas[0], lr=lr, sigma=sigma)
    n = min(len(ode["times"]), *(len(run.eg) for run in replicas))
    return ode["times"][:n], np.array([run.eg[:n] for run in replicas]), ode["eg_ode"][:n]


def replica_rows(times: np.ndarray, eg: np.ndarray, ode: np.ndarray) -> list[dict]:
    """Per record time of one start's replicas (:func:`replica_curves`): the ODE and the replicas' range.

    ``spread`` = largest / smallest replica eps_g; above :data:`COVERABLE_SPREAD` no single
    curve is within +-TOLERANCE of every replica. ``fraction_within_tolerance``: replicas
    with |sim / ODE - 1| <= TOLERANCE at that time.
    """
    within = np.abs(eg / ode - 1) <= TOLERANCE
    return [dict(t=float(t), replicas=len(eg), eg_ode=float(ode[i]), eg_min=float(eg[:, i].min()),
                 eg_max=float(eg[:, i].max()), spread=float(eg[:, i].max() / eg[:, i].min()),
                 fraction_within_tolerance=float(within[:, i].mean()))
            for i, t in enumerate(times)]


def replica_summary(times: np.ndarray, eg: np.ndarray, ode: np.ndarray, *, t_from: float = 1.0) -> dict:
    """Over record times t >= ``t_from`` of one start's replicas: the largest spread (and when), and how
    many replicas stay within +-TOLERANCE of the ODE at every one of those times."""
    later = times >= t_from
    eg, ode, times = eg[:, later], ode[later], times[later]
    spread = eg.max(axis=0) / eg.min(axis=0)
    i = int(np.argmax(spread))
    always = np.all(np.abs(eg / ode - 1) <= TOLERANCE, axis=1)
    return dict(replicas=len(eg), largest_spread=float(spread[i]), at_t=float(times[i]),
                eg_min=float(eg[:, i].min()), eg_max=float(eg[:, i].max()), eg_ode=float(ode[i]),
                coverable=bool(spread[i] <= COVERABLE_SPREAD), replicas_always_within=int(always.sum()))
