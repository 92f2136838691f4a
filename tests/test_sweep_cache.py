"""The sweep cache and runner: atomic entries, clear messages for bad files, dedupe, reuse."""
import logging

import numpy as np
import pytest

from tsdyn.sweep.cache import Cache, CacheError
from tsdyn.sweep.config import load_config, merge, parse_seeds
from tsdyn.sweep.job import FORMAT_VERSION, Job
from tsdyn.sweep.runner import run_jobs, unique_jobs

# A real library function that returns a dict serves as a cheap job.
MERGE = "tsdyn.sweep.config:merge"


def merge_job(name, a, b):
    return Job(name, MERGE, {"base": {"a": a}, "override": {"b": b}})


def test_key_depends_on_func_params_and_format(monkeypatch):
    j = merge_job("x", 1, 2)
    assert j.key() == merge_job("other-name", 1, 2).key()  # the name is a label, not part of the run
    assert j.key() != merge_job("x", 1, 3).key()
    old_key = j.key()
    import tsdyn.sweep.job as job_module
    monkeypatch.setattr(job_module, "FORMAT_VERSION", FORMAT_VERSION + 1)
    assert j.key() != old_key


def test_store_and_load_round_trip(tmp_path):
    cache = Cache(tmp_path)
    job = merge_job("x", 1, 2)
    assert cache.load(job) is None
    cache.store(job, {"eg": np.arange(3.0), "n": 4, "label": "dpp"})
    back = cache.load(job)
    np.testing.assert_array_equal(back["eg"], [0.0, 1.0, 2.0])
    assert back["n"] == 4 and back["label"] == "dpp"
    assert [p.name for p in tmp_path.iterdir()] == [job.key() + ".npz"]  # no temporary left behind


def test_corrupt_and_foreign_files_give_clear_messages(tmp_path, caplog):
    cache = Cache(tmp_path)
    job = merge_job("x", 1, 2)
    cache.path(job).write_bytes(b"not a zip file at all")
    with pytest.raises(CacheError, match="is corrupt"):
        cache.load(job)
    np.savez(cache.path(job), eg=np.ones(2))  # a valid npz without our metadata
    with pytest.raises(CacheError, match="is foreign"):
        cache.load(job)
    cache.store(merge_job("y", 5, 6), {"a": 1})  # an entry written for another job, copied over ours
    cache.path(merge_job("y", 5, 6)).rename(cache.path(job))
    with pytest.raises(CacheError, match="is foreign"):
        cache.load(job)
    with caplog.at_level(logging.WARNING, logger="tsdyn.sweep"):
        assert cache.load_or_quarantine(job) is None
    assert "will recompute" in caplog.text
    assert cache.path(job).with_suffix(".npz.bad").exists() and not cache.path(job).exists()


def test_run_jobs_dedupes_reuses_and_reports_failures(tmp_path):
    cache = Cache(tmp_path)
    jobs = [merge_job("a", 1, 2), merge_job("a-again", 1, 2), merge_job("b", 3, 4)]
    assert len(unique_jobs(jobs)) == 2
    results, summary = run_jobs(jobs, cache, None, progress=False)
    assert (summary.reused, summary.computed) == (0, 2)
    assert results[jobs[2].key()] == {"a": 3, "b": 4}
    results, summary = run_jobs(jobs, cache, None, progress=False)
    assert (summary.reused, summary.computed) == (2, 0)
    bad = Job("bad", MERGE, {"base": 1, "override": {"b": 2}})  # merge of an int fails
    unstorable = Job("unstorable", MERGE, {"base": {"a": None}, "override": {}})  # object dtype
    after = merge_job("after", 7, 8)
    results, summary = run_jobs([bad, unstorable, after], cache, None, progress=False)
    assert summary.failed == ["bad", "unstorable"] and "FAILED" in summary.line()
    assert results[after.key()] == {"a": 7, "b": 8}  # the failures did not stop the next run


def test_config_quick_overrides_and_seeds(tmp_path):
    (tmp_path / "fig2a.toml").write_text("M = 2\nK = 6\nN = 50\nlr = 0.5\nvstar = 4.0\nsigmas = [0.0]\n"
                                         "steps = 100\nseeds = [0, 1, 2]\n[quick]\nsteps = 10\nseeds = [0]\n")
    assert load_config("fig2a", tmp_path)["steps"] == 100
    quick = load_config("fig2a", tmp_path, quick=True)
    assert quick["steps"] == 10 and quick["seeds"] == [0]
    assert load_config("fig2a", tmp_path, seeds=[4, 5])["seeds"] == [4, 5]
    with pytest.raises(ValueError, match="target must be one of"):
        load_config("fig9", tmp_path)
    assert merge({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}) == {"a": {"x": 1, "y": 3}}
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("0,3,7") == [0, 3, 7]
    with pytest.raises(ValueError, match="seeds must be"):
        parse_seeds("three")


def test_atomic_writes_leave_no_temporary_and_respect_the_umask(tmp_path):
    import os
    import stat

    from tsdyn.atomic import atomic_open

    target = tmp_path / "result.csv"
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as fh:
            fh.write("half")
            raise RuntimeError("interrupted")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_open(target, "w") as fh:
        fh.write("whole")
    assert target.read_text() == "whole"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_figures_are_byte_identical_when_redrawn(tmp_path):
    # A rerun of the sweep must not churn figures/ in git: PDFs carry no creation date.
    from tsdyn.targets import fig4

    cfg = {"Z_min": 4, "Z_max": 6, "c_values": 5}
    first, second = fig4.report(cfg, {}, tmp_path / "a"), fig4.report(cfg, {}, tmp_path / "b")
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_run_jobs_starts_expensive_jobs_first_and_hands_over_each_result(tmp_path):
    cache = Cache(tmp_path)
    cached = merge_job("cached", 0, 0)
    run_jobs([cached], cache, None, progress=False)
    jobs = [Job(f"c{cost}", MERGE, {"base": {"a": cost}, "override": {}}, cost=cost) for cost in (1.0, 5.0, 3.0)]
    assert jobs[0].key() == Job("c1.0", MERGE, jobs[0].params).key()        # the cost is not part of the key
    seen = []
    run_jobs(jobs + [cached], cache, None, progress=False, on_result=lambda key, result: seen.append(result))
    assert seen == [{"a": 0, "b": 0}, {"a": 5.0}, {"a": 3.0}, {"a": 1.0}]  # cached first, then by cost


def test_reports_start_when_their_runs_are_in_and_failures_are_named(tmp_path, caplog):
    from tsdyn.sweep.reports import Reports

    written = []

    def write(name, cfg, results, out):
        if cfg.get("fail"):
            raise RuntimeError("broken figure")
        written.append((name, sorted(results)))
        return [out / f"{name}.csv"]

    a1, a2, b1 = merge_job("a1", 1, 1), merge_job("a2", 2, 2), merge_job("b1", 3, 3)
    plan = [("A", {}, [a1, a2]), ("B", {}, [a1, b1]), ("C", {}, []), ("D", {"fail": True}, []),
            ("E", {}, [merge_job("never", 9, 9)])]
    reports = Reports(plan, tmp_path, None, write=write)
    reports.start_ready()
    assert written == [("C", [])]                          # no runs to wait for
    reports.job_done(a1.key(), {"x": 1})
    reports.job_done(b1.key(), {"x": 3})
    assert written[-1] == ("B", ["a1", "b1"])              # B had all it needed; A still waits for a2
    reports.job_done(a2.key(), {"x": 2})
    assert written[-1] == ("A", ["a1", "a2"])
    with caplog.at_level(logging.ERROR, logger="tsdyn.sweep"):
        files, incomplete = reports.finish()
    assert [f.name for f in files] == ["A.csv", "B.csv", "C.csv"] and incomplete == ["D", "E"]
    assert "report of target D failed: RuntimeError: broken figure" in caplog.text
    assert "target E not reported: 1 run(s) failed (never)" in caplog.text


@pytest.mark.parametrize("in_flight, report_before_b", [(1, True), (None, False)])
def test_bounded_submission_lets_work_from_on_result_run_before_queued_jobs(in_flight, report_before_b):
    import concurrent.futures as cf

    class Recording(cf.ThreadPoolExecutor):
        """One worker, first in first out: the order of submission is the order of execution."""
        submitted: list = []

        def submit(self, fn, *args, **kwargs):
            self.submitted.append(args[0].name if args and isinstance(args[0], Job) else "report of a")
            return super().submit(fn, *args, **kwargs)

    a = Job("a", MERGE, {"base": {"a": 1}, "override": {}}, cost=2.0)
    b = Job("b", MERGE, {"base": {"b": 2}, "override": {}}, cost=1.0)
    with Recording(max_workers=1) as pool:
        pool.submitted = []

        def on_result(key, result):
            if key == a.key():
                pool.submit(print, "report of a")

        run_jobs([b, a], None, pool, progress=False, on_result=on_result, in_flight=in_flight)
    assert pool.submitted[0] == "a"                                 # the expensive job first
    assert (pool.submitted.index("report of a") < pool.submitted.index("b")) == report_before_b


def test_a_training_run_survives_the_cache_bit_for_bit(tmp_path, trained_run):
    """The run state has one encoding: Trajectory.to_arrays, through the cache and back to a Trajectory."""
    from tsdyn.targets.training import training_jobs
    from tsdyn.trajectory import Trajectory, load_state

    job = training_jobs(dict(N=80, M=2, K=4, lr=0.5, vstar=4.0, steps=4000, sigmas=[0.3], seeds=[1]))[0]
    cache = Cache(tmp_path)
    cache.store(job, trained_run)
    fresh, cached = Trajectory.from_arrays(trained_run), Trajectory.from_arrays(cache.load(job))
    for name in ("times", "eg", "Q", "R", "v", "T", "vstar", "w", "wstar"):
        np.testing.assert_array_equal(getattr(cached, name), getattr(fresh, name))
    np.testing.assert_array_equal(cached.initial.Q, fresh.initial.Q)
    assert (cached.success, cached.message, cached.info) == (fresh.success, fresh.message, fresh.info)
    again = Trajectory.from_arrays(cached.to_arrays())
    assert again.to_arrays().keys() == trained_run.keys()
    path = cached.save_npz(tmp_path / "run.npz")               # the file is the same encoding
    np.testing.assert_array_equal(load_state(path).R, fresh.initial.R)
    np.testing.assert_array_equal(load_state(path, which="final").v, fresh.v[-1])
    with pytest.raises(ValueError, match="a run state needs the arrays"):
        Trajectory.from_arrays({k: v for k, v in trained_run.items() if k != "Q_t"})


def test_cost_lines_count_a_shared_run_once_and_divide_by_the_workers():
    from types import SimpleNamespace

    from tsdyn.sweep.reports import cost_lines

    def job(key):
        return SimpleNamespace(key=lambda: key)

    plan = [("a", {}, [job("x"), job("y")]), ("b", {}, [job("y"), job("z")])]
    lines = cost_lines(plan, {"x": 3.0, "y": 5.0, "z": 2.0}, {"a": 1.0, "b": 4.0}, workers=2)
    assert lines[0].startswith("a: 2 runs computed (8.0 s CPU), report 1.0 s CPU; ~4.5 s")
    assert lines[1].startswith("b: 1 runs computed (2.0 s CPU), report 4.0 s CPU; ~3.0 s")
