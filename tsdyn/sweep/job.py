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

A job may need the results of other jobs (e.g. a retraining needs its trained
student): :attr:`Job.inputs` names those jobs. The runner runs a job once its
inputs are in and calls ``func(**params, inputs=(result, ...))``, their results
in the order of ``inputs``. Such a job's key also hashes its inputs' keys, so it
is a pure function of everything upstream; a job without inputs keeps exactly
the key it had before inputs existed.
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
    inputs : the jobs whose results ``func`` needs, passed as ``inputs=(result, ...)`` in this order.
    """

    name: str
    func: str
    params: dict[str, Any] = field(default_factory=dict)
    cost: float = 0.0
    inputs: tuple["Job", ...] = ()

    def __post_init__(self):
        if not isinstance(self.inputs, tuple) or not all(isinstance(j, Job) for j in self.inputs):
            raise ValueError(f"job {self.name!r}: inputs must be a tuple of Jobs, got {self.inputs!r}")
        if "inputs" in self.params:
            raise ValueError(f"job {self.name!r}: 'inputs' is reserved for the input results; rename the parameter")

    def key(self) -> str:
        """Cache key: hash of the function, its full parameters, the format version and the input jobs' keys.

        The inputs enter only when there are some, so the key of a job without inputs is what it always was.
        """
        blob = {"func": self.func, "params": self.params, "format": FORMAT_VERSION}
        if self.inputs:
            blob["inputs"] = self.input_keys()
        return hashlib.sha256(json.dumps(blob, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:24]

    def input_keys(self) -> list[str]:
        """The keys of :attr:`inputs`, in order (what this job's key and cache entry record of them)."""
        return [j.key() for j in self.inputs]

    def run(self, input_results: tuple[dict, ...] = ()) -> dict:
        """Call the job's function with its parameters (and ``inputs=input_results`` if it has inputs)."""
        if len(input_results) != len(self.inputs):
            raise ValueError(f"job {self.name!r} needs {len(self.inputs)} input results, got {len(input_results)}")
        if self.inputs:
            return self.resolve()(**self.params, inputs=tuple(input_results))
        return self.resolve()(**self.params)

    def resolve(self) -> Callable[..., dict]:
        module, _, attr = self.func.partition(":")
        if not attr:
            raise ValueError(f"job func must look like 'package.module:function', got {self.func!r}")
        return getattr(importlib.import_module(module), attr)
