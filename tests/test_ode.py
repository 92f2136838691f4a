"""Order-parameter ODEs: kernel against the readable equations and Monte Carlo of the SGD step, solvers, CLI."""
import csv
import math

import numpy as np
import pytest

from tsdyn.conventions import g, g_prime
from tsdyn.dynamics.equations import dQ_dt, dR_dt, dv_dt, order_parameter_rates
from tsdyn.dynamics.ode import in_domain, integrate, main
from tsdyn.dynamics.ode_rhs import OdeRhs, pack, unpack
from tsdyn.order_parameters import OrderParameters, check_psd
from tsdyn.trajectory import Trajectory


@pytest.fixture
def paper_start(random_state):
    """``build(K, M, seed=0, N=500)``: initial state of the paper's setting, w*, w, v ~ N(0, 1), v* = 4
    (node norms spread as in :func:`random_state`)."""
    return lambda K, M, seed=0, N=500: random_state(K, M, N=N, seed=seed, vstar=4.0)


def rhs_of(op, lr, lr2, sigma):
    f = OdeRhs(op.T, op.vstar, op.K, lr=lr, lr2=lr2, sigma=sigma)
    return unpack(f(0.0, pack(op.Q, op.R, op.v)), op.K, op.M)


def rhs_of_state(op, lr, lr2, sigma):
    """The kernel's dy/dt at ``op`` as a flat vector."""
    return OdeRhs(op.T, op.vstar, op.K, lr=lr, lr2=lr2, sigma=sigma)(0.0, pack(op.Q, op.R, op.v))


def equations_of_state(y, op, lr, lr2, sigma, train_second_layer=True):
    """dy/dt of the readable equations (tsdyn.dynamics.equations) at the flat state y, T and v* of op."""
    Q, R, v = unpack(y, op.K, op.M)
    state = OrderParameters(Q, R, op.T, v, op.vstar)
    return pack(*order_parameter_rates(state, lr=lr, lr2=lr2, sigma=sigma, train_second_layer=train_second_layer))


CASES = [(1, 1, 0.5, 0.5, 0.0, True), (3, 2, 0.7, 0.3, 0.4, True), (6, 2, 0.5, 0.5, 0.25, True),
         (7, 3, 1.1, 0.4, 0.1, False), (10, 4, 0.2, 1.3, 0.0, True), (20, 5, 0.5, 0.5, 0.25, False),
         (5, 5, 2.0, 0.0, 1.0, True)]


@pytest.mark.parametrize("K,M,lr,lr2,sigma,train_second_layer", CASES)
def test_fused_kernel_matches_the_readable_equations(K, M, lr, lr2, sigma, train_second_layer, random_state):
    # Random valid states (three per case, unequal v*); a frozen v is lr2 = 0 for the kernel, as
    # tsdyn.dynamics.ode.integrate passes it.
    rng = np.random.default_rng(100 * K + M)
    for _ in range(3):
        op = random_state(K, M, seed=rng, vstar=rng.uniform(0.5, 4.0, M))
        got = rhs_of_state(op, lr, lr2 if train_second_layer else 0.0, sigma)
        want = equations_of_state(pack(op.Q, op.R, op.v), op, lr, lr2, sigma, train_second_layer)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_the_equations_are_the_papers_sums_one_parameter_at_a_time(random_state):
    # order_parameter_rates is dQ_dt, dR_dt, dv_dt; a frozen v gives zero; dQ/dt is symmetric.
    op = random_state(4, 2, seed=9)
    dQ, dR, dv = order_parameter_rates(op, lr=0.6, lr2=0.2, sigma=0.3)
    np.testing.assert_array_equal(dQ, dQ_dt(op, 0.6, 0.3))
    np.testing.assert_array_equal(dR, dR_dt(op, 0.6))
    np.testing.assert_array_equal(dv, dv_dt(op, 0.2))
    np.testing.assert_allclose(dQ, dQ.T, rtol=1e-14, atol=1e-14)
    assert not order_parameter_rates(op, lr=0.6, lr2=0.2, train_second_layer=False)[2].any()
    with pytest.raises(ValueError, match="lr must be > 0"):
        order_parameter_rates(op, lr=0.0, lr2=0.2)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        order_parameter_rates(op, lr=0.5, lr2=0.2, sigma=-1.0)


@pytest.mark.parametrize("K,M,lr,lr2,sigma,train_second_layer", CASES[:5])
def test_analytic_jacobian_matches_finite_differences_of_the_readable_equations(K, M, lr, lr2, sigma,
                                                                              train_second_layer, random_state):
    rng = np.random.default_rng(K + 7 * M)
    op = random_state(K, M, seed=rng, vstar=rng.uniform(0.5, 4.0, M))
    f = OdeRhs(op.T, op.vstar, K, lr=lr, lr2=lr2 if train_second_layer else 0.0, sigma=sigma)
    y = pack(op.Q, op.R, op.v)
    h = 1e-5
    fd = np.column_stack([(equations_of_state(y + h * e, op, lr, lr2, sigma, train_second_layer)
                           - equations_of_state(y - h * e, op, lr, lr2, sigma, train_second_layer)) / (2 * h)
                          for e in np.eye(y.size)])
    np.testing.assert_allclose(f.jacobian(0, y), fd, atol=1e-8 * max(1.0, np.abs(fd).max()))


@pytest.mark.parametrize("K,M,lr,lr2,sigma", [(3, 2, 0.5, 0.5, 0.0), (4, 2, 0.8, 0.3, 0.5)])
def test_rhs_is_n_times_the_mean_sgd_step_by_monte_carlo(K, M, lr, lr2, sigma, random_state):
    # NOTES.md step: w_k -= (lr/sqrt N) Delta v_k g'(lambda_k) x, v_k -= (lr2/N) Delta g(lambda_k),
    # Delta = yhat - y with y = teacher + sigma zeta. With lambda = w.x/sqrt N and x.x/N -> 1, the exact
    # change of Q, R, v per step times N (dt = 1/N) is written in the fields; average over fresh inputs.
    rng = np.random.default_rng(5)
    op = random_state(K, M, seed=rng)
    n = 400_000
    eigval, eigvec = np.linalg.eigh(op.covariance())
    fields = rng.standard_normal((n, K + M)) @ (eigvec * np.sqrt(np.clip(eigval, 0, None))).T
    lam, nu = fields[:, :K], fields[:, K:]
    delta = g(lam) @ op.v - g(nu) @ op.vstar - sigma * rng.standard_normal(n)
    a = lr * delta[:, None] * op.v * g_prime(lam)  # w_i moves by -(a_i / sqrt N) x
    step_Q = -(a[:, :, None] * lam[:, None, :] + a[:, None, :] * lam[:, :, None]) + a[:, :, None] * a[:, None, :]
    step_R = -a[:, :, None] * nu[:, None, :]
    step_v = -lr2 * delta[:, None] * g(lam)
    # Both the fused kernel and the readable equations.
    for rates in (rhs_of(op, lr, lr2, sigma), order_parameter_rates(op, lr=lr, lr2=lr2, sigma=sigma)):
        for got, samples in zip(rates, (step_Q, step_R, step_v)):
            mean = samples.mean(axis=0)
            se = samples.std(axis=0, ddof=1) / math.sqrt(n)
            assert np.all(np.abs(got - mean) < 4.5 * se + 1e-9), (got, mean, se)


def test_analytic_jacobian_matches_finite_differences(random_state):
    for K, M, lr2, sigma in [(1, 1, 0.5, 0.0), (4, 2, 0.3, 0.4), (6, 3, 0.0, 0.25)]:
        op = random_state(K, M, seed=K, vstar=np.linspace(1, 4, M))
        f = OdeRhs(op.T, op.vstar, K, lr=0.7, lr2=lr2, sigma=sigma)
        y = pack(op.Q, op.R, op.v)
        h = 1e-5
        fd = np.column_stack([(f(0, y + h * e) - f(0, y - h * e)) / (2 * h) for e in np.eye(y.size)])
        np.testing.assert_allclose(f.jacobian(0, y), fd, atol=1e-8 * max(1.0, np.abs(fd).max()))


def test_a_student_equal_to_the_teacher_is_a_fixed_point():
    # Zero error means zero gradient: exact copies (K = M), and Z = 2 copies per teacher node with v = v*/2.
    rng = np.random.default_rng(3)
    wstar = rng.standard_normal((2, 300))
    for w, v in [(wstar, np.array([4.0, 4.0])), (np.repeat(wstar, 2, axis=0), np.full(4, 2.0))]:
        op = OrderParameters.from_weights(w, v, wstar, 4.0)
        for part in rhs_of(op, 0.5, 0.5, 0.0):
            np.testing.assert_allclose(part, 0.0, atol=1e-12)


@pytest.mark.parametrize("K,M,tmax", [(6, 2, 1600.0), (20, 5, 20.0)])
def test_default_tolerances_are_within_1e_6_of_a_tight_reference(K, M, tmax, paper_start):
    start = paper_start(K, M)
    for sigma in (0.0, 0.25):
        ref = integrate(start, sigma=sigma, tmax=tmax, method="DOP853", rtol=1e-11, atol=1e-14)
        got = integrate(start, sigma=sigma, tmax=tmax)
        assert got.success and ref.success
        np.testing.assert_array_equal(got.times, ref.times)
        assert np.max(np.abs(got.eg / ref.eg - 1)) < 1e-6


def test_euler_converges_at_first_order_to_the_adaptive_solution(paper_start):
    start = paper_start(3, 2, seed=4)
    times = [0.0, 1.0, 2.5, 5.0]
    exact = integrate(start, times=times, rtol=1e-11, atol=1e-13).eg
    err = [np.max(np.abs(integrate(start, times=times, euler_dt=dt).eg / exact - 1)) for dt in (0.02, 0.01)]
    assert 1.7 < err[0] / err[1] < 2.3, err


def test_all_start_forms_give_the_same_run(tmp_path, paper_start):
    op = paper_start(3, 2, seed=1)
    times = np.array([0.0, 0.5, 2.0])
    sim_like = Trajectory(times=times, eg=np.zeros(3), Q=np.stack([op.Q] * 3), R=np.stack([op.R] * 3),
                          v=np.stack([op.v] * 3), T=op.T, vstar=op.vstar, initial=op)
    sim_like.save_npz(tmp_path / "sim.npz")
    runs = [integrate(op, times=times), integrate(sim_like), integrate(tmp_path / "sim.npz", times=times),
            integrate(op.as_dict(), times=times), integrate((op.Q, op.R, op.T, op.v, op.vstar), times=times)]
    for run in runs[1:]:
        np.testing.assert_array_equal(run.times, times)
        np.testing.assert_array_equal(run.eg, runs[0].eg)
    r = runs[0]
    assert r.w is None and r.wstar is None and r.test_mse is None and r.success
    assert {"nfev", "method", "rtol", "atol", "seconds"} <= set(r.info)
    assert r.initial == op and r.Q.shape == (3, 3, 3) and r.R.shape == (3, 3, 2) and r.v.shape == (3, 3)


def test_bad_input_raises_value_errors_naming_the_parameter(paper_start):
    op = paper_start(2, 1)
    with pytest.raises(ValueError, match="start must be"):
        integrate(42)
    with pytest.raises(ValueError, match="either tmax or times"):
        integrate(op, tmax=3, times=[1, 2])
    with pytest.raises(ValueError, match="times must be"):
        integrate(op, times=[2.0, 1.0])
    with pytest.raises(ValueError, match="lr must be > 0"):
        integrate(op, lr=0.0)
    with pytest.raises(ValueError, match="method must be one of"):
        integrate(op, method="Euler")
    with pytest.raises(ValueError, match="euler_dt must be > 0"):
        integrate(op, euler_dt=-1)
    with pytest.raises(ValueError, match="start lacks the keys"):
        integrate({"Q": op.Q})
    with pytest.raises(ValueError, match="joint covariance"):
        integrate((np.eye(1), 2 * np.eye(1), np.eye(1), [1.0], [4.0]))


def test_frozen_second_layer_keeps_v_and_changes_the_run(paper_start):
    start = paper_start(4, 2, seed=2)
    frozen = integrate(start, tmax=20, train_second_layer=False)
    trained = integrate(start, tmax=20)
    np.testing.assert_array_equal(frozen.v, np.broadcast_to(start.v, frozen.v.shape))
    assert np.max(np.abs(trained.v[-1] - start.v)) > 0.1
    assert frozen.info["lr2"] == 0.0


def test_cholesky_domain_check_agrees_with_check_psd():
    rng = np.random.default_rng(0)
    for _ in range(300):
        K, M = rng.integers(1, 6), rng.integers(1, 4)
        A = rng.standard_normal((K + M, K + M - rng.integers(0, 2)))
        C = A @ A.T + np.diag(rng.normal(0, 0.3, K + M)) * (rng.random() < 0.5)
        try:
            check_psd("C", C)
            expected = True
        except ValueError:
            expected = False
        assert in_domain(pack(C[:K, :K], C[:K, K:], np.zeros(K)), C[K:, K:].copy(), K) == expected


@pytest.mark.parametrize("solver", [dict(euler_dt=5.0), dict(method="DOP853", rtol=1.0, atol=1.0)])
def test_leaving_the_valid_domain_stops_the_run_with_time_and_reason(solver, paper_start):
    # Far too large steps for lr = 2 and 5 overshoot the dynamics out of the covariance cone.
    start = paper_start(6, 2)
    run = integrate(start, lr=2.0 if "euler_dt" in solver else 5.0, tmax=100, **solver)
    assert not run.success
    assert "stopped at t = " in run.message and "valid domain" in run.message
    t_stop = float(run.message.split("t = ")[1].split(":")[0])
    assert 0 < len(run.times) < 40 and run.times[-1] <= t_stop
    for i in range(len(run.times)):
        run.at(i)  # every recorded state is a valid OrderParameters


def read_csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_cli_writes_the_requested_times_exactly(tmp_path, capsys, paper_start):
    op = paper_start(3, 2, seed=6)
    np.savez(tmp_path / "init.npz", **op.as_dict())
    prefix = tmp_path / "out"
    assert main(["--init", str(tmp_path / "init.npz"), "--out", str(prefix), "--times", "0.5,10,1600",
                 "--sigma", "0.25", "--lr2", "0.3", "--no-progress"]) == 0
    header, rows = read_csv(f"{prefix}.csv")
    assert [r[0] for r in rows] == ["0.5", "10", "1600"]
    assert header[:2] == ["t", "eg"] and "Q_0_2" in header and "R_2_1" in header and header[-1] == "v_2"
    direct = integrate(op, times=[0.5, 10, 1600], sigma=0.25, lr2=0.3)
    np.testing.assert_allclose([float(r[1]) for r in rows], direct.eg, rtol=1e-12)
    assert "ok" in capsys.readouterr().out


def test_cli_starts_from_a_simulation_file_and_freezes_on_request(tmp_path, paper_start):
    op = paper_start(2, 1, seed=8)
    later = OrderParameters(op.Q * 2, op.R, op.T, op.v + 1, op.vstar)  # the final state must not be used
    sim = Trajectory(times=np.array([0.0, 1.5]), eg=np.zeros(2), Q=np.stack([op.Q, later.Q]),
                     R=np.stack([op.R, later.R]), v=np.stack([op.v, later.v]), T=op.T, vstar=op.vstar, initial=op)
    sim.save_npz(tmp_path / "sim.npz")
    prefix = tmp_path / "ode"
    # Without --tmax / --times the simulation's own record times are used.
    assert main(["--init", str(tmp_path / "sim.npz"), "--out", str(prefix),
                 "--freeze-second-layer", "--euler-dt", "0.01", "--no-progress"]) == 0
    header, rows = read_csv(f"{prefix}.csv")
    assert [r[0] for r in rows] == ["0", "1.5"]
    np.testing.assert_allclose(float(rows[0][1]), integrate(op, times=[0.0]).eg[0], rtol=1e-12)
    v_cols = [header.index(f"v_{i}") for i in range(2)]
    assert all(float(r[j]) == op.v[i] for r in rows for i, j in enumerate(v_cols))
    assert main(["--init", str(tmp_path / "missing.npz"), "--out", str(prefix)]) == 2


def test_cli_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for option in ("--init", "--lr", "--lr2", "--sigma", "--tmax", "--times", "--out", "--method", "--rtol",
                   "--atol", "--euler-dt", "--freeze-second-layer"):
        assert option in text


@pytest.mark.parametrize("sigma", [0.0, 0.25])
def test_ode_follows_the_simulation_from_the_same_start(sigma):
    # Paper setting (N = 500, lr = 0.5, v* = 4, M = 2, K = 6), three seeds, t <= 20 (10 000 steps each).
    from tsdyn.simulate import simulate

    for seed in range(3):
        sim = simulate(N=500, M=2, K=6, lr=0.5, sigma=sigma, vstar=4.0, steps=10_000, seed=seed)
        ode = integrate(sim, sigma=sigma)
        np.testing.assert_array_equal(ode.times, sim.times)
        later = sim.times >= 1
        rel = np.abs(sim.eg[later] / ode.eg[later] - 1)
        assert rel.max() < 0.2, (seed, rel.max())


def test_ode_vs_sim_target_writes_the_table_and_figure(tmp_path):
    from tsdyn.targets import ode_vs_sim

    cfg = dict(N=100, M=2, K=3, lr=0.5, vstar=4.0, steps=1000, sigmas=[0.0, 0.25], seeds=[0])
    jobs = ode_vs_sim.jobs(cfg, quick=True)
    assert len({job.name for job in jobs}) == 2 and all(job.func == "tsdyn.targets.training:train" for job in jobs)
    results = {job.name: job.run() for job in jobs}
    paths = ode_vs_sim.report(cfg, results, tmp_path)
    assert {p.name for p in paths} == {"ode_vs_sim.csv", "ode_vs_sim.png", "ode_vs_sim.pdf", "ode_vs_sim.md"}
    header, rows = read_csv(tmp_path / "ode_vs_sim.csv")
    assert header == ["seed", "sigma", "t", "eg_sim", "eg_ode", "rel_diff"]
    assert len(rows) == sum(len(r["times"]) for r in results.values())
    for row in rows:
        assert float(row[5]) == pytest.approx(float(row[3]) / float(row[4]) - 1, rel=1e-12, abs=1e-15)
    verdicts = (tmp_path / "ode_vs_sim.md").read_text()
    for sigma in ("0", "0.25"):            # worst |sim/ODE - 1| before the first exit with its verdict; on t >= 1
        mine = [r for r in rows if r[1] == ("0.0" if sigma == "0" else sigma) and float(r[2]) >= 1]
        early = max(abs(float(r[5])) for r in mine if float(r[2]) <= 20)
        worst = max(abs(float(r[5])) for r in mine)
        line = next(line for line in verdicts.splitlines() if line.startswith(f"| {sigma} | 0 |"))
        cells = [c.strip() for c in line.split("|")[1:-1]]
        assert float(cells[2]) == pytest.approx(early, abs=5e-4)
        assert cells[3] == ("holds" if early <= 0.2 else "**fails**")
        assert float(cells[4]) == pytest.approx(worst, abs=5e-4) and len(cells) == 6   # no verdict: no bound


def test_ode_vs_sim_ensemble_statistics_match_the_per_run_table(tmp_path):
    from tsdyn.targets import ode_vs_sim

    cfg = dict(N=60, M=2, K=3, lr=0.5, vstar=4.0, steps=600, sigmas=[0.0], seeds=[0, 1, 2], ensemble_seeds=3)
    jobs = ode_vs_sim.jobs(cfg, quick=True)
    assert len({job.key() for job in jobs}) == 3  # the ensemble reuses the three runs it shares
    results = {job.name: job.run() for job in jobs}
    per_run = ode_vs_sim.rows(cfg, results)
    ensemble = ode_vs_sim.ensemble(cfg, results)
    for row in ensemble[1:]:
        rel = np.array([r["rel_diff"] for r in per_run if r["t"] == row["t"]])
        assert row["mean_rel_diff"] == pytest.approx(rel.mean(), rel=1e-12, abs=1e-15)
        assert row["mean_log_ratio"] == pytest.approx(np.log1p(rel).mean(), rel=1e-9, abs=1e-12)
        assert row["max_abs_rel_diff"] == pytest.approx(np.abs(rel).max())
        assert row["fraction_within_tolerance"] == pytest.approx(np.mean(np.abs(rel) <= 0.2))
    names = {p.name for p in ode_vs_sim.report(cfg, results, tmp_path)}
    assert {"ode_vs_sim_ensemble.csv", "ode_vs_sim_ensemble.png"} <= names


def test_ode_vs_sim_replicas_share_the_start_and_their_range_is_reported(tmp_path):
    from tsdyn.dynamics.compare import ode_from_start
    from tsdyn.targets import ode_vs_sim
    from tsdyn.targets.students import replica_data_seeds
    from tsdyn.targets.training import training_name
    from tsdyn.trajectory import Trajectory

    cfg = dict(N=60, M=2, K=3, lr=0.5, vstar=4.0, steps=1200, sigmas=[0.0], seeds=[0, 1], replicas=3,
               replica_sigmas=[0.0])
    jobs = ode_vs_sim.jobs(cfg, quick=True)
    assert len({job.key() for job in jobs}) == 2 + 2 * 2  # each start's first replica is its ordinary run
    results = {job.name: job.run() for job in jobs}
    table, summaries = ode_vs_sim.replica_tables(cfg, results)
    for seed in cfg["seeds"]:
        runs = [results[training_name(cfg, 0.0, seed, ds)] for ds in replica_data_seeds(seed, 3)]
        for run in runs[1:]:                                   # one start ...
            for key in ("Q0", "R0", "v0", "T", "wstar"):
                np.testing.assert_array_equal(run[key], runs[0][key])
            assert np.all(run["eg"][1:] != runs[0]["eg"][1:])  # ... other data
        eg = np.array([run["eg"] for run in runs])
        ode = ode_from_start(Trajectory.from_arrays(runs[0]), lr=0.5, sigma=0.0)["eg_ode"]
        rows = [r for r in table if r["seed"] == seed]
        assert len(rows) == eg.shape[1]
        for i, row in enumerate(rows):
            assert (row["eg_min"], row["eg_max"], row["eg_ode"]) == (eg[:, i].min(), eg[:, i].max(), ode[i])
            assert row["fraction_within_tolerance"] == pytest.approx(np.mean(np.abs(eg[:, i] / ode[i] - 1) <= 0.2))
    for summary in summaries:
        sel = [r for r in table if r["seed"] == summary["seed"] and r["t"] >= 1]
        assert summary["largest_spread"] == max(r["spread"] for r in sel)
        assert summary["coverable"] == (summary["largest_spread"] <= 1.5)
        runs = [results[training_name(cfg, 0.0, summary["seed"], ds)] for ds in replica_data_seeds(summary["seed"], 3)]
        ode = ode_from_start(Trajectory.from_arrays(runs[0]), lr=0.5, sigma=0.0)
        later = ode["times"] >= 1
        always = [bool(np.all(np.abs(run["eg"][later] / ode["eg_ode"][later] - 1) <= 0.2)) for run in runs]
        assert summary["replicas_always_within"] == sum(always)
    names = {p.name for p in ode_vs_sim.report(cfg, results, tmp_path)}
    assert {"ode_vs_sim_replicas.csv", "ode_vs_sim_replicas_summary.csv", "ode_vs_sim_replicas.png"} <= names


def test_replica_data_seeds_are_distinct_and_start_with_the_run_itself():
    from tsdyn.targets.students import replica_data_seeds

    assert replica_data_seeds(0, 4) == [0, 10001, 10002, 10003]
    assert replica_data_seeds(10002, 4) == [10002, 10001, 10003, 10004]  # a seed among them is not repeated
    assert replica_data_seeds(3, 1) == [3]


def test_replica_summary_counts_replicas_within_at_every_time_not_per_time():
    from tsdyn.dynamics.compare import replica_summary

    # Replica 0 misses at t = 1, replica 1 at t = 2, replica 2 never: one replica is within throughout,
    # although at each single time two of three are.
    eg = np.array([[1.4, 1.0], [1.0, 1.3], [1.0, 1.0]])
    summary = replica_summary(np.array([1.0, 2.0]), eg, np.ones(2))
    assert summary["replicas_always_within"] == 1
    assert summary["largest_spread"] == 1.4 and summary["at_t"] == 1.0 and summary["coverable"]
