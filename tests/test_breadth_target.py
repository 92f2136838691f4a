"""The breadth target end to end on a tiny configuration, checked against direct computations."""
import csv
import sys
from pathlib import Path

import numpy as np
import pytest

from tsdyn.dynamics.annealing import late_level, loglog_slope
from tsdyn.dynamics.convergence import worst_deviation
from tsdyn.dynamics.ode import integrate
from tsdyn.simulate import simulate
from tsdyn.targets import breadth as br
from tsdyn.targets.students import run

sys.path.insert(0, str(Path(__file__).parent))
from breadth_api import needs_breadth  # noqa: E402

CFG = dict(M=2, vstar=1.0, start_N=200, seed=0, replicas=2, per_decade=8,
           activations=dict(K=2, lr=0.5, sigma=0.0, activations=["erf", "relu", "linear"], Ns=[60, 240], t_final=4.0),
           annealing=dict(K=2, lr=0.5, sigma=0.5, lr_schedule="inverse:5", N=60, t_final=20.0, ode_t_final=400.0,
                          fit_range=[5.0, 20.0], ode_fit_range=[100.0, 400.0], noise_lrs=[0.25, 0.5]))


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    jobs = br.jobs(CFG)
    results = {job.name: job.run() for job in jobs}
    out = tmp_path_factory.mktemp("breadth")
    return jobs, results, out, {p.name for p in br.report(CFG, results, out)}


def read(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


@needs_breadth
def test_jobs_share_one_start_and_differ_by_their_options(done):
    jobs, results, _, _ = done
    assert len({j.name for j in jobs}) == len(jobs) == 3 * (2 * 2 + 1) + 2 * (2 + 1) + 1
    training = [j for j in jobs if j.func.endswith(":train")]
    assert all(j.params["engine"] == "order" and j.params["start_N"] == 200 for j in training)
    assert {j.params.get("activation", "erf") for j in training} == {"erf", "relu", "linear"}
    assert {j.params.get("lr_schedule", "constant") for j in training} == {"constant", "inverse:5"}
    start = simulate(N=200, M=2, K=2, vstar=1.0, steps=0, seed=0).initial
    for job in jobs:                                   # the start is held fixed in order-parameter space
        np.testing.assert_array_equal(run(results, job.name).initial.Q, start.Q)


@needs_breadth
def test_activation_rows_are_each_runs_worst_deviation_from_its_ode(done):
    jobs, results, out, names = done
    assert {"breadth_activations.csv", "breadth_activations_summary.csv", "breadth_annealing.csv",
            "breadth_curves.csv", "breadth.md", "breadth_activations.png", "breadth_annealing.png"} <= names
    rows = read(out / "breadth_activations.csv")
    assert len(rows) == 3 * 2 * 2
    by_key = {(r["activation"], int(r["N"]), int(r["replica"])): float(r["worst"]) for r in rows}
    relu = [j for j in jobs if j.func.endswith(":train") and j.params.get("activation") == "relu"
            and j.params["N"] == 240]
    for replica, job in enumerate(relu):            # an independent ODE solve at the run's own record times
        traj = run(results, job.name)
        ode = integrate(traj.initial, lr=0.5, sigma=0.0, times=traj.times, activation="relu")
        assert by_key[("relu", 240, replica)] == pytest.approx(worst_deviation(traj.times, traj.eg, ode.eg), rel=1e-6)
    summary = read(out / "breadth_activations_summary.csv")
    assert len(summary) == 3 * 2
    for s in summary:
        worst = [v for (a, N, _), v in by_key.items() if a == s["activation"] and N == int(s["N"])]
        assert float(s["median_worst"]) == pytest.approx(np.median(worst))


@needs_breadth
def test_annealing_rows_fit_the_curves_they_report(done):
    _, results, out, _ = done
    rows = read(out / "breadth_annealing.csv")
    slopes = [r for r in rows if r["kind"] == "slope"]
    assert {(r["schedule"], r["source"].split()[0]) for r in slopes} == {
        ("constant", "ODE"), ("constant", "SGD"), ("inverse:5", "ODE"), ("inverse:5", "SGD")}
    start = simulate(N=200, M=2, K=2, vstar=1.0, steps=0, seed=0).initial
    # Independent solves at the target's record times reproduce the fitted slope and the floors.
    times = run(results, br._annealing_ode_name("inverse:5", 0.5)).times
    ode = integrate(start, lr=0.5, sigma=0.5, times=times, lr_schedule="inverse:5")
    fitted = next(r for r in slopes if r["schedule"] == "inverse:5" and r["source"] == "ODE")
    assert float(fitted["slope"]) == pytest.approx(loglog_slope(ode.times, ode.eg, 100.0, 400.0).slope, rel=1e-6)
    floors = {float(r["lr"]): r for r in rows if r["kind"] == "floor"}
    assert set(floors) == {0.25, 0.5}
    const = integrate(start, lr=0.25, sigma=0.5, times=run(results, br._annealing_ode_name("constant", 0.25)).times)
    assert float(floors[0.25]["floor"]) == pytest.approx(late_level(const.times, const.eg, 100.0, 400.0), rel=1e-6)
    assert float(floors[0.25]["floor_over_lr_sigma2"]) == pytest.approx(float(floors[0.25]["floor"]) / (0.25 * 0.25))
    md = (out / "breadth.md").read_text()
    assert "inverse:5" in md and "floor / (eta sigma^2)" in md


@needs_breadth
def test_two_runs_under_one_name_are_refused():
    cfg = {**CFG, "annealing": {**CFG["annealing"], "sigma": 0.0, "N": 60, "K": 2}}
    cfg["activations"] = {**CFG["activations"], "Ns": [60]}
    with pytest.raises(ValueError, match="named"):
        br.jobs(cfg)
