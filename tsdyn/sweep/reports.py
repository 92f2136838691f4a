"""Each target's report, started as soon as the last of its runs is in.

A report (``module.report(cfg, results, out)``) is cheap next to training but
not free (figures, ODE integrations, pruning scores): run one after another at
the end they took a quarter of a full sweep. Here each is submitted to the
local process pool the moment its target's runs are all available, so reports
overlap the remaining training; with no pool (``--serial``, or a dask cluster
whose workers may not see ``out``) they run in this process, also as soon as
they can.
"""
from __future__ import annotations

import concurrent.futures as cf
import importlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from tsdyn.sweep.job import Job
from tsdyn.sweep.runner import single_threaded_blas

log = logging.getLogger("tsdyn.sweep")


def write_report(module_name: str, cfg: dict, results: dict[str, dict], out: Path) -> list[Path]:
    """Call ``tsdyn.targets.<module_name>.report``; top-level so that it pickles for process pools.

    The report writes into a staging folder inside ``out``; only when it has
    finished are its files moved into ``out`` (each by an atomic rename), so a
    report that fails or is killed half-way leaves no file of its own behind,
    and the previous run's files stay whole.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{module_name}-", dir=out))
    try:
        with single_threaded_blas():
            importlib.import_module(f"tsdyn.targets.{module_name}").report(cfg, results, staging)
        written = []
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            final = out / path.relative_to(staging)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, final)
            written.append(final)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _timed(write: Callable, *args) -> tuple[list[Path], float]:
    """``(write(*args), CPU seconds)``; top-level so that it pickles."""
    started = time.process_time()
    paths = write(*args)
    return paths, time.process_time() - started


def cost_lines(plan: list[tuple[str, dict, list[Job]]], run_cpu: dict[str, float], report_cpu: dict[str, float],
               workers: int) -> list[str]:
    """Per target: runs computed, their CPU seconds, the report's, and the share of the sweep's wall time on ``workers`` cores.

    A run several targets share is counted once, for the first target that asks for it; the
    share is (runs + report CPU) / workers, the wall time the target would add on idle cores.
    """
    counted: set[str] = set()
    lines = []
    for name, _, jobs in plan:
        keys = {job.key() for job in jobs} - counted
        counted |= keys
        runs = [run_cpu[k] for k in keys if k in run_cpu]
        report = report_cpu.get(name, 0.0)
        lines.append(f"{name}: {len(runs)} runs computed ({sum(runs):.1f} s CPU), report {report:.1f} s CPU; "
                     f"~{(sum(runs) + report) / max(workers, 1):.1f} s of the sweep on {workers} idle cores")
    return lines


#: Staging folders of reports in progress (hidden; removed when the report ends, or by the next sweep).
STAGING_PREFIX = ".report-"


def remove_stale_staging(out: Path) -> None:
    """Remove staging folders a killed sweep left in ``out``."""
    for stale in Path(out).glob(f"{STAGING_PREFIX}*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


class Reports:
    """Tracks which runs each target still waits for and starts its report when none are left.

    Parameters
    ----------
    plan : ``(name, cfg, jobs)`` per target.
    out : output directory of the reports.
    executor : pool to run reports on, or None to run them in this process.
    write : ``write(name, cfg, results_by_job_name, out) -> paths``; top-level (it is pickled).
    """

    def __init__(self, plan: list[tuple[str, dict, list[Job]]], out: Path, executor: cf.Executor | None,
                 write: Callable[[str, dict, dict, Path], list[Path]] = write_report):
        self.plan, self.out, self.executor, self.write = plan, Path(out), executor, write
        self.waiting = {name: {job.key() for job in jobs} for name, _, jobs in plan}
        self.results: dict[str, dict] = {}
        self.started: dict[str, cf.Future] = {}
        #: CPU seconds of each finished report, by target.
        self.cpu: dict[str, float] = {}
        self.clock = time.perf_counter()

    def start_ready(self) -> None:
        """Start the reports of targets that wait for nothing (e.g. closed forms only, or all cached)."""
        for name in self.waiting:
            self._start_if_ready(name)

    def job_done(self, key: str, result: dict) -> None:
        """Record a finished run; start every report that waited only for it."""
        self.results[key] = result
        for name, keys in self.waiting.items():
            if key in keys:
                keys.discard(key)
                self._start_if_ready(name)

    def finish(self) -> tuple[list[Path], list[str]]:
        """Wait for the started reports; return the files written and the targets not reported."""
        written, incomplete = [], []
        for name, _, jobs in self.plan:
            if name not in self.started:
                missing = [job.name for job in jobs if job.key() not in self.results]
                log.error("target %s not reported: %d run(s) failed (%s)", name, len(missing), ", ".join(missing[:5]))
                incomplete.append(name)
                continue
            try:
                paths, self.cpu[name] = self.started[name].result()
                written += paths
            except Exception as exc:  # noqa: BLE001 - the other targets' files still count
                log.error("report of target %s failed: %s: %s", name, type(exc).__name__, exc)
                incomplete.append(name)
        return written, incomplete

    def _start_if_ready(self, name: str) -> None:
        if self.waiting[name] or name in self.started:
            return
        _, cfg, jobs = next(entry for entry in self.plan if entry[0] == name)
        args = (name, cfg, {job.name: self.results[job.key()] for job in jobs}, self.out)
        if self.executor is not None:
            future = self.executor.submit(_timed, self.write, *args)
        else:
            future = cf.Future()
            try:
                future.set_result(_timed(self.write, *args))
            except Exception as exc:  # noqa: BLE001 - surfaced by finish()
                future.set_exception(exc)
        submitted = time.perf_counter()
        future.add_done_callback(lambda f: f.exception() or log.info(
            "report %s: %d files (%.1f s after its runs, at %.0f s)", name, len(f.result()[0]),
            time.perf_counter() - submitted, time.perf_counter() - self.clock))
        self.started[name] = future
