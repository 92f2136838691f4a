"""Bad inputs are refused in one line naming the culprit; results survive broken caches; a killed sweep leaves nothing.

The cases (CLIs, API, TOMLs) live in ``tests/tools/bad_inputs.py``, which also
counts outcomes per class for any version of the code (issue 15).
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).parent / "tools"))
import bad_inputs  # noqa: E402

from tsdyn.eg import eg_of  # noqa: E402
from tsdyn.order_parameters import OrderParameters  # noqa: E402
from tsdyn.pruning import dpp, operators  # noqa: E402
from tsdyn.sweep.cache import Cache, CacheError  # noqa: E402
from tsdyn.sweep.job import Job  # noqa: E402
from tsdyn.sweep.runner import run_jobs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ the bad-input suite
@pytest.mark.parametrize("case", bad_inputs.CASES, ids=[c.id for c in bad_inputs.CASES])
def test_bad_input_is_refused_in_one_line_naming_the_culprit(case, tmp_path):
    outcome, text = bad_inputs.run_case(case, tmp_path)
    assert outcome not in ("ok", 0), f"{case.id} was accepted"
    assert "Traceback" not in text
    if case.kind == "api":
        assert outcome in ("ValueError", "TypeError"), f"{case.id} raised {outcome}: {text}"
        assert "\n" not in text.strip()
    line = bad_inputs.message_line(case, text)
    assert any(c.lower() in line.lower() for c in case.culprit), f"{case.id}: {line!r} names none of {case.culprit}"


def test_the_suite_has_at_least_100_cases_over_every_surface():
    kinds = {c.kind for c in bad_inputs.CASES}
    assert len(bad_inputs.CASES) >= 100 and kinds == {"sweep", "simulate", "ode", "api"}


@pytest.mark.parametrize("module,argv,culprit", [
    ("tsdyn.sweep", ["fig9"], "fig9"),
    ("tsdyn.simulate", ["--N", "0", "--out", "{tmp}/s"], "N"),
    ("tsdyn.ode", ["--init", "{tmp}/none.npz", "--out", "{tmp}/o"], "--init"),
    ("tsdyn.ode", ["--init", "{tmp}/none.npz", "--out", "{tmp}/o", "--times", "1,,2"], "--times"),
])
def test_real_command_lines_refuse_bad_input_without_traceback(module, argv, culprit, tmp_path):
    proc = subprocess.run([sys.executable, "-m", module] + [a.format(tmp=tmp_path) for a in argv],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert culprit in proc.stderr.strip().splitlines()[-1]


def test_a_target_named_twice_runs_once_with_a_note(tmp_path, caplog):
    from tsdyn.sweep.__main__ import main

    with caplog.at_level(logging.INFO, logger="tsdyn.sweep"):
        assert main(["fig4", "fig4", "--quick", "--out", str(tmp_path), "--serial", "--no-progress"]) == 0
    assert "named more than once" in caplog.text and caplog.text.count("report fig4:") == 1


# ------------------------------------------------------------------ checks before compute, files together
def test_diverging_euler_run_is_reported_as_diverged(tmp_path):
    from tsdyn.dynamics.ode import integrate, main

    from tsdyn.simulate import simulate

    op = simulate(N=100, steps=0, seed=0).initial
    run = integrate(op, tmax=20, euler_dt=0.5, lr2=5)
    assert not run.success and run.message.startswith("diverged") and not run.info["success"]
    assert integrate(op, tmax=20, euler_dt=0.05, lr2=5).success       # small enough a step is stable
    np.savez(tmp_path / "s.npz", Q=op.Q, R=op.R, T=op.T, v=op.v, vstar=op.vstar)
    assert main(["--init", str(tmp_path / "s.npz"), "--out", str(tmp_path / "o"), "--no-progress",
                 "--tmax", "20", "--euler-dt", "0.5", "--lr2", "5"]) == 1
    saved = np.load(tmp_path / "o.npz")
    assert '"success": false' in str(saved["info"])


def test_files_written_together_are_replaced_together(tmp_path):
    from tsdyn.atomic import replaced_together

    csv, npz = tmp_path / "run.csv", tmp_path / "run.npz"
    csv.write_text("old"), npz.write_text("old")
    with pytest.raises(RuntimeError):
        with replaced_together([csv, npz]) as staged:
            staged[csv].write_text("new")
            raise RuntimeError("stopped")
    assert csv.read_text() == "old" and npz.read_text() == "old"     # a failed write changes nothing
    with replaced_together([csv, npz]) as staged:
        staged[csv].write_text("new")                                # this run has no .npz
    assert csv.read_text() == "new" and not npz.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.csv"]


def test_a_failed_report_leaves_no_file(tmp_path, monkeypatch):
    from tsdyn.sweep.reports import write_report
    from tsdyn.targets import fig4

    def half_report(cfg, results, out):
        (Path(out) / "fig4.csv").write_text("\r\n")
        raise RuntimeError("figure failed")

    monkeypatch.setattr(fig4, "report", half_report)
    with pytest.raises(RuntimeError):
        write_report("fig4", {}, {}, tmp_path)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ no lost results
def _job(i: int) -> Job:
    return Job(f"double-{i}", "tsdyn.sweep.runner:normalise", {"result": {"x": i}})


def test_unwritable_cache_degrades_to_computing_without_caching(tmp_path, caplog):
    (tmp_path / "file").write_text("")
    cache = Cache(tmp_path / "file" / "cache")             # cannot be created: its parent is a file
    with caplog.at_level(logging.WARNING, logger="tsdyn.sweep"):
        results, summary = run_jobs([_job(1), _job(2)], cache, None, progress=False)
    assert summary.computed == 2 and not summary.failed and len(results) == 2
    assert caplog.text.count("continuing without caching") == 1


def test_corrupt_entry_in_a_cache_that_cannot_be_changed_is_recomputed(tmp_path, monkeypatch, caplog):
    cache = Cache(tmp_path)
    cache.path(_job(1)).write_bytes(b"garbage")

    def refuse(*args):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr("tsdyn.sweep.cache.os.replace", refuse)
    with caplog.at_level(logging.WARNING, logger="tsdyn.sweep"):
        results, summary = run_jobs([_job(1)], cache, None, progress=False)
    assert summary.computed == 1 and not summary.failed and "cannot move it aside" in caplog.text


def test_quarantine_is_race_safe(tmp_path, monkeypatch):
    cache, job = Cache(tmp_path), _job(3)
    path = cache.path(job)
    original = Cache.load

    path.write_bytes(b"garbage")

    def other_process_quarantines_first(self, j):        # it moves the file aside while we read it
        path.unlink()
        raise CacheError("corrupt")

    monkeypatch.setattr(Cache, "load", other_process_quarantines_first)
    assert cache.load_or_quarantine(job) is None

    path.write_bytes(b"garbage")

    def other_process_stores_a_good_entry(self, j):       # ... and stores the recomputed run
        monkeypatch.setattr(Cache, "load", original)
        time.sleep(0.01)
        cache.store(j, {"x": 3})
        raise CacheError("corrupt")

    monkeypatch.setattr(Cache, "load", other_process_stores_a_good_entry)
    assert cache.load_or_quarantine(job) == {"x": 3}        # the good entry is kept, not quarantined
    assert path.exists() and not list(tmp_path.glob("*.bad"))


# ------------------------------------------------------------------ clean shutdown
def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _running(pid: int) -> bool:
    from tsdyn.sweep.lifeline import alive

    return alive(pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["SIGKILL", "SIGTERM", "SIGINT"])
def test_killing_a_sweep_leaves_no_process_behind(sig, tmp_path):
    sims = tmp_path / "sims"
    sims.mkdir()
    (sims / "fig2a.toml").write_text("M = 2\nK = 6\nN = 500\nlr = 0.5\nvstar = 4.0\nsteps = 20000000\n"
                                     "sigmas = [0.0]\nseeds = [0, 1]\n")
    proc = subprocess.Popen([sys.executable, "-m", "tsdyn.sweep", "fig2a", "--sims", str(sims), "--out",
                             str(tmp_path / "out"), "--workers", "2", "--no-progress"],
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, started = time.time() + 90, set()
    while time.time() < deadline and len(started) < 3:          # forkserver + 2 workers (+ resource tracker)
        time.sleep(0.5)
        started = _descendants(proc.pid)
    assert len(started) >= 3, "the sweep did not start its workers"
    time.sleep(1.0)
    started = _descendants(proc.pid)
    os.kill(proc.pid, sig)
    code = proc.wait(timeout=30)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 130)     # 130: interrupted, workers stopped
    deadline = time.time() + 10
    while time.time() < deadline and any(_running(p) for p in started):
        time.sleep(0.2)
    assert not [p for p in started if _running(p)], "processes outlived the sweep"


# ------------------------------------------------------------------ invariants (hypothesis)
def _student(K: int, M: int, N: int, seed: int) -> OrderParameters:
    rng = np.random.default_rng(seed)
    return OrderParameters.from_weights(rng.standard_normal((K, N)), rng.standard_normal(K),
                                        rng.standard_normal((M, N)), rng.uniform(0.5, 4.0, M))


students = st.builds(lambda K, M, seed: (_student(K, M, 3 * K, seed), seed),
                     st.integers(2, 7), st.integers(1, 3), st.integers(0, 10_000))
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(students, st.data())
def test_pruning_never_raises_the_kept_set_and_ge_is_non_negative(student, data):
    op, seed = student
    k = data.draw(st.integers(0, op.K))
    method = data.draw(st.sampled_from(operators.NODE_METHODS))
    keep = operators.select_nodes(method, k, op, rng=np.random.default_rng(seed))
    assert len(keep) == k and len(set(keep.tolist())) == k
    reweight = data.draw(st.sampled_from(operators.NODE_REWEIGHTS))
    pruned = operators.node_pruned(op, keep, reweight)
    assert pruned.K == k <= op.K
    assert np.all(operators.subset_eg(op, keep[None, :], reweight) >= 0)
    w = np.random.default_rng(seed).standard_normal((op.K, 12))
    mask = np.random.default_rng(seed + 1).random(w.shape) < data.draw(st.floats(0, 1))
    edge = operators.prune_student_edges(w, np.ones(op.K), np.ones((op.M, 12)), np.ones(op.M), mask)
    assert np.count_nonzero(edge.w) <= np.count_nonzero(w) and eg_of(edge.params) >= 0


@SETTINGS
@given(students, st.data())
def test_a_kdpp_sample_has_k_distinct_nodes(student, data):
    op, seed = student
    k = data.draw(st.integers(1, op.K))
    sample = dpp.sample_kdpp(op.Q, k, np.random.default_rng(seed))
    assert len(sample) == k and len(set(np.asarray(sample).tolist())) == k
    assert 0 <= min(sample) and max(sample) < op.K


@SETTINGS
@given(students, st.data())
def test_exact_expectations_equal_the_mean_over_enumerated_subsets(student, data):
    op, _ = student
    k = data.draw(st.integers(1, op.K))
    subsets = dpp.all_subsets(op.K, k)
    ge = operators.subset_eg(op, subsets)
    assert dpp.uniform_subsets(op.K, k).expect(lambda S: operators.subset_eg(op, S)) == pytest.approx(ge.mean(), rel=1e-12)
    weights = np.linalg.det(dpp.principal_submatrices(op.Q, subsets))
    assert dpp.kdpp_subsets(op.Q, k).expect(lambda S: operators.subset_eg(op, S)) == pytest.approx(
        np.sum(weights * ge) / np.sum(weights), rel=1e-10)


@pytest.mark.parametrize("kwargs,culprit", [
    (dict(batch=0), "batch"), (dict(batch=2.5), "batch"), (dict(weight_decay=-1.0), "weight_decay"),
    (dict(weight_decay=50.0), "weight_decay"), (dict(activation="sigmoid"), "activation"),
    (dict(lr_schedule="inverse:0"), "lr_schedule"), (dict(lr_schedule="piecewise:1,2"), "lr_schedule"),
    (dict(activation="relu", engine="order"), "engine"),
])
def test_breadth_options_of_simulate_name_the_parameter(kwargs, culprit):
    from tsdyn.simulate import simulate
    with pytest.raises(ValueError, match=culprit) as info:
        simulate(N=50, steps=10, **kwargs)
    assert "\n" not in str(info.value)
