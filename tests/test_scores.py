"""Pruning scores against finite differences, brute-force path enumeration and plain sorting."""
import itertools
import math

import numpy as np
import pytest

from tsdyn.pathkernel import scores as sc
from tsdyn.pathkernel import selection as sel
from tsdyn.pathkernel.kernel import LayerArrays


def setup(K=3, N=6, n=40, seed=0, masked=True):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((K, N))
    v = rng.standard_normal(K)
    wstar = rng.standard_normal((2, N))
    x, y = sc.teacher_data(wstar, 2.0, n, seed=seed + 1, sigma=0.1)
    mask = rng.random((K, N)) < 0.7 if masked else None
    return w, v, x, y, mask


def flat(w, v):
    return np.concatenate([w.ravel(), v])


def unflat(theta, K, N):
    return theta[:K * N].reshape(K, N), theta[K * N:]


def fd_gradient(fun, theta, h=1e-6):
    out = np.zeros_like(theta)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = h
        out[j] = (fun(theta + e) - fun(theta - e)) / (2 * h)
    return out


def test_teacher_labels_are_the_teacher_output_by_direct_sum():
    rng = np.random.default_rng(1)
    wstar = rng.standard_normal((2, 5))
    x, y = sc.teacher_data(wstar, [1.0, -3.0], 4, seed=2)
    direct = [sum(vs * math.erf(np.dot(ws, xi) / math.sqrt(5) / math.sqrt(2)) for ws, vs in zip(wstar, [1.0, -3.0]))
              for xi in x]
    np.testing.assert_allclose(y, direct, atol=1e-13)


@pytest.mark.parametrize("masked", [False, True])
def test_loss_gradient_and_snip_match_finite_differences(masked):
    w, v, x, y, mask = setup(masked=masked)
    K, N = w.shape
    loss = lambda th: sc.training_loss(*unflat(th, K, N), x, y, mask)
    fd = fd_gradient(loss, flat(w, v))
    fd_w, fd_v = unflat(fd, K, N)
    grad = sc.loss_gradient(w, v, x, y, mask)
    np.testing.assert_allclose(grad.w, fd_w, atol=1e-8)
    np.testing.assert_allclose(grad.v, fd_v, atol=1e-8)
    snip = sc.snip_scores(w, v, x, y, mask)
    keep = np.ones_like(w, bool) if mask is None else mask
    np.testing.assert_allclose(snip.w, np.abs(np.where(keep, w, 0) * fd_w), atol=1e-8)
    np.testing.assert_allclose(snip.v, np.abs(v * fd_v), atol=1e-8)


@pytest.mark.parametrize("masked", [False, True])
def test_hessian_vector_product_matches_finite_differences_of_the_gradient(masked):
    w, v, x, y, mask = setup(K=4, N=5, seed=3, masked=masked)
    K, N = w.shape
    rng = np.random.default_rng(4)
    u = LayerArrays(rng.standard_normal((K, N)), rng.standard_normal(K))
    if mask is not None:
        u = LayerArrays(np.where(mask, u.w, 0.0), u.v)
    h = 1e-5
    plus = sc.loss_gradient(w + h * u.w, v + h * u.v, x, y, mask)
    minus = sc.loss_gradient(w - h * u.w, v - h * u.v, x, y, mask)
    hv = sc.loss_hessian_vector(w, v, x, y, u, mask)
    np.testing.assert_allclose(hv.w, (plus.w - minus.w) / (2 * h), atol=1e-8)
    np.testing.assert_allclose(hv.v, (plus.v - minus.v) / (2 * h), atol=1e-8)


def test_grasp_equals_theta_times_full_finite_difference_hessian_times_gradient():
    w, v, x, y, _ = setup(K=2, N=4, seed=5, masked=False)
    K, N = w.shape
    grad = lambda th: flat(*sc.loss_gradient(*unflat(th, K, N), x, y))
    theta = flat(w, v)
    H = np.column_stack([fd_gradient(lambda t: grad(t)[j], theta, h=1e-5) for j in range(theta.size)])
    np.testing.assert_allclose(H, H.T, atol=1e-7)
    expected = theta * (H @ grad(theta))
    got = sc.grasp_scores(w, v, x, y)
    np.testing.assert_allclose(flat(*got), expected, atol=1e-7)


def test_grasp_importance_is_minus_half_the_first_order_change_of_the_gradient_norm():
    # Wang et al.: removing weight j changes ||g||^2 by about -2 theta_j (Hg)_j; GraSP keeps the weights whose
    # removal would lower the gradient norm most, i.e. the largest theta (.) Hg.
    w, v, x, y, _ = setup(K=2, N=4, seed=6, masked=False)
    K, N = w.shape
    theta = flat(w, v)
    norm2 = lambda th: float(np.sum(flat(*sc.loss_gradient(*unflat(th, K, N), x, y)) ** 2))
    importance = flat(*sc.grasp_scores(w, v, x, y))
    eps = 1e-6
    for j in range(theta.size):
        shrunk = theta.copy()
        shrunk[j] *= 1 - eps  # remove an eps fraction of the weight
        assert (norm2(shrunk) - norm2(theta)) / eps == pytest.approx(-2 * importance[j], rel=1e-4, abs=1e-9)


def brute_force_flow(w, v, mask, x, power):
    """Per-parameter sum over the enumerated paths through it of prod |theta|^power along the path, times x_i."""
    K, N = w.shape
    sw, sv = np.zeros((K, N)), np.zeros(K)
    for k, i in itertools.product(range(K), range(N)):
        if mask[k, i]:
            flow = (abs(v[k]) * abs(w[k, i])) ** power * x[i]
            sw[k, i] += flow
            sv[k] += flow
    return sw, sv


@pytest.mark.parametrize("name,power", [("synflow", 1), ("synflow_dist", 1), ("synflow_l2", 2), ("synflow_l2_dist", 2)])
def test_synflow_scores_are_enumerated_path_flows(name, power):
    w, v, _, _, mask = setup(K=3, N=7, seed=7)
    mu = np.random.default_rng(8).uniform(0.1, 2.0, 7)
    dist = name.endswith("_dist")
    s = sc.score(name, w, v, mask=mask, mu=mu if dist else None)
    bw, bv = brute_force_flow(w, v, mask, mu if dist else np.ones(7), power=power)
    # SynFlow: |theta_j| dR/d|theta_j| = flow through j. SynFlow-L2: |theta_j| dR_PK/d(theta_j^2) = flow / |theta_j|.
    scale_w = 1.0 if power == 1 else 1.0 / np.maximum(np.abs(w), 1e-300)
    scale_v = 1.0 if power == 1 else 1.0 / np.abs(v)
    np.testing.assert_allclose(s.w, np.where(mask, bw * scale_w, 0.0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s.v, bv * scale_v, rtol=1e-12)
    if power == 1:
        np.testing.assert_allclose(s.w.sum(axis=1), s.v, rtol=1e-12)  # Tanaka et al.'s conservation law


def test_other_reading_of_synflow_l2_keeps_the_same_edges_as_synflow():
    w, v, _, _, _ = setup(K=5, N=40, seed=11, masked=False)
    saliency_of_RPK = LayerArrays(2 * (v**2)[:, None] * w**2, np.zeros(5))  # dR_PK/dtheta (.) theta
    for c in (0.1, 0.3, 0.7):
        a = sel.select_top(saliency_of_RPK, c).w
        b = sel.select_top(sc.synflow_scores(w, v), c).w
        np.testing.assert_array_equal(a, b)


def test_dist_scores_with_constant_relevance_rank_like_the_plain_ones():
    w, v, x, _, _ = setup(K=4, N=30, seed=12, masked=False)
    for plain, dist in (("synflow", "synflow_dist"), ("synflow_l2", "synflow_l2_dist")):
        a = sel.select_top(sc.score(plain, w, v), 0.4).w
        b = sel.select_top(sc.score(dist, w, v, mu=np.full(30, math.sqrt(2 / math.pi))), 0.4).w
        np.testing.assert_array_equal(a, b)
    big = np.random.default_rng(13).standard_normal((200_000, 3))
    np.testing.assert_allclose(sc.input_relevance(big), 1.0, atol=0.01)
    np.testing.assert_allclose(sc.input_relevance(big, "abs_mean"), math.sqrt(2 / math.pi), atol=0.01)


def test_select_top_matches_python_sort_and_breaks_ties_by_index():
    rng = np.random.default_rng(14)
    K, N = 4, 9
    s = LayerArrays(rng.integers(0, 5, (K, N)).astype(float), rng.integers(0, 5, K).astype(float))
    eligible = LayerArrays(rng.random((K, N)) < 0.8, rng.random(K) < 0.8)
    for include_v, c in itertools.product((False, True), (0.0, 0.25, 0.5)):
        values = list(s.w.ravel()) + (list(s.v) if include_v else [])
        ok = list(eligible.w.ravel()) + (list(eligible.v) if include_v else [])
        total = len(values)
        keep = math.floor(c * total + 0.5)
        ranked = sorted((j for j in range(total) if ok[j]), key=lambda j: (-values[j], j))[:keep]
        expected = np.zeros(total, bool)
        expected[ranked] = True
        got = sel.select_top(s, c, include_v=include_v, eligible=eligible)
        np.testing.assert_array_equal(got.w.ravel(), expected[:K * N])
        if include_v:
            np.testing.assert_array_equal(got.v, expected[K * N:])
        else:
            assert got.v.all()
    # all scores equal: the first entries in row-major order survive
    tie = sel.select_top(LayerArrays(np.ones((2, 3)), np.ones(2)), 0.5)
    np.testing.assert_array_equal(tie.w, [[True, True, True], [False, False, False]])


def test_matched_budget_keeps_k_n_times_N_edges():
    w, v, _, _, _ = setup(K=6, N=500, seed=15, masked=False)
    for k_n in range(7):
        kept = sel.prune("magnitude", w, v, k_n / 6, layers="first").w.sum()
        assert kept == k_n * 500


def brute_force_iterative_synflow(w, v, density, rounds):
    """Tanaka et al.'s loop over w and v jointly, with path-enumerated flows and a plain sort."""
    K, N = w.shape
    keep_w, keep_v = np.ones((K, N), bool), np.ones(K, bool)
    for r in range(1, rounds + 1):
        sw, sv = brute_force_flow(w, np.where(keep_v, v, 0.0), keep_w, np.ones(N), power=1)
        values = list(sw.ravel()) + list(sv)
        alive = list(keep_w.ravel()) + list(keep_v)
        n_keep = math.floor(density ** (r / rounds) * (K * N + K) + 0.5)
        ranked = sorted((j for j in range(K * N + K) if alive[j]), key=lambda j: (-values[j], j))[:n_keep]
        flat_keep = np.zeros(K * N + K, bool)
        flat_keep[ranked] = True
        keep_w, keep_v = flat_keep[:K * N].reshape(K, N), flat_keep[K * N:]
    return keep_w, keep_v


def test_iterative_synflow_matches_brute_force_loop_and_differs_from_one_shot():
    rng = np.random.default_rng(16)
    K, N = 4, 12
    w = rng.standard_normal((K, N)) * rng.uniform(0.2, 3.0, (K, 1))
    v = rng.standard_normal(K) * 0.3
    got = sel.prune("synflow", w, v, 0.15, rounds=10, layers="both")
    bw, bv = brute_force_iterative_synflow(w, v, 0.15, 10)
    np.testing.assert_array_equal(got.w, bw)
    np.testing.assert_array_equal(got.v, bv)
    assert got.w.sum() + got.v.sum() == math.floor(0.15 * (K * N + K) + 0.5)
    # One shot spends budget on v_k of nodes left without edges (dead parameters); re-scoring does not.
    one_shot = sel.prune("synflow", w, v, 0.15, layers="both")
    assert np.any(one_shot.v & ~one_shot.w.any(axis=1))
    assert not np.any(got.v & ~got.w.any(axis=1))


@pytest.mark.parametrize("name", ["synflow", "synflow_l2"])
def test_iterating_first_layer_only_synflow_changes_nothing(name):
    # One path per first-layer weight: its flow |v_k||w_ki| does not depend on the other first-layer weights.
    w, v, _, _, _ = setup(K=6, N=50, seed=17, masked=False)
    np.testing.assert_array_equal(sel.prune(name, w, v, 0.2, rounds=20, layers="first").w,
                                  sel.prune(name, w, v, 0.2, layers="first").w)


def test_bad_input_raises_naming_the_parameter():
    w, v, x, y, _ = setup(masked=False)
    with pytest.raises(ValueError, match="name must be one of"):
        sc.score("obd", w, v)
    with pytest.raises(ValueError, match="x and y"):
        sc.score("snip", w, v)
    with pytest.raises(ValueError, match="mu"):
        sc.score("synflow_dist", w, v)
    with pytest.raises(ValueError, match="mu .* non-negative"):
        sc.synflow_scores(w, v, mu=-np.ones(w.shape[1]))
    with pytest.raises(ValueError, match="density must be in"):
        sel.prune("magnitude", w, v, 1.5)
    with pytest.raises(ValueError, match="rounds must be an integer >= 1"):
        sel.prune("synflow", w, v, 0.5, rounds=0)
    with pytest.raises(ValueError, match="kind must be"):
        sc.input_relevance(x, "median")
    with pytest.raises(ValueError, match="layers must be one of"):
        sel.prune("synflow", w, v, 0.5, layers="second")
    with pytest.raises(ValueError, match="y must have shape"):
        sc.snip_scores(w, v, x, y[:-1])


def _fd_saliency(objective, w, v, h=1e-6):
    """dF/dtheta (.) theta by central finite differences of F(w, v), both layers."""
    out_w, out_v = np.zeros_like(w), np.zeros_like(v)
    for idx in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[idx] = h
        out_w[idx] = (objective(w + e, v) - objective(w - e, v)) / (2 * h) * w[idx]
    for k in range(v.size):
        e = np.zeros_like(v)
        e[k] = h
        out_v[k] = (objective(w, v + e) - objective(w, v - e)) / (2 * h) * v[k]
    return out_w, out_v


def test_dist_mean_scores_are_absolute_saliencies_of_the_objectives_at_the_signed_mean():
    # The paper's -Dist: S = dR(mu, theta)/dtheta (.) theta with mu the (signed) input mean, ranked by |S|.
    from tsdyn.pathkernel import kernel as pk

    w, v, x, _, _ = setup(K=3, N=7, seed=21, masked=False)
    mu = sc.input_relevance(x, "mean")
    assert np.any(mu < 0)
    fd_w, fd_v = _fd_saliency(lambda a, b: pk.synflow_objective(mu, a, b), w, v)
    got = sc.score("synflow_dist_mean", w, v, mu=mu)
    np.testing.assert_allclose(got.w, np.abs(fd_w), atol=1e-7)
    np.testing.assert_allclose(got.v, np.abs(fd_v), atol=1e-7)
    # dR_PK/d theta^2 (.) theta = dR_PK/dtheta / 2 = (dR_PK/dtheta (.) theta) / (2 theta)
    fd_w, fd_v = _fd_saliency(lambda a, b: pk.path_kernel_objective(mu, a, b), w, v)
    got = sc.score("synflow_l2_dist_mean", w, v, mu=mu)
    np.testing.assert_allclose(got.w, np.abs(fd_w) / (2 * np.abs(w)), atol=1e-6)
    np.testing.assert_allclose(got.v, np.abs(fd_v) / (2 * np.abs(v)), atol=1e-6)
    # With a positive constant mu the paper's -Dist ranks as the plain score.
    for plain, dist in (("synflow", "synflow_dist_mean"), ("synflow_l2", "synflow_l2_dist_mean")):
        a = sel.select_top(sc.score(plain, w, v), 0.4, include_v=True)
        b = sel.select_top(sc.score(dist, w, v, mu=np.full(7, 0.3)), 0.4, include_v=True)
        np.testing.assert_array_equal(a.w, b.w)


def test_global_selection_prunes_output_weights_and_the_trainable_mask_drops_their_nodes():
    w, v, _, _, _ = setup(K=6, N=20, seed=22, masked=False)
    mask = sel.prune("magnitude", w, v, 0.3, layers="both")
    assert mask.w.sum() + mask.v.sum() == math.floor(0.3 * (6 * 20 + 6) + 0.5)
    flat = np.sort(np.concatenate([np.abs(w).ravel(), np.abs(v)]))[::-1]
    threshold = flat[mask.w.sum() + mask.v.sum() - 1]
    np.testing.assert_array_equal(mask.v, np.abs(v) >= threshold)
    live = sel.trainable_mask(mask)
    assert not live[~mask.v].any() and (live[mask.v] == mask.w[mask.v]).all()
    counts = sel.mask_counts(mask)
    assert counts["nodes_alive"] == int(live.any(axis=1).sum())
