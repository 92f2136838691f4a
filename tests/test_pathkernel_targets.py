"""The pathkernel and prune_at_init sweep targets: closed forms, Monte Carlo, and small end-to-end runs."""
import csv
import importlib
import math
from pathlib import Path

import numpy as np
import pytest

from tsdyn.conventions import g
from tsdyn.sweep.config import load_config
from tsdyn.targets import pathkernel as pk_target
from tsdyn.targets import prune_at_init as pai

SIMS = Path(__file__).resolve().parents[1] / "sims"


def test_dpp_node_rows_reproduce_lemma_2_on_the_ideal_student(ideal_student):
    M, Z, vs = 3, 4, 4.0
    w, v, wstar = ideal_student(M=M, Z=Z, N=48, vstar=vs)
    rows = pk_target.prune_trained(w, v, wstar, vs, kn=[1, 2, 3], scores=["magnitude"], sigma=0.0, seed=0,
                                   score_samples=50, edge_masks=2, dpp_max_subsets=10_000)
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
    rows = pk_target.prune_trained(w, v, wstar, vs, kn=[1, 2, 3], scores=["magnitude", "synflow", "synflow_l2"],
                                   sigma=0.0, seed=0, score_samples=20, edge_masks=2, dpp_max_subsets=100)
    for row in (r for r in rows if r["method"] in ("magnitude", "synflow", "synflow_l2")):
        plain, reweighted = magnitude_pruned_ideal_eg(row["c"], M, vs)
        assert row["eg"] == pytest.approx(plain, rel=0.02)
        assert row["eg_reweighted"] == pytest.approx(reweighted, rel=0.02)


def test_full_budget_recovers_the_unpruned_student_and_equal_v_makes_synflow_magnitude(ideal_student):
    w, v, wstar = ideal_student(M=2, Z=3, N=40)
    w = w + 0.3 * np.random.default_rng(1).standard_normal(w.shape)  # not at the optimum: eps > 0
    rows = pk_target.prune_trained(w, v, wstar, 4.0, kn=[2, 6], scores=["magnitude", "synflow", "synflow_l2"],
                                   sigma=0.0, seed=0, score_samples=50, edge_masks=3, dpp_max_subsets=100)
    full = [r for r in rows if r["kn"] == 6]
    assert len({round(r["eg"], 12) for r in full}) == 1  # every method keeps everything
    # All |v_k| equal: |v_k||w_ki| and v_k^2 |w_ki| order the edges exactly as |w_ki| does.
    at2 = {r["method"]: r for r in rows if r["kn"] == 2}
    assert at2["synflow"]["eg"] == at2["magnitude"]["eg"] == at2["synflow_l2"]["eg"]


def test_pruned_ge_of_a_score_mask_matches_monte_carlo():
    rng = np.random.default_rng(2)
    K, M, N = 4, 2, 50
    w, v, wstar = rng.standard_normal((K, N)), rng.standard_normal(K), rng.standard_normal((M, N))
    rows = pk_target.prune_trained(w, v, wstar, 2.0, kn=[1], scores=["synflow"], sigma=0.0, seed=3,
                                   score_samples=50, edge_masks=2, dpp_max_subsets=100)
    exact = next(r["eg"] for r in rows if r["method"] == "synflow")
    mask = np.abs(v)[:, None] * np.abs(w) >= np.sort((np.abs(v)[:, None] * np.abs(w)).ravel())[-N]
    x = rng.standard_normal((200_000, N))
    diff = g(x @ np.where(mask, w, 0).T / math.sqrt(N)) @ v - g(x @ wstar.T / math.sqrt(N)) @ np.full(M, 2.0)
    half_sq = 0.5 * diff**2
    assert abs(half_sq.mean() - exact) < 4 * half_sq.std() / math.sqrt(x.shape[0])


def test_initial_masks_keep_the_matched_budget():
    rng = np.random.default_rng(4)
    K, N = 6, 100
    w, v, wstar = rng.standard_normal((K, N)), rng.standard_normal(K), rng.standard_normal((2, N))
    for pruner in ("magnitude", "snip", "grasp", "synflow", "synflow_l2", "synflow_dist", "synflow_l2_dist",
                   "synflow_iter"):
        mask = pai.initial_mask(pruner, w, v, wstar, 4.0, 2 / 6, seed=0, score_samples=100, rounds=5)
        assert mask.sum() == 2 * N, pruner
    node = pai.initial_mask("random_node", w, v, wstar, 4.0, 2 / 6, seed=0)
    assert sorted(node.sum(axis=1)) == [0, 0, 0, 0, N, N]
    edge = pai.initial_mask("random_edge", w, v, wstar, 4.0, 2 / 6, seed=0)
    assert abs(edge.mean() - 1 / 3) < 4 * math.sqrt(2 / 9 / (K * N))
    assert pai.initial_mask("dense", w, v, wstar, 4.0, 1.0, seed=0).all()
    with pytest.raises(ValueError, match="pruner must be one of"):
        pai.initial_mask("obd", w, v, wstar, 4.0, 0.5, seed=0)


def test_effective_nodes_counts_nodes_spanned_by_the_budget():
    mask = np.zeros((6, 10), bool)
    mask[:2] = True
    assert pai.effective_nodes(mask) == pytest.approx(2.0)
    mask[:, :3] = True
    assert pai.effective_nodes(mask) == pytest.approx((20 + 12) ** 2 / (2 * 100 + 4 * 9))
    assert pai.effective_nodes(np.zeros((3, 4), bool)) == 0.0


def test_trace_fit_recovers_a_planted_log_linear_law():
    rng = np.random.default_rng(5)
    log_tr = rng.uniform(5, 8, 40)
    rows = [dict(kn=1 + i % 2, log_trace_pi=t, ge_drop=2.0 + 0.5 * t, dw_early=1.0 - 3.0 * t + rng.normal(0, 0.5),
                 log_eg_final=0.0, effective_nodes=1.0 + i) for i, t in enumerate(log_tr)]
    fits = {(f["y"], f["runs"]): f for f in pai.trace_fits(rows) if f["x"] == "log_trace_pi"}
    exact = fits[("ge_drop", "all")]
    assert (exact["slope"], exact["intercept"], exact["r2"]) == pytest.approx((0.5, 2.0, 1.0))
    noisy = fits[("dw_early", "all")]
    resid = [r["dw_early"] - (noisy["intercept"] + noisy["slope"] * r["log_trace_pi"]) for r in rows]
    y = np.array([r["dw_early"] for r in rows])
    assert noisy["r2"] == pytest.approx(1 - np.sum(np.square(resid)) / np.sum((y - y.mean()) ** 2))
    assert fits[("ge_drop", "kn=2")]["n"] == 20


def test_train_pruned_keeps_the_mask_and_reports_the_pruned_initial_student():
    from tsdyn.simulate import simulate

    params = dict(N=40, M=2, K=3, lr=0.5, vstar=4.0, sigma=0.0, steps=400, early_steps=80, seed=7,
                  pruner="synflow_l2", kn=1, score_samples=60)
    out = pai.train_pruned(**params)
    mask, w0, v0 = out["mask"], out["w0"], out["v0"]
    start = simulate(N=40, M=2, K=3, steps=0, seed=7)
    np.testing.assert_array_equal(w0, start.w)  # the seed's own initial student was scored
    assert out["kept"] == mask.sum() == 40
    assert out["trace_pi"] == pytest.approx(sum(mask[k].sum() * v0[k] ** 2 + np.sum(w0[k, mask[k]] ** 2)
                                                for k in range(3)), rel=1e-12)
    early = simulate(N=40, M=2, K=3, steps=80, seed=7, mask=mask)
    assert not np.any(early.w[~mask])  # pruned weights stay exactly 0
    assert out["dw_early"] == pytest.approx(np.linalg.norm(early.w - np.where(mask, w0, 0)), rel=1e-12)
    assert out["eg_early"] == pytest.approx(early.eg[-1], rel=1e-12)


@pytest.mark.parametrize("target", ["pathkernel", "prune_at_init"])
def test_configs_load_and_give_uniquely_named_jobs(target):
    for quick in (False, True):
        cfg = load_config(target, SIMS, quick=quick)
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
    cfg = dict(M=2, K=3, N=30, lr=0.5, vstar=4.0, sigma=0.0, t_final=5, t_early=1, seeds=[0, 1], kn=[1],
               pruners=["magnitude", "synflow", "random_edge"], score_samples=40, iterative_rounds=3,
               K_scan={"K": [6], "kn_fractions": [1 / 3], "pruners": ["synflow", "synflow_l2"]})
    jobs = pai.jobs(cfg)
    files = pai.report(cfg, {j.name: j.run() for j in jobs}, tmp_path)
    assert {f.name for f in files} >= {"prune_at_init.csv", "prune_at_init.png", "prune_at_init_trace.pdf",
                                       "prune_at_init_masks.csv"}
    rows = list(csv.DictReader(open(tmp_path / "prune_at_init.csv")))
    assert len(rows) == 2 * (1 + 3) + 2 * (1 + 2)
    masks = list(csv.DictReader(open(tmp_path / "prune_at_init_masks.csv")))
    iterative = [r for r in masks if r["pruner"] == "synflow_iter"]
    assert iterative and all(float(r["jaccard_with_synflow"]) == 1.0 for r in iterative)

    pk_cfg = dict(sigmas=[0.0], seeds=[0], scores=["magnitude", "synflow"], score_samples=40, edge_masks=2,
                  dpp_max_subsets=100,
                  students={"tiny": dict(M=2, K=4, N=30, lr=0.5, vstar=4.0, steps=3000, kn=[1, 4])})
    jobs = pk_target.jobs(pk_cfg)
    results = {j.name: j.run() for j in jobs}
    files = pk_target.report(pk_cfg, results, tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "pathkernel.csv")))
    assert len(rows) == 2 * (2 + 2)
    trained = results[jobs[0].name]
    unpruned = [float(r["eg"]) for r in rows if r["kn"] == "4" and r["method"] != "dpp_node"]
    np.testing.assert_allclose(unpruned, trained["eg"][-1], rtol=1e-10)
    assert (tmp_path / "pathkernel.png").stat().st_size > 0 and len(files) == 3
