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
                written += self.started[name].result()
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
            future = self.executor.submit(self.write, *args)
        else:
            future = cf.Future()
            try:
                future.set_result(self.write(*args))
            except Exception as exc:  # noqa: BLE001 - surfaced by finish()
                future.set_exception(exc)
        submitted = time.perf_counter()
        future.add_done_callback(lambda f: f.exception() or log.info(
            "report %s: %d files (%.1f s after its runs, at %.0f s)", name, len(f.result()),
            time.perf_counter() - submitted, time.perf_counter() - self.clock))
        self.started[name] = future
