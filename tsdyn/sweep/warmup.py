"""Compile the Numba kernels a sweep needs once, dealt out between the pool's workers, before its runs start.

Numba compiles a kernel in each process that first calls it and keeps the machine code in its disk cache
(``cache=True``) for later processes. On a machine's first sweep, every worker of the pool would compile
every kernel its runs touch: about a minute per worker, the same work done once per worker
(benchmarks/RESULTS.md). Instead the kernels are grouped, and each group is compiled by one worker
(groups dealt out longest first, so the workers finish together); the runs start only once every group is
in, so a worker that needs another worker's kernels loads them from the disk cache. With a warm cache a
group costs only a cache load.

Each target declares the groups its runs and report use (``KERNELS`` in ``tsdyn/targets/<name>.py``);
tests/test_warmup.py runs every target's quick jobs after warming only those groups and fails if any
kernel is compiled afterwards.

Each group compiles by calling the public API it stands for on a tiny problem, so the argument types,
and hence the compiled specialisations, are exactly those of the real runs.
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

log = logging.getLogger("tsdyn.sweep")


def _tiny_start(K: int = 2, M: int = 1, N: int = 30):
    from tsdyn.order_parameters import OrderParameters

    rng = np.random.default_rng(0)
    return OrderParameters.from_weights(rng.standard_normal((K, N)), rng.standard_normal(K),
                                        rng.standard_normal((M, N)), np.full(M, 4.0))


def _sgd() -> None:
    from tsdyn.simulate import simulate

    simulate(N=30, M=1, K=2, steps=30, seed=0)
    simulate(N=30, M=1, K=2, steps=30, seed=0, mask=np.ones((2, 30), dtype=bool))   # edge pruning: its own specialisation


def _order() -> None:
    from tsdyn.simulate import simulate

    simulate(N=30, M=1, K=2, steps=30, seed=0, engine="order")


def _order_general() -> None:
    from tsdyn.simulate import simulate

    simulate(N=30, M=1, K=2, steps=30, seed=0, engine="order", weight_decay=0.1)


def _ode_erf() -> None:
    from tsdyn.dynamics.ode import integrate

    # BDF asks for the analytic Jacobian at once (LSODA only once it finds the problem stiff)
    integrate(_tiny_start(), tmax=1.0, method="BDF")


def _ode_general() -> None:
    from tsdyn.dynamics.ode import integrate

    from tsdyn.dynamics.ode_rhs import OdeRhs, pack

    op = _tiny_start()
    integrate(op, tmax=0.1, activation="relu")
    # the Jacobian (parallel columns): an implicit step needs it, a run to t = 0.1 does not
    OdeRhs(op.T, op.vstar, op.K, lr=0.5, lr2=0.5, sigma=0.0, activation="relu").jacobian(0.0, pack(op.Q, op.R, op.v))
    integrate(_tiny_start(), tmax=0.1, method="RK45", lr_schedule="inverse:10")   # the schedules' rate factor


def _zc_exact() -> None:
    from tsdyn.pruning.zc_exact import epshat_expectations

    op = _tiny_start(K=3)
    epshat_expectations(op, 1, {"Q": op.Q})


@dataclass(frozen=True)
class KernelGroup:
    """Kernels compiled together. ``seconds``: compile time on an empty cache (dealing order only)."""

    name: str
    seconds: float
    compile: Callable[[], None]


#: Compile times measured on an empty Numba cache, one process, load ~2 (the sweep logs them as it warms up;
#: they only order the dealing).
GROUPS: dict[str, KernelGroup] = {g.name: g for g in (
    KernelGroup("ode_general", 30.0, _ode_general),   # ReLU / linear I2, I3, I4 (orthant probabilities), Jacobian
    KernelGroup("ode_erf", 15.0, _ode_erf),
    KernelGroup("sgd", 8.6, _sgd),
    KernelGroup("order", 5.8, _order),
    KernelGroup("order_general", 5.4, _order_general),
    KernelGroup("zc_exact", 3.5, _zc_exact),
)}


def check_groups(owner: str, names) -> tuple[str, ...]:
    """``names`` as a tuple, each a known group; else a ValueError naming ``owner`` and the valid names."""
    names = tuple(names)
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        raise ValueError(f"{owner}: unknown kernel group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    return names


def deal(names, workers: int) -> list[tuple[str, ...]]:
    """Deal the groups ``names`` into at most ``workers`` bins, longest first onto the lightest bin (LPT).

    Deterministic: ties go to the lower bin. Empty bins are dropped.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    bins: list[list[str]] = [[] for _ in range(workers)]
    load = [0.0] * workers
    for name in sorted(set(check_groups("deal", names)), key=lambda n: (-GROUPS[n].seconds, n)):
        i = min(range(workers), key=lambda b: (load[b], b))
        bins[i].append(name)
        load[i] += GROUPS[name].seconds
    return [tuple(b) for b in bins if b]


def compile_groups(names: tuple[str, ...]) -> tuple[dict[str, float], dict[str, str]]:
    """Compile each group of ``names`` in this process: (wall seconds per group, error per group that failed).

    Top-level, so that it pickles. A failing group does not stop the others.
    """
    from tsdyn.sweep.runner import single_threaded_blas

    seconds, errors = {}, {}
    with single_threaded_blas():
        for name in names:
            started = time.perf_counter()
            try:
                GROUPS[name].compile()
            except Exception as exc:  # noqa: BLE001 - reported by warm_up; the runs then show their own error
                errors[name] = f"{type(exc).__name__}: {exc}"
                continue
            seconds[name] = time.perf_counter() - started
    return seconds, errors


def warm_up(executor: cf.Executor, names, workers: int) -> dict[str, float]:
    """Compile the groups ``names`` on ``executor``, one bin per worker, and wait for all of them.

    A group that fails to compile is logged and skipped (the runs that need it then compile it, or fail with
    their own error): a warm-up is an optimisation, never a failure of the sweep. Returns wall seconds per
    group compiled.
    """
    bins = deal(names, workers)
    seconds: dict[str, float] = {}
    for future in [executor.submit(compile_groups, b) for b in bins]:
        done, errors = future.result()
        seconds.update(done)
        for name, error in errors.items():
            log.warning("warm-up of kernel group %s failed: %s", name, error)
    return seconds
