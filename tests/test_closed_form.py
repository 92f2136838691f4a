"""Closed forms (Lemmas 2-4, eq 15, random-node expectations) against eqs 5-8 of explicitly pruned networks.

Every closed form is compared with tsdyn.eg.eg applied to the order parameters of
the ideal student after the pruning is carried out node by node (or, for edges,
to the Lemma-6 expected order parameters), at <= 1e-12.
"""
import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from tsdyn.pruning import closed_form as cf
from tsdyn.pruning.dpp import kdpp_subsets, uniform_subsets
from tsdyn.eg import eg_of
from tsdyn.pruning.operators import expected_edge_pruned, node_pruned, scaled, subset_eg

EXACT = 1e-12


def keep_for_counts(l, Z):
    """Node indices that leave l_m survivors in block m of the ideal student (first l_m of each block)."""
    return np.concatenate([m * Z + np.arange(lm) for m, lm in enumerate(l)]).astype(int)


def test_ideal_student_is_exact_and_has_rank_M():
    op = cf.ideal_order_parameters(3, 5, 4.0)
    assert op.K == 15 and np.linalg.matrix_rank(op.Q) == 3
    assert eg_of(op) == pytest.approx(0.0, abs=EXACT)
    np.testing.assert_array_equal(cf.ideal_block_of(3, 5), np.repeat([0, 1, 2], 5))


@pytest.mark.parametrize("M,Z,vstar", [(3, 4, 4.0), (2, 6, 1.5), (4, 3, 2.0)])
def test_lemma3_and_its_reweighted_form_for_every_block_count_vector(M, Z, vstar):
    op = cf.ideal_order_parameters(M, Z, vstar)
    for k in range(0, M * Z + 1, 2):
        for l in cf.block_count_vectors(k, M, Z):
            keep = keep_for_counts(l, Z)
            assert cf.lemma3_eps(l, Z, vstar) == pytest.approx(eg_of(node_pruned(op, keep)), abs=EXACT)
            for reweight in ("optimal", "divnet-pre", "divnet-post"):
                assert cf.lemma3_epshat(l, vstar) == pytest.approx(
                    eg_of(node_pruned(op, keep, reweight)), abs=EXACT), reweight


@pytest.mark.parametrize("M,Z", [(3, 4), (4, 4), (2, 8), (5, 3)])
def test_lemma2_equals_the_exact_dpp_expectation(M, Z):
    # The k-DPP of the ideal Q is enumerated; E_DPP[eps] must equal eq 9 (and epshat eq 10).
    op = cf.ideal_order_parameters(M, Z)
    for k in range(1, M + 1):
        dist = kdpp_subsets(op.Q, k)
        assert dist.expect(lambda s: subset_eg(op, s)) == pytest.approx(cf.eps_dpp_node(k, M, Z), abs=EXACT)
        for reweight in ("optimal", "divnet-post"):
            assert dist.expect(lambda s: subset_eg(op, s, reweight)) == pytest.approx(
                cf.epshat_dpp_node(k, M), abs=EXACT)


@pytest.mark.parametrize("M,Z", [(2, 3), (3, 4), (2, 6), (4, 4)])
def test_random_node_hypergeometric_forms_equal_enumeration_over_all_subsets(M, Z):
    op = cf.ideal_order_parameters(M, Z)
    K = M * Z
    for k in range(0, K + 1):
        dist = uniform_subsets(K, k)
        assert dist.expect(lambda s: subset_eg(op, s)) == pytest.approx(cf.eps_random_node(k, M, Z), abs=EXACT)
        assert dist.expect(lambda s: subset_eg(op, s, "optimal")) == pytest.approx(
            cf.epshat_random_node(k, M, Z), abs=EXACT)
        # The multivariate hypergeometric route over block-count vectors agrees too.
        l = cf.block_count_vectors(k, M, Z)
        p = cf.block_count_pmf(l, Z)
        assert p.sum() == pytest.approx(1.0, abs=1e-13)
        assert np.dot(p, cf.lemma3_eps(l, Z)) == pytest.approx(cf.eps_random_node(k, M, Z), abs=EXACT)


@pytest.mark.parametrize("M,Z", [(2, 3), (5, 4), (3, 10)])
def test_lemma4_equals_eg_of_the_lemma6_expected_network(M, Z):
    op = cf.ideal_order_parameters(M, Z, 4.0)
    for c in [0.0, 0.01, 1 / (3 * Z), 1 / Z, 0.5, 1.0]:
        assert cf.eps_random_edge(c, Z, M, 4.0) == pytest.approx(eg_of(expected_edge_pruned(op, c)), abs=EXACT)


@pytest.mark.parametrize("M,Z,c", [(2, 4, 0.25), (3, 7, 0.05), (5, 4, 0.9)])
def test_eq15_its_minimiser_and_minimum_against_eg_and_numerical_minimisation(M, Z, c):
    op = expected_edge_pruned(cf.ideal_order_parameters(M, Z, 4.0), c)
    for A in [-1.0, 0.0, 0.7, 1.0, 3.3]:
        assert cf.eps_edge_scaled(A, c, Z, M, 4.0) == pytest.approx(eg_of(scaled(op, A)), abs=EXACT)
    best = minimize_scalar(lambda A: eg_of(scaled(op, A)), bracket=(0.0, 10.0), tol=1e-12)
    assert cf.optimal_edge_scale(c, Z) == pytest.approx(best.x, rel=1e-6)
    assert cf.epshat_random_edge(c, Z, M, 4.0) == pytest.approx(best.fun, abs=1e-12)


def test_edge_pruning_at_c_zero_is_silent_and_every_scale_is_optimal():
    op = expected_edge_pruned(cf.ideal_order_parameters(3, 4, 4.0), 0.0)
    for A in [0.0, 1.0, 5.0]:
        assert eg_of(scaled(op, A)) == pytest.approx(3 * 16 / 6, abs=EXACT)
    assert cf.epshat_random_edge(0.0, 4, 3, 4.0) == pytest.approx(3 * 16 / 6, abs=EXACT)
    # A* is continuous at c = 0: its value there is the limit of b/a.
    assert cf.optimal_edge_scale(0.0, 4) == pytest.approx(cf.optimal_edge_scale(1e-9, 4), rel=1e-6)
    assert cf.optimal_edge_scale(0.0, 4) == pytest.approx(4 / math.sqrt(2), rel=1e-12)


def test_closed_forms_are_vectorised_like_their_scalar_calls():
    Z = np.arange(4, 9)[:, None]
    c = np.linspace(0, 1, 7)[None, :] / Z
    for f in (cf.eps_random_edge, cf.epshat_random_edge):
        grid = f(c, Z, 3, 4.0)
        assert grid.shape == (5, 7)
        loop = np.array([[f(float(ci), int(z), 3, 4.0) for ci in row] for z, row in zip(Z[:, 0], c)])
        np.testing.assert_allclose(grid, loop, rtol=1e-15)
    kn = np.arange(0, 4)
    np.testing.assert_allclose(cf.eps_dpp_node(kn, 3, 5), [cf.eps_dpp_node(k, 3, 5) for k in kn])
    np.testing.assert_allclose(cf.eps_random_node(kn, 3, 5), [cf.eps_random_node(k, 3, 5) for k in kn])
    assert cf.lemma3_eps(np.array([[1, 0], [2, 2]]), 2).shape == (2,)


def test_bad_arguments_raise_value_errors_naming_the_parameter():
    with pytest.raises(ValueError, match=r"c must be a number in \[0, 1\], got 1.5"):
        cf.eps_random_edge(1.5, 4, 2)
    with pytest.raises(ValueError, match=r"k_n must be a number in \[0, 3\], got 4"):
        cf.eps_dpp_node(4, 3, 4)
    with pytest.raises(ValueError, match="Z must be an integer >= 1, got 2.5"):
        cf.eps_random_node(1, 3, 2.5)
    with pytest.raises(ValueError, match=r"l must be an integer in \[0, 3\], got 4"):
        cf.lemma3_eps([4, 0], 3)
    with pytest.raises(ValueError, match="M must be an integer >= 1"):
        cf.ideal_order_parameters(0, 3)
