"""The exact order-parameter engine: online SGD as a Markov chain on (Q, R, v), at a cost independent of N.

``simulate(..., engine="order")`` (:mod:`tsdyn.simulate`) runs this module's
:func:`simulate_order`. With isotropic Gaussian inputs the fields of a fresh
input given the weights are N(0, Omega), Omega = [[Q, R], [R^T, T]], and an SGD
step changes Q, R, v through the fields and |x|^2 alone; keeping the weights
by their coordinates in a basis of their span makes each step exact at the
cost of M + K + j normals and one chi^2 (:mod:`tsdyn.dynamics.order_kernel`;
derivation in ``theory/order_engine.md``). The result is the same
:class:`~tsdyn.trajectory.Trajectory` as the weights engine's, without weights.
The breadth options (activations, weight decay, mini-batches, schedules; issue 16) run the
general kernel of :mod:`tsdyn.dynamics.order_kernel_general` (a step of B samples draws B times
the normals, chi^2 and noises, plus the Bartlett normals); the default model runs the original
kernel, bitwise as before.

Random streams. The start is that of the weights engine for the same ``seed``
(w*, w, v drawn once from the same streams by the same helper), or ``start=``.
The chain's own draws come from the weights engine's ``inputs`` and
``label_noise`` streams of ``data_seed`` (so replicas of one start differ by
``data_seed``), chunked: chunk c covers steps [c S, (c+1) S) with S of :func:`chunk_steps`
and is drawn from descendants of the streams' seeds (:func:`draw_chunk`;
:func:`~tsdyn.dynamics.order_kernel.normals_offset` says which normals a step
reads). Results are bitwise reproducible for one seed on one machine, whatever
the record times, and a run is a prefix of any longer one; they are *not* the
weights engine's sample path (different draws), only its law.

Test set (``test_samples`` > 0). A fixed set of inputs cannot be represented
by order parameters; instead, at every record time the half MSE is measured on
``test_samples`` fresh fields drawn from N(0, Omega) (child i of the
``test_inputs`` / ``test_noise`` streams for record i) with noisy labels. Each
value has the law of the weights engine's at that time, but the values at
different times are independent, where the weights engine reuses one input set
and so correlates them.
"""
from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm import tqdm

from tsdyn import conventions as cv
from tsdyn.checks import check_int
from tsdyn.dynamics.order_kernel import FINITE, cycle_normals, gram_factor, order_steps
from tsdyn.dynamics.order_kernel_general import batch_cycle_normals, order_steps_general
from tsdyn.dynamics.run import RunSettings, initial_networks, raise_divergence, random_streams, run_info
from tsdyn.eg import eg as eg_closed_form
from tsdyn.order_parameters import OrderParameters
from tsdyn.trajectory import Trajectory, load_state

#: Normals per drawn chunk (4 MiB of float64), the unit of drawing and of memory.
CHUNK_NORMALS = 2**19
#: Test fields scored at once (memory bound of the field-space test set).
TEST_ROWS = 2**14
#: Names the chain's random stream (what a step draws, chunking, compression period): cached
#: results keyed by it are never reused across a change of any of them.
STREAM_VERSION = f"order-seedseq-chunk{CHUNK_NORMALS}-periodK"


def compression_period(M: int, K: int, N: int, batch: int = 1) -> int:
    """Steps between refactorisations, K / B: balances O(K^3)/period against O(K period B) per step.

    (K directions per cycle is the measured optimum within 10 % for K = 6 and 20 at B = 1,
    benchmarks/RESULTS.md.) A step of B samples appends B directions; the period is capped so that
    the basis before the last sample of a cycle (M + K + period B - 1 directions) stays smaller than
    N: every chi^2 orthogonal to it then has >= 1 degree of freedom (needs N >= M + K + B).
    """
    return max(1, min(max(1, K // batch), (N - M - K) // batch))


def chunk_steps(M: int, K: int, period: int, batch: int = 1) -> int:
    """Steps per drawn chunk: whole compression cycles filling about :data:`CHUNK_NORMALS`."""
    return period * max(1, CHUNK_NORMALS // batch_cycle_normals(M, K, period, batch))


def as_start(start) -> OrderParameters:
    """``start=`` as :class:`OrderParameters`: itself, a Trajectory's final state, or an .npz's Q, R, T, v, vstar."""
    if isinstance(start, OrderParameters):
        return start
    if isinstance(start, Trajectory):
        return start.final()
    if isinstance(start, (str, os.PathLike)):
        return load_state(start, which="final")
    raise ValueError(f"start must be an OrderParameters, a Trajectory or the path of an .npz, got {type(start).__name__}")


def coordinates(state: OrderParameters, period: int) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (LT, CT) of a state: LT LT^T = T; CT = [A | F | 0]^T, A = R LT^-T, F F^T = Q - A A^T.

    CT has M + K + period rows (room for a cycle's new directions), one per
    basis direction. Raises ``ValueError`` if T is not positive definite: the
    teacher span is the fixed part of the basis and needs M independent
    teacher vectors.
    """
    T, R, Q = (np.asarray(a, dtype=float) for a in (state.T, state.R, state.Q))
    try:
        LT = np.linalg.cholesky(T)
    except np.linalg.LinAlgError:
        raise ValueError("T must be positive definite for engine='order' "
                         "(the teacher vectors must be linearly independent)") from None
    K, M = Q.shape[0], T.shape[0]
    A = np.linalg.solve(LT, R.T).T
    S = Q - A @ A.T
    F = np.zeros((K, K))
    gram_factor(0.5 * (S + S.T), F)         # pivoted: a rank-deficient Q - A A^T is fine
    CT = np.zeros((M + K + period, K))
    CT[:M], CT[M:M + K] = A.T, F.T
    return LT, CT


def _child(parent: np.random.SeedSequence, *keys: int) -> np.random.Generator:
    """``default_rng`` of the descendant ``keys`` of ``parent`` (``parent.spawn`` would give (c,))."""
    return np.random.default_rng(np.random.SeedSequence(parent.entropy, spawn_key=parent.spawn_key + keys))


def draw_chunk(streams: dict, chunk: int, n_steps: int, *, M: int, K: int, N: int, period: int,
               draw_noise: bool, batch: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normals, chi^2 (dof N - M - K - s % period) and label noise of the first ``n_steps`` steps of ``chunk``.

    Three sequences, each drawn step after step from its own seed (normals:
    descendant (c,) of the ``inputs`` stream; chi^2: (c, 0) of it; noise: (c,)
    of ``label_noise``), so a short last chunk holds exactly the first values
    of the full one: a run is a prefix of any longer run from the same seeds.
    With ``batch`` B > 1 each step draws B of each (chi^2 dof N - M - K - (s % period) B - i,
    i < B; :mod:`tsdyn.dynamics.order_kernel_general`); B = 1 draws exactly the default stream.
    """
    cycles = -(-n_steps // period)
    if batch == 1:
        normals = _child(streams["inputs"], chunk).standard_normal(cycles * cycle_normals(M, K, period))
        dof = (N - M - K) - np.arange(n_steps) % period
    else:
        normals = _child(streams["inputs"], chunk).standard_normal(
            cycles * batch_cycle_normals(M, K, period, batch))
        dof = ((N - M - K) - (np.arange(n_steps) % period * batch)[:, None] - np.arange(batch)[None, :]).ravel()
    chi2 = _child(streams["inputs"], chunk, 0).chisquare(dof)
    rows = batch * n_steps
    noise = _child(streams["label_noise"], chunk).standard_normal(rows) if draw_noise else np.zeros(rows)
    return normals, chi2, noise


def _chunks(streams: dict, *, steps: int, per_chunk: int, timing: dict, **draw_kw):
    """Yield ``(first_step, normals, chi2, noise)`` while a background thread draws the next chunk.

    ``draw_kw`` goes to :func:`draw_chunk` (``batch`` only when B > 1).
    """
    n_chunks = -(-steps // per_chunk)

    def draw(c: int):
        return draw_chunk(streams, c, min(per_chunk, steps - c * per_chunk), **draw_kw)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tsdyn-order-draw") as pool:
        ahead = deque(pool.submit(draw, c) for c in range(min(2, n_chunks)))
        for c in range(n_chunks):
            tic = time.perf_counter()
            arrays = ahead.popleft().result()
            timing["input_wait_s"] += time.perf_counter() - tic
            if c + 2 < n_chunks:
                ahead.append(pool.submit(draw, c + 2))
            yield (c * per_chunk, *arrays)


def _field_test_mse(rng_in, rng_noise, n, LT, CT, v, vstar, sigma, activation=cv.DEFAULT_ACTIVATION) -> float:
    """1/2 mean (phi_s - y)^2 on n fresh fields (nu, lambda) ~ N(0, Omega), y = phi_t + sigma zeta."""
    M, total = LT.shape[0], 0.0
    teacher, student = cv.activation_pair(activation)
    for lo in range(0, n, TEST_ROWS):
        rows = min(TEST_ROWS, n - lo)
        z = rng_in.standard_normal((rows, CT.shape[0]))
        nu, lam = z[:, :M] @ LT.T, z @ CT
        err = cv.g(lam, student) @ v - cv.g(nu, teacher) @ vstar - sigma * rng_noise.standard_normal(rows)
        total += float(err @ err)
    return 0.5 * total / n


def _default_kernel(s: RunSettings, CT, LT, v, vstar, period: int):
    """``train(normals, chi2, noise, first, lo, hi)``: steps lo..hi-1 of a chunk, default model (order_kernel)."""
    rate_w, rate_v = s.lr / s.N, cv.second_layer_rate(s.lr2, s.N)   # coordinates are w / sqrt(N)

    def train(normals, chi2, noise, first, lo, hi):
        return order_steps(CT, LT, v, vstar, normals, chi2, noise, lo, hi, period, rate_w, rate_v, s.sigma,
                           s.train_second_layer)
    return train


def _general_kernel(s: RunSettings, CT, LT, v, vstar, period: int):
    """As :func:`_default_kernel` with the breadth options (:mod:`tsdyn.dynamics.order_kernel_general`)."""
    teacher, student = cv.activation_pair(s.activation)
    options = (cv.activation_code(teacher), cv.activation_code(student), s.weight_decay, s.lr_schedule.packed(),
               s.lr2_schedule.packed())
    rate_w, rate_v = s.lr / s.N, cv.second_layer_rate(s.lr2, s.N)

    def train(normals, chi2, noise, first, lo, hi):
        return order_steps_general(CT, LT, v, vstar, normals, chi2, noise, lo, hi, period, s.batch, first, s.N,
                                   rate_w, rate_v, s.sigma, s.train_second_layer, *options)
    return train


def simulate_order(s: RunSettings, record_steps: np.ndarray, start: OrderParameters | None, *,
                   progress: bool = False) -> Trajectory:
    """Run the exact order-parameter chain for validated settings (called by :func:`tsdyn.simulate.simulate`).

    With ``start`` None the chain starts from the networks the weights engine
    draws for ``s.seed`` (exactly its initial Q, R, T, v); else from ``start``
    (whose M, K and vstar ``s`` then has). Returns a Trajectory with
    ``w = wstar = None``; ``info["engine"] = "order"``.
    """
    tic = time.perf_counter()
    N, M, K, steps, sigma, B = s.N, s.M, s.K, s.steps, s.sigma, s.batch
    if B == 1:
        check_int("N", N, low=K + M + 1, low_name="K + M + 1 (engine='order')")
    else:                                    # the B inputs' parts orthogonal to the basis need N - M - K >= B
        check_int("N", N, low=K + M + B, low_name="K + M + batch (engine='order')")
    streams = random_streams(s.seed, s.data_seed)
    start_given = start is not None
    if start is None:
        w, v0, wstar = initial_networks(s, streams)
        start = OrderParameters.from_weights(w, v0, wstar, s.vstar.copy())
        del w, wstar
    vstar = np.array(start.vstar)
    period = compression_period(M, K, N, B)
    LT, CT = coordinates(start, period * B)  # room for the B directions of each step of a cycle
    v = np.array(start.v)
    n_rec = len(record_steps)
    Q_t, R_t, v_t = np.empty((n_rec, K, K)), np.empty((n_rec, K, M)), np.empty((n_rec, K))
    test_mse = np.empty(n_rec) if s.test_samples else None

    def record(i: int, step: int) -> None:
        if i == 0:                           # the exact start, not its refactorised copy
            Q_t[0], R_t[0] = start.Q, start.R
        else:
            Q_t[i], R_t[i] = CT.T @ CT, CT[:M].T @ LT.T
        v_t[i] = v
        if not (np.all(np.isfinite(Q_t[i])) and np.all(np.isfinite(v))):
            raise_divergence(step, s, what="the order parameters became non-finite")
        if test_mse is not None:
            test_mse[i] = _field_test_mse(_child(streams["test_inputs"], i), _child(streams["test_noise"], i),
                                          s.test_samples, LT, CT, v, vstar, sigma, s.activation)

    timing = {"input_wait_s": 0.0, "kernel_s": 0.0}
    record(0, 0)
    nxt = 1
    per_chunk = chunk_steps(M, K, period, B)
    chunks = _chunks(streams, steps=steps, per_chunk=per_chunk, timing=timing, M=M, K=K, N=N,
                     period=period, draw_noise=sigma > 0, **({} if B == 1 else {"batch": B}))
    train = _default_kernel(s, CT, LT, v, vstar, period) if s.is_default_model else \
        _general_kernel(s, CT, LT, v, vstar, period)
    with tqdm(total=steps, disable=not progress, unit="step", unit_scale=True, desc="order chain") as bar:
        for first, normals, chi2, noise in chunks:
            pos, end = first, first + len(chi2) // B
            while pos < end:                 # cut the chunk at record steps
                stop = min(end, int(record_steps[nxt]))
                k_tic = time.perf_counter()
                bad = train(normals, chi2, noise, first, pos - first, stop - first)
                timing["kernel_s"] += time.perf_counter() - k_tic
                if bad != FINITE:
                    chunks.close()
                    raise_divergence(first + bad, s)
                pos = stop
                if pos == record_steps[nxt]:
                    record(nxt, pos)
                    nxt += 1
            bar.update(end - first)
    train_s = time.perf_counter() - tic
    eg_t = eg_closed_form(Q_t, R_t, start.T, v_t, vstar, s.activation)
    timing.update(train_s=train_s, wall_s=time.perf_counter() - tic, draw_threads=1, block_rows=per_chunk)
    info = run_info(s, record_steps, timing, engine="order", start_given=start_given, mask_kept_fraction=None,
                    compression_period=period, stream_version=STREAM_VERSION)
    return Trajectory(times=cv.time_of_step(record_steps, N), eg=np.asarray(eg_t, dtype=float), Q=Q_t, R=R_t,
                      v=v_t, T=np.array(start.T), vstar=vstar, initial=start, test_mse=test_mse,
                      message=f"completed {steps} steps of the exact order-parameter chain (t = {steps / N:g})",
                      info=info)
