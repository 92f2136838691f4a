"""The pathkernel and prune_at_init sweep targets: closed forms, Monte Carlo, and small end-to-end runs."""
import csv
import importlib
import math
from pathlib import Path

import numpy as np
import pytest

from tsdyn.conventions import g
from tsdyn.pathkernel import speed, study
from tsdyn.pathkernel.selection import trainable_mask
from tsdyn.sweep.config import load_config
from tsdyn.targets import pathkernel as pk_target
from tsdyn.targets import prune_at_init as pai

SIMS = Path(__file__).resolve().parents[1] / "sims"


def test_dpp_node_rows_reproduce_lemma_2_on_the_ideal_student(ideal_student):
    from tsdyn.pruning.study import TrainedStudent

    M, Z, vs = 3, 4, 4.0
    w, v, wstar = ideal_student(M=M, Z=Z, N=48, vstar=vs)
    student = TrainedStudent(w, v, wstar, np.full(M, vs), 0.0, 0)
    cfg = dict(edge_masks=2, dpp_max_subsets=10_000)
    rows = pk_target._baseline_rows(cfg, dict(kn=[1, 2, 3]), student)
    for row in (r for r in rows if r["method"] == "dpp_node"):
        k = row["kn"]
        assert row["eg"] == pytest.approx(vs**2 * (k / 6 * (1 - 1 / Z) ** 2 + (M - k) / 6), rel=1e-9)  # eq 9
        assert row["eg_reweighted"] == pytest.approx((M - k) * vs**2 / 6, rel=1e-9, abs=1e-9)  # eq 10


def magnitude_pruned_ideal_eg(c, M, vstar):
    """N -> infinity GE of the ideal student (A6) after keeping the top-c |w| edges, and after v -> A* v.

    Every copy of teacher node n is w*_n, so one threshold t = Phi^-1(1 - c/2) masks all copies alike:
    Q'_ik = R'_in = F within a block, 0 across, with F = E[x^2 1(|x| > t)] = 2 (t phi(t) + 1 - Phi(t)).
    Then eps(A) = M v*^2 / pi [A^2 asin(F/(1+F)) + pi/6 - 2 A asin(F / sqrt(2(1+F)))], independent of Z.
    """
    from scipy.stats import norm

    t = norm.ppf(1 - c / 2)
    F = 2 * (t * norm.pdf(t) + norm.sf(t))
    a, b = math.asin(F / (1 + F)), math.asin(F / math.sqrt(2 * (1 + F)))
    scale = M * vstar**2 / math.pi
    return scale * (a + math.pi / 6 - 2 * b), scale * (math.pi / 6 - b * b / a)


def test_magnitude_family_on_the_ideal_student_matches_the_closed_form(ideal_student):
    M, Z, vs = 2, 3, 4.0
    w, v, wstar = ideal_student(M=M, Z=Z, N=12_000, vstar=vs, seed=3)
    rows = study.pruned_score_rows(w, v, wstar, vs, kn=[1, 2, 3], scores=["magnitude", "synflow", "synflow_l2"],
                                   layers=["first"], sigma=0.0, seed=0, score_samples=20)
    for row in (r for r in rows if r["method"] in ("magnitude", "synflow", "synflow_l2")):
        plain, reweighted = magnitude_pruned_ideal_eg(row["c"], M, vs)
        assert row["eg"] == pytest.approx(plain, rel=0.02)
        assert row["eg_reweighted"] == pytest.approx(reweighted, rel=0.02)


def test_full_budget_recovers_the_unpruned_student_and_equal_v_makes_synflow_magnitude(ideal_student):
    w, v, wstar = ideal_student(M=2, Z=3, N=40)
    w = w + 0.3 * np.random.default_rng(1).standard_normal(w.shape)  # not at the optimum: eps > 0
    rows = study.pruned_score_rows(w, v, wstar, 4.0, kn=[2, 6], scores=["magnitude", "synflow", "synflow_l2"],
                                   layers=["first"], sigma=0.0, seed=0, score_samples=50)
    full = [r for r in rows if r["kn"] == 6]
    assert len({round(r["eg"], 12) for r in full}) == 1  # every method keeps everything
    # All |v_k| equal: |v_k||w_ki| and v_k^2 |w_ki| order the edges exactly as |w_ki| does.
    at2 = {r["method"]: r for r in rows if r["kn"] == 2}
    assert at2["synflow"]["eg"] == at2["magnitude"]["eg"] == at2["synflow_l2"]["eg"]


def test_pruned_ge_of_a_score_mask_matches_monte_carlo():
    rng = np.random.default_rng(2)
    K, M, N = 4, 2, 50
    w, v, wstar = rng.standard_normal((K, N)), rng.standard_normal(K), rng.standard_normal((M, N))
    rows = study.pruned_score_rows(w, v, wstar, 2.0, kn=[1], scores=["synflow"], layers=["first"], sigma=0.0, seed=3,
                                   score_samples=50)
    exact = next(r["eg"] for r in rows if r["method"] == "synflow")
    mask = np.abs(v)[:, None] * np.abs(w) >= np.sort((np.abs(v)[:, None] * np.abs(w)).ravel())[-N]
    x = rng.standard_normal((200_000, N))
    diff = g(x @ np.where(mask, w, 0).T / math.sqrt(N)) @ v - g(x @ wstar.T / math.sqrt(N)) @ np.full(M, 2.0)
    half_sq = 0.5 * diff**2
    assert abs(half_sq.mean() - exact) < 4 * half_sq.std() / math.sqrt(x.shape[0])


def test_initial_masks_keep_the_budget_of_either_rule():
    rng = np.random.default_rng(4)
    K, N = 6, 100
    w, v, wstar = rng.standard_normal((K, N)), rng.standard_normal(K), rng.standard_normal((2, N))
    for pruner in study.SCORE_NAMES + (study.ITERATIVE,):
        first = study.initial_mask(pruner, w, v, wstar, 4.0, 2 / 6, seed=0, layers="first", score_samples=100, rounds=5)
        assert first.w.sum() == 2 * N and first.v.all(), pruner
        both = study.initial_mask(pruner, w, v, wstar, 4.0, 2 / 6, seed=0, score_samples=100, rounds=5)
        assert both.w.sum() + both.v.sum() == 2 * (N + 1), pruner
    node = study.initial_mask("random_node", w, v, wstar, 4.0, 2 / 6, seed=0)
    assert sorted(node.w.sum(axis=1)) == [0, 0, 0, 0, N, N] and node.v.sum() == 2
    edge = study.initial_mask("random_edge", w, v, wstar, 4.0, 2 / 6, seed=0)
    assert abs(edge.w.mean() - 1 / 3) < 4 * math.sqrt(2 / 9 / (K * N))
    assert study.initial_mask("dense", w, v, wstar, 4.0, 1.0, seed=0).w.all()
    with pytest.raises(ValueError, match="pruner must be one of"):
        study.initial_mask("obd", w, v, wstar, 4.0, 0.5, seed=0)
    with pytest.raises(ValueError, match="random_node needs density"):
        study.initial_mask("random_node", w, v, wstar, 4.0, 1 / 12, seed=0)
    with pytest.raises(ValueError, match="budgets must be fractions"):
        pai.densities({"budgets": ["3/2"]})


def test_effective_nodes_counts_nodes_spanned_by_the_budget():
    mask = np.zeros((6, 10), bool)
    mask[:2] = True
    assert pai.effective_nodes(mask) == pytest.approx(2.0)
    mask[:, :3] = True
    assert pai.effective_nodes(mask) == pytest.approx((20 + 12) ** 2 / (2 * 100 + 4 * 9))
    assert pai.effective_nodes(np.zeros((3, 4), bool)) == 0.0


def test_fits_recover_a_planted_saturation_curve_and_log_linear_law():
    rng = np.random.default_rng(5)
    rows = []
    for i in range(30):
        tr1 = rng.uniform(50, 500)
        for t in (0.1, 0.5, 1, 5):
            drop = 3.0 * (1 - math.exp(-0.02 * 0.5 * tr1 / 100 * t))
            rows.append(dict(K=6 + 6 * (i % 2), c=1 / 3, t=t, trace_pi1=tr1, trace_pi0=math.exp(i / 10),
                             ntk_trace0=2.0, drop=drop, rel_drop=0.1 * i / 10 + 1.0))
    fits = {(f["claim"], f["y"], f["group"]): f for f in speed.figure1_fits(rows, lr=0.5, N=100)}
    free = fits[("fig1_free_rate", "drop", "all")]
    assert (free["a"], free["b"], free["r2"]) == pytest.approx((3.0, 0.02, 1.0), rel=1e-4)
    assert fits[("fig1_paper_rate", "drop", "all")]["r2"] < 0.99   # b = 1 is the wrong rate here
    assert fits[("fig1_free_rate", "drop", "K=12 c=0.3333")]["n"] == 60
    lin = [f for f in speed.figure2_fits(rows) if f["y"] == "rel_drop" and f["x"] == "log trace_pi0"
           and f["group"] == "all"]
    assert len(lin) == 4 and all((f["b"], f["a"], f["r2"]) == pytest.approx((0.1, 1.0, 1.0)) for f in lin)
    y = np.array([1.0, 2.0, 4.0])
    assert speed.r_squared(y, [1.5, 2.0, 3.5]) == pytest.approx(1 - 0.5 / np.sum((y - y.mean()) ** 2))


def test_train_pruned_keeps_the_mask_and_reports_the_pruned_initial_student():
    from tsdyn.simulate import simulate

    params = dict(N=40, M=2, K=3, lr=0.5, vstar=4.0, sigma=0.0, steps=400, seed=7, pruner="magnitude",
                  density=0.3, layers="both", score_samples=60, rounds=3, speed_times=[0.5, 2.0], ntk_samples=30)
    out = study.train_pruned(**params)
    start = simulate(N=40, M=2, K=3, steps=0, seed=7)
    np.testing.assert_array_equal(out["w0"], start.w)  # the seed's own initial student was scored
    live = trainable_mask(study.LayerArrays(out["mask_w"], out["mask_v"]))
    w0, v0 = out["w0"], out["v0"]
    assert out["trace_pi0"] == pytest.approx(sum(live[k].sum() * v0[k] ** 2 + np.sum(w0[k, live[k]] ** 2)
                                                 for k in range(3)), rel=1e-12)
    run = simulate(N=40, M=2, K=3, steps=80, seed=7, mask=live)
    assert not np.any(run.w[~live])  # pruned weights stay exactly 0
    np.testing.assert_allclose(out["eg_speed"][1], run.eg[-1], rtol=1e-12)
    assert out["kept"] == out["mask_w"].sum() + out["mask_v"].sum() == round(0.3 * 123)


def test_a_pruned_output_weight_trains_as_its_node_removed():
    # g(0) = 0: a node with an all-zero row outputs nothing and its v_k never moves (selection.py docstring).
    from tsdyn.simulate import simulate

    mask = np.ones((3, 30), bool)
    mask[1] = False
    run = simulate(N=30, M=2, K=3, steps=3000, seed=2, mask=mask)
    assert np.all(run.v[:, 1] == run.v[0, 1]) and not np.all(run.v[:, 0] == run.v[0, 0])


def test_output_norm_matches_monte_carlo():
    rng = np.random.default_rng(8)
    w, v = rng.standard_normal((3, 40)), rng.standard_normal(3)
    x = rng.standard_normal((200_000, 40))
    phi = g(x @ w.T / math.sqrt(40)) @ v
    assert study.output_norm(w @ w.T / 40, v) == pytest.approx(math.sqrt(np.mean(phi**2)), rel=0.01)


@pytest.mark.parametrize("target, sims", [("pathkernel", SIMS), ("prune_at_init", SIMS), ("prune_at_init", SIMS / "full")])
def test_configs_load_and_give_uniquely_named_jobs(target, sims):
    for quick in (False, True):
        cfg = load_config(target, sims, quick=quick)
        jobs = importlib.import_module(f"tsdyn.targets.{target}").jobs(cfg, quick=quick)
        assert len({j.name for j in jobs}) == len(jobs) > 0


def test_pathkernel_trains_nothing_that_fig2a_and_fig2b_do_not_train():
    for quick in (False, True):
        theirs = set()
        for other in ("fig2a", "fig2b"):
            cfg = load_config(other, SIMS, quick=quick)
            theirs |= {j.key() for j in importlib.import_module(f"tsdyn.targets.{other}").jobs(cfg, quick=quick)}
        ours = pk_target.jobs(load_config("pathkernel", SIMS, quick=quick), quick=quick)
        assert {j.key() for j in ours} <= theirs


@pytest.mark.slow
def test_both_targets_run_end_to_end_on_a_tiny_configuration(tmp_path):
    cfg = dict(M=2, N=30, lr=0.5, vstar=4.0, sigma=0.0, t_final=5, K=[3], budgets=["1/3"], layers=["both", "first"],
               seeds=[0, 1], pruners=["magnitude", "synflow", "random_edge", "random_node"], score_samples=40,
               iterative_rounds=3, speed_times=[0.1, 1.0], ntk_samples=20)
    files = pai.report(cfg, {j.name: j.run() for j in pai.jobs(cfg)}, tmp_path)
    assert {f.name for f in files} >= {"prune_at_init.csv", "prune_at_init.png", "pathkernel_speed.csv",
                                       "pathkernel_speed.pdf", "pathkernel_theorem1.csv", "prune_at_init_masks.csv"}
    rows = list(csv.DictReader(open(tmp_path / "prune_at_init.csv")))
    assert len(rows) == 2 * (1 + 2 * 4)
    assert len(list(csv.DictReader(open(tmp_path / "pathkernel_speed.csv")))) == 2 * 2 * 4 * 2
    masks = list(csv.DictReader(open(tmp_path / "prune_at_init_masks.csv")))
    first = [r for r in masks if r["pruner"] == "synflow_iter" and r["layers"] == "first"]
    assert first and all(float(r["jaccard_with_one_shot"]) == 1.0 for r in first)

    pk_cfg = dict(sigmas=[0.0], seeds=[0], layers=["both"], scores=["magnitude", "synflow"], score_samples=40,
                  edge_masks=2, dpp_max_subsets=100,
                  students={"tiny": dict(M=2, K=4, N=30, lr=0.5, vstar=4.0, steps=3000, kn=[1, 4])})
    jobs = pk_target.jobs(pk_cfg)
    results = {j.name: j.run() for j in jobs}
    files = pk_target.report(pk_cfg, results, tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "pathkernel.csv")))
    assert len(rows) == 2 * (2 + 2)
    trained = results[jobs[0].name]
    unpruned = [float(r["eg"]) for r in rows if r["kn"] == "4" and r["method"] in ("magnitude", "synflow")]
    np.testing.assert_allclose(unpruned, trained["eg"][-1], rtol=1e-10)
    assert (tmp_path / "pathkernel.png").stat().st_size > 0 and len(files) == 3
