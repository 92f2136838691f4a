"""The exact order-parameter engine (simulate(engine="order")) against the weights engine.

Three kinds of evidence (theory/order_engine.md):
- per step: the chain's kernel, fed the basis coordinates and norm of real inputs,
  reproduces the weights engine's Q, R, v step after step, compressions included;
- in law: replicas of one start on both engines agree in distribution (KS) and in
  mean, and the same test rejects deliberately wrong chains;
- the contract: start forms, refused options, the seed's start, reproducibility,
  divergence, the field-space test set, the CLI.
"""
import math

import numpy as np
import pytest
from scipy.special import erf
from scipy.stats import ks_2samp

import tsdyn.dynamics.order_engine as oe
from tsdyn.checks import DivergenceError
from tsdyn.dynamics.order_kernel import DIVERGENCE_BOUND, compress, gram_factor, normals_offset, order_step, order_steps
from tsdyn.eg import eg
from tsdyn.order_parameters import OrderParameters
from tsdyn.dynamics.sgd_kernel import DIVERGENCE_BOUND as WEIGHTS_BOUND, sgd_steps
from tsdyn.simulate import main, simulate

# ---------------------------------------------------------------- per step
@pytest.mark.parametrize("period", [1, 3, 40])
def test_chain_steps_equal_the_weights_engine_on_real_inputs(period):
    """The kernel fed the coordinates z = B x and |x_perp|^2 of real inputs gives the weights' Q, R, v.

    B is the chain's basis, tracked explicitly: rows with [w*; w] / sqrt(N) = C B
    at the start, the new direction x_perp / |x_perp| after each step, and the
    rotation F^-1 Cs after each compression. 12 steps, 1e-12.
    """
    N, M, K, lr, lr2, sigma, steps = 50, 2, 4, 0.9, 0.7, 0.3, 12
    rng = np.random.default_rng(5)
    wstar, w, v = rng.standard_normal((M, N)), rng.standard_normal((K, N)), rng.standard_normal(K)
    vstar = np.array([4.0, -2.5])
    X, zeta = rng.standard_normal((steps, N)), rng.standard_normal(steps)
    LT, CT = oe.coordinates(OrderParameters.from_weights(w, v, wstar, vstar), period)
    L = np.zeros((M + K, M + K))
    L[:M, :M], L[M:] = LT, CT[:M + K].T              # [[LT, 0], [A, F]], F pivoted, invertible here
    B = np.linalg.solve(L, np.vstack([wstar, w]) / math.sqrt(N))
    v_chain, lam, u = v.copy(), np.empty(K), np.empty(K)
    S, F = np.empty((K, K)), np.empty((K, K))
    w_sgd, v_sgd, pending, x_prev = w.copy(), v.copy(), np.zeros(K), np.zeros(N)
    for s in range(steps):
        x, width = X[s], M + K + s % period
        z = B @ x
        rho = x @ x - z @ z
        assert order_step(CT, LT, v_chain, vstar, z, 0, rho, width, zeta[s], lr / N, lr2 / N, sigma, True, lam, u)
        assert sgd_steps(w_sgd, v_sgd, pending, x_prev, wstar, vstar, X[s:s + 1], zeta[s:s + 1],
                         lr / math.sqrt(N), lr2 / N, sigma, True, None) == -1
        B = np.vstack([B, (x - B.T @ z) / math.sqrt(rho)])
        if s % period == period - 1:
            Cs = CT[M:width + 1].T.copy()
            compress(CT, M, width + 1, S, F)
            B = np.vstack([B[:M], np.linalg.solve(CT[M:M + K].T, Cs) @ B[M:]])
        w_now = w_sgd + np.outer(pending, x_prev)
        np.testing.assert_allclose(CT.T @ CT, w_now @ w_now.T / N, rtol=0, atol=1e-12)
        np.testing.assert_allclose(CT[:M].T @ LT.T, w_now @ wstar.T / N, rtol=0, atol=1e-12)
        np.testing.assert_allclose(v_chain, v_sgd, rtol=0, atol=1e-12)
        np.testing.assert_allclose(B @ B.T, np.eye(len(B)), atol=1e-10)   # the basis stayed orthonormal


def test_one_step_from_fields_and_norm_alone():
    """The issue's form: fields (lambda, nu) and |x|^2 of one input -> the weights engine's new Q, R, v.

    Only the order parameters of the start are used (no weights): z = L^-1 (nu, lambda),
    rho = |x|^2 - |z|^2; sigma > 0 checks the sign of the label noise.
    """
    N, M, K, lr, sigma = 60, 3, 5, 1.3, 0.5
    rng = np.random.default_rng(11)
    wstar, w, v = rng.standard_normal((M, N)), rng.standard_normal((K, N)), rng.standard_normal(K)
    vstar, x, zeta = rng.standard_normal(M), rng.standard_normal(N), np.array([0.8])
    LT, CT = oe.coordinates(OrderParameters.from_weights(w, v, wstar, vstar), 4)
    L = np.zeros((M + K, M + K))
    L[:M, :M], L[M:] = LT, CT[:M + K].T
    z = np.linalg.solve(L, np.concatenate([wstar @ x, w @ x]) / math.sqrt(N))
    v_chain, lam, u = v.copy(), np.empty(K), np.empty(K)
    assert order_step(CT, LT, v_chain, vstar, z, 0, x @ x - z @ z, M + K, zeta[0], lr / N, lr / N, sigma, True,
                      lam, u)
    pending, x_prev = np.zeros(K), np.zeros(N)
    assert sgd_steps(w, v, pending, x_prev, wstar, vstar, x[None], zeta, lr / math.sqrt(N), lr / N, sigma,
                     True, None) == -1
    w_new = w + np.outer(pending, x_prev)
    np.testing.assert_allclose(CT.T @ CT, w_new @ w_new.T / N, rtol=0, atol=1e-12)
    np.testing.assert_allclose(CT[:M].T @ LT.T, w_new @ wstar.T / N, rtol=0, atol=1e-12)
    np.testing.assert_allclose(v_chain, v, rtol=0, atol=1e-12)


def test_order_steps_is_the_loop_of_order_step_and_compress():
    """The chunk kernel reads step s's normals at normals_offset(s) and compresses at cycle ends (bitwise)."""
    M, K, period, steps, N = 2, 3, 4, 23, 40
    rng = np.random.default_rng(2)
    state = OrderParameters.from_weights(rng.standard_normal((K, N)), rng.standard_normal(K),
                                         rng.standard_normal((M, N)), np.full(M, 4.0))
    normals = rng.standard_normal(normals_offset(steps + period, M, K, period))
    chi2, noise = rng.chisquare(N - M - K - period, steps), rng.standard_normal(steps)
    LT, CT = oe.coordinates(state, period)
    CT2, v, v2 = CT.copy(), np.array(state.v), np.array(state.v)
    assert order_steps(CT, LT, v, state.vstar, normals, chi2, noise, 0, 9, period, 0.02, 0.01, 0.2, True) == -1
    assert order_steps(CT, LT, v, state.vstar, normals, chi2, noise, 9, steps, period, 0.02, 0.01, 0.2, True) == -1
    lam, u, S, F = np.empty(K), np.empty(K), np.empty((K, K)), np.empty((K, K))
    for s in range(steps):
        j, off = s % period, normals_offset(s, M, K, period)
        order_step(CT2, LT, v2, state.vstar, normals, off, chi2[s], M + K + j, noise[s],
                   0.02, 0.01, 0.2, True, lam, u)
        if j == period - 1:
            compress(CT2, M, M + K + j + 1, S, F)
    assert np.array_equal(CT, CT2) and np.array_equal(v, v2)


def test_gram_factor_of_a_rank_deficient_matrix():
    rng = np.random.default_rng(0)
    G = rng.standard_normal((6, 3))
    S = G @ G.T                                         # rank 3
    F = np.empty((6, 6))
    gram_factor(S.copy(), F)
    np.testing.assert_allclose(F @ F.T, S, atol=1e-12)
    assert np.sum(np.any(F != 0, axis=0)) == 3         # three zero columns, no failure


def test_compress_keeps_Q_through_the_pivoted_fallback():
    """Two identical student vectors make the plain Cholesky fail; the pivoted one keeps C C^T."""
    M, K, width = 2, 4, 9
    rng = np.random.default_rng(8)
    CT = np.zeros((width + 2, K))
    CT[:width] = rng.standard_normal((width, K))
    CT[:, 1] = CT[:, 0]                                 # nodes 0 and 1 coincide
    Q = CT.T @ CT
    S, F = np.empty((K, K)), np.empty((K, K))
    compress(CT, M, width, S, F)
    np.testing.assert_allclose(CT.T @ CT, Q, atol=1e-12)
    assert not np.any(CT[M + K:])
    assert np.all(np.isfinite(CT))


# ---------------------------------------------------------------- in law
LAW = dict(N=50, M=2, K=4, lr=1.0, steps=1000, seed=3)    # t <= 20
LAW_TIMES = (2.0, 5.0, 10.0, 20.0)
REPLICAS = 200


def _eg_replicas(engine, offset=0, law=LAW):
    """eps_g at LAW_TIMES of REPLICAS runs from one start (data_seed = offset + r)."""
    return np.array([_at_times(simulate(**law, data_seed=offset + r, times=LAW_TIMES, engine=engine))
                     for r in range(REPLICAS)])


def _at_times(traj):
    index = np.searchsorted(traj.times, LAW_TIMES)
    return traj.eg[index]


def _law_verdicts(a, b):
    """Per time: KS p-value and |mean difference| / its standard error."""
    p = np.array([ks_2samp(a[:, i], b[:, i]).pvalue for i in range(a.shape[1])])
    se = np.sqrt(a.var(axis=0, ddof=1) / len(a) + b.var(axis=0, ddof=1) / len(b))
    return p, np.abs(a.mean(axis=0) - b.mean(axis=0)) / se


def _reference_chain(start, *, N, lr, steps, replicas, seed, unit_norm=False, drop_eta2=False):
    """The issue's update in (Q, R, v), a per-step factor of Omega, numpy over replicas (an independent code).

    ``unit_norm`` replaces |x|^2/N by 1, ``drop_eta2`` drops the eta^2 term: deliberately wrong chains.
    Returns eps_g at LAW_TIMES, (replicas, len(LAW_TIMES)).
    """
    rng = np.random.default_rng(seed)
    K, M = start.K, start.M
    Q = np.repeat(np.array(start.Q)[None], replicas, 0)
    R = np.repeat(np.array(start.R)[None], replicas, 0)
    v = np.repeat(np.array(start.v)[None], replicas, 0)
    T, vstar = np.array(start.T), np.array(start.vstar)
    g = lambda x: erf(x / math.sqrt(2))                                  # noqa: E731
    record = {round(t * N): i for i, t in enumerate(LAW_TIMES)}
    out = np.empty((replicas, len(LAW_TIMES)))
    for s in range(steps + 1):
        if s in record:
            out[:, record[s]] = eg(Q, R, T, v, vstar)
        if s == steps:
            break
        omega = np.block([[Q, R], [np.swapaxes(R, 1, 2), np.broadcast_to(T, (replicas, M, M))]])
        evals, evecs = np.linalg.eigh(omega)     # a factor that a wrong chain's indefinite Omega cannot break
        root = evecs * np.sqrt(np.clip(evals, 0.0, None))[:, None, :]
        z = rng.standard_normal((replicas, K + M))
        f = np.einsum("rij,rj->ri", root, z)
        lam, nu = f[:, :K], f[:, K:]
        # |x|^2 = |z|^2 + chi^2: the z of the fields (an independent z here is a wrong chain too)
        xn = 1.0 if unit_norm else (np.sum(z**2, 1) + rng.chisquare(N - K - M, replicas))[:, None, None] / N
        delta = g(nu) @ vstar - np.sum(v * g(lam), 1)
        c = v * math.sqrt(2 / math.pi) * np.exp(-lam**2 / 2) * delta[:, None]
        dQ = lr / N * (c[:, :, None] * lam[:, None, :] + lam[:, :, None] * c[:, None, :])
        if not drop_eta2:
            dQ += lr**2 / N * c[:, :, None] * c[:, None, :] * xn
        Q, R = Q + dQ, R + lr / N * c[:, :, None] * nu[:, None, :]
        v = v + lr / N * delta[:, None] * g(lam)
    return out


@pytest.fixture(scope="module")
def weights_replicas():
    return _eg_replicas("weights")


def test_in_law_the_chain_matches_the_weights_engine(weights_replicas):
    """KS p > 0.01 and means within 3 standard errors at 4 times, 200 replicas of one start each.

    The order engine's replicas use data_seed 10000 + r, so that no draw is shared
    with the weights engine's (both read the ``inputs`` stream of their data_seed).
    """
    order = _eg_replicas("order", offset=10_000)
    p, zscore = _law_verdicts(weights_replicas, order)
    print("KS p", p.round(3), "|z|", zscore.round(2))
    assert np.all(p > 0.01) and np.all(zscore < 3)


def test_the_law_test_rejects_wrong_chains_and_passes_the_right_one(weights_replicas):
    """The same test on the independent reference chain: right -> passes; eta^2 term dropped -> fails."""
    start = simulate(**{**LAW, "steps": 0}).initial
    common = dict(N=LAW["N"], lr=LAW["lr"], steps=LAW["steps"], replicas=REPLICAS, seed=1)
    p, zscore = _law_verdicts(weights_replicas, _reference_chain(start, **common))
    assert np.all(p > 0.01) and np.all(zscore < 3)
    p, zscore = _law_verdicts(weights_replicas, _reference_chain(start, **common, drop_eta2=True))
    print("eta^2 dropped: KS p", p, "|z|", zscore.round(1))
    assert np.min(p) < 1e-6 and np.max(zscore) > 5


def test_the_law_test_detects_a_unit_norm_order_engine_at_small_N(monkeypatch):
    """|x|^2/N := 1 in the engine itself (rho = N - |z|^2): rejected at N = 8, the right engine passes.

    Replacing the norm by its mean keeps every drift and changes only O(1/N)
    fluctuations, so only a small N shows it (not N = 50 with 200 replicas).
    """
    small = {**LAW, "N": 8, "steps": 160}
    weights = _eg_replicas("weights", law=small)
    p, zscore = _law_verdicts(weights, _eg_replicas("order", offset=10_000, law=small))
    assert np.all(p > 0.01) and np.all(zscore < 3)
    real_draw = oe.draw_chunk

    def unit_norm_draw(streams, chunk, n_steps, *, M, K, N, period, draw_noise):
        normals, chi2, noise = real_draw(streams, chunk, n_steps, M=M, K=K, N=N, period=period,
                                         draw_noise=draw_noise)
        for s in range(n_steps):
            off = normals_offset(s, M, K, period)
            z = normals[off:off + M + K + s % period]
            chi2[s] = max(N - z @ z, 0.0)
        return normals, chi2, noise

    monkeypatch.setattr(oe, "draw_chunk", unit_norm_draw)
    p, zscore = _law_verdicts(weights, _eg_replicas("order", offset=10_000, law=small))
    print("unit norm at N = 8: KS p", p, "|z|", zscore.round(2))
    assert np.min(p) < 1e-3 and np.max(zscore) > 3


# ---------------------------------------------------------------- the contract
SMALL = dict(N=60, M=2, K=3, steps=600, seed=4)


def test_same_seed_starts_from_the_weights_engines_exact_state():
    order, weights = simulate(**SMALL, engine="order"), simulate(**{**SMALL, "steps": 0})
    for name in ("Q", "R", "T", "v", "vstar"):
        assert np.array_equal(getattr(order.initial, name), getattr(weights.initial, name)), name
    assert np.array_equal(order.Q[0], weights.Q[0]) and np.array_equal(order.R[0], weights.R[0])
    assert order.eg[0] == weights.eg[0]
    assert order.w is None and order.wstar is None and order.info["engine"] == "order"


def test_reproducible_and_independent_of_the_record_times():
    a = simulate(**SMALL, engine="order", sigma=0.25)
    b = simulate(**SMALL, engine="order", sigma=0.25)
    c = simulate(**SMALL, engine="order", sigma=0.25, times=[0.37, 3.0, 7.5])
    assert np.array_equal(a.Q, b.Q) and np.array_equal(a.v, b.v) and np.array_equal(a.eg, b.eg)
    assert np.array_equal(a.Q[-1], c.Q[-1]) and np.array_equal(a.v[-1], c.v[-1])
    longer = simulate(**{**SMALL, "steps": 1500}, engine="order", sigma=0.25, times=[10.0])   # a prefix
    assert np.array_equal(longer.Q[1], a.Q[-1]) and np.array_equal(longer.v[1], a.v[-1])
    d = simulate(**SMALL, engine="order", sigma=0.25, data_seed=99)            # replica: same start, other data
    assert np.array_equal(d.initial.Q, a.initial.Q) and not np.array_equal(d.Q[-1], a.Q[-1])


def test_start_forms_agree_and_set_M_K(tmp_path):
    first = simulate(**SMALL, engine="order")
    path = first.save_npz(tmp_path / "first.npz")
    runs = [simulate(N=N, steps=200, data_seed=1, engine="order", start=start)
            for N, start in ((80, first.final()), (80, first), (80, path), (80, str(path)))]
    for run in runs:
        assert run.K == 3 and run.M == 2
        np.testing.assert_array_equal(run.initial.Q, first.Q[-1])
        np.testing.assert_array_equal(run.Q, runs[0].Q)
    big = simulate(N=100_000, steps=2000, engine="order", start=first)        # one start at any N > K + M
    np.testing.assert_array_equal(big.Q[0], first.Q[-1])
    assert np.all(np.isfinite(big.eg))


def test_refused_options_name_themselves():
    start = simulate(**{**SMALL, "steps": 0}).initial
    with pytest.raises(ValueError, match="mask"):
        simulate(**SMALL, engine="order", mask=np.ones((3, 60), dtype=bool))
    with pytest.raises(ValueError, match=r"N must be an integer >= K \+ M \+ 1"):
        simulate(N=5, M=2, K=3, steps=10, engine="order")
    with pytest.raises(ValueError, match=r"N must be an integer >= K \+ M \+ 1"):
        simulate(N=5, steps=10, engine="order", start=start)
    with pytest.raises(ValueError, match="order parameters need engine='order'"):
        simulate(**SMALL, start=start)
    with pytest.raises(ValueError, match="K = 4 differs"):
        simulate(N=60, K=4, steps=10, engine="order", start=start)
    with pytest.raises(ValueError, match="vstar"):
        simulate(N=60, vstar=1.0, steps=10, engine="order", start=start)
    with pytest.raises(ValueError, match="engine must be"):
        simulate(**SMALL, engine="fields")
    with pytest.raises(ValueError, match="T must be positive definite"):
        simulate(N=60, steps=10, engine="order", start=OrderParameters(
            np.eye(3), np.zeros((3, 2)), np.ones((2, 2)), np.ones(3), np.ones(2)))


def test_degenerate_start_student_equals_teacher():
    """Q - R T^-1 R^T = 0 (students in the teacher span): the pivoted factor copes, eps_g starts at 0."""
    T = np.array([[1.0, 0.3], [0.3, 1.0]])
    start = OrderParameters(T, T, T, np.array([4.0, 4.0]), np.array([4.0, 4.0]))
    run = simulate(N=40, steps=400, engine="order", start=start)
    assert run.eg[0] == pytest.approx(0.0, abs=1e-12) and np.all(np.isfinite(run.eg))


def test_divergence_raises_with_step_and_time():
    assert DIVERGENCE_BOUND == WEIGHTS_BOUND
    with pytest.raises(DivergenceError, match=r"at step \d+ \(t = ") as info:
        simulate(N=60, M=2, K=3, steps=60_000, lr=80.0, engine="order")
    assert info.value.step is not None and info.value.time == info.value.step / 60


def test_field_space_test_set_estimates_eg_plus_half_sigma2():
    run = simulate(**SMALL, engine="order", sigma=0.5, test_samples=40_000, times=[1.0, 5.0])
    expected = run.eg + 0.5 * 0.5**2
    np.testing.assert_allclose(run.test_mse, expected, rtol=0.05)


def test_cli_writes_csv_and_npz_without_weights(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--engine", "order", "--N", "60", "--K", "3", "--steps", "600", "--no-progress",
                 "--out", str(out)]) == 0
    with np.load(f"{out}.npz") as data:
        assert "w" not in data and "wstar" not in data and data["Q"].shape == (3, 3)
    assert (tmp_path / "run.csv").read_text().startswith("t,eg")
    again = tmp_path / "again"
    assert main(["--engine", "order", "--N", "90", "--steps", "90", "--start", f"{out}.npz", "--no-progress",
                 "--out", str(again)]) == 0
    with np.load(f"{out}.npz") as first, np.load(f"{again}.npz") as second:
        np.testing.assert_array_equal(second["Q0"], first["Q"])
    assert main(["--engine", "order", "--N", "4", "--no-progress", "--out", str(out)]) == 2
    assert "K + M + 1" in capsys.readouterr().err


def test_accepts_every_argument_of_the_training_target():
    """tsdyn.targets.training.train's arguments, frozen second layer and a test set included."""
    run = simulate(N=70, M=2, K=3, lr=0.5, lr2=0.3, sigma=0.25, vstar=4.0, steps=700, seed=2, data_seed=5,
                   init_scale=0.5, per_decade=5, train_second_layer=False, test_samples=1000, engine="order")
    assert np.all(run.v == run.v[0]) and run.test_mse.shape == run.eg.shape
    assert run.info["stream_version"] == oe.STREAM_VERSION
