"""Integrate the order-parameter ODEs of online SGD (Goldt et al. 2019; Saad & Solla 1995).

The equations (and their analytic Jacobian) live in :mod:`tsdyn.dynamics.ode_rhs`; this
module only steps them: :func:`integrate` drives one of scipy's adaptive
``OdeSolver`` classes step by step, as :func:`scipy.integrate.solve_ivp` does
(default ``LSODA``: the dynamics are mildly stiff, Jacobian eigenvalues down to
about -2 against slow modes of 1e-3, so explicit methods are stability-limited;
see ``benchmarks/bench_ode.py``), or, with ``euler_dt``, fixed-step explicit
Euler as in the existing codes. Both return a :class:`tsdyn.trajectory.Trajectory`
at the record times, like the simulator, so theory and simulation started from
the same state overlay directly.

Issue 16 options: ``activation`` (erf: the fused kernel; relu, linear and mixed pairs: the general
kernel of :mod:`tsdyn.dynamics.ode_rhs_general`), ``weight_decay``, ``batch`` and learning-rate
schedules (:mod:`tsdyn.dynamics.schedules`), all applied in :class:`tsdyn.dynamics.ode_rhs.OdeRhs`.

Domain guard: the joint covariance [[Q, R], [R^T, T]] must stay positive
semi-definite (which keeps every arcsin argument of the integrals in [-1, 1]).
It is checked after every solver step and at every record time (Euler: the
arcsin arguments at every step, the covariance at every record time). If it
fails, the run ends there: the result holds the record times reached,
``success=False`` and a message saying at which t and what failed (no
exception, so a sweep keeps the part that is valid).

Command line::

    python -m tsdyn.ode --init STATE.npz --out PREFIX [--lr 0.5 --sigma 0.25 --tmax 1600 ...]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import zipfile
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.integrate import BDF, DOP853, LSODA, RK23, RK45, Radau
from tqdm import tqdm

from tsdyn.cli_options import add_breadth_arguments, breadth_options
from tsdyn.checks import check_bool, check_choice, check_int, check_real, check_times, check_tolerance, check_writable
from tsdyn.atomic import replaced_together
from tsdyn.conventions import DEFAULT_LR, DEFAULT_N, DEFAULT_PER_DECADE, DEFAULT_TRAIN_STEPS, time_of_step
from tsdyn.activation_integrals import ode_supported
from tsdyn.conventions import activation_pair
from tsdyn.dynamics.schedules import Schedule
from tsdyn.eg import eg
from tsdyn.dynamics.ode_rhs import OdeRhs, covariance_is_psd, pack, unpack
from tsdyn.order_parameters import PSD_TOL, OrderParameters
from tsdyn.trajectory import Trajectory, load_state, record_grid

#: Defaults chosen by ``benchmarks/bench_ode.py``: GE within 1e-6 relative of a
#: rtol = 1e-11 solve at every record time to t = 1600 (M=2, K=6 and M=5, K=20).
DEFAULT_METHOD = "LSODA"
DEFAULT_RTOL = 1e-9
DEFAULT_ATOL = 1e-10
#: Default solver of non-erf students (``benchmarks/bench_relu_ode.py``).
GENERAL_METHOD = "LSODA"
#: Horizon of the paper's runs: 800 000 steps at N = 500.
DEFAULT_TMAX = float(time_of_step(DEFAULT_TRAIN_STEPS, DEFAULT_N))
SOLVERS = dict(RK45=RK45, RK23=RK23, DOP853=DOP853, Radau=Radau, BDF=BDF, LSODA=LSODA)
SOLVE_IVP_METHODS = tuple(SOLVERS)
#: Methods that use the analytic Jacobian of :mod:`tsdyn.dynamics.ode_rhs`.
IMPLICIT_METHODS = ("Radau", "BDF", "LSODA")
#: Latest final time accepted: 1e9 is over a million times the paper's horizon.
MAX_TMAX = 1e9
#: Explicit Euler has diverged once eps_g exceeds this many times the larger of its start and
#: the zero student's (v = 0); no stable run of these ODEs climbs that far.
DIVERGED_EG_FACTOR = 100.0


def initial_state(start) -> OrderParameters:
    """The state an ODE run starts from.

    ``start`` may be an :class:`OrderParameters`; a :class:`Trajectory` (its
    ``initial``: the exact start of a simulation); a path to an ``.npz`` read by
    :func:`tsdyn.trajectory.load_state` (a simulation's file gives its initial
    state); a mapping with keys ``Q, R, T, v, vstar``; or a sequence of those
    five arrays. Raises ``ValueError`` for anything else or an invalid state.
    """
    if isinstance(start, OrderParameters):
        return start
    if isinstance(start, Trajectory):
        return start.initial
    if isinstance(start, (str, os.PathLike)):
        return load_state(start)
    if isinstance(start, Mapping):
        missing = [k for k in ("Q", "R", "T", "v", "vstar") if k not in start]
        if missing:
            raise ValueError(f"start lacks the keys {missing}; it needs Q, R, T, v, vstar")
        return OrderParameters(start["Q"], start["R"], start["T"], start["v"], start["vstar"])
    if isinstance(start, Sequence) and len(start) == 5:
        return OrderParameters(*start)
    raise ValueError("start must be an OrderParameters, a Trajectory, a path to an .npz, a mapping with "
                     f"keys Q, R, T, v, vstar or a sequence (Q, R, T, v, vstar); got {type(start).__name__}")


def output_times(start, tmax: float | None, times, per_decade: int) -> np.ndarray:
    """Record times of a run: explicit ``times``; else a Trajectory start's own; else a record grid."""
    if times is not None:
        if tmax is not None:
            raise ValueError("give either tmax or times, not both")
        return check_times("times", times, low=0.0)
    if tmax is None and isinstance(start, Trajectory):
        return np.asarray(start.times, dtype=float)
    tmax = DEFAULT_TMAX if tmax is None else check_real("tmax", tmax, low=0.0, low_open=True, high=MAX_TMAX)
    return record_grid(tmax, per_decade=check_int("per_decade", per_decade, low=1, high=1000))


def in_domain(y: np.ndarray, T: np.ndarray, K: int) -> bool:
    """Whether the flat state is finite with [[Q, R], [R^T, T]] positive semi-definite.

    Same tolerance as :func:`tsdyn.order_parameters.check_psd`; runs after every solver step.
    """
    return bool(covariance_is_psd(np.asarray(y, dtype=float), T, K, PSD_TOL))


def domain_problem(y: np.ndarray, params: OrderParameters) -> str | None:
    """Why the flat state ``y`` is no valid set of order parameters, or None if it is one."""
    Q, R, v = unpack(y, params.K, params.M)
    try:
        OrderParameters(Q, R, params.T, v, params.vstar)
    except ValueError as exc:
        return str(exc)
    return None


def integrate(start, *, lr: float = DEFAULT_LR, lr2: float | None = None, sigma: float = 0.0,
              tmax: float | None = None, times=None, per_decade: int = DEFAULT_PER_DECADE,
              train_second_layer: bool = True,
              method: str | None = None, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
              euler_dt: float | None = None, progress: bool = False, activation="erf",
              weight_decay: float = 0.0, batch: int = 1, lr_schedule=None, lr2_schedule=None) -> Trajectory:
    """Integrate the order-parameter ODEs of Goldt et al. 2019 (see :mod:`tsdyn.dynamics.ode_rhs`) from ``start``.

    Parameters
    ----------
    start : OrderParameters, Trajectory, path to .npz, mapping or (Q, R, T, v, vstar)
        Initial state; see :func:`initial_state`.
    lr, lr2 : learning rates eta (first layer) and eta_v (second layer; None means lr).
    sigma : standard deviation of the label noise (enters through the lr^2 sigma^2 J2 term).
    tmax : final time t = steps / N (default 1600 = the paper's 800 000 steps at N = 500).
    times : explicit record times instead of ``tmax`` (non-decreasing, >= 0).
        Without both, a Trajectory start is recorded at its own times.
    per_decade : density of the default log-spaced record grid (:func:`tsdyn.trajectory.record_grid`).
    train_second_layer : False freezes v (dv/dt = 0).
    method, rtol, atol : scipy solver ("LSODA", "BDF", "Radau" use the analytic Jacobian;
        "DOP853", "RK45", "RK23") and its tolerances. None: "LSODA" for erf students,
        :data:`GENERAL_METHOD` otherwise (see ``benchmarks/bench_relu_ode.py``).
    euler_dt : if given, use fixed-step explicit Euler with this step instead (a
        shorter last step lands on each record time); method/rtol/atol are then unused.
    progress : show a tqdm bar over t.
    activation : "erf", "relu", "linear" or a "teacher/student" pair
        (:func:`tsdyn.conventions.activation_pair`); an erf teacher with a relu student has no
        ODE reduction (:func:`tsdyn.activation_integrals.ode_supported`) and is refused.
    weight_decay : kappa >= 0 (per-step factor 1 - kappa/N on both layers): dQ/dt -= 2 kappa Q,
        dR/dt -= kappa R, dv/dt -= kappa v.
    batch : mini-batch size B >= 1 (the mean gradient of B samples): the lr^2 terms get 1/B.
    lr_schedule, lr2_schedule : learning-rate schedules (:class:`tsdyn.dynamics.schedules.Schedule`
        or its text form; None = constant; lr2_schedule None = lr_schedule): eta(t) = lr f(t).

    Returns
    -------
    Trajectory
        ``times, eg, Q, R, v`` at the record times reached; ``w, wstar, test_mse`` None;
        ``info`` holds nfev, method, rtol, atol, seconds and the rates. If the state
        leaves the valid domain (or the solver fails) the run stops: ``success=False``
        and ``message`` says at which t and why.
    """
    params = initial_state(start)
    record = output_times(start, tmax, times, per_decade)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    lr2 = lr if lr2 is None else check_real("lr2", lr2, low=0.0)
    sigma = check_real("sigma", sigma, low=0.0)
    if not check_bool("train_second_layer", train_second_layer):
        lr2 = 0.0
    check_bool("progress", progress)
    teacher, student = activation_pair(activation)
    if not ode_supported(activation):
        raise ValueError(f"activation {teacher}/{student} (erf teacher, relu student) has no ODE reduction; "
                         "use an engine (tsdyn.simulate) or another pair")
    label = teacher if teacher == student else f"{teacher}/{student}"
    weight_decay = check_real("weight_decay", weight_decay, low=0.0, high=1e6)
    batch = check_int("batch", batch, low=1, high=10**9)
    schedule = Schedule.parse(lr_schedule)
    schedule2 = schedule if lr2_schedule is None else Schedule.parse(lr2_schedule)
    if euler_dt is None:
        if method is None:
            method = DEFAULT_METHOD if label == "erf" else GENERAL_METHOD
        check_choice("method", method, SOLVE_IVP_METHODS)
        rtol = check_tolerance("rtol", rtol)
        atol = check_tolerance("atol", atol)
    else:
        euler_dt = check_real("euler_dt", euler_dt, low=0.0, low_open=True)
    rhs = OdeRhs(params.T, params.vstar, params.K, lr=lr, lr2=lr2, sigma=sigma, weight_decay=weight_decay,
                 batch=batch, lr_schedule=schedule, lr2_schedule=schedule2, activation=(teacher, student))
    y0 = pack(params.Q, params.R, params.v)
    info = dict(lr=lr, lr2=lr2, sigma=sigma, train_second_layer=bool(train_second_layer))
    if (label, weight_decay, batch, schedule.kind, schedule2.kind) != ("erf", 0.0, 1, "constant", "constant"):
        info.update(activation=label, weight_decay=weight_decay, batch=batch, lr_schedule=schedule.label(),
                    lr2_schedule=schedule2.label())
    bar = tqdm(total=float(record[-1]), disable=not progress, desc="ode", unit="t",
               bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}]")  # no ETA: steps are not linear in t
    started = time.perf_counter()
    # An arcsin argument beyond +-1 is the domain guard's business, not a warning's.
    with bar, np.errstate(invalid="ignore"):
        if euler_dt is None:
            ys, reached, success, message, extra = _solve_adaptive(rhs, y0, record, params, method, rtol, atol, bar)
            info.update(method=method, rtol=rtol, atol=atol, **extra)
        else:
            ys, reached, success, message = _solve_euler(rhs, y0, record, params, euler_dt, bar, (teacher, student))
            info.update(method="euler", euler_dt=euler_dt, rtol=None, atol=None)
    info.update(nfev=rhs.nfev, seconds=time.perf_counter() - started, success=success, message=message)
    Q, R, v = unpack(ys, params.K, params.M)
    ge = eg(Q, R, params.T, v, params.vstar) if label == "erf" else eg(Q, R, params.T, v, params.vstar,
                                                                         activation=(teacher, student))
    return Trajectory(times=record[:reached], eg=np.atleast_1d(ge),
                      Q=Q, R=R, v=v, T=np.array(params.T), vstar=np.array(params.vstar), initial=params,
                      success=success, message=message, info=info)


def _solve_adaptive(rhs: OdeRhs, y0, record, params, method, rtol, atol, bar):
    """Step a scipy ``OdeSolver`` by hand (as solve_ivp does) to check the domain after every step."""
    ys = np.empty((record.size, y0.size))
    r = int(np.searchsorted(record, 0.0, side="right"))
    ys[:r] = y0
    jac = dict(jac=rhs.jacobian) if method in IMPLICIT_METHODS else {}
    solver = SOLVERS[method](rhs, 0.0, y0, float(record[-1]), rtol=rtol, atol=atol, **jac)
    extra = dict(njev=0, nlu=0)
    while r < record.size:
        message = solver.step()
        extra.update(njev=rhs.njev, nlu=int(getattr(solver, "nlu", 0)))
        if solver.status == "failed":
            return ys[:r], r, False, f"solver failed after t = {solver.t:.6g}: {message}", {**extra, "t_stop": solver.t}
        bar.update(max(0.0, solver.t - bar.n))
        # Record times inside this step are kept while valid, even if the step ends outside the domain.
        stop = None
        dense = solver.dense_output() if record[r] < solver.t else None
        while r < record.size and record[r] <= solver.t:
            y = solver.y if record[r] == solver.t else dense(record[r])
            if not in_domain(y, params.T, params.K):
                stop = (float(record[r]), y)
                break
            ys[r] = y
            r += 1
        if stop is None and not in_domain(solver.y, params.T, params.K):
            stop = (solver.t, solver.y)
        if stop is not None:
            why = domain_problem(stop[1], params) or "the state is not finite"
            return (ys[:r], r, False, f"stopped at t = {stop[0]:.6g}: left the valid domain: {why}",
                    {**extra, "t_stop": float(stop[0])})
    return ys, r, True, "reached the last record time", extra


def _solve_euler(rhs: OdeRhs, y0, record, params, dt: float, bar, activation=("erf", "erf")):
    """Fixed-step explicit Euler on ``rhs``; the state is checked at every step and record time."""
    ys = np.empty((record.size, y0.size))
    y, t = y0.copy(), 0.0
    zero = eg(params.Q, params.R, params.T, np.zeros(params.K), params.vstar, activation)
    eg_bound = DIVERGED_EG_FACTOR * max(float(eg(params.Q, params.R, params.T, params.v, params.vstar, activation)),
                                        float(zero))
    for r, target in enumerate(record):
        n_full = int(math.floor((target - t) / dt * (1.0 + 1e-12)))
        steps = [dt] * n_full
        rest = target - (t + n_full * dt)
        if rest > 1e-12 * max(1.0, target):
            steps.append(rest)
        for h in steps:
            dy = rhs(t, y)
            if not rhs.in_domain:
                return ys[:r], r, False, (f"stopped at t = {t:.6g}: left the valid domain: an arcsin argument "
                                          "of the integrals left [-1, 1] or the derivative is not finite")
            y = y + h * dy
            t += h
        t = float(target)
        bar.update(max(0.0, t - bar.n))
        why = domain_problem(y, params)
        if why is not None:
            return ys[:r], r, False, f"stopped at t = {t:.6g}: left the valid domain: {why}"
        Q, R, v = unpack(y, params.K, params.M)
        e = float(eg(Q, R, params.T, v, params.vstar, activation))
        if not e <= eg_bound:
            return ys[:r], r, False, (f"diverged at t = {t:.6g}: eps_g = {e:.3g} exceeds {eg_bound:.3g} "
                                      f"({DIVERGED_EG_FACTOR:g} x max(eps_g(0), eps_g of v = 0)); explicit "
                                      f"Euler is unstable at euler_dt = {dt:g}, try a smaller one")
        ys[r] = y
    return ys, record.size, True, "reached the last record time"


# -------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tsdyn.ode",
        description="Integrate the order-parameter ODEs of online SGD (Goldt et al. 2019) from a saved state, "
                    "g = erf(x/sqrt2). Writes PREFIX.csv (t, eg, Q_i_k, R_i_n, v_i) and PREFIX.npz.")
    p.add_argument("--init", required=True, metavar="FILE.npz",
                   help="initial state: an .npz with Q, R, T, v, vstar; the .npz of `python -m tsdyn.simulate` "
                        "gives the simulation's initial state (Q0, R0, v0) and, by default, its record times")
    p.add_argument("--out", required=True, metavar="PREFIX", help="output prefix of the .csv and .npz files")
    p.add_argument("--lr", type=float, default=DEFAULT_LR, help="first-layer learning rate eta (default %(default)g)")
    p.add_argument("--lr2", type=float, default=None, help="second-layer learning rate eta_v (default: --lr)")
    p.add_argument("--sigma", type=float, default=0.0, help="std of the label noise (default %(default)g)")
    p.add_argument("--tmax", type=float, default=None,
                   help=f"final time t = steps/N with log-spaced record times (default: the record times in "
                        f"--init if it has them, else {DEFAULT_TMAX:g})")
    p.add_argument("--per-decade", type=int, default=DEFAULT_PER_DECADE,
                   help="record times per decade of t with --tmax (default %(default)d)")
    p.add_argument("--times", default=None, metavar="T1,T2,...",
                   help="explicit record times, comma separated, instead of --tmax; written exactly as given")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=SOLVE_IVP_METHODS,
                   help="scipy solver; LSODA, BDF and Radau use the analytic Jacobian (default %(default)s)")
    p.add_argument("--rtol", type=float, default=DEFAULT_RTOL, help="relative tolerance (default %(default)g)")
    p.add_argument("--atol", type=float, default=DEFAULT_ATOL, help="absolute tolerance (default %(default)g)")
    p.add_argument("--euler-dt", type=float, default=None,
                   help="use fixed-step explicit Euler with this step instead of the adaptive solver")
    p.add_argument("--freeze-second-layer", action="store_true", help="keep the student's v fixed (dv/dt = 0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return add_breadth_arguments(p)


def recorded_times(path) -> np.ndarray | None:
    """The record times stored in a saved run's .npz (key ``times``), or None.

    Raises ``ValueError`` naming --init if the file is not a readable .npz
    (missing, truncated, not a zip archive).
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            return np.asarray(data["times"], dtype=float) if "times" in data else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"--init {path} is not a readable .npz ({type(exc).__name__}: {exc})") from None


def parse_times(text: str) -> np.ndarray:
    """"0.5,10,1600" -> array([0.5, 10., 1600.]); ``ValueError`` naming --times otherwise (also for "1,,2")."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--times must be comma-separated numbers without gaps (e.g. 0.5,10,1600), got {text!r}") from None
    return check_times("--times", values, low=0.0)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.times is not None and args.tmax is not None:
            raise ValueError("give either --tmax or --times, not both")
        if args.euler_dt is not None and (args.method != DEFAULT_METHOD or args.rtol != DEFAULT_RTOL
                                          or args.atol != DEFAULT_ATOL):
            raise ValueError("--euler-dt is fixed-step Euler: it takes no --method, --rtol or --atol")
        breadth = breadth_options(args, ode=True)
        outputs = {suffix: check_writable("--out", f"{args.out}.{suffix}") for suffix in ("csv", "npz")}
        explicit = parse_times(args.times) if args.times is not None else None
        stored = recorded_times(args.init)      # also checks that --init is readable, before any work
        times = explicit if explicit is not None else (stored if args.tmax is None else None)
        traj = integrate(args.init, lr=args.lr, lr2=args.lr2, sigma=args.sigma, tmax=args.tmax, times=times,
                         per_decade=args.per_decade, train_second_layer=not args.freeze_second_layer,
                         method=args.method, rtol=args.rtol, atol=args.atol, euler_dt=args.euler_dt,
                         progress=not args.no_progress, **breadth)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The .csv and .npz are replaced together: a run that stopped before its first record time writes no
    # .npz, and then the previous run's must not stay beside the new .csv.
    with replaced_together(outputs.values()) as staged:
        traj.to_csv(staged[outputs["csv"]], order_parameters=True)
        if traj.times.size:  # an .npz holds a final state
            traj.save_npz(staged[outputs["npz"]])
    files = [p for p in outputs.values() if p.exists()]
    print(f"{'ok' if traj.success else 'STOPPED'}: {traj.message}; nfev={traj.info['nfev']}, "
          f"{traj.info['seconds']:.3g} s -> " + ", ".join(map(str, files)))
    return 0 if traj.success else 1


if __name__ == "__main__":
    sys.exit(main())
