"""Benchmark of the ReLU order-parameter ODE (issue 16: M = 2, K = 6 to t = 1600 in <= 5 s).

From a realistic start (teacher w* ~ N(0, 1), student w, v ~ N(0, 1), v* = conventions.DEFAULT_VSTAR,
N = 500: the order parameters of an actual draw, as tsdyn.simulate starts), default rates, sigma = 0,
the ReLU ODE (tsdyn.dynamics.ode.integrate, activation="relu", its default method and tolerances) and
the erf ODE from the same start are timed in the same run (Numba compiled first), for each method
given. Printed: wall time, RHS evaluations, final eps_g, the ratio relu / erf, and the cost of one
ReLU right-hand side at the start and at the end state (where students have learnt their teachers
and fields are near collinear). The machine may be shared: the load average is printed.

    python benchmarks/bench_relu_ode.py [--tmax 1600] [--methods LSODA,DOP853] [--seed 0]
"""
from __future__ import annotations

import argparse
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from tsdyn.conventions import DEFAULT_VSTAR  # noqa: E402
from tsdyn.dynamics.ode import integrate  # noqa: E402
from tsdyn.dynamics.ode_rhs import OdeRhs, pack  # noqa: E402
from tsdyn.order_parameters import OrderParameters  # noqa: E402


def realistic_start(K: int = 6, M: int = 2, N: int = 500, seed: int = 0) -> OrderParameters:
    rng = np.random.default_rng(seed)
    wstar = rng.standard_normal((M, N))
    w = rng.standard_normal((K, N))
    v = rng.standard_normal(K)
    return OrderParameters.from_weights(w, v, wstar, np.full(M, float(DEFAULT_VSTAR)))


def rhs_ms(op: OrderParameters, Q, R, v, repeats: int = 50) -> float:
    f = OdeRhs(op.T, op.vstar, op.K, lr=0.5, lr2=0.5, sigma=0.0, activation="relu")
    y = pack(Q, R, v)
    f(0.0, y)
    started = time.perf_counter()
    for _ in range(repeats):
        f(0.0, y)
    return (time.perf_counter() - started) / repeats * 1e3


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tmax", type=float, default=1600.0)
    p.add_argument("--methods", default="default,DOP853")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", default="1,2", help="Numba threads of the ReLU Jacobian's columns, each timed")
    p.add_argument("--tight", action="store_true",
                   help="also compare the default ReLU run's eps_g with a tight solve (rtol 1e-11, atol 1e-12; ~5 min)")
    args = p.parse_args()
    op = realistic_start(seed=args.seed)
    integrate(op, activation="relu", tmax=1.0)      # compile the RHS kernels ...
    integrate(op, tmax=1.0)
    for act in ("erf", "relu"):                     # ... and the Jacobians (tmax = 1 needs none; once they were
        OdeRhs(op.T, op.vstar, op.K, lr=0.5, lr2=0.5, sigma=0.0, activation=act).jacobian(
            0.0, pack(op.Q, op.R, op.v))            # timed with them)
    print(f"load average {os.getloadavg()[0]:.2f}; M = 2, K = 6, N = 500 start (seed {args.seed}), t_max = {args.tmax:g}")
    import numba

    for method, threads in ((m, t) for m in args.methods.split(",") for t in map(int, args.threads.split(","))):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        m = None if method == "default" else method
        out = {}
        for act in ("erf", "relu"):
            started, cpu = time.perf_counter(), time.process_time()
            traj = integrate(op, activation=act, tmax=args.tmax, method=m)
            out[act] = (time.perf_counter() - started, time.process_time() - cpu, traj)
            print(f"{act:5s} {traj.info['method']:7s} {numba.get_num_threads()} thr {out[act][0]:7.2f} s wall "
                  f"{out[act][1]:7.2f} s cpu  "
                  f"nfev {traj.info['nfev']:6d} njev {traj.info.get('njev', 0):4d}  eps_g(t_max) {traj.eg[-1]:.3e}  "
                  f"{'ok' if traj.success else traj.message}")
        print(f"      ratio relu / erf ({method}): {out['relu'][0] / out['erf'][0]:.1f}")
    traj = out["relu"][2]
    if args.tight:
        ref = integrate(op, activation="relu", tmax=args.tmax, rtol=1e-11, atol=1e-12)
        d = np.abs(integrate(op, activation="relu", tmax=args.tmax).eg - ref.eg)
        big = ref.eg > 1e-6
        print(f"tight solve {ref.info['seconds']:.1f} s (nfev {ref.info['nfev']}, njev {ref.info['njev']}): default run "
              f"off by max {d.max():.2e} in eps_g, {np.max(d[big] / ref.eg[big]):.2e} relative where eps_g > 1e-6 "
              f"({big.sum()} record times)")
    print(f"one ReLU RHS: {rhs_ms(op, op.Q, op.R, op.v):.3f} ms at the start, "
          f"{rhs_ms(op, traj.Q[-1], traj.R[-1], traj.v[-1]):.3f} ms at t = {traj.times[-1]:g}")


if __name__ == "__main__":
    main()
