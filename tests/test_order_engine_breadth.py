"""The order-parameter engine with the breadth options (issue 16) against the weights engine.

As tests/test_order_engine.py does for the default model, two kinds of evidence:
- per step: the general chain kernel, fed the basis coordinates z_b of real inputs and the Bartlett
  factor of their orthogonal parts, reproduces sgd_steps_general's Q, R, v step after step
  (compressions included) for every option; with the Bartlett cross terms dropped it does not;
- in law: replicas of one start on both engines agree in distribution (KS) and in mean for every
  option, and the same test rejects the chain without the 1/B of the mini-batch mean.
"""
import math

import numpy as np
import pytest
from scipy.stats import ks_2samp

import tsdyn.dynamics.order_engine as oe
from tsdyn import conventions as cv
from tsdyn.dynamics.order_kernel_general import batch_normals_offset, order_steps_general
from tsdyn.dynamics.schedules import Schedule
from tsdyn.dynamics.sgd_kernel import sgd_steps_general
from tsdyn.order_parameters import OrderParameters
from tsdyn.simulate import simulate

# ---------------------------------------------------------------- per step
PER_STEP = {
    "relu": dict(activation="relu"),
    "linear": dict(activation="linear"),
    "erf/relu": dict(activation="erf/relu"),
    "relu/linear": dict(activation="relu/linear"),
    "decay": dict(weight_decay=3.0),
    "batch3": dict(batch=3),
    "batch5": dict(batch=5),
    "schedules": dict(lr_schedule="inverse:0.05", lr2_schedule="piecewise:1,0.1:0.3,0.2:2"),
    "everything": dict(activation="relu", weight_decay=1.5, batch=2, lr_schedule="piecewise:1,0.1:0.5"),
}


def _chain_against_weights(options, *, steps=14, N=50, M=2, K=4, drop_cross_terms=False):
    """Worst |Q_chain - Q_sgd|, |R_chain - R_sgd|, |v_chain - v_sgd| over ``steps`` steps on the same inputs.

    The chain's basis is tracked explicitly (rows b with [w*; w] / sqrt N = C b): the B inputs of a step
    give z = X b^T and X_perp = X - z b = L E (L the Cholesky factor of X_perp X_perp^T, E orthonormal
    rows): E is appended to the basis, L's diagonal squared is fed as the chi^2 and its strict lower
    triangle as the Bartlett normals; after a compression the basis rotates by F^-1 Cs.
    """
    B, kappa = options.get("batch", 1), options.get("weight_decay", 0.0)
    teacher, student = cv.activation_pair(options.get("activation", "erf"))
    act_t, act_s = cv.activation_code(teacher), cv.activation_code(student)
    sched_w = Schedule.parse(options.get("lr_schedule")).packed()
    sched_v = Schedule.parse(options.get("lr2_schedule", options.get("lr_schedule"))).packed()
    lr, lr2, sigma = 0.4, 0.3, 0.3
    rng = np.random.default_rng(7)
    wstar, w, v = rng.standard_normal((M, N)), rng.standard_normal((K, N)), rng.standard_normal(K)
    vstar = np.array([1.5, -1.0])
    X, zeta = rng.standard_normal((steps * B, N)), rng.standard_normal(steps * B)
    period = oe.compression_period(M, K, N, B)
    LT, CT = oe.coordinates(OrderParameters.from_weights(w, v, wstar, vstar), period * B)
    L0 = np.zeros((M + K, M + K))
    L0[:M, :M], L0[M:] = LT, CT[:M + K].T
    basis = np.linalg.solve(L0, np.vstack([wstar, w]) / math.sqrt(N))
    v_chain, w_sgd, v_sgd = v.copy(), w.copy(), v.copy()
    worst = np.zeros(3)
    for s in range(steps):
        j, xs = s % period, X[s * B:(s + 1) * B]
        width = M + K + j * B
        z = xs @ basis.T
        perp = xs - z @ basis
        L = np.linalg.cholesky(perp @ perp.T)
        E = np.linalg.solve(L, perp)
        # step j of a cycle reads its draws at the offsets of a chunk that starts at the cycle's first step
        normals = np.zeros(batch_normals_offset(j + 1, M, K, period, B) + 1)
        off = batch_normals_offset(j, M, K, period, B)
        bartlett = [0.0 if drop_cross_terms else L[b, i] for b in range(1, B) for i in range(b)]
        normals[off:off + B * width + len(bartlett)] = np.concatenate([z.ravel(), bartlett])
        chi2, noise = np.zeros((j + 1) * B), np.zeros((j + 1) * B)
        chi2[j * B:], noise[j * B:] = np.diag(L) ** 2, zeta[s * B:(s + 1) * B]
        args = (LT, v_chain, vstar, normals, chi2, noise, j, j + 1)
        rest = (B, s - j, N, lr / N, lr2 / N, sigma, True, act_t, act_s, kappa, sched_w, sched_v)
        # the same step on a copy with a longer period (step j's draws sit at the same offsets): no compression,
        # so its student coordinates Cs say how the compression of the real call rotates the basis
        pre, v_pre = CT.copy(), v_chain.copy()
        assert order_steps_general(pre, LT, v_pre, *args[2:], period + 1, *rest) == -1
        Cs = pre[M:width + B].T
        assert order_steps_general(CT, *args, period, *rest) == -1
        assert sgd_steps_general(w_sgd, v_sgd, wstar, vstar, xs, zeta[s * B:(s + 1) * B], s, B, lr / math.sqrt(N),
                                 lr2 / N, sigma, True, None, act_t, act_s, kappa, sched_w, sched_v) == -1
        basis = np.vstack([basis, E])
        if j == period - 1:                          # the kernel compressed: rotate the student part of the basis
            basis = np.vstack([basis[:M], np.linalg.solve(CT[M:M + K].T, Cs) @ basis[M:]])
        worst = np.maximum(worst, [np.abs(CT.T @ CT - w_sgd @ w_sgd.T / N).max(),
                                   np.abs(CT[:M].T @ LT.T - w_sgd @ wstar.T / N).max(),
                                   np.abs(v_chain - v_sgd).max()])
        np.testing.assert_allclose(basis @ basis.T, np.eye(len(basis)), atol=1e-9)   # still orthonormal
    return worst


@pytest.mark.parametrize("name", list(PER_STEP))
def test_general_chain_steps_equal_the_weights_kernel_on_real_inputs(name):
    """Q, R, v of the chain equal those of sgd_steps_general on the same inputs to 1e-11 after every step."""
    worst = _chain_against_weights(PER_STEP[name])
    assert np.all(worst < 1e-11), worst


def test_per_step_check_fails_without_the_bartlett_cross_terms():
    """The orthogonal parts' mutual products x_a,perp . x_b,perp enter Q: zeroing L_bi (b > i) breaks it."""
    worst = _chain_against_weights(dict(batch=3), drop_cross_terms=True)
    print("Bartlett cross terms dropped: worst |dQ|, |dR|, |dv| =", worst)
    assert worst[0] > 1e-5      # (then R and v too, through the later fields)


def test_neutral_options_run_the_general_kernel_on_the_default_stream():
    """lr2_schedule 'piecewise:1' forces the general kernel: same draws as the default chain, same run to rounding."""
    common = dict(N=60, M=2, K=3, steps=3000, seed=4, sigma=0.2, engine="order")
    base, neutral = simulate(**common), simulate(**common, activation="erf/erf", lr2_schedule="piecewise:1")
    np.testing.assert_allclose(neutral.Q, base.Q, rtol=0, atol=1e-10)
    np.testing.assert_allclose(neutral.v, base.v, rtol=0, atol=1e-10)


def test_batch_needs_room_for_its_directions():
    with pytest.raises(ValueError, match=r"N must be an integer >= K \+ M \+ batch"):
        simulate(N=8, M=2, K=3, steps=10, batch=4, engine="order")
    assert np.all(np.isfinite(simulate(N=9, M=2, K=3, steps=90, batch=4, engine="order").eg))


def test_weight_decay_with_a_negligible_gradient_shrinks_the_chain_geometrically():
    """As the weights engine's test: Q by (1 - kappa/N)^(2 steps), v by (1 - kappa/N)^steps."""
    N, steps, kappa = 50, 400, 3.0
    run = simulate(N=N, steps=steps, seed=1, lr=1e-12, weight_decay=kappa, times=[steps / N], engine="order")
    assert np.trace(run.Q[-1]) / np.trace(run.Q[0]) == pytest.approx((1 - kappa / N) ** (2 * steps), rel=1e-8)
    np.testing.assert_allclose(run.v[-1], run.v[0] * (1 - kappa / N) ** steps, rtol=1e-8)


def test_schedule_freezes_the_chain_where_its_factor_is_zero():
    run = simulate(N=20, steps=100, seed=0, lr_schedule="piecewise:1,2:0", times=[1.0, 2.0, 3.0, 5.0], engine="order")
    at = {t: i for i, t in enumerate(run.times)}
    np.testing.assert_array_equal(run.v[-1], run.v[at[2.0]])
    np.testing.assert_allclose(run.Q[-1], run.Q[at[2.0]], rtol=0, atol=1e-13)   # compressions re-round C
    assert np.abs(run.Q[at[1.0]] - run.Q[at[2.0]]).max() > 1e-3


def test_field_test_set_scores_the_runs_activation():
    """test_samples with a ReLU student: the fresh-field test MSE estimates eps_g (ReLU GE) + sigma^2 / 2."""
    run = simulate(N=60, M=2, K=3, vstar=1.0, steps=600, seed=4, sigma=0.5, activation="relu", engine="order",
                   test_samples=40_000, times=[1.0, 5.0])
    np.testing.assert_allclose(run.test_mse, run.eg + 0.5 * 0.5 ** 2, rtol=0.05)


# ---------------------------------------------------------------- in law
LAW = dict(N=50, M=2, K=3, vstar=1.0, lr=1.0, steps=1000, seed=3)    # t <= 20
LAW_TIMES = (2.0, 5.0, 10.0, 20.0)
REPLICAS = 150
IN_LAW = {
    "relu": dict(activation="relu"),
    "linear": dict(activation="linear", lr=0.5),
    "erf/relu": dict(activation="erf/relu"),
    "decay": dict(weight_decay=1.0),
    "batch": dict(batch=4),
    "schedules": dict(lr_schedule="inverse:3", lr2_schedule="piecewise:1,4:0.3"),
}


def _eg_replicas(engine, options, offset=0):
    """eps_g at LAW_TIMES of REPLICAS runs from one start (data_seed = offset + r)."""
    law = {**LAW, **options}
    out = []
    for r in range(REPLICAS):
        traj = simulate(**law, data_seed=offset + r, times=LAW_TIMES, engine=engine)
        out.append(traj.eg[np.searchsorted(traj.times, LAW_TIMES)])
    return np.array(out)


def _law_verdicts(a, b):
    """Per time: KS p-value and |mean difference| / its standard error."""
    p = np.array([ks_2samp(a[:, i], b[:, i]).pvalue for i in range(a.shape[1])])
    se = np.sqrt(a.var(axis=0, ddof=1) / len(a) + b.var(axis=0, ddof=1) / len(b))
    return p, np.abs(a.mean(axis=0) - b.mean(axis=0)) / se


@pytest.fixture(scope="module")
def batch_weights():
    return _eg_replicas("weights", IN_LAW["batch"])


@pytest.mark.parametrize("name", list(IN_LAW))
def test_in_law_the_general_chain_matches_the_weights_engine(name, batch_weights):
    """KS p > 0.001 and means within 3.5 standard errors at 4 times, 150 replicas of one start per engine.

    24 comparisons (6 options x 4 times): per-comparison levels 0.001 and 3.5 s.e. keep the chance of a
    false alarm of the family near 2 % (the default model's test, 4 comparisons, uses 0.01 and 3). The
    order engine's replicas use data_seed 10000 + r: no draw is shared with the weights engine's.
    """
    options = IN_LAW[name]
    weights = batch_weights if name == "batch" else _eg_replicas("weights", options)
    p, zscore = _law_verdicts(weights, _eg_replicas("order", options, offset=10_000))
    print(name, "KS p", p.round(4), "|z|", zscore.round(2))
    assert np.all(p > 0.001) and np.all(zscore < 3.5)


def test_the_law_test_rejects_a_batch_chain_without_the_one_over_B(batch_weights):
    """Summing the B gradients instead of averaging them is the chain at B times the rates: rejected."""
    B = IN_LAW["batch"]["batch"]
    wrong = _eg_replicas("order", dict(batch=B, lr=LAW["lr"] * B, lr2=LAW["lr"] * B), offset=10_000)
    p, zscore = _law_verdicts(batch_weights, wrong)
    print("1/B dropped: KS p", p, "|z|", zscore.round(1))
    assert np.min(p) < 1e-6 and np.max(zscore) > 5
