"""Path kernel of the two-layer student: definition vs gradient identity vs sympy vs finite differences."""
import itertools
import math

import numpy as np
import pytest
import sympy as sp

from tsdyn.pathkernel import kernel as pk


def small_network(K=3, N=5, seed=0, density=0.6):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((K, N))
    v = rng.standard_normal(K)
    mask = rng.random((K, N)) < density
    mask[0] = False  # a node with no edge left
    return w, v, mask


@pytest.mark.parametrize("use_mask", [False, True])
def test_trace_from_gradient_identity_equals_trace_of_explicit_kernel(use_mask):
    w, v, mask = small_network(K=4, N=7, seed=1)
    mask = mask if use_mask else None
    explicit = np.trace(pk.path_kernel(w, v, mask))
    # eq 14 summed path by path: sum_p sum_{j in p} prod_{l in p, l != j} theta_l^2
    keep = np.ones(w.shape, bool) if mask is None else mask
    by_paths = sum(v[k] ** 2 + w[k, i] ** 2 for k, i in zip(*np.nonzero(keep)))
    assert pk.path_kernel_trace(w, v, mask) == pytest.approx(explicit, rel=1e-10, abs=1e-10)
    assert by_paths == pytest.approx(explicit, rel=1e-10)


def test_pruned_edge_is_not_a_path_unlike_a_zero_weight():
    w, v, mask = small_network(K=3, N=6, seed=2)
    zeroed = np.where(mask, w, 0.0)
    # A zero weight still carries a path with d(v_k w_ki)/dw_ki = v_k: Tr Pi differs by sum of v_k^2 over pruned edges.
    gap = pk.path_kernel_trace(zeroed, v) - pk.path_kernel_trace(w, v, mask)
    assert gap == pytest.approx(np.sum((v[:, None] ** 2) * ~mask), rel=1e-12)
    assert pk.path_values(w, v, mask).size == mask.sum()


def test_explicit_jacobian_matches_sympy():
    K, N = 2, 3
    ws = sp.Matrix(K, N, lambda k, i: sp.Symbol(f"w{k}{i}"))
    vs = sp.Matrix(K, 1, lambda k, _: sp.Symbol(f"v{k}"))
    mask = np.array([[1, 0, 1], [1, 1, 0]], bool)
    kept = list(zip(*np.nonzero(mask)))
    values = sp.Matrix([vs[k] * ws[k, i] for k, i in kept])
    params = [ws[k, i] for k, i in kept] + list(vs)
    J_sym = values.jacobian(params)
    rng = np.random.default_rng(3)
    w, v = rng.standard_normal((K, N)), rng.standard_normal(K)
    subs = {ws[k, i]: w[k, i] for k in range(K) for i in range(N)} | {vs[k]: v[k] for k in range(K)}
    J_num = np.array(J_sym.subs(subs), dtype=float)
    np.testing.assert_allclose(pk.path_jacobian(w, v, mask), J_num, atol=1e-14)
    Pi_sym = np.array((J_sym * J_sym.T).subs(subs), dtype=float)
    np.testing.assert_allclose(pk.path_kernel(w, v, mask), Pi_sym, atol=1e-12)


def test_closed_form_eigenvalues_match_numerical_spectrum():
    w, v, mask = small_network(K=4, N=8, seed=4)
    for m in (None, mask):
        numerical = np.linalg.eigvalsh(pk.path_kernel(w, v, m))
        np.testing.assert_allclose(pk.path_kernel_eigenvalues(w, v, m), numerical, atol=1e-10)


def test_objective_gradients_match_finite_differences_in_squares_and_magnitudes():
    w, v, mask = small_network(K=3, N=4, seed=5)
    x = np.random.default_rng(6).uniform(0.2, 2.0, 4)
    h = 1e-6
    grad_sq = pk.path_kernel_objective_grad_sq(x, w, v, mask)
    grad_abs = pk.synflow_objective_grad_abs(x, w, v, mask)
    for (k, i) in itertools.product(range(3), range(4)):
        e = np.zeros_like(w)
        e[k, i] = h
        # R_PK as a function of theta^2: perturb w_ki^2 by +-h (w > 0 branch of the square root).
        fd_sq = (pk.path_kernel_objective(x, np.sqrt(w**2 + e), v, mask)
                 - pk.path_kernel_objective(x, np.sqrt(np.maximum(w**2 - e, 0)), v, mask)) / (2 * h)
        fd_abs = (pk.synflow_objective(x, np.abs(w) + e, v, mask) - pk.synflow_objective(x, np.abs(w) - e, v, mask)) / (2 * h)
        assert grad_sq.w[k, i] == pytest.approx(fd_sq, abs=1e-6)
        assert grad_abs.w[k, i] == pytest.approx(fd_abs, abs=1e-6)
    for k in range(3):
        e = np.zeros(3)
        e[k] = h
        fd_sq = (pk.path_kernel_objective(x, w, np.sqrt(v**2 + e), mask)
                 - pk.path_kernel_objective(x, w, np.sqrt(v**2 - e), mask)) / (2 * h)
        fd_abs = (pk.synflow_objective(x, w, np.abs(v) + e, mask) - pk.synflow_objective(x, w, np.abs(v) - e, mask)) / (2 * h)
        assert grad_sq.v[k] == pytest.approx(fd_sq, abs=1e-6)
        assert grad_abs.v[k] == pytest.approx(fd_abs, abs=1e-6)


def test_objectives_at_x_one_are_sums_over_enumerated_paths():
    w, v, mask = small_network(K=3, N=6, seed=7)
    values = [v[k] * w[k, i] for k in range(3) for i in range(6) if mask[k, i]]
    assert pk.path_kernel_objective(None, w, v, mask) == pytest.approx(sum(p * p for p in values), rel=1e-12)
    assert pk.synflow_objective(None, w, v, mask) == pytest.approx(sum(abs(p) for p in values), rel=1e-12)


def test_trace_scales_like_N_for_gaussian_weights():
    # Independent expectation: E Tr Pi = K (N E v^2 + N E w^2) = 2 K N for unit Gaussians.
    rng = np.random.default_rng(8)
    K, N = 6, 4000
    traces = [pk.path_kernel_trace(rng.standard_normal((K, N)), rng.standard_normal(K)) for _ in range(200)]
    assert np.mean(traces) / (2 * K * N) == pytest.approx(1.0, abs=0.12)


def test_bad_input_raises_naming_the_parameter():
    w, v, mask = small_network()
    with pytest.raises(ValueError, match="mask must have the shape"):
        pk.path_kernel_trace(w, v, mask[:, :-1])
    with pytest.raises(ValueError, match="v must have shape"):
        pk.path_kernel_trace(w, v[:-1])
    with pytest.raises(ValueError, match="x must have shape"):
        pk.synflow_objective(np.ones(2), w, v)
    with pytest.raises(ValueError, match="mask must be boolean"):
        pk.path_values(w, v, np.full(w.shape, 2))


def test_ntk_gradients_match_finite_differences_and_the_factorisation_matches_the_explicit_kernel():
    from tsdyn.conventions import network_output
    from tsdyn.pathkernel import ntk

    rng = np.random.default_rng(31)
    K, N, n = 3, 8, 5
    w, v, x = rng.standard_normal((K, N)), rng.standard_normal(K), rng.standard_normal((n, N))
    mask = rng.random((K, N)) < 0.6
    mask[2] = False                                   # a node without paths has no gradient columns
    G = ntk.ntk_gradients(w, v, x, mask)
    h, cols = 1e-6, []
    for k, i in zip(*np.nonzero(mask)):
        e = np.zeros_like(w)
        e[k, i] = h
        cols.append((network_output(np.where(mask, w + e, 0), v, x) - network_output(np.where(mask, w - e, 0), v, x)) / (2 * h))
    for k in np.flatnonzero(mask.any(axis=1)):
        e = np.zeros_like(v)
        e[k] = h
        cols.append((network_output(np.where(mask, w, 0), v + e, x) - network_output(np.where(mask, w, 0), v - e, x)) / (2 * h))
    np.testing.assert_allclose(G, np.array(cols).T, atol=1e-7)
    J = ntk.data_factor(w, v, x, mask)
    np.testing.assert_allclose(ntk.factorised_ntk_gram(w, v, x, mask), J @ pk.path_kernel(w, v, mask) @ J.T, atol=1e-12)
    true, fact = ntk.ntk_traces(w, v, x, mask)
    assert true == pytest.approx(np.trace(G @ G.T) / n, rel=1e-12)
    assert fact == pytest.approx(np.trace(ntk.factorised_ntk_gram(w, v, x, mask)) / n, rel=1e-12)
    assert fact < true        # |lambda g'(lambda)| < |g(lambda)| for erf


def test_theorem1_trace_bound_and_weyl_bound_hold_for_the_factorised_kernel():
    # von Neumann (sum) and Horn/Weyl (lambda_i <= min(nu_1 pi_i, nu_i pi_1)) are theorems for J Pi J^T;
    # the paper's pointwise lambda_i <= nu_i pi_i is not, and fails on some networks.
    from tsdyn.pathkernel import ntk

    rng = np.random.default_rng(32)
    pointwise = []
    for _ in range(20):
        K, N, n = 4, 10, 12
        w, v, x = rng.standard_normal((K, N)), rng.standard_normal(K) * rng.uniform(0.1, 3, K), rng.standard_normal((n, N))
        out = ntk.theorem1_check(w, v, x, rng.random((K, N)) < 0.5)
        assert out["factorised_sum_ratio"] <= 1 + 1e-12 and out["factorised_weyl_frac"] == 1.0
        pointwise.append(out["factorised_pointwise_frac"])
    assert min(pointwise) < 1.0
    dead = ntk.theorem1_check(w, v, x, np.zeros((K, N), bool))
    assert all(math.isnan(val) for val in dead.values())
