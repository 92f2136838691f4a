"""The (Z, c) comparison layer (issue 12): ansatz rows against Figure 4 and Theorem 1's closed forms, the ideal
student through the trained-student code path, the RBF kernel against DIVNET's weights-based one, verdict
fractions against a direct count, and the specialisation rule on synthetic curves and a real run."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tsdyn.dynamics.specialise import (alignment, checkpoints, first_specialised, rule_holds,
                                       train_until_specialised)
from tsdyn.order_parameters import OrderParameters
from tsdyn.pruning.closed_form import ideal_order_parameters
from tsdyn.pruning.dpp import divnet_kernel
from tsdyn.pruning.operators import select_importance
from tsdyn.pruning.theorems import fig4_table, theorem1_margins
from tsdyn.pruning.zc import (ZC_KERNELS, ansatz_rows, cosine_kernel, importance_distribution, rbf_kernel,
                              student_rows, verdict_fractions, zc_kernel)
from tsdyn.trajectory import Trajectory


# ------------------------------------------------------------ ansatz rows
@pytest.mark.parametrize("M,Z", [(2, z) for z in range(4, 11)] + [(5, 4)])
def test_ansatz_rows_of_theorems_2_and_3_are_figure_4(M, Z):
    # Figure 4's grid c = j / (50 Z) holds every c = k_n / (M Z): j = 50 k_n / M.
    table = fig4_table([Z], 51)
    rows = {(r["kn"], r["theorem"]): r for r in ansatz_rows(M, Z)}
    for k in range(1, M + 1):
        j = 50 * k // M
        assert table["c"][j] == pytest.approx(k / (M * Z), abs=1e-15)
        assert abs(rows[(k, "2")]["margin"] - table["diff_thm2"][j]) < 1e-12
        assert abs(rows[(k, "3")]["margin"] + table["diff_thm3"][j]) < 1e-12


@pytest.mark.parametrize("M,Z", [(2, 1), (2, 3), (2, 10), (5, 2), (5, 4), (3, 5)])
def test_ansatz_rows_of_theorem_1_match_tsdyn_theorems(M, Z):
    rows = ansatz_rows(M, Z)
    ref = theorem1_margins([M], [Z])            # per unit v*^2, minimum over k_n = 1..M
    for theorem, name in (("1a", "eq2_eps"), ("1b", "eq2_epshat")):
        ours = min(r["margin"] for r in rows if r["theorem"] == theorem)
        assert abs(M * ours - ref[name].min_margin) < 1e-12
    # 1c/1d: importance with uniform tie-breaking, no worse than tsdyn.theorems' worst tie-breaking.
    for theorem, name in (("1c", "eq3_eps"), ("1d", "eq3_epshat")):
        assert M * min(r["margin"] for r in rows if r["theorem"] == theorem) >= ref[name].min_margin - 1e-12


@pytest.mark.parametrize("M,Z", [(2, 1), (2, 2), (2, 3), (2, 5), (5, 2), (3, 4)])
def test_ideal_student_through_the_trained_code_path_gives_the_ansatz_for_every_kernel(M, Z):
    op = ideal_order_parameters(M, Z, vstar=4.0)
    ansatz = {(r["kn"], r["theorem"]): r["margin"] for r in ansatz_rows(M, Z)}
    rows = student_rows(op, max_subsets=0)
    assert {r["kernel"] for r in rows} == set(ZC_KERNELS)
    assert len(rows) == len(ZC_KERNELS) * len(ansatz)
    for r in rows:
        assert abs(r["margin"] - ansatz[(r["kn"], r["theorem"])]) < 1e-12, r


# ---------------------------------------------------------------- kernels
def test_cosine_kernel_has_unit_diagonal_and_is_q_under_a6():
    op = ideal_order_parameters(2, 3)
    assert np.array_equal(cosine_kernel(op.Q), op.Q)
    rng = np.random.default_rng(1)
    w = rng.standard_normal((5, 40)) * rng.uniform(0.5, 2, (5, 1))
    L = cosine_kernel(w @ w.T / 40)
    assert np.allclose(np.diag(L), 1.0)
    norms = np.linalg.norm(w, axis=1)
    assert np.allclose(L, (w @ w.T) / np.outer(norms, norms))


def test_rbf_kernel_in_field_space_is_divnets_kernel_on_the_weights():
    rng = np.random.default_rng(3)
    N, K, n = 60, 4, 400_000
    w = rng.standard_normal((K, N)) * np.array([[0.6], [1.0], [1.5], [1.0]])
    w[3] = 0.9 * w[1] + 0.3 * rng.standard_normal(N)       # a near-duplicate node: L_13 close to 1
    Q = w @ w.T / N
    mc = divnet_kernel(w, n, np.random.default_rng(4))
    closed = rbf_kernel(Q)
    # Monte Carlo error of L_ij = exp(-10 d_ij): 10 L_ij sd(d_ij) with sd(d) <= 2 / sqrt(n).
    assert np.max(np.abs(mc - closed)) < 10 * 2 / math.sqrt(n) * 4
    assert closed[1, 3] > 0.5 and closed[0, 2] < 0.1


def test_rbf_and_cosine_kernels_give_one_distribution_under_a6():
    from tsdyn.pruning.dpp import kdpp_subsets

    op = ideal_order_parameters(3, 2)
    probs = [kdpp_subsets(zc_kernel(k, op.Q), 3).probs for k in ZC_KERNELS]
    for p in probs[1:]:
        assert np.allclose(p, probs[0], atol=1e-12)


# ------------------------------------------------------------- importance
def test_importance_without_ties_is_the_k_largest_and_with_ties_uniform():
    v = np.array([0.3, -2.0, 1.0, 0.5, -0.7])
    for k in range(1, 6):
        d = importance_distribution(v, k)
        assert d.subsets.shape == (1, k) and np.array_equal(d.subsets[0], select_importance(v, k))
    tied = np.array([2.0, -1.0, 1.0, 1.0, 0.1])
    d = importance_distribution(tied, 2)
    assert sorted(map(tuple, d.subsets)) == [(0, 1), (0, 2), (0, 3)] and np.allclose(d.probs, 1 / 3)


# --------------------------------------------------------------- verdicts
def test_verdict_fractions_equal_a_direct_count():
    rng = np.random.default_rng(0)
    rows = [dict(M=2, Z=z, K=2 * z, kn=k, c=k / (2 * z), sigma=s, level=lv, seed=seed, kernel=ke, theorem=t,
                 margin=float(m), holds=bool(m >= 0))
            for z, k, s, lv, ke, t in itertools.product((1, 2), (1, 2), (0.0,), ("sgd", "ode"), ("Q", "rbf"), ("1a", "2"))
            for seed, m in enumerate(rng.normal(0, 1, 5))]
    out = verdict_fractions(rows)
    assert len(out) == len(rows) // 5
    for v in out:
        mine = [r for r in rows if all(r[k] == v[k] for k in ("Z", "kn", "level", "kernel", "theorem"))]
        assert v["seeds"] == 5 and v["holds"] == sum(r["margin"] >= 0 for r in mine)
        assert v["fraction"] == pytest.approx(np.mean([r["margin"] >= 0 for r in mine]))
        assert v["min_margin"] == min(r["margin"] for r in mine)


def test_training_summary_equals_a_direct_count_over_seeds():
    from tsdyn.pruning.zc import training_summary

    rng = np.random.default_rng(2)
    rows = [dict(M=2, Z=z, K=2 * z, sigma=0.0, kn=k, level=lv, kernel="Q", theorem=t, t=tt, seed=seed, margin=float(m))
            for z, k, lv, t, tt in itertools.product((2, 3), (1, 2), ("sgd", "ode"), ("1a", "3"), (1.0, 10.0))
            for seed, m in enumerate(rng.normal(0.1, 1, 5))]
    out = training_summary(rows)
    assert len(out) == len(rows) // 5
    for v in out:
        m = np.array([r["margin"] for r in rows if all(r[k] == v[k] for k in ("Z", "kn", "level", "theorem", "t"))])
        assert v["seeds"] == 5 and v["mean_margin"] == pytest.approx(m.mean(), rel=1e-5)
        assert v["sem_margin"] == pytest.approx(m.std(ddof=1) / math.sqrt(5), rel=1e-2)
        assert v["fraction"] == np.mean(m >= 0)


# ----------------------------------------------------- specialisation rule
def _student(cos, perm=(0, 1, 2, 3), v=(2.0, 2.0, 2.0, 2.0), M=2) -> OrderParameters:
    """K = 4 nodes on M = 2 orthonormal teacher nodes: node i at cosine ``cos`` (or cos[i]) with teacher perm[i] % M."""
    K = len(perm)
    T = np.eye(M)
    W = np.zeros((K, M + K))                                # student directions in a basis with M teacher axes
    for i, p in enumerate(perm):
        c = float(np.broadcast_to(cos, (K,))[i])
        W[i, p % M] = c
        W[i, M + i] = math.sqrt(1 - c ** 2)
    return OrderParameters(W @ W.T, W[:, :M], T, np.array(v, dtype=float), np.full(M, 4.0))


def test_rule_on_a_synthetic_curve():
    times = checkpoints(25.0, 3200.0)
    assert times.tolist() == [25, 50, 100, 200, 400, 800, 1600, 3200]
    # Unaligned to t = 100, aligned from t = 200, the assignment changes at 400, stable from 400 on.
    flip = (1, 0, 3, 2)
    states = [_student(0.5), _student(0.6), _student(0.7), _student(0.95), _student(0.97, perm=flip),
              _student(0.98, perm=flip), _student(0.99, perm=flip), _student(0.99, perm=flip)]
    assert first_specialised(times, states) == 800.0
    assert np.isnan(first_specialised(times[:5], states[:5]))
    assert first_specialised(times[:5], states[:4] + [_student(0.97)]) == 400.0
    # A dead node (v ~ 0) is not asked to align; an uncovered teacher node fails the rule.
    dead = _student([0.99, 0.99, 0.99, 0.3], v=(2.0, 2.0, 2.0, 1e-3))
    assert not alignment(_student([0.99, 0.99, 0.99, 0.3])).aligned
    assert alignment(dead).aligned and not alignment(dead).active[3]
    one_teacher = _student(0.99, perm=(0, 2, 4, 6))
    assert not alignment(one_teacher).aligned
    assert not rule_holds(None, alignment(_student(0.99)))


def _synthetic_segment(states_by_t):
    """A segment runner that returns the synthetic state stored for its end time."""
    def segment(state, t_from, times, index):
        op = states_by_t[t_from + times[-1]]
        n = len(times)
        return Trajectory(times=np.asarray(times), eg=np.zeros(n), Q=np.repeat(op.Q[None], n, 0),
                          R=np.repeat(op.R[None], n, 0), v=np.repeat(op.v[None], n, 0), T=op.T, vstar=op.vstar,
                          initial=op)
    return segment


def test_train_until_specialised_stops_at_the_rule_but_runs_to_t_min_and_respects_the_cap():
    grid = checkpoints(25.0, 800.0)
    good = {t: _student(0.5 if t < 100 else 0.97) for t in grid}
    run = train_until_specialised(_synthetic_segment(good), None, grid=grid, t_min=400.0, record_times=[10.0, 30.0])
    assert run.met and run.t_stop == 200.0 and run.trajectory.times[-1] == 400.0
    assert np.all(np.diff(run.trajectory.times) > 0) and 30.0 in run.trajectory.times
    never = {t: _student(0.5) for t in grid}
    run = train_until_specialised(_synthetic_segment(never), None, grid=grid)
    assert not run.met and run.t_stop == 800.0 and run.aligned.tolist() == [False] * 6


def test_train_until_specialised_on_a_tiny_real_run():
    from tsdyn.simulate import simulate

    def segment(state, t_from, times, index):
        common = dict(N=100, lr=0.5, steps=int(round(times[-1] * 100)), times=times, engine="order")
        if index == 0:
            return simulate(M=2, K=2, seed=0, **common)
        return simulate(start=state, seed=0, data_seed=1000 + index, **common)

    run = train_until_specialised(segment, None, grid=checkpoints(10.0, 640.0), t_min=80.0)
    traj = run.trajectory
    assert np.all(np.diff(traj.times) > 0) and traj.times[-1] >= 80.0
    assert run.met and 20.0 <= run.t_stop <= 640.0
    # Independently: at t_stop and at t_stop / 2 every node has |cos| >= 0.9 with distinct teacher nodes.
    for t in (run.t_stop, run.t_stop / 2):
        op = traj.at(run.index_at(t))
        cos = np.abs(op.R) / np.sqrt(np.outer(np.diag(op.Q), np.diag(op.T)))
        assert cos.max(axis=1).min() >= 0.9 and len(set(cos.argmax(axis=1))) == 2


def test_the_ode_solver_of_the_target_agrees_with_the_default_lsoda():
    # theorems_zc integrates with RK45 at rtol 1e-6 for speed; the reference is LSODA at rtol 1e-9.
    from tsdyn.dynamics.ode import integrate
    from tsdyn.simulate import simulate

    start = simulate(N=500, M=2, K=6, steps=0, seed=1, engine="order").initial
    times = np.geomspace(1, 800, 12)
    fast = integrate(start, lr=0.5, times=times, method="RK45", rtol=1e-6)
    ref = integrate(start, lr=0.5, times=times)
    assert np.max(np.abs(fast.eg / ref.eg - 1)) < 1e-4


def test_the_target_s_short_plateau_relaxation_finds_the_same_plateau():
    # theorems_zc relaxes for t = 30 (PLATEAU_T_RELAX) before Newton instead of 200: the same fixed point.
    from tsdyn.dynamics.stalls import plateau_eg
    from tsdyn.targets.theorems_zc import PLATEAU_T_RELAX

    for M, K in ((2, 6), (3, 6)):
        short = plateau_eg(np.eye(M), np.full(M, 4.0), K, lr=0.5, sigma=0.0, t_relax=PLATEAU_T_RELAX)
        assert abs(short - plateau_eg(np.eye(M), np.full(M, 4.0), K, lr=0.5, sigma=0.0)) < 1e-12


def test_departure_lines_list_exactly_the_points_where_the_majority_verdict_differs():
    from tsdyn.pruning.zc_markdown import Counter, _auc, departure_lines

    assert _auc([2.0, 3.0], [1.0]) == 1.0 and _auc([1.0], [1.0, 2.0]) == 0.25 and np.isnan(_auc([], [1.0]))
    verdicts = []
    for Z, kn, lv, kernel, holds in [(2, 1, "ansatz", "Q", 1), (2, 1, "sgd", "Q", 1), (2, 2, "ansatz", "Q", 1),
                                     (2, 2, "sgd", "Q", 4), (3, 1, "ansatz", "Q", 0), (3, 1, "sgd", "Q", 3)]:
        n = 1 if lv == "ansatz" else 5
        verdicts.append(dict(M=2, Z=Z, K=2 * Z, kn=kn, c=kn / (2 * Z), sigma=0.0, level=lv, kernel=kernel,
                             theorem="1a", seeds=n, holds=holds, fraction=holds / n, min_margin=0.0, mean_margin=0.0))
    students = [dict(M=2, Z=Z, sigma=0.0, level="sgd", eg=e, absv_spread=a, p_same_block_Q=0.0, norm_bias_Q=1.0,
                     imp_distinct_blocks=2.0, Qii_spread=0.1, align_min=0.9, cross_block_max=0.1)
                for Z, e, a in ((2, 0.1, 0.5), (2, 0.2, 0.6), (3, 0.01, 0.05))]
    (line,) = departure_lines(Counter(verdicts), students, 0.0)
    # Z = 2, k_n = 1: ansatz holds, 1/5 seeds hold -> differs; k_n = 2: 4/5 -> agrees; Z = 3: ansatz fails, 3/5 -> differs.
    assert "M=2 Z=2 k_n=1 (1/5)" in line and "k_n=2" not in line and "M=2 Z=3 k_n=1 (3/5)" in line
