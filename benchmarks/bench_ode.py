"""Benchmark of the order-parameter ODE integrator: accuracy, cost, speed-up over Euler.

In one process, for (M, K) = (2, 6) and (5, 20), from the simulator's initial
state for seed 0 (paper init: w*, w, v ~ N(0, 1), v* = 4, N = 500), to t = 1600:

* reference: DOP853 at rtol = 1e-11, atol = 1e-14 (sigma = 0 and 0.25);
* the defaults of :func:`tsdyn.dynamics.ode.integrate` (best of ``--repeats``): wall
  time, RHS and Jacobian evaluations, and the largest relative GE error
  against the reference over all record times (target: <= 1e-6);
* fixed-step explicit Euler at dt = 0.01 on the same RHS (the existing codes'
  scheme): its largest relative GE error and where; its time for the 160 000
  steps to t = 1600 is measured on a full run for K = 6 and extrapolated from
  ``--euler-steps`` steps for K = 20 (``--full-euler`` runs it all);
* the speed-up Euler / default (target >= 15x) and the absolute time of the
  default (targets 0.2 s and 3 s), plus a small method x tolerance table
  that justifies the defaults.

The machine may be shared: ratios within this run are what counts; the load
average is printed with them. Numba is compiled before any timing. BLAS is
limited to one thread (set before NumPy loads): LSODA's Fortran linear
algebra otherwise spins a second OpenBLAS thread that, on a loaded machine,
made the K = 20 run up to 4x slower in wall time; the RHS, the Jacobian and
Euler are single-threaded anyway.

    python benchmarks/bench_ode.py [--repeats 3] [--euler-steps 1600] [--full-euler] [--no-sweep]
"""
from __future__ import annotations

import argparse
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402
import timeit  # noqa: E402

import numpy as np  # noqa: E402

from tsdyn.dynamics.ode import DEFAULT_ATOL, DEFAULT_METHOD, DEFAULT_RTOL, DEFAULT_TMAX, integrate  # noqa: E402
from tsdyn.dynamics.ode_rhs import OdeRhs, pack  # noqa: E402
from tsdyn.simulate import simulate  # noqa: E402

CONFIGS = ((2, 6), (5, 20))
TARGET_SECONDS = {(2, 6): 0.2, (5, 20): 3.0}
EULER_DT = 0.01
REFERENCE = dict(method="DOP853", rtol=1e-11, atol=1e-14)
SWEEP = {(2, 6): [("LSODA", 1e-8), ("LSODA", 1e-9), ("LSODA", 1e-10), ("BDF", 1e-9), ("Radau", 1e-9),
                  ("DOP853", 1e-8), ("DOP853", 1e-9), ("RK45", 1e-8)],
         (5, 20): [("LSODA", 1e-8), ("LSODA", 1e-10), ("DOP853", 1e-8), ("RK45", 1e-8)]}


def max_rel_error(run, ref) -> tuple[float, float]:
    """Largest |eg / eg_ref - 1| over the record times both have, and the time where it occurs."""
    n = len(run.times)
    rel = np.abs(run.eg / ref.eg[:n] - 1)
    return float(rel.max()), float(run.times[int(rel.argmax())])


def timed(fn):
    """(wall seconds, result) of one call."""
    tic = time.perf_counter()
    result = fn()
    return time.perf_counter() - tic, result


def best_time(fn, repeats: int):
    """(best wall time, last result) of ``repeats`` calls."""
    runs = [timed(fn) for _ in range(repeats)]
    return min(seconds for seconds, _ in runs), runs[-1][1]


def per_call_seconds(fn) -> float:
    return min(timeit.repeat(fn, number=20, repeat=7)) / 20


def bench_config(M: int, K: int, args) -> dict:
    start = simulate(N=500, M=M, K=K, steps=0, seed=0).initial
    # Compile every kernel (RHS, Jacobian, domain check, Euler path) before timing.
    integrate(start, tmax=1.0)
    integrate(start, tmax=0.05, euler_dt=EULER_DT)
    f = OdeRhs(start.T, start.vstar, K, lr=0.5, lr2=0.5, sigma=0.0)
    y0 = pack(start.Q, start.R, start.v)
    f.jacobian(0.0, y0)
    out = dict(M=M, K=K, rhs_us=1e6 * per_call_seconds(lambda: f(0.0, y0)),
               jac_us=1e6 * per_call_seconds(lambda: f.jacobian(0.0, y0)))

    for sigma in (0.0, 0.25):
        out[f"ref_s_{sigma}"], ref = timed(lambda: integrate(start, sigma=sigma, **REFERENCE))
        seconds, run = best_time(lambda: integrate(start, sigma=sigma), args.repeats)
        err, where = max_rel_error(run, ref)
        out[f"default_{sigma}"] = dict(seconds=seconds, nfev=run.info["nfev"], njev=run.info["njev"],
                                       err=err, where=where, success=run.success)
        if sigma == 0.0:
            out["ref"] = ref

    ref = out.pop("ref")
    full_steps = int(round(DEFAULT_TMAX / EULER_DT))
    if K <= 6 or args.full_euler:
        (euler_s, euler), measured = timed(lambda: integrate(start, euler_dt=EULER_DT)), full_steps
        out["euler_extrapolated"] = False
    else:
        horizon = args.euler_steps * EULER_DT
        euler_s, euler = best_time(lambda: integrate(start, times=ref.times[ref.times <= horizon],
                                                     euler_dt=EULER_DT), 2)
        measured = args.euler_steps
        euler_s *= full_steps / measured
        out["euler_extrapolated"] = True
    err, where = max_rel_error(euler, ref)
    out.update(euler_s=euler_s, euler_steps_measured=measured, euler_err=err, euler_where=where,
               euler_horizon=float(euler.times[-1]))

    if not args.no_sweep:
        rows = []
        for method, rtol in SWEEP[(M, K)]:
            seconds, run = timed(lambda: integrate(start, method=method, rtol=rtol, atol=DEFAULT_ATOL))
            rows.append((method, rtol, run.info["nfev"], run.info["njev"], seconds, *max_rel_error(run, ref)))
        out["sweep"] = rows
    return out


def report(results: list[dict]) -> str:
    lines = [f"load average at the end: {os.getloadavg()[0]:.2f}",
             f"defaults: method={DEFAULT_METHOD}, rtol={DEFAULT_RTOL:g}, atol={DEFAULT_ATOL:g} "
             "(analytic Jacobian); t = 0..1600, record grid of 10 per decade", "",
             "| M, K | RHS eval | Jacobian eval | sigma | default: time, RHS evals (+Jacobians) | max rel GE err "
             "vs rtol=1e-11 (at t) | Euler dt=0.01 time | speed-up | target |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for sigma in (0.0, 0.25):
            d = r[f"default_{sigma}"]
            euler = f"{r['euler_s']:.3g} s" + (" (extrap.)" if r["euler_extrapolated"] else "")
            lines.append(
                f"| {r['M']}, {r['K']} | {r['rhs_us']:.0f} us | {r['jac_us']:.0f} us | {sigma:g} | "
                f"{d['seconds']:.3g} s, {d['nfev']} (+{d['njev']}) | {d['err']:.1e} ({d['where']:.3g}) | "
                f"{euler} | {r['euler_s'] / d['seconds']:.0f}x | <= {TARGET_SECONDS[(r['M'], r['K'])]:g} s, "
                f">= 15x, <= 1e-6 |")
    lines += ["", "Fixed-step Euler at dt = 0.01 against the reference (sigma = 0):", ""]
    for r in results:
        how = (f"timed on {r['euler_steps_measured']} steps, extrapolated to 160000"
               if r["euler_extrapolated"] else "full run")
        lines.append(f"- M={r['M']}, K={r['K']}: max relative GE error {r['euler_err']:.2%} at t = "
                     f"{r['euler_where']:.3g} (record times up to t = {r['euler_horizon']:g}; {how})")
    if any("sweep" in r for r in results):
        lines += ["", "| M, K | method | rtol | RHS evals (+Jacobians) | time | max rel GE err (at t) |",
                  "|---|---|---|---|---|---|"]
        for r in results:
            for method, rtol, nfev, njev, seconds, err, where in r.get("sweep", []):
                lines.append(f"| {r['M']}, {r['K']} | {method} | {rtol:g} | {nfev} (+{njev}) | {seconds:.3g} s | "
                             f"{err:.1e} ({where:.3g}) |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="timed runs of the default solver (best is kept)")
    p.add_argument("--euler-steps", type=int, default=1600, help="Euler steps timed for K = 20 (extrapolated)")
    p.add_argument("--full-euler", action="store_true", help="run Euler to t = 1600 for K = 20 too (slow)")
    p.add_argument("--no-sweep", action="store_true", help="skip the method x tolerance table")
    args = p.parse_args()
    results = []
    for M, K in CONFIGS:
        print(f"M={M}, K={K} ...", flush=True)
        results.append(bench_config(M, K, args))
    print(report(results))


if __name__ == "__main__":
    main()
