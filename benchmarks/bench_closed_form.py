"""Benchmark of the Figure 4 grid in closed form: vectorised NumPy against a plain Python double loop.

The grid is Z = 4..30 x 501 values of c in [0, 1/Z], both theorems (the
differences of Theorem 2, eq 9 - eq 11, and of Theorem 3, eq 10 - min_A eq 15).
(a) one vectorised call, :func:`tsdyn.pruning.theorems.fig4_table` (which also returns
every GE column and A*), best of ``--repeats``; (b) the same two differences
computed point by point in a Python double loop over (Z, c), calling
:func:`theorem2_difference` and :func:`theorem3_difference` on scalars. Target:
(a) <= 50 ms. The machine may be shared: compare the ratio b/a, measured in
this run, rather than absolute times.

    python benchmarks/bench_closed_form.py [--repeats 20] [--n-c 501]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from tsdyn.pruning.theorems import c_grid, fig4_table, theorem2_difference, theorem3_difference

Z_VALUES = range(4, 31)
TARGET_SECONDS = 0.050


def vectorised(n_c: int) -> dict[str, np.ndarray]:
    return fig4_table(Z_VALUES, n_c)


def double_loop(n_c: int) -> tuple[list[float], list[float]]:
    thm2, thm3 = [], []
    for Z in Z_VALUES:
        for c in c_grid(Z, n_c):
            thm2.append(float(theorem2_difference(float(c), Z)))
            thm3.append(float(theorem3_difference(float(c), Z)))
    return thm2, thm3


def best_of(func, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        tic = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - tic)
    return best, out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20, help="timings of the vectorised grid; the best is kept")
    p.add_argument("--loop-repeats", type=int, default=2, help="timings of the double loop; the best is kept")
    p.add_argument("--n-c", type=int, default=501, help="values of c per Z (default 501)")
    args = p.parse_args(argv)
    if args.repeats < 1 or args.loop_repeats < 1 or args.n_c < 2:
        p.error("--repeats and --loop-repeats must be >= 1 and --n-c >= 2")

    vectorised(args.n_c)  # warm-up: imports, first-call overheads
    t_vec, table = best_of(lambda: vectorised(args.n_c), args.repeats)
    t_loop, (thm2, thm3) = best_of(lambda: double_loop(args.n_c), args.loop_repeats)
    agree = max(np.max(np.abs(table["diff_thm2"] - thm2)), np.max(np.abs(table["diff_thm3"] - thm3)))

    points = len(Z_VALUES) * args.n_c
    print(f"Figure 4 grid: Z = {Z_VALUES.start}..{Z_VALUES.stop - 1} x {args.n_c} values of c = {points} points, "
          f"Theorems 2 and 3; load average {os.getloadavg()[0]:.2f}")
    print(f"(a) vectorised fig4_table   : {1e3 * t_vec:8.2f} ms (best of {args.repeats}), "
          f"target <= {1e3 * TARGET_SECONDS:.0f} ms: {'met' if t_vec <= TARGET_SECONDS else 'MISSED'}")
    print(f"(b) Python double loop      : {1e3 * t_loop:8.2f} ms (best of {args.loop_repeats})")
    print(f"ratio (b)/(a)               : {t_loop / t_vec:8.1f}x")
    print(f"max |(a) - (b)| of the differences: {agree:.2e}")
    return 0 if agree < 1e-13 else 1


if __name__ == "__main__":
    raise SystemExit(main())
