"""Benchmark of the online-SGD simulator against the cost of drawing its inputs.

In one process, for each (M, K): (a) the time numpy's default Generator takes
to draw steps x N standard normals in the simulator's block size into a reused
buffer, and (b) the time of ``tsdyn.simulate.simulate`` for the same number of
steps (Numba compiled beforehand). The target is b/a <= 1.2 (M=2, K=6) and
<= 1.5 (M=5, K=20): the run should cost about the drawing of its inputs. Also
printed: the ratio against a plain per-step NumPy loop (timed on fewer steps
and extrapolated) and the peak memory of a simulation in a fresh subprocess.
The machine may be shared: only the ratios within this run are meaningful, and
the load average is printed with them.

    python benchmarks/bench_simulate.py [--steps 800000] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

from tsdyn import conventions as cv
from tsdyn.simulate import simulate
from tsdyn.dynamics.streams import chunk_rows

CONFIGS = ((2, 6), (5, 20))


def time_draws(steps: int, N: int, seed: int = 0) -> tuple[float, float]:
    """(a) Wall and CPU seconds for one Generator to draw steps x N normals, block by block, into one buffer."""
    rows = chunk_rows(N)
    rng = np.random.default_rng(seed)
    buf = np.empty((rows, N))
    tic, cpu = time.perf_counter(), time.process_time()
    for start in range(0, steps, rows):
        rng.standard_normal(out=buf[:min(rows, steps - start)])
    return time.perf_counter() - tic, time.process_time() - cpu


def time_simulator(steps: int, N: int, M: int, K: int, seed: int = 0) -> tuple[float, float]:
    """(b) Wall and CPU seconds (all threads) of one simulation with the default record grid."""
    tic, cpu = time.perf_counter(), time.process_time()
    simulate(N=N, M=M, K=K, steps=steps, seed=seed)
    return time.perf_counter() - tic, time.process_time() - cpu


def time_numpy_loop(steps: int, N: int, M: int, K: int, seed: int = 0) -> float:
    """Seconds of the per-step NumPy loop a user would write (same update as the simulator)."""
    rng = np.random.default_rng(seed)
    wstar, w, v = rng.standard_normal((M, N)), rng.standard_normal((K, N)), rng.standard_normal(K)
    vstar = np.full(M, cv.DEFAULT_VSTAR)
    rate_w, rate_v = cv.first_layer_rate(cv.DEFAULT_LR, N), cv.second_layer_rate(cv.DEFAULT_LR, N)
    tic = time.perf_counter()
    for _ in range(steps):
        x = rng.standard_normal(N)
        lam, nu = w @ x / math.sqrt(N), wstar @ x / math.sqrt(N)
        delta = v @ cv.g(lam) - vstar @ cv.g(nu)
        w -= rate_w * delta * np.outer(v * cv.g_prime(lam), x)
        v -= rate_v * delta * cv.g(lam)
    return time.perf_counter() - tic


_MEMORY_PROBE = """
import json, resource, sys, tracemalloc
from tsdyn.simulate import simulate
simulate(N={N}, M={M}, K={K}, steps=1000)           # compile / load the kernels
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
simulate(N={N}, M={M}, K={K}, steps={steps})
traced = tracemalloc.get_traced_memory()[1]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(rss_before_kib=before, rss_peak_kib=peak, traced_peak_bytes=traced)))
"""


def peak_memory(steps: int, N: int, M: int, K: int) -> dict:
    """ru_maxrss of a fresh process before and after a simulation, and its tracemalloc peak."""
    out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE.format(N=N, M=M, K=K, steps=steps)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=cv.DEFAULT_TRAIN_STEPS, help="SGD steps per run")
    p.add_argument("--N", type=int, default=cv.DEFAULT_N, help="input dimension")
    p.add_argument("--repeats", type=int, default=2, help="alternating repeats of (a) and (b); the minimum counts")
    p.add_argument("--numpy-steps", type=int, default=20_000, help="steps of the plain NumPy loop (extrapolated)")
    p.add_argument("--configs", nargs="+", default=[f"{M}x{K}" for M, K in CONFIGS], help="MxK pairs to run")
    args = p.parse_args(argv)
    configs = [tuple(int(n) for n in c.split("x")) for c in args.configs]
    N, steps = args.N, args.steps
    print(f"load average at start: {os.getloadavg()}  (cores: {os.cpu_count()})")
    print(f"N = {N}, steps = {steps}, block = {chunk_rows(N)} rows x N")
    for M, K in configs:
        simulate(N=N, M=M, K=K, steps=1000)                  # compile (or load from the cache) first
        draws, sims = [], []
        for _ in range(args.repeats):
            draws.append(time_draws(steps, N))
            sims.append(time_simulator(steps, N, M, K))
        (a, a_cpu), (b, b_cpu) = min(draws), min(sims)
        loop = time_numpy_loop(args.numpy_steps, N, M, K) * steps / args.numpy_steps
        mem = peak_memory(steps, N, M, K)
        print(f"\nM={M}, K={K}:  (load average now {os.getloadavg()[0]:.2f})")
        print(f"  (a) draw {steps} x {N} normals: {a:.3f} s   (all: {', '.join(f'{x:.3f}' for x, _ in draws)})")
        print(f"  (b) simulate:                 {b:.3f} s   (all: {', '.join(f'{x:.3f}' for x, _ in sims)})")
        print(f"  b/a = {b / a:.3f}   [wall time; the target]")
        print(f"  CPU time b/a = {b_cpu / a_cpu:.3f}   [(draw + train) / draw, all threads: the ratio a "
              f"fully loaded machine would see; on 2 free cores the wall b/a is about half of it or the "
              f"training share, whichever is larger]")
        print(f"  plain per-step NumPy loop: {loop:.1f} s (extrapolated from {args.numpy_steps} steps) "
              f"-> {loop / b:.0f}x slower than the simulator")
        print(f"  peak RSS of a fresh process: {mem['rss_peak_kib'] / 1024:.0f} MiB "
              f"(after imports + warm-up: {mem['rss_before_kib'] / 1024:.0f} MiB); "
              f"tracemalloc peak during the run: {mem['traced_peak_bytes'] / 2**20:.1f} MiB")
    print(f"\nload average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
