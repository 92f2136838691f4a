"""Run in a fresh process by tests/test_warmup.py: which Numba kernels does a target compile after its warm-up?

    python tests/warmup_probe.py TARGET OUT      # warm TARGET's KERNELS, run its --quick sweep serially into OUT
    python tests/warmup_probe.py --groups G,...  # compile the groups only

Prints one JSON line: the tsdyn kernel specialisations that appeared after the warm-up (``"new"``: a kernel
the target's ``KERNELS`` do not cover) and the number of ``numba:compile`` events of tsdyn kernels during the
warm-up and after it (a load from Numba's disk cache is not a compile event).
"""
from __future__ import annotations

import gc
import importlib
import json
import sys

from numba.core import event
from numba.core.registry import CPUDispatcher

compiles = {"warm": 0, "after": 0}
phase = ["warm"]


class _Count(event.Listener):
    def on_start(self, ev):
        pass

    def on_end(self, ev):
        if ev.data["dispatcher"].py_func.__module__.startswith("tsdyn"):
            compiles[phase[0]] += 1


def specialisations() -> set[str]:
    """Every (tsdyn kernel, argument types) this process has compiled or loaded."""
    return {f"{d.py_func.__module__}.{d.py_func.__qualname__}{sig}" for d in gc.get_objects()
            if isinstance(d, CPUDispatcher) and d.py_func.__module__.startswith("tsdyn") for sig in d.signatures}


def main(argv: list[str]) -> None:
    from tsdyn.sweep.warmup import compile_groups

    event.register("numba:compile", _Count())
    if argv[0] == "--groups":
        target, groups = None, tuple(argv[1].split(","))
    else:
        target = argv[0]
        groups = tuple(importlib.import_module(f"tsdyn.targets.{target}").KERNELS)
    _, errors = compile_groups(groups)
    before = specialisations()
    phase[0] = "after"
    rc = None
    if target is not None:
        from tsdyn.sweep.__main__ import main as sweep

        rc = sweep([target, "--quick", "--serial", "--no-cache", "--no-progress", "--out", argv[1]])
    print(json.dumps({"target": target, "groups": groups, "errors": errors, "rc": rc,
                      "new": sorted(specialisations() - before), "compiles": compiles}))


if __name__ == "__main__":
    main(sys.argv[1:])
