"""The jobs of the ``retrain`` target: every retraining is a cached sweep job with its trained student as input.

Each function here is a job (:class:`tsdyn.sweep.job.Job` with ``inputs=(training job,)``): it gets
the training run's result (:meth:`Trajectory.to_arrays`) as ``inputs[0]``, rebuilds the trained
student, runs one slice of the study of :mod:`tsdyn.pruning.retrain_study` and returns its curves
encoded as flat arrays (:func:`encode_curves`; :func:`decode_curves` reads them back in the report).
The seeds of every run depend only on the student, the method and the draw (:func:`run_seed`), so
slicing the study into jobs changes no number.
"""
from __future__ import annotations

import math

import numpy as np

from tsdyn.pruning.recovery import first_exit_time
from tsdyn.pruning.retrain import retrain_ode, retrain_times
from tsdyn.pruning.retrain_study import edge_curves, engine_pair, exact_initial_eg, node_curves
from tsdyn.pruning.study import TrainedStudent
from tsdyn.trajectory import Trajectory

#: The labels of a curve besides its eps_g (the columns of figures/retrain.csv a job knows).
CURVE_LABELS = ("kn", "method", "reweight", "draw", "level", "rate0")
#: This module, as the sweep names job functions ("module:function").
JOBS = __name__
#: Pruning times of part 4, in the order of their seed code 1, 2, 3.
T0_LABELS = ("plateau", "exit", "end")


# ------------------------------------------------------------ curves as flat arrays (what the cache stores)
def encode_curves(curves: list[dict], times: np.ndarray, labels=CURVE_LABELS) -> dict:
    """``curves`` (dicts with ``labels`` and ``eg``) as arrays: ``dt``, ``eg`` (curves x times), ``curve_<label>``."""
    times = np.asarray(times, dtype=float)
    out = {"dt": times, "eg": np.array([c["eg"] for c in curves], dtype=float).reshape(len(curves), len(times))}
    for key in labels:
        out[f"curve_{key}"] = np.array([c[key] for c in curves]) if curves else np.zeros(0)
    return out


def decode_curves(result: dict, labels=CURVE_LABELS) -> list[dict]:
    """The curves of a job's result (:func:`encode_curves`), labels as Python ints, floats and strings."""
    eg = np.atleast_2d(np.asarray(result["eg"], dtype=float))
    curves = []
    for i in range(len(np.asarray(result[f"curve_{labels[0]}"]))):
        c = {key: np.asarray(result[f"curve_{key}"])[i].item() for key in labels}
        curves.append(dict(c, dt=np.asarray(result["dt"], dtype=float), eg=eg[i]))
    return curves


def student_of(result: dict, sigma: float, seed: int) -> TrainedStudent:
    """The trained student of a training job's result."""
    return TrainedStudent.from_trajectory(Trajectory.from_arrays(result), sigma=sigma, seed=seed)


def _times(student: TrainedStudent, dt_max: float, per_decade: int) -> np.ndarray:
    return retrain_times(dt_max, N=student.w.shape[1], per_decade=per_decade)


# ------------------------------------------------------------ the jobs
def node_job(*, sigma: float, seed: int, kn: int, draws: int, sgd_draws: int, lr: float, dt_max: float,
             per_decade: int, check_lr: float | None = None, check_dt: float | None = None,
             inputs: tuple[dict]) -> dict:
    """Node pruning of one student at one k_n (DPP, importance, random; both reweightings): ODE per draw,
    SGD (order engine at the student's N) for the first ``sgd_draws`` draws, and the exact eps_g at
    Delta t = 0 (``exact_*``: expectations over the enumerated subset distributions).

    ``check_lr``: also integrate the ODE from draw 0 of every (method, reweight) at this (small) rate to
    ``check_dt`` (``check_*``: final eps_g and the first Delta t within 2x of the unpruned student's eps_g),
    the test of why the curves at ``lr`` never come within 2x (theory/retraining.md, Sec. 2).
    """
    from tsdyn.eg import eg_of
    from tsdyn.pruning.recovery import time_to_reach
    from tsdyn.pruning.retrain import NODE_METHODS, node_start
    from tsdyn.pruning.retrain_study import draw_subsets

    student = student_of(inputs[0], sigma, seed)
    times = _times(student, dt_max, per_decade)
    curves = node_curves(student, [kn], draws=draws, sgd_draws=sgd_draws, N=student.w.shape[1], lr=lr, times=times)
    exact = exact_initial_eg(student, [kn])
    out = {**encode_curves(curves, times), "exact_method": np.array([r["method"] for r in exact]),
           "exact_reweight": np.array([r["reweight"] for r in exact]),
           "exact_eps": np.array([r["eps"] for r in exact], dtype=float)}
    if check_lr is not None:
        op, target = student.params, 2 * eg_of(student.params)
        slow = retrain_times(check_dt, N=student.w.shape[1], per_decade=per_decade)
        rows = []
        for method in NODE_METHODS:
            keep = draw_subsets(student, kn, method, 1)[0]
            for reweight in ("none", "optimal"):
                eg = retrain_ode(node_start(op, keep, reweight), lr=check_lr, sigma=sigma, times=slow)
                rows.append((method, reweight, eg[-1], time_to_reach(slow, eg, target)))
        out.update(check_method=np.array([r[0] for r in rows]), check_reweight=np.array([r[1] for r in rows]),
                   check_eg_final=np.array([r[2] for r in rows]), check_t2x=np.array([r[3] for r in rows]),
                   check_lr=float(check_lr), check_dt=float(check_dt))
    return out


def edge_job(*, sigma: float, seed: int, kn: int, masks: int, draw: int, lr: float, dt_max: float,
             per_decade: int, inputs: tuple[dict]) -> dict:
    """Random edge pruning of one student: mask ``draw`` of ``masks``, retrained by SGD (weights engine,
    mask held), without and with the GE-optimal scale of v."""
    student = student_of(inputs[0], sigma, seed)
    times = _times(student, dt_max, per_decade)
    return encode_curves(edge_curves(student, [kn], masks=masks, lr=lr, times=times, only_draw=draw), times)


def engines_job(*, sigma: float, seed: int, replicas: int, lr: float, dt_max: float, per_decade: int,
                inputs: tuple[dict]) -> dict:
    """The importance-pruned K' = M start (no reweighting) retrained ``replicas`` times by each SGD engine and
    once by the ODE (:func:`tsdyn.pruning.retrain_study.engine_pair`)."""
    student = student_of(inputs[0], sigma, seed)
    times = _times(student, dt_max, per_decade)
    M = student.wstar.shape[0]
    keep = np.sort(np.argsort(-np.abs(student.v))[:M])
    rows = engine_pair(student, keep, reweight="none", replicas=replicas, lr=lr, times=times)
    return encode_curves(rows, times, labels=("engine", "replica"))


def lr_job(*, sigma: float, seed: int, lr_scan: list[float], dt_max: float, lr_scan_dt: float,
           inputs: tuple[dict]) -> dict:
    """ODE retraining of the importance-pruned K' = M student at each rate of ``lr_scan``: eps_g at
    Delta t = 0, ``dt_max`` and ``lr_scan_dt`` (rows of figures/retrain_lr.csv), and ``lr_critical``, the
    critical rate of the K' = M perfect state under A6 (:func:`tsdyn.pruning.retrain_stability.critical_lr`)."""
    from tsdyn.pruning.retrain import node_start
    from tsdyn.pruning.retrain_stability import critical_lr

    student = student_of(inputs[0], sigma, seed)
    M = student.wstar.shape[0]
    keep = np.sort(np.argsort(-np.abs(student.v))[:M])
    start = node_start(student.params, keep, "none")
    times = np.array([0.0, dt_max, lr_scan_dt])
    eg = np.array([retrain_ode(start, lr=float(lr), sigma=sigma, times=times) for lr in lr_scan])
    lr_c = critical_lr(M, float(np.mean(student.vstar)))
    return {"lr": np.asarray(lr_scan, dtype=float), "eg": eg, "lr_critical": lr_c}


def during_job(*, training: dict, t0_label: str, t_plateau: float, exit_fraction: float, t_total: float,
               kn: int, draws: int, edge_masks: int, lr: float, per_decade: int, reweights: list[str] | None = None,
               inputs: tuple[dict]) -> dict:
    """Part 4: prune the training run at ``t0_label`` (plateau, just after the first exit, end), retrain to
    ``t_total``: node methods by the ODE (every draw) and SGD (``draws`` draws; importance: ``draws``
    replicas; the node reweightings ``reweights``, default both), random edge by SGD (``edge_masks`` masks,
    no reweighting). ``t0`` is NaN (no curves) if the
    run has no first exit. ``training`` is the training job's parameters: a student pruned before the end
    is the same run stopped at t0."""
    traj = Trajectory.from_arrays(inputs[0])
    sigma, seed = float(training["sigma"]), int(training["seed"])
    if t0_label == "plateau":
        t0 = float(traj.times[int(np.argmin(np.abs(traj.times - t_plateau)))])
    elif t0_label == "exit":
        t0 = float(first_exit_time(traj.times, traj.eg, t_plateau=t_plateau, fraction=exit_fraction))
    elif t0_label == "end":
        t0 = float(traj.times[-1])
    else:
        raise ValueError(f"t0_label must be one of {T0_LABELS}, got {t0_label!r}")
    labels = CURVE_LABELS
    if not np.isfinite(t0):
        return {**encode_curves([], np.zeros(1), labels), "t0": math.nan}
    student = _student_at(training, traj, t0)
    N = student.w.shape[1]
    times = retrain_times(t_total - t0, N=N, per_decade=per_decade)
    code = T0_LABELS.index(t0_label) + 1
    curves = node_curves(student, [kn], draws=draws, sgd_draws=draws, N=N, lr=lr, times=times, t0_code=code,
                         importance_replicas=draws, **({"reweights": tuple(reweights)} if reweights else {}))
    if edge_masks:
        curves += edge_curves(student, [kn], masks=edge_masks, lr=lr, times=times, t0_code=code, reweights=("none",))
    return {**encode_curves(curves, times, labels), "t0": t0}


def _student_at(training: dict, traj: Trajectory, t0: float) -> TrainedStudent:
    """The student of the run at time t0: the run itself at its end, else the same run stopped at t0.

    A shorter run is the prefix of the longer one (same streams); its eps_g at t0 is checked against the record.
    """
    from tsdyn.targets.training import train

    sigma, seed = float(training["sigma"]), int(training["seed"])
    if math.isclose(t0, traj.times[-1]):
        return TrainedStudent.from_trajectory(traj, sigma=sigma, seed=seed)
    prefix = Trajectory.from_arrays(train(**dict(training, steps=int(round(t0 * training["N"])))))
    recorded = float(traj.eg[int(np.argmin(np.abs(traj.times - t0)))])
    if not math.isclose(prefix.eg[-1], recorded, rel_tol=1e-9):
        raise RuntimeError(f"the run stopped at t0 = {t0:g} is no prefix of run seed {seed}: eps_g {prefix.eg[-1]} != {recorded}")
    return TrainedStudent.from_trajectory(prefix, sigma=sigma, seed=seed)


def convergence_job(*, sigma: float, seed: int, kn: int, method: str, draws: int, draw: int, N: int, lr: float,
                    dts: list[float], inputs: tuple[dict]) -> dict:
    """Part 5: draw ``draw`` of the ``draws`` node prunings by ``method`` (no reweighting), retrained from the
    same pruned order parameters by SGD (order engine) at input dimension ``N`` and by the ODE, eps_g at
    Delta t = 0 and ``dts`` (``sgd``, ``ode``; :mod:`tsdyn.pruning.retrain_convergence`). The subsets are the
    node jobs' (same seeds), so N = the student's N retrains the sweep's own starts."""
    from tsdyn.pruning.retrain import NODE_METHODS, node_start, retrain_order
    from tsdyn.pruning.retrain_study import draw_subsets, run_seed

    student = student_of(inputs[0], sigma, seed)
    keep = draw_subsets(student, kn, method, draws)[draw]
    start = node_start(student.params, keep, "none")
    times = np.concatenate([[0.0], np.asarray(dts, dtype=float)])
    sgd = retrain_order(start, N=N, lr=lr, sigma=sigma, times=times,
                        seed=run_seed(student, CONVERGENCE_SEED_CODE, N, NODE_METHODS.index(method), draw))
    return {"dt": times, "sgd": sgd, "ode": retrain_ode(start, lr=lr, sigma=sigma, times=times)}


#: Label of the convergence runs' SGD seeds (:func:`tsdyn.pruning.retrain_study.run_seed`), apart from the others.
CONVERGENCE_SEED_CODE = 7
