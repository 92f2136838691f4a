"""What the sweep runs: a :class:`Job` is one independent, cacheable computation.

A target (``tsdyn/targets/<name>.py``, configured by ``sims/<name>.toml``)
provides two functions::

    def jobs(cfg: dict, *, quick: bool) -> list[Job]
        # the independent runs of this target (e.g. one training per seed and sigma)
    def report(cfg: dict, results: dict[str, dict], out: pathlib.Path) -> list[pathlib.Path]
        # cheap analysis in the main process: results[job.name] is what the job
        # returned; writes CSV + PNG + PDF into ``out`` and returns the paths

A job's function is named by import path (``"tsdyn.targets.fig2a:train"``) and
called as ``func(**params)``; it must return a flat ``dict`` of numpy arrays,
numbers and strings (stored as ``.npz``); a training run returns its trajectory
encoded by :meth:`tsdyn.trajectory.Trajectory.to_arrays`. Identical (func, params) pairs from
different targets are run once: the cache key is a hash of both plus
:data:`FORMAT_VERSION`.
"""
from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

#: Bump when the meaning or layout of cached results changes: old entries are then ignored.
#: 2: a training run's result is its whole Trajectory.to_arrays() (history of Q, R, v included).
FORMAT_VERSION = 2


@dataclass(frozen=True)
class Job:
    """One independent computation of a sweep.

    Attributes
    ----------
    name : unique within its target, e.g. ``"train-M2-K6-sigma0-seed0"``.
    func : import path ``"package.module:function"``.
    params : JSON-serialisable keyword arguments of ``func``.
    cost : rough relative cost, used only to start expensive jobs first (not in the cache key).
    """

    name: str
    func: str
    params: dict[str, Any] = field(default_factory=dict)
    cost: float = 0.0

    def key(self) -> str:
        """Cache key: hash of the function, its full parameters and the format version."""
        blob = json.dumps({"func": self.func, "params": self.params, "format": FORMAT_VERSION},
                          sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def resolve(self) -> Callable[..., dict]:
        module, _, attr = self.func.partition(":")
        if not attr:
            raise ValueError(f"job func must look like 'package.module:function', got {self.func!r}")
        return getattr(importlib.import_module(module), attr)

    def run(self) -> dict:
        """Call the job's function with its parameters."""
        return self.resolve()(**self.params)
