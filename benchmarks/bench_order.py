"""Benchmark of the exact order-parameter engine against the weights engine (issue 10).

In one process, after compiling both engines: for (M, K) = (2, 6) and (5, 20),
N = 500 and 800 000 steps, the wall time of ``simulate(engine="weights")`` and
of ``simulate(engine="order")`` (best of ``--repeats``) and their ratio; the
order engine's per-step time at N = 500 and N = 50 000 (same steps); a
breakdown of its per-step cost into drawing (normals + chi^2, one thread),
refactorisation (``compress``) and the rest of the kernel (fields, g, update);
the speed of numpy's Generator against Numba's in-kernel ``np.random`` per
normal; and (``--long``) N = 128 000 to t = 1600 (2e8 steps) for M = 2, K = 6.
The machine may be shared: the load average is printed, and only ratios
measured in this run are meaningful.

    python benchmarks/bench_order.py [--repeats 3] [--long]
"""
from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np

from tsdyn.dynamics import order_engine as oe
from tsdyn.dynamics.order_kernel import compress, order_steps
from tsdyn.dynamics.run import random_streams as _streams
from tsdyn.simulate import simulate

CONFIGS = ((2, 6), (5, 20))
STEPS = 800_000


def best_wall(repeats: int, **kw) -> float:
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        simulate(**kw)
        best = min(best, time.perf_counter() - tic)
    return best


def breakdown(M: int, K: int, N: int, steps: int) -> dict[str, float]:
    """Per-step seconds: drawing (one thread), compress, the kernel without compress; the CPU time of each."""
    start = simulate(N=N, M=M, K=K, steps=0).initial
    period = oe.compression_period(M, K, N)
    LT, CT = oe.coordinates(start, period)
    v, vstar, streams = np.array(start.v), np.array(start.vstar), _streams(0, 0)
    per_chunk = oe.chunk_steps(M, K, period)
    draw_s = kernel_s = 0.0
    for c, first in enumerate(range(0, steps, per_chunk)):
        n = min(per_chunk, steps - first)
        tic = time.thread_time()
        normals, chi2, noise = oe.draw_chunk(streams, c, n, M=M, K=K, N=N, period=period, draw_noise=False)
        draw_s += time.thread_time() - tic
        tic = time.thread_time()
        order_steps(CT, LT, v, vstar, normals, chi2, noise, 0, n, period, 0.5 / N, 0.5 / N, 0.0, True)
        kernel_s += time.thread_time() - tic
    n_compress = steps // period
    compress_s = _time_compress(CT, M, M + K + period, n_compress)
    return dict(draw=draw_s / steps, compress=compress_s / steps, update=(kernel_s - compress_s) / steps,
                kernel=kernel_s / steps, period=period)


@numba.njit(cache=True)
def _compress_loop(CT, M, width, reps, work):
    K = CT.shape[1]
    S, F = np.empty((K, K)), np.empty((K, K))
    for _ in range(reps):
        work[:, :] = CT
        compress(work, M, width, S, F)


@numba.njit(cache=True)
def _copy_loop(CT, reps, work):
    for _ in range(reps):
        work[:, :] = CT


def _time_compress(CT, M, width, reps) -> float:
    """CPU seconds of ``reps`` compressions of a full-width state (minus the cost of restoring it)."""
    full = CT.copy()
    full[M:width] = np.random.default_rng(0).standard_normal((width - M, CT.shape[1])) * 0.1
    work = full.copy()
    _compress_loop(full, M, width, 1, work), _copy_loop(full, 1, work)
    tic = time.thread_time()
    _compress_loop(full, M, width, reps, work)
    mid = time.thread_time()
    _copy_loop(full, reps, work)
    return max(0.0, 2 * mid - tic - time.thread_time())


@numba.njit(cache=True)
def _numba_normals(n):
    np.random.seed(0)
    acc = 0.0
    for _ in range(n):
        acc += np.random.standard_normal()
    return acc


def rng_speed(n: int = 2**23) -> tuple[float, float]:
    """Seconds per normal: numpy Generator into a reused buffer, Numba's np.random inside njit."""
    rng, buf = np.random.default_rng(0), np.empty(2**19)
    tic = time.perf_counter()
    for _ in range(n // buf.size):
        rng.standard_normal(out=buf)
    numpy_s = (time.perf_counter() - tic) / n
    _numba_normals(10)
    tic = time.perf_counter()
    _numba_normals(n)
    return numpy_s, (time.perf_counter() - tic) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--long", action="store_true", help="also run N = 128000 to t = 1600 (2e8 steps)")
    args = ap.parse_args()
    for M, K in CONFIGS:                              # compile everything first
        simulate(N=500, M=M, K=K, steps=2000)
        simulate(N=500, M=M, K=K, steps=2000, engine="order")
    print(f"load average before: {os.getloadavg()}")
    print("| M, K | weights engine (N=500, 8e5 steps) | order engine | ratio | order N=50 000 / N=500 |")
    print("|---|---|---|---|---|")
    for M, K in CONFIGS:
        weights = best_wall(max(1, args.repeats - 1), N=500, M=M, K=K, steps=STEPS)
        order = best_wall(args.repeats, N=500, M=M, K=K, steps=STEPS, engine="order")
        order_big = best_wall(args.repeats, N=50_000, M=M, K=K, steps=STEPS, engine="order")
        print(f"| {M}, {K} | {weights:.2f} s | {order:.3f} s | {weights / order:.1f}x | "
              f"{order_big:.3f} s ({order_big / order:.2f}x) |", flush=True)
    print("\nper-step cost of the order engine (CPU time, N = 500, 8e5 steps):")
    print("| M, K | period | draws (1 thread) | compress | fields, g, update | kernel total |")
    print("|---|---|---|---|---|---|")
    for M, K in CONFIGS:
        b = breakdown(M, K, 500, STEPS)
        print(f"| {M}, {K} | {b['period']} | {b['draw'] * 1e9:.0f} ns | {b['compress'] * 1e9:.0f} ns | "
              f"{b['update'] * 1e9:.0f} ns | {b['kernel'] * 1e9:.0f} ns |", flush=True)
    numpy_s, numba_s = rng_speed()
    print(f"\nnormals: numpy Generator {numpy_s * 1e9:.1f} ns, Numba np.random in njit {numba_s * 1e9:.1f} ns each")
    if args.long:
        tic = time.perf_counter()
        traj = simulate(N=128_000, M=2, K=6, steps=1600 * 128_000, engine="order")
        print(f"\nN = 128 000, M = 2, K = 6, t = 1600 (2.05e8 steps): {time.perf_counter() - tic:.1f} s "
              f"(kernel {traj.info['kernel_s']:.1f} s, waiting for draws {traj.info['input_wait_s']:.1f} s), "
              f"final eps_g = {traj.eg[-1]:.4g}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
