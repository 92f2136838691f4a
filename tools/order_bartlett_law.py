"""Does the in-law test see the Bartlett cross terms of a mini-batch step? (quoted in theory/order_engine.md §4)

The order engine with batch B draws, per step, the Bartlett factor L of the B inputs' Gram matrix orthogonal
to the weights; its off-diagonal entries carry x_a,perp . x_b,perp (a != b). This script runs the law test of
tests/test_order_engine_breadth.py (KS p and |mean difference| / s.e. of eps_g at t = 2, 5, 10, 20) between
the weights engine and (1) the order engine, (2) the order engine with those entries set to 0, at small N
(the cross terms change only O(1/sqrt N) fluctuations of an O(1/N) term). M = K = 2, v* = 1, eta = 1, B = 4.

Run: ``python tools/order_bartlett_law.py [N] [replicas]`` (default 10 and 1000; about a minute).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import test_order_engine_breadth as law  # noqa: E402

import tsdyn.dynamics.order_engine as oe  # noqa: E402
from tsdyn.dynamics.order_kernel_general import batch_normals_offset  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10
law.REPLICAS = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
law.LAW = dict(N=N, M=2, K=2, vstar=1.0, lr=1.0, steps=20 * N, seed=3)
options = dict(batch=4)


def show(name, other):
    p, z = law._law_verdicts(weights, other)
    print(f"{name}: KS p {' '.join(f'{x:.2g}' for x in p)}; |z| {' '.join(f'{x:.2f}' for x in z)}; "
          f"mean eps_g {other.mean(0).round(5).tolist()}")


weights = law._eg_replicas("weights", options)
print(f"N = {N}, {law.REPLICAS} replicas; weights engine mean eps_g {weights.mean(0).round(5).tolist()}")
show("order engine", law._eg_replicas("order", options, offset=10_000))
real_draw = oe.draw_chunk


def without_cross_terms(streams, chunk, n_steps, *, M, K, N, period, draw_noise, batch=1):
    normals, chi2, noise = real_draw(streams, chunk, n_steps, M=M, K=K, N=N, period=period, draw_noise=draw_noise,
                                     batch=batch)
    for s in range(n_steps):
        off = batch_normals_offset(s, M, K, period, batch) + batch * (M + K + (s % period) * batch)
        normals[off:off + batch * (batch - 1) // 2] = 0.0
    return normals, chi2, noise


oe.draw_chunk = without_cross_terms
show("order engine, Bartlett cross terms dropped", law._eg_replicas("order", options, offset=10_000))
