"""The sweep's kernel warm-up (tsdyn.sweep.warmup): dealing, declarations that cover each target, the disk cache."""
from __future__ import annotations

import concurrent.futures as cf
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tsdyn.sweep.__main__ import TARGETS
from tsdyn.sweep.warmup import GROUPS, check_groups, deal

PROBE = Path(__file__).with_name("warmup_probe.py")


def _probe(args: list[str], env: dict | None = None) -> dict:
    done = subprocess.run([sys.executable, str(PROBE), *args], capture_output=True, text=True,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1", **(env or {})}, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_deal_is_longest_first_onto_the_lightest_bin():
    bins = deal(list(GROUPS), 2)
    assert sorted(g for b in bins for g in b) == sorted(GROUPS)           # each group exactly once
    loads = [sum(GROUPS[g].seconds for g in b) for b in bins]
    longest = max(g.seconds for g in GROUPS.values())
    assert abs(loads[0] - loads[1]) <= longest                           # LPT bound for two bins
    assert bins[0][0] == max(GROUPS, key=lambda n: GROUPS[n].seconds)     # the longest goes first, to bin 0
    assert deal(list(GROUPS), 2) == bins                                  # deterministic
    assert deal(["order", "order"], 3) == [("order",)]                    # duplicates once, empty bins dropped
    assert deal(list(GROUPS), 1) == [tuple(sorted(GROUPS, key=lambda n: (-GROUPS[n].seconds, n)))]


def test_bad_group_names_and_worker_counts_are_refused():
    with pytest.raises(ValueError, match="tsdyn.targets.x.KERNELS: unknown kernel group.*choose from"):
        check_groups("tsdyn.targets.x.KERNELS", ["sgd", "nope"])
    with pytest.raises(ValueError, match="workers must be >= 1"):
        deal(["sgd"], 0)


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_declares_known_groups(target):
    import importlib

    module = importlib.import_module(f"tsdyn.targets.{target}")
    assert isinstance(module.KERNELS, tuple)
    check_groups(target, module.KERNELS)


@pytest.mark.slow
def test_declared_groups_cover_each_target(tmp_path):
    """After warming only its declared groups, a target's quick runs and report compile no further kernel.

    Fails when a target starts using a kernel (or a new specialisation of one, e.g. a read-only array) that
    its ``KERNELS`` do not cover: on a fresh machine each worker would then compile it again.
    """
    with cf.ThreadPoolExecutor(2) as pool:
        out = list(pool.map(lambda t: _probe([t, str(tmp_path / t)]), TARGETS))
    for result in out:
        assert result["rc"] == 0 and not result["errors"], result
    missing = {r["target"]: r["new"] for r in out if r["new"]}
    assert not missing, f"kernels compiled after the warm-up, not covered by the targets' KERNELS: {missing}"


def test_a_group_compiled_in_one_process_is_loaded_by_the_next(tmp_path):
    """The premise of dealing groups out: the disk cache one worker writes serves the others, compile-free."""
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    first = _probe(["--groups", "zc_exact"], env)
    second = _probe(["--groups", "zc_exact"], env)
    assert not first["errors"] and first["compiles"]["warm"] > 0       # an empty cache: it compiles
    assert second["compiles"]["warm"] == 0                             # a new process: loaded from disk
