"""Run jobs on a ``concurrent.futures`` executor, through the cache, with progress.

The executor is a local process pool by default, or a dask.distributed cluster
(``Client.get_executor()``) - the jobs and everything else stay the same.
Results are written to the cache by the main process as each job finishes, so
a sweep killed at any point keeps every run that had finished.
"""
from __future__ import annotations

import concurrent.futures as cf
import heapq
import itertools
import logging
import multiprocessing
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from tsdyn.sweep import lifeline
from tsdyn.sweep.cache import Cache
from tsdyn.sweep.job import Job

log = logging.getLogger("tsdyn.sweep")


@dataclass
class RunSummary:
    """What a call of :func:`run_jobs` reused and computed."""

    reused: int = 0
    computed: int = 0
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)
    #: CPU seconds of each computed run, by :meth:`Job.key` (all threads of the process that ran it).
    cpu: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        text = f"{self.reused + self.computed} runs: {self.reused} reused from cache, {self.computed} computed in {self.seconds:.1f} s"
        return text + (f", {len(self.failed)} FAILED ({', '.join(self.failed)})" if self.failed else "")


def _execute(job: Job, inputs: tuple[dict, ...] = ()) -> tuple[dict, float]:
    """``(result, CPU seconds)`` of one job given its inputs' results. Top-level so that it pickles for process pools and dask workers alike.

    CPU time, not wall time, is what a budget can be judged by on a shared machine.
    """
    started = time.process_time()
    with single_threaded_blas():
        result = job.run(inputs)
    return result, time.process_time() - started


def single_threaded_blas():
    """One BLAS thread for a job or a report, in whatever process runs it.

    A BLAS call sums in an order that depends on its thread count, so the last
    digits of a result would depend on where it ran (pool worker, this process,
    a dask worker); with one thread everywhere the CSVs are byte-identical. The
    pool already uses every core. threadpoolctl does this at run time for
    OpenBLAS, MKL and BLIS alike, after numpy is imported, which an environment
    variable cannot.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


@contextmanager
def make_executor(workers: int | None = None, dask_scheduler: str | None = None):
    """A ``concurrent.futures.Executor``: process pool, or dask.distributed when an address is given."""
    if dask_scheduler:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ValueError("--dask-scheduler needs dask.distributed: pip install 'tsdyn[dask]'") from None
        with Client(dask_scheduler) as client:
            yield client.get_executor(pure=False)
        return
    workers = workers or os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    # One BLAS thread per worker (not NUMBA_NUM_THREADS: Numba refuses a change of it once its threads run): the pool already uses every core, and LSODA's Fortran
    # otherwise starts extra OpenBLAS threads (and the ReLU ODE's Jacobian extra Numba threads) that fight over them.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # forkserver: worker processes start clean (no inherited threads or locks). The forkserver and every
    # worker die with this process (lifeline), so a killed sweep leaves nothing behind writing into --out.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tsdyn.sweep.forkserver_lifeline"])
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                  initializer=lifeline.worker_init, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM) or failed: stop the workers now rather than wait for their runs.
        lifeline.stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def unique_jobs(jobs: list[Job]) -> list[Job]:
    """Drop jobs with the same cache key (the same run asked for by several targets)."""
    seen: dict[str, Job] = {}
    for job in jobs:
        seen.setdefault(job.key(), job)
    return list(seen.values())


def run_jobs(jobs: list[Job], cache: Cache | None, executor: cf.Executor | None, *,
             progress: bool = True, on_result: Callable[[str, dict], None] | None = None,
             in_flight: int | None = None) -> tuple[dict[str, dict], RunSummary]:
    """Run every job not already cached; return results keyed by :meth:`Job.key`.

    Jobs start in decreasing :attr:`Job.cost`, so the pool does not end on one
    long run. A job with :attr:`Job.inputs` starts once its inputs' results are
    in (cached or computed; an input that is not in ``jobs`` is run too, unless
    the job itself is cached) and gets them passed. ``on_result(key, result)``
    is called for each result as it becomes available (cached ones first). At
    most ``in_flight`` jobs are handed to the executor at a time (default: all
    that are ready), so that work ``on_result`` submits to the same executor
    runs next instead of after every queued job. A failing job is reported in
    the summary and does not stop the others; the jobs that need its result
    are not run and are reported as failed too.
    """
    on_result = on_result or (lambda key, result: None)
    start = time.perf_counter()
    summary = RunSummary()
    results: dict[str, dict] = {}
    todo = _uncached(unique_jobs(jobs), cache, results, summary, on_result)
    limit = 1 if executor is None else (in_flight or max(len(todo), 1))
    if limit < 1:
        raise ValueError(f"in_flight must be >= 1, got {limit}")
    waiting = {job.key(): {j.key() for j in job.inputs} - set(results) for job in todo}
    needed_by: dict[str, list[Job]] = {}
    for job in todo:
        for key in waiting[job.key()]:
            needed_by.setdefault(key, []).append(job)
    order = itertools.count()   # ties of cost keep the order of `jobs`
    ready = [(-job.cost, next(order), job) for job in todo if not waiting[job.key()]]
    heapq.heapify(ready)
    bar = tqdm(total=len(todo), desc="runs", unit="run", disable=not progress or not todo, dynamic_ncols=True)
    running: dict[cf.Future, Job] = {}
    while ready or running:
        while ready and len(running) < limit:
            job = heapq.heappop(ready)[2]
            inputs = tuple(results[j.key()] for j in job.inputs)
            running[executor.submit(_execute, job, inputs) if executor is not None else _call(job, inputs)] = job
        done = cf.wait(running, return_when=cf.FIRST_COMPLETED)[0] if executor is not None else list(running)
        for future in done:
            job = running.pop(future)
            bar.update()
            try:
                raw, cpu_seconds = future.result()
                result = normalise(raw)
            except Exception as exc:  # noqa: BLE001 - report and continue with the other runs
                log.error("run %s failed: %s: %s", job.name, type(exc).__name__, exc)
                summary.failed.append(job.name)
                _fail_dependents(job, needed_by, summary, bar)
                continue
            cache = _store(cache, job, result)
            results[job.key()] = result
            summary.computed += 1
            summary.cpu[job.key()] = cpu_seconds
            on_result(job.key(), result)
            bar.set_postfix_str(job.name, refresh=False)
            for dependent in needed_by.pop(job.key(), []):
                waiting[dependent.key()].discard(job.key())
                if not waiting[dependent.key()]:
                    heapq.heappush(ready, (-dependent.cost, next(order), dependent))
    bar.close()
    summary.seconds = time.perf_counter() - start
    return results, summary


def _uncached(jobs: list[Job], cache: Cache | None, results: dict, summary: RunSummary,
              on_result: Callable[[str, dict], None]) -> list[Job]:
    """The jobs to compute: those of ``jobs`` not in the cache, and the inputs they need that are not either.

    Cached results go into ``results`` (and to ``on_result``). A cached job's inputs are not looked
    at: its key already stands for them.
    """
    todo, seen = [], set()
    pending = list(jobs)
    while pending:
        job = pending.pop(0)
        if job.key() in seen:
            continue
        seen.add(job.key())
        cached = cache.load_or_quarantine(job) if cache is not None else None
        if cached is None:
            todo.append(job)
            pending.extend(job.inputs)
        else:
            results[job.key()] = cached
            summary.reused += 1
            on_result(job.key(), cached)
    return todo


def _fail_dependents(job: Job, needed_by: dict[str, list[Job]], summary: RunSummary, bar) -> None:
    """Report every job that (directly or through others) needs ``job``'s result as not run."""
    for dependent in needed_by.pop(job.key(), []):
        if dependent.name in summary.failed:
            continue
        log.error("run %s not run: its input %s failed", dependent.name, job.name)
        summary.failed.append(dependent.name)
        bar.update()
        _fail_dependents(dependent, needed_by, summary, bar)


def _store(cache: Cache | None, job: Job, result: dict) -> Cache | None:
    """Cache ``result``; if the cache cannot be written, warn once and go on without it (None).

    A computed run is never lost to its cache: the sweep keeps the result in memory.
    """
    if cache is None:
        return None
    try:
        cache.store(job, result)
    except OSError as exc:
        log.warning("cache %s is not writable (%s); continuing without caching, finished runs are kept "
                    "for this sweep only", cache.root, exc.strerror or exc)
        return None
    except (TypeError, ValueError) as exc:      # this result cannot be stored; it is still a result
        log.warning("run %s is not cached: %s", job.name, exc)
    return cache


def memory_needed(jobs: list[Job], workers: int) -> int:
    """Rough peak bytes of a sweep: ``workers`` of its largest runs at once, plus every run's weights held.

    A job counts if it trains a network (parameters N and K); the estimate is
    :func:`tsdyn.dynamics.weights_engine.memory_needed` per run.
    """
    from tsdyn.dynamics.weights_engine import memory_needed as run_bytes

    sizes = [(int(job.params["N"]), int(job.params["K"]), int(job.params.get("M", 1)))
             for job in jobs if {"N", "K"} <= set(job.params)]
    if not sizes:
        return 0
    running = sorted((run_bytes(N=N, K=K, M=M) for N, K, M in sizes), reverse=True)[:max(1, workers)]
    held = sum(8 * N * (2 * K + M) for N, K, M in sizes)
    return int(sum(running) + held)


def normalise(result) -> dict:
    """A job's result as the cache returns it: arrays, and Python scalars for 0-d values."""
    if not isinstance(result, dict):
        raise TypeError(f"a job must return a dict, got {type(result).__name__}")
    out = {}
    for key, value in result.items():
        arr = np.asarray(value)
        if arr.dtype == object:
            raise TypeError(f"result {key!r} has object dtype; return arrays, numbers or strings")
        out[key] = arr.item() if arr.ndim == 0 else arr
    return out


def _call(job: Job, inputs: tuple[dict, ...] = ()) -> cf.Future:
    # The serial path goes through the same Future interface as the pools.
    future: cf.Future = cf.Future()
    try:
        future.set_result(_execute(job, inputs))
    except Exception as exc:  # noqa: BLE001
        future.set_exception(exc)
    return future
