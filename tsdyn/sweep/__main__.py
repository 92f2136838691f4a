"""``python -m tsdyn.sweep``: train, prune, integrate, check the theorems, draw the figures.

With no arguments every target in ``sims/`` runs and writes into ``figures/``;
see ``python -m tsdyn.sweep --help``.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from tsdyn.checks import check_memory, check_writable
from tsdyn.outputs import assemble_theorems
from tsdyn.sweep.cache import Cache, ReadOnlyCache
from tsdyn.sweep.config import DEFAULT_TARGETS, TARGETS, describe_targets, find_sims_dir, load_config, parse_seeds
from tsdyn.sweep.reports import Reports, cost_lines, remove_stale_staging
from tsdyn.sweep.runner import make_executor, memory_needed, run_jobs

log = logging.getLogger("tsdyn.sweep")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tsdyn.sweep",
        description="Regenerate the pruning paper's figures and the theorem checks. Each target is defined "
                    "by sims/<target>.toml; finished runs are cached, so an interrupted sweep resumes "
                    "where it stopped.")
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help=f"targets to run (default: all): {', '.join(TARGETS)}")
    p.add_argument("--quick", action="store_true",
                   help="reduced smoke run: apply each TOML's [quick] table (smaller N, fewer steps and seeds)")
    p.add_argument("--out", default="figures", help="directory for figures, CSVs and theorems.md (default: figures)")
    p.add_argument("--seeds", default=None,
                   help="override the seeds of every target: a count (5 -> 0..4) or a list (0,3,7)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: one per core)")
    p.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                   help="run the jobs on this dask.distributed scheduler (e.g. tcp://host:8786) instead of locally")
    p.add_argument("--cache", default=None, help="cache directory (default: OUT/.cache)")
    p.add_argument("--no-cache", action="store_true", help="recompute every run and cache nothing")
    p.add_argument("--sims", default=None,
                   help="directory of experiment TOMLs (default: ./sims if present, else the ones shipped with tsdyn)")
    p.add_argument("--list", action="store_true", help="print each target with a one-line description and exit")
    p.add_argument("--serial", action="store_true", help="run jobs in this process (debugging)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # SIGTERM ends the sweep like Ctrl-C: the pool's workers are stopped, finished runs stay cached.
    previous = signal.signal(signal.SIGTERM, _terminate) if threading.current_thread() is threading.main_thread() else None
    try:
        return run(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: workers stopped; finished runs are in the cache", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminate(signum, frame):
    raise KeyboardInterrupt


#: More local workers than this is a typo (each is a process with its own memory).
MAX_WORKERS = 1024


def check_flags(args: argparse.Namespace) -> None:
    """Refuse flags that contradict each other, rather than silently let one win."""
    conflicts = [("--no-cache", args.no_cache, "--cache", args.cache is not None),
                 ("--serial", args.serial, "--workers", args.workers is not None),
                 ("--serial", args.serial, "--dask-scheduler", args.dask_scheduler is not None),
                 ("--dask-scheduler", args.dask_scheduler is not None, "--workers", args.workers is not None),
                 ("--list", args.list, "a TARGET", bool(args.targets))]
    for a, has_a, b, has_b in conflicts:
        if has_a and has_b:
            raise ValueError(f"{a} and {b} contradict each other; give one of them")
    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise ValueError(f"--workers must be in 1..{MAX_WORKERS}, got {args.workers}")


def unique_targets(names: list[str]) -> list[str]:
    """The targets asked for, each once (a target named twice runs once, with a note)."""
    unknown = [t for t in names if t not in TARGETS]
    if unknown:
        raise ValueError(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    once = list(dict.fromkeys(names))
    if len(once) < len(names):
        twice = sorted({t for t in names if names.count(t) > 1})
        log.info("note: target(s) %s named more than once; each runs once", ", ".join(twice))
    return once


def run(args: argparse.Namespace) -> int:
    check_flags(args)
    if args.list:
        rows = describe_targets()
        width = max(len(name) for name, _ in rows)
        for name, text in rows:
            print(f"{name:<{width}}  {text}")
        return 0
    targets = unique_targets(args.targets or list(DEFAULT_TARGETS))
    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    sims = find_sims_dir(args.sims)
    # Every configuration is read and checked before anything is written or run.
    configs = [(name, load_config(name, sims, quick=args.quick, seeds=seeds)) for name in targets]
    out = check_writable("--out", args.out, directory=True)
    remove_stale_staging(out)
    cache = None if args.no_cache else open_cache(Path(args.cache) if args.cache else out / ".cache")

    plan = []
    for name, cfg in configs:
        module = importlib.import_module(f"tsdyn.targets.{name}")
        plan.append((name, cfg, module.jobs(cfg, quick=args.quick)))
    all_jobs = [job for *_, jobs in plan for job in jobs]
    workers = 1 if args.serial or args.dask_scheduler else (args.workers or os.cpu_count() or 1)
    check_memory(f"this sweep ({len(all_jobs)} runs, {workers} at a time)", memory_needed(all_jobs, workers))

    start = time.perf_counter()
    if args.serial:
        reports = Reports(plan, out, None)
        reports.start_ready()
        _, summary = run_jobs(all_jobs, cache, None, progress=not args.no_progress, on_result=reports.job_done)
        written, incomplete = reports.finish()
    else:
        with make_executor(args.workers, args.dask_scheduler) as executor:
            if not args.dask_scheduler and workers > 1:
                _warm_up(executor, plan, workers)
            # Reports write into `out`, which a dask cluster's workers may not see: run those here.
            reports = Reports(plan, out, None if args.dask_scheduler else executor)
            reports.start_ready()
            # Local pool: one queued run per worker, so a report that becomes ready goes next.
            in_flight = None if args.dask_scheduler else 2 * (args.workers or os.cpu_count() or 1)
            _, summary = run_jobs(all_jobs, cache, executor, progress=not args.no_progress,
                                  on_result=reports.job_done, in_flight=in_flight)
            written, incomplete = reports.finish()
    assembled = assemble_theorems(out)
    if assembled is not None:
        written.append(assembled)
    total = time.perf_counter() - start
    print(summary.line())
    for line in cost_lines(plan, summary.cpu, reports.cpu, workers):
        print("  " + line)
    print(f"wrote {len(written)} files to {out}/ in {total:.1f} s" + (f"; incomplete: {', '.join(incomplete)}" if incomplete else ""))
    return 1 if incomplete or summary.failed else 0


def _warm_up(executor, plan, workers: int) -> None:
    """Compile the kernels of the planned targets once, dealt out between the local workers (tsdyn.sweep.warmup).

    Not for dask (its workers keep their own caches) nor for one worker (it compiles each kernel once anyway).
    """
    from tsdyn.sweep.warmup import check_groups, warm_up

    names = {g for name, _, _ in plan
             for g in check_groups(f"tsdyn.targets.{name}.KERNELS",
                                   getattr(importlib.import_module(f"tsdyn.targets.{name}"), "KERNELS", ()))}
    if names:
        started = time.perf_counter()
        seconds = warm_up(executor, sorted(names), workers)
        log.info("kernels ready in %.1f s (%s)", time.perf_counter() - started,
                 ", ".join(f"{n} {s:.1f} s" for n, s in sorted(seconds.items())))


def open_cache(root: Path) -> Cache | None:
    """The cache at ``root``; if it cannot be written, warn once and go on without it (still reading it)."""
    try:
        check_writable("--cache", root, directory=True)
    except ValueError as exc:
        log.warning("%s; continuing without caching (existing entries are still used)", exc)
        return ReadOnlyCache(root)
    return Cache(root)


if __name__ == "__main__":
    sys.exit(main())
