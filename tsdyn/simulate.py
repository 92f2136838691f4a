"""Online SGD of a two-layer student learning from a two-layer teacher (simulation).

The student phi_s(x) = sum_k v_k g(w_k.x/sqrt N) learns, one fresh Gaussian
input per step, from the teacher phi_t(x) = sum_m v*_m g(w*_m.x/sqrt N) with
labels y = phi_t(x) + sigma*zeta (pruning paper Sec. 2 and 4; Goldt et al. 2019;
NOTES.md). The step itself lives in :mod:`tsdyn.dynamics.sgd_kernel`; this module draws
the inputs, records the order parameters and builds the :class:`Trajectory`.

Speed: the inputs are drawn by numpy's default Generator in chunks of
:data:`CHUNK_BYTES`, by background threads (``standard_normal(out=...)``
releases the GIL) while the Numba kernel (``nogil``) trains on the previous
chunk. A run therefore costs about the time of drawing steps x N normals, less
when two cores share the drawing (``benchmarks/bench_simulate.py``).

Random streams: ``numpy.random.SeedSequence(seed).spawn(6)`` gives, in order,
the teacher w*, the student initialisation (w, then v), the training inputs,
the label noise (drawn only if sigma > 0), the test inputs and the test label
noise. ``data_seed`` (default: ``seed``) replaces the training-input and label-noise
streams by those of ``SeedSequence(data_seed)``, so several runs can share one
start (teacher and student) and differ only in their data: the SGD noise
alone. The input and noise streams are chunked (:mod:`tsdyn.dynamics.streams`):
row s (the input of SGD step s) belongs to chunk s // R, R = ``chunk_rows(N)``,
drawn from that chunk's own child seed, so chunks can be drawn in parallel.
The test set is a :class:`tsdyn.dynamics.testset.TestSet` on the last two streams.
Results are bitwise identical for the same seed on the same machine
and library versions, whatever the blocking of the chunks or the record times.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import deque
from contextlib import closing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from tqdm import tqdm

from tsdyn import conventions as cv
from tsdyn.atomic import replaced_together
from tsdyn.checks import (DivergenceError, check_bool, check_int, check_mask, check_memory, check_real, check_times,
                          check_writable)
from tsdyn.eg import eg as eg_closed_form
from tsdyn.order_parameters import Q as overlap_Q, R as overlap_R, OrderParameters, as_vstar
from tsdyn.dynamics.sgd_kernel import DIVERGENCE_BOUND, FINITE, apply_pending, sgd_steps
from tsdyn.dynamics.streams import CHUNK_BYTES, chunk_rows, fill_from_stream
from tsdyn.dynamics.testset import TestSet
from tsdyn.trajectory import Trajectory, record_grid

#: Threads drawing inputs (at most; fewer if fewer cores are available).
MAX_DRAW_THREADS = 2
#: Memory budget for the student weights kept for the test-set error.
SNAPSHOT_BYTES = 4 * 2**20
STREAMS = ("teacher", "student", "inputs", "label_noise", "test_inputs", "test_noise")
#: Names the random input stream: it changes whenever the chunking (and so every run) does.
#: Cached results record it, so a new stream never reuses old runs.
STREAM_VERSION = f"seedseq-spawn6-chunk{CHUNK_BYTES}"  # CHUNK_BYTES of tsdyn.dynamics.streams


def simulate(*, N: int = cv.DEFAULT_N, M: int | None = None, K: int | None = None, lr: float = cv.DEFAULT_LR,
             lr2: float | None = None, sigma: float = 0.0, vstar=None,
             steps: int = cv.DEFAULT_TRAIN_STEPS, seed: int = 0, data_seed: int | None = None,
             init_scale: float = 1.0, times: Sequence[float] | np.ndarray | None = None, per_decade: int = 10,
             train_second_layer: bool = True, test_samples: int = 0, mask: np.ndarray | None = None,
             progress: bool = False, engine: str = "weights", start=None) -> Trajectory:
    """Train a student (K nodes) on a teacher (M nodes) by online SGD; record its order parameters.

    Pruning paper Sec. 2 (model) and Sec. 4 (setting); the update is that of
    NOTES.md with first-layer rate lr/sqrt(N) and second-layer rate lr2/N.

    Parameters
    ----------
    N : input dimension, >= 1.
    M, K : teacher and student hidden nodes, 1 <= M <= K; default 2 and 6, or those of ``start``.
    lr, lr2 : learning rates eta > 0 and eta_v >= 0 (lr2 defaults to lr; 0 keeps v fixed).
    sigma : std of the label noise, >= 0.
    vstar : teacher second layer, scalar or length M; default 4, or that of ``start``.
    steps : number of SGD steps (= training samples), >= 0; the run ends at t = steps / N.
    seed : seed of ``numpy.random.SeedSequence`` (see the module docstring for the streams).
    data_seed : seed of the training inputs and label noise only, >= 0; default ``seed``.
        Runs with one ``seed`` and different ``data_seed`` start from the same
        teacher and student and see different data (replicas of the SGD noise).
    init_scale : std of the *student's* initial w and v, > 0; the teacher's w* is
        always N(0, 1) (the paper draws all three from N(0, 1): init_scale = 1).
    times : record times t in [0, steps/N], sorted; each is rounded to a whole step,
        and t = 0 and t = steps/N are always added. Default
        ``record_grid(steps/N, per_decade=per_decade, N=N)``.
    per_decade : record times per decade of the default grid.
    train_second_layer : if False, v is frozen at its random initial value
        N(0, init_scale^2) (it is not reset to a committee-machine value).
    test_samples : if > 0, also measure the test-set 1/2 MSE on this many fresh
        inputs with *noisy* labels (as the paper does), at every record time.
    mask : optional (K, N) boolean first-layer mask (pruning at initialisation):
        w is multiplied by it at initialisation and masked entries stay exactly 0.
    progress : show a tqdm progress bar.
    engine : ``"weights"`` (default) trains the weights; ``"order"`` runs the exact
        Markov chain on (Q, R, v) at a cost independent of N
        (:mod:`tsdyn.dynamics.order_engine`, ``theory/order_engine.md``): same law
        of the recorded trajectory, other random draws, ``w = wstar = None``;
        needs N > K + M, refuses ``mask``, and measures ``test_samples`` on fresh
        fields at every record time instead of a fixed input set.
    start : ``engine="order"`` only: start from these order parameters instead of
        the networks of ``seed``: an ``OrderParameters``, a ``Trajectory`` (its final
        state) or the path of an ``.npz`` with keys Q, R, T, v, vstar. M, K and
        vstar are then the start's (passing others is an error); ``init_scale`` is unused.

    Returns
    -------
    Trajectory
        ``eg`` is the noise-free closed-form eps_g (eqs 5-8) of the recorded
        Q, R, v; ``initial`` the exact state at t = 0; ``w``, ``wstar`` the final
        weights; ``info`` the configuration, the record steps and the timing.

    Raises
    ------
    ValueError
        For a parameter outside its range (the message names it).
    DivergenceError
        If Delta or a field lambda exceeds ``DIVERGENCE_BOUND`` (1e100) in size or
        is NaN, or the weights become non-finite; ``.step`` / ``.time`` say when:
        step s means the state after s updates (time t = s / N) is the first bad one.
    """
    if engine not in ("weights", "order"):
        raise ValueError(f"engine must be 'weights' or 'order', got {engine!r}")
    if engine == "order":
        from tsdyn.dynamics.order_engine import as_start, simulate_order

        if mask is not None:
            raise ValueError("mask is not supported by engine='order': pruned weights are no function of "
                             "the order parameters; use engine='weights'")
        start = None if start is None else as_start(start)
        if start is not None:
            M, K, vstar = _from_start(start, M=M, K=K, vstar=vstar)
    elif start is not None:
        raise ValueError("start= needs engine='order' (the weights engine starts from the networks of seed)")
    M, K, vstar = 2 if M is None else M, 6 if K is None else K, cv.DEFAULT_VSTAR if vstar is None else vstar
    cfg = _validated_config(N=N, M=M, K=K, lr=lr, lr2=lr2, sigma=sigma, vstar=vstar, steps=steps,
                            seed=seed, data_seed=data_seed, init_scale=init_scale, per_decade=per_decade,
                            train_second_layer=train_second_layer, test_samples=test_samples)
    record_steps = _record_steps(times, steps=cfg["steps"], N=cfg["N"], per_decade=cfg["per_decade"])
    if engine == "order":
        cfg["start_given"] = start is not None
        return simulate_order(cfg, record_steps, start, progress=progress)
    mask = _validated_mask(mask, K=cfg["K"], N=cfg["N"])
    return _run(cfg, record_steps, mask, progress=progress)


def _from_start(start: OrderParameters, *, M, K, vstar):
    """M, K, vstar of ``start``; an explicitly passed value must agree with it."""
    for name, given, own in (("M", M, start.M), ("K", K, start.K)):
        if given is not None and given != own:
            raise ValueError(f"{name} = {given!r} differs from the start's {name} = {own} (start= fixes M and K)")
    if vstar is not None and not np.array_equal(np.broadcast_to(np.asarray(vstar, dtype=float), (start.M,)),
                                                start.vstar):
        raise ValueError(f"vstar = {vstar!r} differs from the start's vstar = {start.vstar.tolist()}")
    return start.M, start.K, start.vstar


# ------------------------------------------------------------------ validation
def _validated_config(**raw) -> dict:
    cfg = dict(raw)
    cfg["N"] = check_int("N", raw["N"], low=1)
    cfg["M"] = check_int("M", raw["M"], low=1)
    cfg["K"] = check_int("K", raw["K"], low=cfg["M"], low_name="M")
    cfg["lr"] = check_real("lr", raw["lr"], low=0.0, low_open=True)
    cfg["lr2"] = cfg["lr"] if raw["lr2"] is None else check_real("lr2", raw["lr2"], low=0.0)
    cfg["sigma"] = check_real("sigma", raw["sigma"], low=0.0)
    try:
        cfg["vstar"] = np.array(as_vstar(raw["vstar"], cfg["M"]))     # own contiguous copy
    except (TypeError, ValueError) as exc:
        if str(exc).startswith("vstar"):
            raise
        raise ValueError(f"vstar must be a real scalar or a length-M vector, got {raw['vstar']!r}") from None
    cfg["steps"] = check_int("steps", raw["steps"], low=0, high=MAX_STEPS)
    cfg["seed"] = check_int("seed", raw["seed"], low=0)
    cfg["data_seed"] = cfg["seed"] if raw["data_seed"] is None else check_int("data_seed", raw["data_seed"], low=0)
    cfg["init_scale"] = check_real("init_scale", raw["init_scale"], low=0.0, low_open=True)
    cfg["per_decade"] = check_int("per_decade", raw["per_decade"], low=1)
    cfg["test_samples"] = check_int("test_samples", raw["test_samples"], low=0, high=MAX_TEST_SAMPLES)
    cfg["train_second_layer"] = check_bool("train_second_layer", raw["train_second_layer"])
    check_memory(f"a run with N = {cfg['N']}, K = {cfg['K']}, M = {cfg['M']}",
                 memory_needed(N=cfg["N"], K=cfg["K"], M=cfg["M"]))
    return cfg


#: Step counts beyond this overflow the int64 step arithmetic long before they could finish.
MAX_STEPS = 10**15
#: The test set is regenerated chunk by chunk, so its size costs time, not memory; beyond this it never ends.
MAX_TEST_SAMPLES = 10**9


def memory_needed(*, N: int, K: int, M: int, records: int = 200) -> int:
    """Rough peak bytes of one run: the weights, the ring of input blocks, the test snapshots, the records.

    Used to refuse a run that cannot fit before it starts (``MemoryError`` half-way is worse).
    """
    weights = 8 * N * (3 * K + M + 2)
    blocks = (MAX_DRAW_THREADS + 1) * max(CHUNK_BYTES, 8 * N)
    return int(weights + blocks + SNAPSHOT_BYTES + 8 * records * (K * K + K * M + K))


def _validated_mask(mask, *, K: int, N: int) -> np.ndarray | None:
    return None if mask is None else check_mask("mask", mask, (K, N))


def _record_steps(times, *, steps: int, N: int, per_decade: int) -> np.ndarray:
    """Record steps: the requested times rounded to whole steps, plus 0 and ``steps``."""
    tmax = steps / N
    if times is None:
        grid = record_grid(tmax, per_decade=per_decade, N=N)
    else:
        grid = check_times("times", times, low=0.0, high=tmax)
    record = cv.steps_for_time(grid, N)
    return np.unique(np.concatenate([[0, steps], np.clip(record, 0, steps)])).astype(np.int64)


# ------------------------------------------------------------------ random streams
def _streams(seed: int, data_seed: int) -> dict[str, np.random.SeedSequence]:
    streams = dict(zip(STREAMS, np.random.SeedSequence(seed).spawn(len(STREAMS))))
    if data_seed != seed:
        data = dict(zip(STREAMS, np.random.SeedSequence(data_seed).spawn(len(STREAMS))))
        streams.update(inputs=data["inputs"], label_noise=data["label_noise"])
    return streams


def _draw_threads() -> int:
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
def _initial_networks(cfg: dict, streams: dict, mask: np.ndarray | None):
    """Teacher w* ~ N(0, 1); student w, v ~ N(0, init_scale^2), w masked."""
    K, M, N = cfg["K"], cfg["M"], cfg["N"]
    wstar = np.random.default_rng(streams["teacher"]).standard_normal((M, N))
    rng = np.random.default_rng(streams["student"])
    w = cfg["init_scale"] * rng.standard_normal((K, N))
    v = cfg["init_scale"] * rng.standard_normal(K)
    if mask is not None:
        w = np.where(mask, w, 0.0)
    return w, v, wstar


def _run(cfg: dict, record_steps: np.ndarray, mask: np.ndarray | None, *, progress: bool,
         chunks_per_block: int = 1) -> Trajectory:
    tic = time.perf_counter()
    N, K, steps, sigma, vstar = cfg["N"], cfg["K"], cfg["steps"], cfg["sigma"], cfg["vstar"]
    streams = _streams(cfg["seed"], cfg["data_seed"])
    w, v, wstar = _initial_networks(cfg, streams, mask)
    # OrderParameters freezes the arrays it is given: hand it copies of the live state.
    initial = OrderParameters.from_weights(w, v.copy(), wstar, vstar.copy())
    mask_f = None if mask is None else mask.astype(np.float64)
    test = None
    if cfg["test_samples"]:
        test = _TestSetError(TestSet(wstar, vstar, sigma, cfg["test_samples"], streams["test_inputs"],
                                     streams["test_noise"]))
    recorder = _Recorder(record_steps, K, wstar, test)
    pending, x_prev = np.zeros(K), np.zeros(N)      # kernel state: w "now" is w + pending (x) x_prev
    rate_w, rate_v = cv.first_layer_rate(cfg["lr"], N), cv.second_layer_rate(cfg["lr2"], N)

    def current_weights(step: int) -> np.ndarray:
        w_now, pend = w.copy(), pending.copy()
        apply_pending(w_now, pend, x_prev, mask_f)
        if not (np.all(np.isfinite(w_now)) and np.all(np.isfinite(v))):
            _raise_divergence(step, N, cfg, what="the weights became non-finite")
        return w_now

    recorder.record(w, v)                            # step 0
    rows, threads, timing = chunks_per_block * chunk_rows(N), _draw_threads(), {"input_wait_s": 0.0}
    blocks = _input_blocks(streams, steps=steps, N=N, rows=rows, draw_noise=sigma > 0, threads=threads,
                           timing=timing)
    with closing(blocks), tqdm(total=steps, disable=not progress, unit="step", unit_scale=True, desc="SGD") as bar:
        for start, X, z in blocks:
            pos, end = start, start + len(X)
            while pos < end:                         # cut the block at record steps
                stop = min(end, recorder.next_step())
                bad = sgd_steps(w, v, pending, x_prev, wstar, vstar, X[pos - start:stop - start],
                                z[pos - start:stop - start], rate_w, rate_v, sigma,
                                cfg["train_second_layer"], mask_f)
                if bad != FINITE:                    # closing(blocks) joins the drawing threads
                    _raise_divergence(pos + bad, N, cfg)
                pos = stop
                if pos == recorder.next_step():
                    recorder.record(current_weights(pos), v)
            bar.update(end - start)
    w_final = current_weights(steps)
    train_s = time.perf_counter() - tic
    eg_t = eg_closed_form(recorder.Q, recorder.R, initial.T, recorder.v, vstar)
    test_mse = None if test is None else test.result()
    timing.update(train_s=train_s, wall_s=time.perf_counter() - tic, draw_threads=threads, block_rows=rows)
    return Trajectory(times=cv.time_of_step(record_steps, N), eg=np.asarray(eg_t, dtype=float),
                      Q=recorder.Q, R=recorder.R, v=recorder.v, T=initial.T, vstar=vstar,
                      initial=initial, test_mse=test_mse, w=w_final, wstar=wstar,
                      message=f"completed {steps} SGD steps (t = {steps / N:g})",
                      info=_info(cfg, mask, record_steps, timing))


def _raise_divergence(step: int, N: int, cfg: dict, what: str = (
        f"a field lambda or the error signal Delta exceeded {DIVERGENCE_BOUND:g} in size (or was NaN)")):
    t = step / N
    raise DivergenceError(
        f"SGD diverged: {what} at step {step} (t = {t:g}); "
        f"try smaller rates than lr = {cfg['lr']:g}, lr2 = {cfg['lr2']:g} (N = {N})", step=step, time=t)


def _info(cfg: dict, mask, record_steps, timing: dict) -> dict:
    info = {k: (val.tolist() if isinstance(val, np.ndarray) else val) for k, val in cfg.items()}
    info["mask_kept_fraction"] = None if mask is None else float(mask.mean())
    info["record_steps"] = record_steps.tolist()
    info["streams"] = list(STREAMS)
    info.update(timing)
    info["steps_per_s"] = cfg["steps"] / timing["train_s"] if timing["train_s"] > 0 else float("nan")
    return info


# ------------------------------------------------------------------ CLI
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tsdyn.simulate",
        description="Online SGD of a two-layer student (K nodes) learning a two-layer teacher (M nodes), "
                    "g = erf(x/sqrt2). Defaults are the pruning paper's setting. Writes PREFIX.csv "
                    "(t, eg[, test_mse]), PREFIX.npz (order parameters, weights) and PREFIX.png (eg(t)).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--N", type=int, default=cv.DEFAULT_N, help="input dimension")
    p.add_argument("--M", type=int, default=None, help="teacher hidden nodes (default 2, or the start's)")
    p.add_argument("--K", type=int, default=None, help="student hidden nodes, K >= M (default 6, or the start's)")
    p.add_argument("--lr", type=float, default=cv.DEFAULT_LR, help="learning rate eta (first layer: eta/sqrt N)")
    p.add_argument("--lr2", type=float, default=None, help="second-layer rate eta_v (per step eta_v/N); default: lr")
    p.add_argument("--sigma", type=float, default=0.0, help="std of the label noise")
    p.add_argument("--vstar", type=float, nargs="+", default=None,
                   help=f"teacher second layer: one value for all M nodes, or M values (default {cv.DEFAULT_VSTAR:g}, "
                        "or the start's)")
    p.add_argument("--steps", type=int, default=cv.DEFAULT_TRAIN_STEPS, help="SGD steps (training samples)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--data-seed", type=int, default=None,
                   help="seed of the training inputs and label noise only (default: --seed); "
                        "same --seed, other --data-seed: same start, other SGD noise")
    p.add_argument("--init-scale", type=float, default=1.0, help="std of the student's initial w and v")
    p.add_argument("--per-decade", type=int, default=10, help="record times per decade of t")
    p.add_argument("--freeze-second-layer", action="store_true", help="keep v at its initial value")
    p.add_argument("--test-samples", type=int, default=0,
                   help="test inputs for the noisy-label test 1/2 MSE (0: not measured; the paper uses 80000)")
    p.add_argument("--engine", choices=("weights", "order"), default="weights",
                   help="'weights': train the weights; 'order': the exact order-parameter chain (cost independent "
                        "of N, same law; the .npz then has no w, wstar)")
    p.add_argument("--start", default=None,
                   help="--engine order: .npz with keys Q, R, T, v, vstar to start from (e.g. a previous PREFIX.npz: "
                        "its final state)")
    p.add_argument("--out", default="simulation", help="output prefix of the .csv, .npz and .png files")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def plot_eg(traj: Trajectory, path: str | Path) -> Path:
    """Log-log figure of eps_g(t) (and the test 1/2 MSE if measured), written atomically."""
    from matplotlib.figure import Figure

    from tsdyn.atomic import atomic_open

    fig = Figure(figsize=(5.5, 4), constrained_layout=True)
    ax = fig.add_subplot()
    later = traj.times > 0
    ax.loglog(traj.times[later], traj.eg[later], label=r"$\epsilon_g$ (eqs 5-8, noise-free)")
    if traj.test_mse is not None:
        ax.loglog(traj.times[later], traj.test_mse[later], "--", label=r"test $\frac{1}{2}$MSE (noisy labels)")
    i = traj.info
    ax.set(xlabel="t = steps / N", ylabel="error",
           title=f"N={i['N']}, M={i['M']}, K={i['K']}, $\\eta$={i['lr']:g}, $\\sigma$={i['sigma']:g}, seed {i['seed']}")
    ax.legend()
    path = Path(path)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=120)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    vstar = None if args.vstar is None else args.vstar[0] if len(args.vstar) == 1 else np.array(args.vstar)
    try:
        # Before the run: a result that cannot be written is a result lost.
        outputs = [check_writable("--out", f"{args.out}.{suffix}") for suffix in ("csv", "npz", "png")]
        traj = simulate(N=args.N, M=args.M, K=args.K, lr=args.lr, lr2=args.lr2, sigma=args.sigma, vstar=vstar,
                        steps=args.steps, seed=args.seed, data_seed=args.data_seed, init_scale=args.init_scale, per_decade=args.per_decade,
                        train_second_layer=not args.freeze_second_layer, test_samples=args.test_samples,
                        progress=not args.no_progress, engine=args.engine, start=args.start)
    except (ValueError, DivergenceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with replaced_together(outputs) as staged:
        traj.to_csv(staged[outputs[0]])
        traj.save_npz(staged[outputs[1]])
        plot_eg(traj, staged[outputs[2]])
    summary = f"final t = {traj.times[-1]:g}: eg = {traj.eg[-1]:.6g}"
    if traj.test_mse is not None:
        summary += f", test 1/2 MSE = {traj.test_mse[-1]:.6g}"
    print(summary)
    print(f"wall time {traj.info['wall_s']:.2f} s ({traj.info['steps_per_s']:.3g} steps/s); wrote "
          + ", ".join(str(f) for f in outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
