"""The weights engine: online SGD of the student's weights, one fresh Gaussian input per step.

The student phi_s(x) = sum_k v_k g(w_k.x/sqrt N) learns from the teacher
phi_t(x) = sum_m v*_m g(w*_m.x/sqrt N) with labels y = phi_t(x) + sigma*zeta
(pruning paper Sec. 2 and 4; Goldt et al. 2019; NOTES.md). The step itself is
the Numba kernel of :mod:`tsdyn.dynamics.sgd_kernel`; this module draws the
inputs, records the order parameters and builds the :class:`Trajectory`.

Speed: the inputs are drawn by numpy's default Generator in chunks of
:data:`CHUNK_BYTES`, by background threads (``standard_normal(out=...)``
releases the GIL) while the Numba kernel (``nogil``) trains on the previous
chunk. A run therefore costs about the time of drawing steps x N normals, less
when two cores share the drawing (``benchmarks/bench_simulate.py``).

The input and noise streams (:func:`tsdyn.dynamics.run.random_streams`) are
chunked (:mod:`tsdyn.dynamics.streams`): row s (the input of SGD step s) belongs
to chunk s // R, R = ``chunk_rows(N)``, drawn from that chunk's own child seed,
so chunks can be drawn in parallel. The test set is a
:class:`tsdyn.dynamics.testset.TestSet` on the last two streams. Results are
bitwise identical for the same seed on the same machine and library versions,
whatever the blocking of the chunks or the record times.
"""
from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from tqdm import tqdm

from tsdyn import conventions as cv
from tsdyn.checks import check_array
from tsdyn.dynamics.run import RunSettings, initial_networks, raise_divergence, random_streams, run_info
from tsdyn.dynamics.sgd_kernel import FINITE, apply_pending, sgd_steps, sgd_steps_general
from tsdyn.dynamics.streams import CHUNK_BYTES, chunk_rows, fill_from_stream
from tsdyn.dynamics.testset import TestSet
from tsdyn.eg import eg as eg_closed_form
from tsdyn.order_parameters import Q as overlap_Q, R as overlap_R, OrderParameters
from tsdyn.trajectory import Trajectory

#: Threads drawing inputs (at most; fewer if fewer cores are available).
MAX_DRAW_THREADS = 2
#: Memory budget for the student weights kept for the test-set error.
SNAPSHOT_BYTES = 4 * 2**20
#: Names the random input stream: it changes whenever the chunking (and so every run) does.
#: Cached results record it, so a new stream never reuses old runs.
STREAM_VERSION = f"seedseq-spawn6-chunk{CHUNK_BYTES}"  # CHUNK_BYTES of tsdyn.dynamics.streams


@dataclass(frozen=True, eq=False)
class Networks:
    """Weights to start a run from: student (w, v) and teacher (wstar, vstar), e.g. a pruned student."""

    w: np.ndarray
    v: np.ndarray
    wstar: np.ndarray
    vstar: np.ndarray

    def for_run(self, s: RunSettings, mask: np.ndarray | None):
        """Own copies of ``(w, v, wstar)``, checked against the settings, w masked."""
        w = check_array("start w", self.w, shape=(s.K, s.N)).copy()
        v = check_array("start v", self.v, shape=(s.K,)).copy()
        wstar = check_array("start wstar", self.wstar, shape=(s.M, s.N)).copy()
        if not np.array_equal(np.asarray(self.vstar, dtype=float), s.vstar):
            raise ValueError(f"start vstar = {np.asarray(self.vstar).tolist()} differs from vstar = {s.vstar.tolist()}")
        return (w if mask is None else np.where(mask, w, 0.0)), v, wstar


def memory_needed(*, N: int, K: int, M: int, records: int = 200) -> int:
    """Rough peak bytes of one run: the weights, the ring of input blocks, the test snapshots, the records.

    Used to refuse a run that cannot fit before it starts (``MemoryError`` half-way is worse).
    """
    weights = 8 * N * (3 * K + M + 2)
    blocks = (MAX_DRAW_THREADS + 1) * max(CHUNK_BYTES, 8 * N)
    return int(weights + blocks + SNAPSHOT_BYTES + 8 * records * (K * K + K * M + K))


def draw_threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:                       # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DRAW_THREADS))


def _input_blocks(streams: dict, *, steps: int, N: int, rows: int, draw_noise: bool, threads: int,
                  timing: dict) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(first_step, X, zeta)``: consecutive blocks of the training inputs and label noise.

    ``threads`` background threads draw the next blocks into a ring of buffers
    while the caller trains on the current one (``standard_normal(out=...)``
    releases the GIL). ``rows`` is a multiple of :func:`chunk_rows`.
    """
    R = chunk_rows(N)
    n_blocks = -(-steps // rows)
    slots = [(np.empty((rows, N)), np.zeros(rows)) for _ in range(threads + 1)]

    def draw(block: int):
        X, z = slots[block % len(slots)]
        start = block * rows
        n = min(rows, steps - start)
        fill_from_stream(streams["inputs"], R, start, X[:n])
        if draw_noise:
            fill_from_stream(streams["label_noise"], R, start, z[:n])
        return X[:n], z[:n]

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tsdyn-draw") as pool:
        # In flight: the next `threads` blocks, never the slot the caller holds.
        ahead = deque(pool.submit(draw, b) for b in range(min(threads, n_blocks)))
        for block in range(n_blocks):
            tic = time.perf_counter()
            X, z = ahead.popleft().result()
            timing["input_wait_s"] += time.perf_counter() - tic
            if block + threads < n_blocks:
                ahead.append(pool.submit(draw, block + threads))
            yield block * rows, X, z


# ------------------------------------------------------------------ recording
class _Recorder:
    """Order parameters (and optionally the test-set error) at the record steps."""

    def __init__(self, record_steps: np.ndarray, K: int, wstar: np.ndarray, test: "_TestSetError | None"):
        n, M = len(record_steps), wstar.shape[0]
        self.steps, self.wstar, self.test = record_steps, wstar, test
        self.Q, self.R, self.v = np.empty((n, K, K)), np.empty((n, K, M)), np.empty((n, K))
        self.count = 0

    def record(self, w: np.ndarray, v: np.ndarray) -> None:
        i = self.count
        self.Q[i], self.R[i], self.v[i] = overlap_Q(w), overlap_R(w, self.wstar), v
        if self.test is not None:
            self.test.add(w, v)
        self.count += 1

    def next_step(self) -> int:
        return int(self.steps[self.count]) if self.count < len(self.steps) else -1


class _TestSetError:
    """The test-set 1/2 MSE (:class:`tsdyn.dynamics.testset.TestSet`) at every record time.

    The weights of up to :data:`SNAPSHOT_BYTES` worth of record times are
    collected, then scored together in one pass over the (regenerated) test set.
    """

    def __init__(self, test_set: TestSet):
        self.test_set = test_set
        self.snapshots: list[tuple[np.ndarray, np.ndarray]] = []
        self.values: list[float] = []

    def add(self, w: np.ndarray, v: np.ndarray) -> None:
        self.snapshots.append((w.copy(), v.copy()))
        if len(self.snapshots) * w.nbytes >= SNAPSHOT_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.snapshots:
            W, V = (np.stack(arrays) for arrays in zip(*self.snapshots))
            self.values.extend(self.test_set.half_mse_of_many(W, V))
            self.snapshots = []

    def result(self) -> np.ndarray:
        self.flush()
        return np.asarray(self.values)


# ------------------------------------------------------------------ the run
def run_weights(s: RunSettings, record_steps: np.ndarray, mask: np.ndarray | None = None, *,
                networks: Networks | None = None, progress: bool = False, chunks_per_block: int = 1) -> Trajectory:
    """Online SGD of the weights for validated settings (called by :func:`tsdyn.simulate.simulate`).

    ``networks`` starts from given weights (e.g. a pruned student, to retrain it) instead of those
    :func:`~tsdyn.dynamics.run.initial_networks` draws from ``s.seed``; ``mask`` (K, N) boolean keeps
    masked first-layer weights at exactly 0. ``chunks_per_block`` only changes how the input stream is
    cut (results are bitwise the same).
    """
    tic = time.perf_counter()
    N, K, steps, sigma, vstar = s.N, s.K, s.steps, s.sigma, s.vstar
    streams = random_streams(s.seed, s.data_seed)
    if networks is None:
        w, v, wstar = initial_networks(s, streams, mask)
    else:
        w, v, wstar = networks.for_run(s, mask)
    # OrderParameters freezes the arrays it is given: hand it copies of the live state.
    initial = OrderParameters.from_weights(w, v.copy(), wstar, vstar.copy())
    mask_f = None if mask is None else mask.astype(np.float64)
    test = None
    if s.test_samples:
        test = _TestSetError(TestSet(wstar, vstar, sigma, s.test_samples, streams["test_inputs"],
                                     streams["test_noise"], s.activation))
    recorder = _Recorder(record_steps, K, wstar, test)
    pending, x_prev = np.zeros(K), np.zeros(N)      # kernel state: w "now" is w + pending (x) x_prev
    rate_w, rate_v = cv.first_layer_rate(s.lr, N), cv.second_layer_rate(s.lr2, N)

    def current_weights(step: int) -> np.ndarray:
        w_now, pend = w.copy(), pending.copy()
        apply_pending(w_now, pend, x_prev, mask_f)
        if not (np.all(np.isfinite(w_now)) and np.all(np.isfinite(v))):
            raise_divergence(step, s, what="the weights became non-finite")
        return w_now

    recorder.record(w, v)                            # step 0
    B = s.batch
    # A block holds whole steps: B rows each (B = 1: today's blocks and stream use, bit for bit).
    rows, threads, timing = B * chunks_per_block * chunk_rows(N), draw_threads(), {"input_wait_s": 0.0}
    blocks = _input_blocks(streams, steps=B * steps, N=N, rows=rows, draw_noise=sigma > 0, threads=threads,
                           timing=timing)
    general = not s.is_default_model
    if general:
        teacher, student = cv.activation_pair(s.activation)
        options = (cv.activation_code(teacher), cv.activation_code(student), s.weight_decay,
                   s.lr_schedule.packed(), s.lr2_schedule.packed())

    def train(pos: int, X_steps: np.ndarray, z_steps: np.ndarray) -> int:
        if general:
            return sgd_steps_general(w, v, wstar, vstar, X_steps, z_steps, pos, B, rate_w, rate_v, sigma,
                                     s.train_second_layer, mask_f, *options)
        return sgd_steps(w, v, pending, x_prev, wstar, vstar, X_steps, z_steps, rate_w, rate_v, sigma,
                         s.train_second_layer, mask_f)

    with closing(blocks), tqdm(total=steps, disable=not progress, unit="step", unit_scale=True, desc="SGD") as bar:
        for first_row, X, z in blocks:
            start = first_row // B
            pos, end = start, start + len(X) // B
            while pos < end:                         # cut the block at record steps
                stop = min(end, recorder.next_step())
                bad = train(pos, X[B * (pos - start):B * (stop - start)], z[B * (pos - start):B * (stop - start)])
                if bad != FINITE:                    # closing(blocks) joins the drawing threads
                    raise_divergence(pos + bad, s)
                pos = stop
                if pos == recorder.next_step():
                    recorder.record(current_weights(pos), v)
            bar.update(end - start)
    w_final = current_weights(steps)
    train_s = time.perf_counter() - tic
    eg_t = eg_closed_form(recorder.Q, recorder.R, initial.T, recorder.v, vstar, s.activation)
    test_mse = None if test is None else test.result()
    timing.update(train_s=train_s, wall_s=time.perf_counter() - tic, draw_threads=threads, block_rows=rows)
    return Trajectory(times=cv.time_of_step(record_steps, N), eg=np.asarray(eg_t, dtype=float),
                      Q=recorder.Q, R=recorder.R, v=recorder.v, T=initial.T, vstar=vstar,
                      initial=initial, test_mse=test_mse, w=w_final, wstar=wstar,
                      message=f"completed {steps} SGD steps (t = {steps / N:g})",
                      info=run_info(s, record_steps, timing, engine="weights", start_given=networks is not None,
                                    mask_kept_fraction=None if mask is None else float(mask.mean())))
