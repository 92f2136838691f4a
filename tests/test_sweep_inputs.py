"""Jobs with inputs (Job.inputs): keys, order, results handed over, caching, resume, failing inputs."""
import hashlib
import json
import logging

import numpy as np
import pytest

from tsdyn.sweep.cache import Cache, CacheError
from tsdyn.sweep.job import FORMAT_VERSION, Job
from tsdyn.sweep.runner import make_executor, run_jobs

HERE = "test_sweep_inputs"       # this module, importable by the jobs (pytest puts tests/ on sys.path)


def total(*, add, inputs=()):
    """A job: its own number plus the totals of its inputs."""
    return {"total": add + sum(r["total"] for r in inputs)}


def boom(*, add, inputs=()):
    raise RuntimeError(f"boom {add}")


def job(name, add, inputs=(), func="total", cost=0.0):
    return Job(name, f"{HERE}:{func}", {"add": add}, cost=cost, inputs=tuple(inputs))


def chain():
    a = job("a", 1)
    b = job("b", 10, [a])
    c = job("c", 100, [a, b])
    return a, b, c


def test_a_job_without_inputs_keeps_its_old_key_and_inputs_enter_the_key():
    a = job("a", 1)
    old = hashlib.sha256(json.dumps({"func": a.func, "params": a.params, "format": FORMAT_VERSION},
                                    sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:24]
    assert a.key() == old
    b = job("b", 10, [a])
    assert b.key() != job("b", 10).key()
    assert b.key() != job("b", 10, [job("a", 2)]).key()          # an input's parameters move the key
    assert b.key() == job("other name", 10, [job("a again", 1, cost=5.0)]).key()   # names and costs do not
    assert job("c", 0, [a, b]).key() != job("c", 0, [b, a]).key()  # inputs are positional
    with pytest.raises(ValueError, match="inputs must be a tuple of Jobs"):
        Job("x", f"{HERE}:total", {"add": 1}, inputs=["a"])
    with pytest.raises(ValueError, match="'inputs' is reserved"):
        Job("x", f"{HERE}:total", {"add": 1, "inputs": 2})


@pytest.mark.parametrize("pool", ["serial", "threads"])
def test_inputs_run_first_and_their_results_are_handed_over(tmp_path, pool):
    import concurrent.futures as cf

    a, b, c = chain()
    seen = []
    # c is listed first and has the largest cost, a is not listed at all: c still waits for a and b.
    c = Job(c.name, c.func, c.params, cost=9.0, inputs=c.inputs)
    executor = cf.ThreadPoolExecutor(max_workers=2) if pool == "threads" else None
    try:
        results, summary = run_jobs([c, b], Cache(tmp_path), executor, progress=False,
                                    on_result=lambda key, r: seen.append(r["total"]))
    finally:
        if executor is not None:
            executor.shutdown()
    assert seen == [1, 11, 112]                                  # a, then b = 10 + a, then c = 100 + a + b
    assert results[c.key()] == {"total": 112} and summary.computed == 3 and not summary.failed


def test_a_cached_job_needs_no_inputs_and_a_resumed_sweep_reuses_what_finished(tmp_path):
    a, b, c = chain()
    cache = Cache(tmp_path)

    class Stop(Exception):
        pass

    def interrupt_after_b(key, result):
        if key == b.key():
            raise Stop                                           # killed after b was stored

    with pytest.raises(Stop):
        run_jobs([c], cache, None, progress=False, on_result=interrupt_after_b)
    results, summary = run_jobs([c], cache, None, progress=False)
    assert (summary.reused, summary.computed) == (2, 1) and results[c.key()] == {"total": 112}
    for input_job in (a, b):                                     # the inputs' entries are gone ...
        cache.path(input_job).unlink()
    results, summary = run_jobs([c], cache, None, progress=False)
    assert (summary.reused, summary.computed) == (1, 0)          # ... and c is reused without them
    meta = json.loads(str(np.load(cache.path(c))["__tsdyn_meta__"]))
    assert meta["inputs"] == [a.key(), b.key()]


def test_an_entry_written_for_other_inputs_is_refused(tmp_path):
    cache = Cache(tmp_path)
    b1, b2 = job("b", 10, [job("a", 1)]), job("b", 10, [job("a", 2)])
    cache.store(b1, {"total": 11})
    cache.path(b1).rename(cache.path(b2))                        # same func and params, other input
    with pytest.raises(CacheError, match="is foreign"):
        cache.load(b2)


def test_a_failing_input_fails_its_dependents_only(tmp_path, caplog):
    bad = job("bad", 1, func="boom")
    dep = job("dep", 10, [bad])
    dep2 = job("dep2", 100, [dep])
    alone = job("alone", 7)
    with caplog.at_level(logging.ERROR, logger="tsdyn.sweep"):
        results, summary = run_jobs([dep2, alone], Cache(tmp_path), None, progress=False)
    assert sorted(summary.failed) == ["bad", "dep", "dep2"] and results == {alone.key(): {"total": 7}}
    assert "run bad failed: RuntimeError: boom 1" in caplog.text
    assert "run dep not run: its input bad failed" in caplog.text
    assert "run dep2 not run: its input dep failed" in caplog.text


def test_inputs_travel_to_a_process_pool(tmp_path):
    a, b, c = chain()
    with make_executor(2) as executor:
        results, summary = run_jobs([c], Cache(tmp_path), executor, progress=False, in_flight=1)
    assert results[c.key()] == {"total": 112} and summary.computed == 3
