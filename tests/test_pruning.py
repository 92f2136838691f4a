"""Pruning operators, reweighting and the test-set MSE, against independent computations."""
import math
from collections import Counter

import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar
from scipy.stats import binomtest, chisquare

from tsdyn.pruning.closed_form import ideal_block_of, ideal_order_parameters
from tsdyn.conventions import g
from tsdyn.pruning.dpp import all_subsets
from tsdyn.eg import eg, eg_of
from tsdyn.order_parameters import OrderParameters
from tsdyn.pruning.operators import (bernoulli_edge_mask, dpp_kernel, expected_edge_pruned, matched_edge_count,
                           node_prune_student, node_pruned, prune_order_parameters, prune_student_edges, prune_student_nodes, scaled,
                           select_importance, select_nodes, select_random, subset_eg)


def random_student(K=5, M=2, N=150, seed=0):
    rng = np.random.default_rng(seed)
    wstar = rng.standard_normal((M, N))
    w = 0.6 * np.repeat(wstar, K // M + 1, axis=0)[:K] + 0.8 * rng.standard_normal((K, N))
    return w, rng.standard_normal(K), wstar, rng.uniform(1, 4, M), rng


def test_node_pruning_equals_the_order_parameters_of_the_pruned_weights():
    w, v, wstar, vstar, _ = random_student()
    op = OrderParameters.from_weights(w, v, wstar, vstar)
    keep = np.array([0, 3, 4])
    pruned = prune_student_nodes(w, v, wstar, vstar, keep)
    direct = OrderParameters.from_weights(w[keep], v[keep], wstar, vstar)
    for name in "QRTv":
        np.testing.assert_allclose(getattr(pruned.params, name), getattr(direct, name), atol=1e-14)
    assert pruned.eg == pytest.approx(eg_of(prune_order_parameters(op, keep)), abs=1e-14)
    # The vectorised GE over all subsets equals one eg call per pruned weight matrix.
    subsets = all_subsets(5, 2)
    loop = [eg_of(OrderParameters.from_weights(w[S], v[S], wstar, vstar)) for S in subsets]
    np.testing.assert_allclose(subset_eg(op, subsets), loop, atol=1e-13)


def test_importance_keeps_largest_abs_v_and_breaks_ties_lowest_first_or_at_random():
    v = np.array([0.5, -3.0, 2.0, -2.0, -0.1])
    np.testing.assert_array_equal(select_importance(v, 2), [1, 2])
    np.testing.assert_array_equal(select_importance(v, 4), [0, 1, 2, 3])
    rng = np.random.default_rng(0)
    picks = Counter(tuple(select_importance(v, 2, rng=rng)) for _ in range(2000))
    assert set(picks) == {(1, 2), (1, 3)}
    assert binomtest(picks[(1, 2)], 2000, 0.5).pvalue > 1e-3


def test_random_node_selection_is_uniform_over_subsets():
    rng = np.random.default_rng(1)
    n = 20_000
    counts = Counter(tuple(select_random(6, 2, rng)) for _ in range(n))
    observed = [counts.get(tuple(S), 0) for S in all_subsets(6, 2)]
    assert sum(observed) == n
    assert chisquare(observed).pvalue > 1e-3


def test_dpp_node_selection_on_the_ideal_student_keeps_one_node_per_block():
    op = ideal_order_parameters(4, 3)
    rng = np.random.default_rng(2)
    block = ideal_block_of(4, 3)
    for _ in range(50):
        assert len(set(block[select_nodes("dpp", 3, op, rng=rng)])) == 3
    with pytest.raises(ValueError, match="method must be one of"):
        select_nodes("magnitude", 2, op, rng=rng)
    with pytest.raises(ValueError, match="pass a numpy Generator rng"):
        select_nodes("random", 2, op)


@pytest.mark.parametrize("kernel", ["Q", "data", "divnet"])
def test_dpp_pruning_of_a_student_with_parallel_nodes_keeps_one_per_block_with_every_kernel(kernel):
    # Student rows are exact copies of teacher rows (blocks of sizes 3, 2, 1): every kernel has identical
    # rows for nodes of one block, so no kernel may keep two of them.
    rng = np.random.default_rng(8)
    wstar = rng.standard_normal((3, 80))
    block = np.array([0, 0, 0, 1, 1, 2])
    w, v = wstar[block], rng.uniform(0.5, 2, 6)
    for _ in range(10):
        pruned = node_prune_student(w, v, wstar, 4.0, method="dpp", k=3, rng=rng, kernel=kernel,
                                    kernel_samples=2000, reweight="optimal")
        assert sorted(block[pruned.keep]) == [0, 1, 2]
        assert pruned.eg == pytest.approx(0.0, abs=1e-10)      # one node per teacher, reweighted: exact
    top = node_prune_student(w, v, wstar, 4.0, method="importance", k=2)
    np.testing.assert_array_equal(top.keep, np.sort(np.argsort(-v)[:2]))
    op = OrderParameters.from_weights(w, v, wstar, 4.0)
    with pytest.raises(ValueError, match="kernel must be one of"):
        dpp_kernel("rbf", op, w=w, n=10, rng=rng)
    with pytest.raises(ValueError, match="pass the weights w and a generator rng"):
        dpp_kernel("data", op, n=10)


def test_lemma6_against_real_bernoulli_masks_at_large_N():
    # Given w, mask entries are independent: Var(Q'_ii) = c(1-c) sum_j w_ij^4 / N^2,
    # Var(Q'_ik) = c^2(1-c^2) sum_j w_ij^2 w_kj^2 / N^2, Var(R'_in) = c(1-c) sum_j w_ij^2 w*_nj^2 / N^2.
    # 21 + 12 entries at |z| < 5 each: a false alarm has probability ~2e-5 (Bonferroni).
    K, M, N, c = 6, 2, 20_000, 0.3
    w, v, wstar, vstar, rng = random_student(K, M, N, seed=3)
    op = OrderParameters.from_weights(w, v, wstar, vstar)
    expected = expected_edge_pruned(op, c)
    wm = np.where(bernoulli_edge_mask(K, N, c, rng), w, 0.0)
    Qm, Rm = wm @ wm.T / N, wm @ wstar.T / N
    w2, ws2 = w**2, wstar**2
    var_Q = np.where(np.eye(K, dtype=bool), c * (1 - c), c * c * (1 - c * c)) * (w2 @ w2.T) / N**2
    var_Q[np.diag_indices(K)] = c * (1 - c) * np.sum(w2**2, axis=1) / N**2
    var_R = c * (1 - c) * (w2 @ ws2.T) / N**2
    zQ = (Qm - expected.Q)[np.triu_indices(K)] / np.sqrt(var_Q[np.triu_indices(K)])
    zR = (Rm - expected.R) / np.sqrt(var_R)
    assert np.max(np.abs(zQ)) < 5 and np.max(np.abs(zR)) < 5, (np.abs(zQ).max(), np.abs(zR).max())
    np.testing.assert_allclose(expected.T, op.T)
    np.testing.assert_allclose(expected_edge_pruned(op, 1.0).Q, op.Q, atol=1e-15)


def test_matched_edge_count_follows_eq1_with_round_half_up():
    assert [matched_edge_count(k, 6, 500) for k in range(7)] == [0, 83, 167, 250, 333, 417, 500]
    assert matched_edge_count(1, 4, 10) == 3                       # 2.5 -> 3
    for k in range(1, 21):
        assert abs(matched_edge_count(k, 20, 500) / 500 - k / 20) <= 0.5 / 500
    with pytest.raises(ValueError, match="k_n must be an integer >= 0 and <= K = 6"):
        matched_edge_count(7, 6, 500)


def monte_carlo_activations(w, wstar, vstar, n, rng):
    x = rng.standard_normal((n, w.shape[1]))
    pre = x @ w.T / math.sqrt(w.shape[1])
    return pre, g(pre), g(x @ wstar.T / math.sqrt(w.shape[1])) @ vstar


def test_divnet_reweighting_equals_least_squares_regression_on_sampled_activations():
    # Unequal norms make g nonlinear enough that the pre- and post-activation fits differ by
    # ~0.18, while the sampled fits (n = 200 000) scatter by <~ 0.01 about the population ones.
    w, v, wstar, vstar, rng = random_student(K=5, seed=0)
    w = w * np.array([3.0, 0.5, 2.5, 1.0, 2.0])[:, None]
    keep, drop = np.array([0, 2, 3]), np.array([1, 4])
    pre, post, _ = monte_carlo_activations(w, wstar, vstar, 200_000, rng)
    exact = {kind: prune_student_nodes(w, v, wstar, vstar, keep, reweight=f"divnet-{kind}").v
             for kind in ("pre", "post")}
    assert np.max(np.abs(exact["pre"] - exact["post"])) > 0.1
    for kind, act in (("pre", pre), ("post", post)):
        alpha = np.linalg.lstsq(act[:, keep], act[:, drop], rcond=None)[0]
        np.testing.assert_allclose(exact[kind], v[keep] + alpha @ v[drop], atol=0.03, err_msg=kind)


def test_optimal_second_layer_minimises_eg_and_matches_sampled_least_squares():
    w, v, wstar, vstar, rng = random_student(K=5, seed=5)
    op = OrderParameters.from_weights(w, v, wstar, vstar)
    keep = np.array([1, 2, 4])
    best = node_pruned(op, keep, "optimal")
    pruned = prune_order_parameters(op, keep)
    res = minimize(lambda u: eg(pruned.Q, pruned.R, pruned.T, u, pruned.vstar), pruned.v, method="BFGS",
                   options={"gtol": 1e-10})
    assert eg_of(best) == pytest.approx(res.fun, abs=1e-10)
    np.testing.assert_allclose(best.v, res.x, atol=1e-4)
    _, post, teacher = monte_carlo_activations(w, wstar, vstar, 200_000, rng)
    np.testing.assert_allclose(best.v, np.linalg.lstsq(post[:, keep], teacher, rcond=None)[0], atol=0.03)


def test_optimal_reweighting_handles_parallel_kept_nodes_with_the_pseudo_inverse():
    op = ideal_order_parameters(2, 3, 4.0)                 # nodes 0, 1, 2 are parallel: Q_SS singular
    best = node_pruned(op, [0, 1, 3], "optimal")
    assert eg_of(best) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(best.v, [2.0, 2.0, 4.0], atol=1e-12)   # minimum norm split of v* = 4


def test_edge_reweighting_scale_is_the_minimiser_over_A():
    w, v, wstar, vstar, rng = random_student(K=5, N=400, seed=6)
    mask = bernoulli_edge_mask(5, 400, 0.2, rng)
    plain = prune_student_edges(w, v, wstar, vstar, mask)
    best = prune_student_edges(w, v, wstar, vstar, mask, reweight="scale")
    np.testing.assert_array_equal(plain.w, np.where(mask, w, 0.0))
    res = minimize_scalar(lambda A: eg_of(scaled(plain.params, A)), bracket=(0, 5), tol=1e-12)
    A = best.v[0] / plain.v[0]
    assert A == pytest.approx(res.x, rel=1e-6)
    assert best.eg == pytest.approx(res.fun, abs=1e-12)
    with pytest.raises(ValueError, match="mask must be a boolean array of shape"):
        prune_student_edges(w, v, wstar, vstar, mask[:, :10])
    with pytest.raises(ValueError, match="reweight must be one of"):
        prune_student_edges(w, v, wstar, vstar, mask, reweight="optimal")


def test_invalid_pruning_requests_raise():
    w, v, wstar, vstar, _ = random_student()
    op = OrderParameters.from_weights(w, v, wstar, vstar)
    with pytest.raises(ValueError, match="keep must list distinct node indices in 0..4"):
        prune_order_parameters(op, [0, 0])
    with pytest.raises(ValueError, match="keep must list distinct node indices in 0..4"):
        prune_order_parameters(op, [5])
    with pytest.raises(ValueError, match="reweight must be one of"):
        node_pruned(op, [0, 1], "divnet")
    with pytest.raises(ValueError, match=r"c must be in \[0.0, 1.0\]"):
        expected_edge_pruned(op, 1.2)
    with pytest.raises(ValueError, match="k must be an integer >= 0 and <= K = 5"):
        select_importance(v, 6)
