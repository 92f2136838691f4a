"""The ode_convergence target end to end on a tiny configuration, checked against direct computations."""
import csv

import numpy as np
import pytest

from tsdyn.dynamics.convergence import worst_deviation
from tsdyn.dynamics.ode import integrate
from tsdyn.targets import ode_convergence as oc
from tsdyn.targets.students import run

CFG = dict(M=2, K=3, lr=0.5, vstar=4.0, start_N=200, starts=[0], sigmas=[0.0], Ns=[60, 240], replicas=2,
           t_final=6.0, slope_range=[-0.7, -0.3], final_N=128000, final_median=0.03, final_max=0.08,
           exit_sigmas=[0.0], exit_Ns=[60, 240], exit_starts=3, exit_t_final=80.0, exit_per_decade=20,
           exit_fraction=0.5, exit_tolerance=0.2)


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    jobs = oc.jobs(CFG)
    results = {job.name: job.run() for job in jobs}
    out = tmp_path_factory.mktemp("oc")
    return jobs, results, out, {p.name for p in oc.report(CFG, results, out)}


def read(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_jobs_run_one_fixed_start_at_every_N(done):
    jobs, results, _, _ = done
    fixed = [j for j in jobs if j.params.get("start_N") == 200]
    assert len(fixed) == 2 * 2 and {j.params["N"] for j in fixed} == {60, 240}
    assert all(j.params["engine"] == "order" for j in jobs)
    starts = [run(results, j.name).initial for j in fixed]
    for s in starts[1:]:                                   # held fixed in order-parameter space
        np.testing.assert_array_equal(s.Q, starts[0].Q)
        np.testing.assert_array_equal(s.R, starts[0].R)
    assert len({j.name for j in jobs}) == len(jobs)


def test_rows_are_the_worst_deviation_from_the_ode(done):
    jobs, results, out, names = done
    assert {"ode_convergence.csv", "ode_convergence_summary.csv", "plateau_exit.csv", "ode_convergence.md",
            "ode_convergence.png", "plateau_exit.png"} <= names
    rows = read(out / "ode_convergence.csv")
    assert len(rows) == 4
    fixed = [j for j in jobs if j.params.get("start_N") == 200]
    for job, row in zip(fixed, rows):                      # same order: N, then replica
        traj = run(results, job.name)
        ode = integrate(traj.initial, lr=0.5, sigma=0.0, times=traj.times)
        assert float(row["worst"]) == pytest.approx(worst_deviation(traj.times, traj.eg, ode.eg), rel=1e-12)
    summary = read(out / "ode_convergence_summary.csv")
    assert len(summary) == 1 and summary[0]["median_ok"] == "None"        # N max < final_N: slope only


def test_exit_rows_and_their_summary(done):
    _, _, out, _ = done
    exits = read(out / "plateau_exit.csv")
    assert len(exits) == 2 * 3
    per_N = {int(r["N"]): float(r["mean_t_exit"]) for r in read(out / "plateau_exit_summary.csv")}
    for N, mean in per_N.items():
        assert mean == pytest.approx(np.mean([float(r["t_exit"]) for r in exits if int(r["N"]) == N]))
    md = (out / "ode_convergence.md").read_text()
    assert "1/(2 mu)" in md and "| 0 | 0 |" in md


@pytest.mark.slow
def test_runs_from_a_fixed_start_converge_to_the_ode_like_n_to_the_minus_half():
    """The criterion on real runs (issue 11): starts 0 and 2 of the paper's setting, through the first plateau
    exit (t <= 100), 8 replicas at N = 500, 2000, 8000: the median worst deviation falls at a slope in [-0.7, -0.3]."""
    from tsdyn.dynamics.convergence import ConvergenceCriterion

    cfg = {**CFG, "K": 6, "start_N": 500, "starts": [0, 2], "Ns": [500, 2000, 8000], "replicas": 8,
           "t_final": 100.0, "exit_Ns": [60, 120], "exit_starts": 2, "exit_t_final": 1.0}
    jobs = [j for j in oc.jobs(cfg) if j.params.get("start_N") == 500]
    results = {job.name: job.run() for job in jobs}
    rows, _ = oc.convergence_rows(cfg, results)
    for start in (0, 2):
        mine = [r for r in rows if r["start"] == start]
        verdict = ConvergenceCriterion().judge([r["N"] for r in mine], [r["worst"] for r in mine])
        assert verdict["slope_ok"], (start, verdict)
