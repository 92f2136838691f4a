"""Retraining after pruning (issue 13): start states, silent padding, measures, the agreement criterion, the target."""
import csv
import importlib
import math
from pathlib import Path

import numpy as np
import pytest

from tsdyn.dynamics.ode import integrate
from tsdyn.order_parameters import OrderParameters
from tsdyn.pruning import recovery, retrain
from tsdyn.pruning.operators import prune_order_parameters
from tsdyn.pruning.retrain_summary import agreement_rows, best_t0_rows
from tsdyn.simulate import Networks, simulate
from tsdyn.sweep.config import load_config
from tsdyn.targets import retrain as target

SIMS = Path(__file__).resolve().parents[1] / "sims"


def _random_state(K=4, M=2, N=300, seed=0):
    rng = np.random.default_rng(seed)
    w, wstar = rng.standard_normal((K, N)), rng.standard_normal((M, N))
    v = rng.standard_normal(K)
    return w, v, wstar, np.full(M, 2.0), OrderParameters.from_weights(w, v, wstar, np.full(M, 2.0))


def test_retrain_trains_nothing_that_fig2a_and_fig2b_do_not_train():
    for quick in (False, True):
        theirs = set()
        for other in ("fig2a", "fig2b"):
            cfg = load_config(other, SIMS, quick=quick)
            theirs |= {j.key() for j in importlib.import_module(f"tsdyn.targets.{other}").jobs(cfg, quick=quick)}
        ours = target.jobs(load_config("retrain", SIMS, quick=quick), quick=quick)
        trainings = {j.key() for j in ours if not j.inputs} | {i.key() for j in ours for i in j.inputs}
        assert trainings <= theirs                                   # retrainings only: their inputs are fig2a's, fig2b's
        assert all(j.func.startswith("tsdyn.targets.retrain_jobs:") for j in ours if j.inputs)
        assert len({j.name for j in ours}) == len(ours)
    full = load_config("retrain", SIMS / "full")                  # the full study: same students, more retraining
    assert full["label"] == "_full"
    ours = target.jobs(full)
    assert {i.key() for j in ours for i in j.inputs} <= theirs_full() and len(ours) > len(target.jobs(load_config("retrain", SIMS)))
    fig2a = {j.key() for j in importlib.import_module("tsdyn.targets.fig2a").jobs(load_config("fig2a", SIMS), quick=False)}
    assert fig2a <= {j.key() for j in ours}                       # the full study retrains every fig2a student


def theirs_full():
    return {j.key() for other in ("fig2a", "fig2b")
            for j in importlib.import_module(f"tsdyn.targets.{other}").jobs(load_config(other, SIMS), quick=False)}


def test_node_start_is_the_kept_weights_order_parameters_and_optimal_v_lowers_eg():
    from tsdyn.eg import eg_of

    w, v, wstar, vstar, op = _random_state()
    keep = np.array([0, 2, 3])
    start = retrain.node_start(op, keep, "none")
    w_S, v_S = retrain.node_start_weights(w, op, keep, "none")
    direct = OrderParameters.from_weights(w_S, v_S, wstar, vstar)
    np.testing.assert_allclose(start.Q, direct.Q, rtol=1e-12)
    np.testing.assert_allclose(start.R, direct.R, rtol=1e-12)
    np.testing.assert_array_equal(start.v, v[keep])
    assert eg_of(retrain.node_start(op, keep, "optimal")) <= eg_of(start)
    with pytest.raises(ValueError, match="reweight must be one of"):
        retrain.node_start(op, keep, "divnet")


def test_silent_nodes_change_nothing_in_the_ode_and_stay_zero_in_both_engines():
    w, v, wstar, vstar, op = _random_state(K=3, M=3)
    small = prune_order_parameters(op, [1])                       # K' = 1 < M = 3
    padded = retrain.silent_padded(small, 3)
    times = np.array([0.0, 0.5, 2.0, 5.0])
    plain = integrate(small, lr=0.5, times=times)
    pad = integrate(padded, lr=0.5, times=times)
    np.testing.assert_allclose(pad.eg, plain.eg, rtol=1e-9)
    assert np.all(pad.Q[:, 1:, :] == 0) and np.all(pad.v[:, 1:] == 0)
    order = simulate(engine="order", start=padded, N=300, lr=0.5, steps=600, seed=1)
    assert np.all(order.Q[:, 1:, :] == 0) and np.all(order.v[:, 1:] == 0)
    wp, vp = retrain.silent_padded_weights(w[[1]], v[[1]], 3)
    weights = simulate(start=Networks(wp, vp, wstar, vstar), lr=0.5, steps=600, seed=1)
    assert np.all(weights.w[1:] == 0) and np.all(weights.v[:, 1:] == 0)
    eg = retrain.retrain_order(small, N=300, lr=0.5, sigma=0.0, times=times, seed=1)  # pads itself
    assert eg[0] == pytest.approx(plain.eg[0]) and np.all(np.isfinite(eg))


def test_edge_start_holds_the_mask_and_optimal_scale_is_the_eq_15_minimiser():
    from tsdyn.eg import eg_of
    from tsdyn.pruning.operators import scaled

    w, v, wstar, vstar, _ = _random_state()
    mask = np.random.default_rng(3).random(w.shape) < 0.4
    wm, vm, params = retrain.edge_start(w, v, wstar, vstar, mask, "optimal")
    assert np.all(wm[~mask] == 0) and np.all(wm[mask] == w[mask])
    A = vm[0] / v[0]
    np.testing.assert_allclose(vm, A * v)
    for other in (0.8 * A, 1.2 * A):   # eps is quadratic in A: the optimum beats its neighbours
        assert eg_of(params) < eg_of(scaled(params, other / A))
    times = retrain.retrain_times(1.0, N=w.shape[1], per_decade=2)
    eg = retrain.retrain_weights(wm, vm, wstar, vstar, lr=0.5, sigma=0.0, times=times, seed=0, mask=mask)
    assert eg[0] == pytest.approx(eg_of(params)) and np.all(np.isfinite(eg))


def test_initial_rate_matches_the_ode_slope_and_the_closed_form_v_part_on_the_ideal_student(ideal_student):
    M, Z, vs, lr = 3, 4, 4.0, 0.5
    w, v, wstar = ideal_student(M=M, Z=Z, N=4000, vstar=vs)
    op = OrderParameters.from_weights(w, v, wstar, np.full(M, vs))
    for k in (1, 2, 3):
        keep = np.arange(k) * Z                                  # one node per block: DPP's subsets under A6
        start = retrain.node_start(op, keep, "none")
        rate = recovery.initial_rate(start, lr=lr)
        # v part: -lr sum_i (d eps / d v_i)^2 with d eps / d v_i = (v*/Z - v*) / 3 (I2 = 2 asin(1/2) / pi = 1/3)
        assert rate["v"] == pytest.approx(-lr * k * (vs * (1 - 1 / Z) / 3) ** 2, rel=1e-4)
        h = 1e-3
        traj = integrate(start, lr=lr, times=[0.0, h, 2 * h], rtol=1e-11, atol=1e-13)
        slope = (-3 * traj.eg[0] + 4 * traj.eg[1] - traj.eg[2]) / (2 * h)   # one-sided, O(h^2)
        assert rate["total"] == pytest.approx(slope, rel=1e-3)
        # with the GE-optimal second layer the v part vanishes: v_S is a stationary point of eps in v
        assert abs(recovery.initial_rate(retrain.node_start(op, keep, "optimal"), lr=lr)["v"]) < 1e-6


def test_recovery_times_on_a_planted_exponential():
    dt = np.linspace(0, 100, 100_001)
    a, b, tau = 0.2, 3.0, 5.0
    eg = a + b * np.exp(-dt / tau)
    final = eg[-1]
    assert recovery.time_within_final(dt, eg, tol=0.1) == pytest.approx(tau * math.log(b / (0.1 * final - (final - a))),
                                                                         abs=2e-3)
    assert recovery.time_to_reach(dt, eg, 2 * a) == pytest.approx(tau * math.log(b / a), abs=2e-3)
    assert math.isnan(recovery.time_to_reach(dt, eg, a / 2))
    bumpy = np.array([1.0, 0.5, 2.0, 1.05, 1.0])                     # leaves the band at dt = 2, back from dt = 3
    assert recovery.time_within_final(np.arange(5.0), bumpy) == 3.0


def test_claims_follow_the_theorem_statements():
    means = {("dpp", "none"): 1.0, ("random", "none"): 2.0, ("importance", "none"): 0.5, ("random_edge", "none"): 0.9,
             ("dpp", "optimal"): 0.1, ("random", "optimal"): 0.3, ("importance", "optimal"): 0.2,
             ("random_edge", "optimal"): 0.05}
    got = {(c["claim"], c["reweight"]): c["holds"] for c in recovery.claims(means, kn=2, M=2)}
    assert got == {("theorem 1: random >= dpp", "none"): True, ("theorem 1: importance >= dpp", "none"): False,
                   ("theorem 1: random >= dpp", "optimal"): True, ("theorem 1: importance >= dpp", "optimal"): True,
                   ("theorem 2: dpp >= random_edge", "none"): True,
                   ("theorem 3: random_edge >= dpp", "optimal"): False}
    assert all(not c["claim"].startswith("theorem 1") for c in recovery.claims(means, kn=3, M=2))
    equal = {("dpp", "none"): 0.3777695115, ("importance", "none"): 0.3777695114}   # the ODE's common end state
    assert [c["holds"] for c in recovery.claims(equal, kn=2, M=2)] == [True]
    assert [c["holds"] for c in recovery.claims(equal, kn=2, M=2, resolution=0.0)] == [False]


def test_first_exit_time_on_a_planted_plateau():
    t = np.geomspace(0.01, 1000, 200)
    eg = np.where(t < 60, 1.0, 0.1)
    assert recovery.first_exit_time(t, eg, t_plateau=20.0) == t[np.argmax(t >= 60)]
    assert math.isnan(recovery.first_exit_time(t, np.ones_like(t), t_plateau=20.0))


def _agreement_curves(lr_ode: float, draws=8, seed=0):
    """SGD (order engine, N = 500) and the ODE (at ``lr_ode``) from random node-pruned states of one student."""
    w, v, wstar, vstar, op = _random_state(K=6, M=2, N=500, seed=seed)
    rng = np.random.default_rng(seed)
    times = retrain.retrain_times(10.0, N=500, per_decade=3)
    curves = []
    for draw, keep in enumerate(retrain.node_subsets(op, "random", 3, draws, rng)):
        start = retrain.node_start(op, keep, "none")
        lab = dict(M=2, K=6, kn=3, method="random", reweight="none", sigma=0.0, seed=0, draw=draw, dt=times,
                   rate0=math.nan)
        curves.append(dict(lab, level="ode", eg=retrain.retrain_ode(start, lr=lr_ode, sigma=0.0, times=times)))
        curves.append(dict(lab, level="sgd", eg=retrain.retrain_order(start, N=500, lr=0.5, sigma=0.0, times=times,
                                                                       seed=100 + draw)))
    return curves


def test_the_agreement_criterion_passes_the_correct_ode_and_fails_a_wrong_one():
    dts = [0.3, 1.0, 3.0, 10.0]
    good = agreement_rows(_agreement_curves(0.5), dts)
    assert len(good) == len(dts) and sum(r["within"] for r in good) >= len(dts) - 1
    bad = agreement_rows(_agreement_curves(0.3), dts)            # the ODE of another learning rate
    assert sum(r["within"] for r in bad) <= 1


def test_best_t0_is_claimed_only_beyond_2_standard_errors_else_a_tie():
    def curves(method, level, finals):
        return [dict(method=method, reweight="none", sigma=0.0, level=level, t0_label=lab, t0=t0, eg=np.array([5.0, e]))
                for lab, t0, runs in finals for e in runs]
    data = (curves("dpp", "sgd", (("plateau", 20, (0.3, 0.5)), ("exit", 60, (0.20, 0.21)), ("end", 1600, (0.9, 0.91))))
            + curves("random", "sgd", (("plateau", 20, (0.30, 0.31)), ("exit", 60, (0.20, 0.21)), ("end", 1600, (0.9, 0.91))))
            + curves("dpp", "ode", (("plateau", 20, (0.3777695114, 0.3777695115)), ("exit", 60, (0.3777695113, 0.3777695113)),
                                    ("end", 1600, (0.3777695116, 0.3777695116))))
            + curves("importance", "sgd", (("plateau", 20, (0.3,)), ("exit", 60, (0.2,)), ("end", 1600, (0.9,)))))
    rows = {(r["method"], r["level"], r["t0_label"]): r for r in best_t0_rows(data, 2000.0)}
    assert rows[("dpp", "sgd", "plateau")]["eg_final"] == pytest.approx(0.4)
    assert rows[("dpp", "sgd", "plateau")]["t0_mean"] == 20.0
    # dpp: exit is lowest, but plateau is within 2 s.e. of it (0.195 < 2 * hypot(0.005, 0.1)): a tie; end is beaten
    assert [rows[("dpp", "sgd", t)]["verdict"] for t in ("plateau", "exit", "end")] == \
        ["tie (within 2 s.e.)", "tie (within 2 s.e.)", ""]
    assert not any(rows[("dpp", "sgd", t)]["best"] for t in ("plateau", "exit", "end"))
    # random: exit beats both by far more than 2 s.e.
    assert [rows[("random", "sgd", t)]["verdict"] for t in ("plateau", "exit", "end")] == ["", "best", ""]
    assert rows[("random", "sgd", "exit")]["best"]
    # the ODE's curves agree to integration accuracy: differences of 1e-10 are no best t0
    assert all(rows[("dpp", "ode", t)]["verdict"].startswith("tie") for t in ("plateau", "exit", "end"))
    # one run each: no standard error, no claim
    assert rows[("importance", "sgd", "exit")]["verdict"] == "no s.e. (1 run)"


def test_every_never_within_2x_row_gets_its_reason():
    from tsdyn.pruning.retrain_summary import explain_never_within_2x

    def row(kn, method="dpp", t=math.nan):
        return dict(M=2, K=6, kn=kn, method=method, reweight="none", sigma=0.0, t_within_2x_unpruned=t, eg_dt400=0.39)
    rows = [row(1), row(2), row(3), row(2, "random_edge"), row(2, t=5.0), row(3, "random")]
    checks = {(2, 6, 2, "dpp", "none", 0.0): [dict(seed=0, eg_final=1e-5, t2x=700.0, lr=0.05, dt=4000.0)],
              (2, 6, 3, "dpp", "none", 0.0): [dict(seed=0, eg_final=0.2, t2x=math.nan, lr=0.05, dt=4000.0)]}
    explain_never_within_2x(rows, checks, {(2, 6): dict(lr=0.5, lr_c=0.144)})
    notes = [r["t_2x_note"] for r in rows]
    assert "K' = 1 < M = 2" in notes[0]
    assert "unstable" in notes[1] and "at lr 0.05 comes within 2x at dt = 700" in notes[1]
    assert "not shown to be the reason" in notes[2]
    assert "cannot represent the dense teacher" in notes[3]
    assert notes[4] == ""
    assert "not checked" in notes[5]


@pytest.mark.slow
def test_report_end_to_end_on_a_tiny_configuration(tmp_path):
    cfg = dict(sigmas=[0.0], seeds=[0], dt_max=5.0, per_decade=2, draws=2, rank_dts=[5.0], agreement_dts=[1.0, 5.0],
               engine_replicas=2, lr_scan=[0.5], lr_scan_dt=10.0,
               students={"tiny": dict(M=2, K=3, N=60, lr=0.5, vstar=4.0, steps=1200, kn=[1, 3], sgd_seeds=[0],
                                      sgd_draws=2, edge_kn=[2], edge_masks=2, edge_sigmas=[0.0])},
               during=dict(student="tiny", sigmas=[0.0], t_plateau=2.0, exit_fraction=0.5, t_total=25.0, kn=2,
                           draws=2, edge_masks=1),
               convergence=dict(student="tiny", sigma=0.0, seed=0, kn=2, methods=["random"], draws=2, Ns=[30, 60],
                                dts=[5.0], family_alpha=0.01))
    from tsdyn.sweep.runner import run_jobs

    cfg["check_lr"], cfg["check_dt"] = 0.05, 10.0
    jobs = target.jobs(cfg)
    by_key, summary = run_jobs(jobs, None, None, progress=False)
    assert not summary.failed and summary.computed == len(jobs)
    results = {j.name: by_key[j.key()] for j in jobs}
    files = target.report(cfg, results, tmp_path)
    assert {f.name for f in files} >= {"retrain.csv", "retrain.png", "retrain.md", "retrain_during.png",
                                       "retrain_convergence.csv", "retrain_convergence_verdicts.csv"}
    conv = list(csv.DictReader(open(tmp_path / "retrain_convergence.csv")))
    assert [(r["dt"], r["N"], r["starts"]) for r in conv] == [("5.0", "30", "2"), ("5.0", "60", "2")]
    assert "dt pass.**" in (tmp_path / "retrain.md").read_text()
    rows = list(csv.DictReader(open(tmp_path / "retrain.csv")))
    assert list(rows[0]) == list(target.COLUMNS)
    assert {r["method"] for r in rows} == {"dpp", "importance", "random", "random_edge"}
    assert {r["level"] for r in rows} == {"ode", "sgd"}
    # k_n = K keeps every node: the ODE starts from the trained student itself
    full = [r for r in rows if r["kn"] == "3" and r["dt"] == "0.0" and r["reweight"] == "none"]
    np.testing.assert_allclose([float(r["eg"]) for r in full], results[next(iter(results))]["eg"][-1], rtol=1e-10)


def test_closed_form_initial_rate_of_dpp_under_a6_matches_the_odes(ideal_student):
    for M, Z, vs, lr, sigma in ((2, 3, 4.0, 0.5, 0.0), (3, 4, 4.0, 0.5, 0.25), (5, 4, 4.0, 0.5, 0.5), (3, 2, 1.0, 0.3, 1.0)):
        w, v, wstar = ideal_student(M=M, Z=Z, N=3000, vstar=vs)
        op = OrderParameters.from_weights(w, v, wstar, np.full(M, vs))
        for k in range(1, M + 1):
            for rw in ("none", "optimal"):
                numeric = recovery.initial_rate(retrain.node_start(op, np.arange(k) * Z, rw), lr=lr, sigma=sigma)
                closed = recovery.ideal_dpp_initial_rate(M=M, k=k, Z=Z, vstar=vs, lr=lr, sigma=sigma, reweight=rw)
                for part in ("v", "w_lr", "w_lr2", "total"):
                    assert closed[part] == pytest.approx(numeric[part], rel=1e-6, abs=1e-9), (M, Z, k, rw, part)


def test_exact_initial_eg_is_the_pruning_study_and_the_mean_of_enumerated_subsets(trained_student):
    from tsdyn.pruning.dpp import all_subsets
    from tsdyn.pruning.operators import subset_eg
    from tsdyn.pruning.retrain_study import exact_initial_eg
    from tsdyn.pruning.study import node_pruning_rows

    ours = {(r["kn"], r["method"], r["reweight"]): r["eps"] for r in exact_initial_eg(trained_student, [1, 2, 3])}
    study = {(r["kn"], r["method"], r["reweight"]): r["eps"] for r in node_pruning_rows(trained_student, [1, 2, 3])}
    assert all(ours[k] == pytest.approx(study[k], rel=1e-12) for k in ours)
    op = trained_student.params
    assert ours[(2, "random", "none")] == pytest.approx(subset_eg(op, all_subsets(op.K, 2)).mean(), rel=1e-12)


def test_perfect_state_repels_above_the_critical_rate_in_the_integrated_odes():
    from tsdyn.pruning.retrain_stability import critical_lr, growth_rate, perfect_state

    lr_c = critical_lr(2, 4.0)
    assert 0.1 < lr_c < 0.2
    assert critical_lr(2, 1.0) == pytest.approx(16 * lr_c, rel=0.01)     # the rate enters as lr v*^2 (Z = 1)
    s = perfect_state(2, 1, 4.0)
    rng = np.random.default_rng(0)
    kick = 1e-4 * rng.standard_normal(2)
    start = OrderParameters(0.999 * s.Q, 0.999 * s.R, s.T, s.v + kick, s.vstar)   # just inside the domain
    for lr, grows in ((0.5 * lr_c, False), (2.0 * lr_c, True)):
        traj = integrate(start, lr=lr, times=[0.0, 200.0])
        assert (traj.eg[-1] > 10 * traj.eg[0]) == grows, (lr, traj.eg)
        assert (growth_rate(2, 4.0, lr) > 1e-6) == grows
