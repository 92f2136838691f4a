"""Weights drawn in law from order parameters (tsdyn.dynamics.weights_in_law).

Two kinds of check: the drawn weights have exactly the given overlaps, and
(independent computation) SGD's own weights, given their overlaps, are spread
like the drawn ones: a statistic that is not a function of (Q, R, w*), the GE
of an edge-pruned student, has the same law for SGD's weights and for weights
redrawn from SGD's (Q, R), while a frame that is not Haar is told apart.
"""
import numpy as np
import pytest
from scipy import stats

from tsdyn.dynamics.weights_in_law import weights_in_law, with_weights_in_law
from tsdyn.eg import eg
from tsdyn.simulate import simulate
from tsdyn.targets.training import train


def _random_network(rng, K=4, M=2, N=40):
    w, wstar = rng.standard_normal((K, N)), rng.standard_normal((M, N))
    w[0] += 0.8 * wstar[0]                  # correlated with the teacher, as trained students are
    return w, wstar


def test_drawn_weights_have_exactly_the_overlaps():
    rng = np.random.default_rng(1)
    w, wstar = _random_network(rng)
    N = w.shape[1]
    Q, R = w @ w.T / N, w @ wstar.T / N
    drawn = weights_in_law(Q, R, wstar, np.random.default_rng(2))
    np.testing.assert_allclose(drawn @ drawn.T / N, Q, rtol=0, atol=1e-12)
    np.testing.assert_allclose(drawn @ wstar.T / N, R, rtol=0, atol=1e-12)
    assert np.abs(drawn - w).max() > 0.1            # a new draw, not the input back


def test_rank_deficient_complement_is_fine():
    """A student node inside the teacher span (Q - R T^-1 R^T singular) is reproduced exactly."""
    rng = np.random.default_rng(3)
    w, wstar = _random_network(rng, K=3)
    w[1] = 0.5 * wstar[0] - wstar[1]
    N = w.shape[1]
    drawn = weights_in_law(w @ w.T / N, w @ wstar.T / N, wstar, rng)
    # sqrt of a rounding-level eigenvalue (~1e-15) is ~3e-8: that is the accuracy here
    np.testing.assert_allclose(drawn[1], w[1], atol=1e-6)


@pytest.mark.parametrize("case, match", [
    ("not_psd", "positive semi-definite"), ("asymmetric", "symmetric"), ("small_N", "N must be >= M \\+ K"),
])
def test_bad_overlaps_are_refused(case, match):
    rng = np.random.default_rng(4)
    w, wstar = _random_network(rng)
    N = w.shape[1]
    Q, R = w @ w.T / N, w @ wstar.T / N
    if case == "not_psd":
        Q = Q - 10 * np.eye(len(Q))
    elif case == "asymmetric":
        Q = Q + np.triu(np.ones_like(Q), 1)
    else:
        wstar = wstar[:, :5]
    with pytest.raises(ValueError, match=match):
        weights_in_law(Q, R, wstar, rng)


def test_a_foreign_teacher_is_refused():
    traj = simulate(N=30, M=1, K=2, steps=30, seed=0, engine="order")
    other = simulate(N=30, M=1, K=2, steps=0, seed=1).wstar
    with pytest.raises(ValueError, match="not the run's teacher"):
        with_weights_in_law(traj, other, np.random.default_rng(0))


def _masked_eg(w, v, wstar, vstar, mask):
    """GE of the student whose first layer keeps only the entries of ``mask`` (an edge-pruned student)."""
    N = w.shape[1]
    wm = w * mask
    return float(eg(wm @ wm.T / N, wm @ wstar.T / N, wstar @ wstar.T / N, v, vstar))


def _fixed_frame(Q, R, wstar):
    """A wrong draw: the right overlaps, but the complement frame on odd coordinates, the ones the mask drops."""
    M, N = wstar.shape
    K = Q.shape[0]
    A = np.linalg.solve(wstar @ wstar.T / N, R.T).T
    basis, _ = np.linalg.qr(wstar.T)
    E = np.eye(N)[:, 1:2 * K:2]
    U, _ = np.linalg.qr(E - basis @ (basis.T @ E))
    S = Q - A @ R.T
    val, vec = np.linalg.eigh(0.5 * (S + S.T))
    return A @ wstar + np.sqrt(N) * (vec * np.sqrt(np.clip(val, 0, None))) @ U.T


def test_sgd_weights_given_their_overlaps_are_haar_spread():
    """In law: SGD's weights vs weights redrawn from SGD's own (Q, R), by the GE of one fixed edge mask."""
    N, M, K, replicas = 16, 1, 2, 300
    mask = (np.arange(N) % 2 == 0).astype(float)[None, :]   # keep every other input coordinate
    sgd, redrawn, fixed = [], [], []
    kept = {"sgd": [], "redrawn": [], "fixed": []}         # fraction of |w_1|^2 on the kept coordinates
    for seed in range(replicas):
        run = simulate(N=N, M=M, K=K, steps=4 * N, seed=seed, lr=0.5, init_scale=1.0)
        w, v, wstar, vstar = run.w, run.v[-1], run.wstar, run.vstar
        Q, R = w @ w.T / N, w @ wstar.T / N
        drawn = weights_in_law(Q, R, wstar, np.random.default_rng(10_000 + seed))
        wrong = _fixed_frame(Q, R, wstar)
        sgd.append(_masked_eg(w, v, wstar, vstar, mask))
        redrawn.append(_masked_eg(drawn, v, wstar, vstar, mask))
        fixed.append(_masked_eg(wrong, v, wstar, vstar, mask))
        for name, x in (("sgd", w), ("redrawn", drawn), ("fixed", wrong)):
            kept[name].append(float((x[0] * mask[0]) @ x[0] / (x[0] @ x[0])))
    p_eg, p_kept = stats.ks_2samp(sgd, redrawn).pvalue, stats.ks_2samp(kept["sgd"], kept["redrawn"]).pvalue
    p_wrong = stats.ks_2samp(kept["sgd"], kept["fixed"]).pvalue
    print(f"KS p: masked GE {p_eg:.3g}, kept fraction {p_kept:.3g}, non-Haar frame {p_wrong:.3g}")  # theory/weights_in_law.md
    assert p_eg > 1e-3
    assert p_kept > 1e-3
    assert p_wrong < 1e-6                                   # the statistic sees a non-Haar frame


def test_train_attaches_weights_consistent_with_the_run():
    """train(final_weights='in_law'): the order run's last (Q, R) and the seed's teacher, with weights."""
    common = dict(N=60, M=2, K=3, lr=0.5, lr2=0.5, vstar=4.0, steps=600, sigma=0.0, seed=5, init_scale=1.0,
                  per_decade=5, train_second_layer=True, test_samples=0, engine="order")
    from tsdyn.targets.training import stream_version
    from tsdyn.trajectory import Trajectory

    plain = Trajectory.from_arrays(train(stream=stream_version("order"), **common))
    withw = Trajectory.from_arrays(train(stream=stream_version("order"), final_weights="in_law", **common))
    assert plain.w is None and withw.w is not None
    np.testing.assert_array_equal(withw.Q, plain.Q)                     # the chain itself is untouched
    np.testing.assert_array_equal(withw.wstar, simulate(N=60, M=2, K=3, steps=0, seed=5).wstar)
    np.testing.assert_allclose(withw.w @ withw.w.T / 60, plain.Q[-1], atol=1e-12)
    np.testing.assert_allclose(withw.w @ withw.wstar.T / 60, plain.R[-1], atol=1e-12)
    with pytest.raises(ValueError, match="engine='order'"):
        train(stream=stream_version("weights"), final_weights="in_law", **{**common, "engine": "weights"})
