"""ODE options of issue 16: weight decay, mini-batches and learning-rate schedules (fused erf kernel).

Checked against the readable equations, Monte Carlo of the mini-batch SGD step, finite differences
(analytic Jacobian) and exact consequences of a schedule (factor 2 = doubled rates; factor 0 = frozen).
"""
import math

import numpy as np
import pytest

from tsdyn.conventions import g, g_prime
from tsdyn.dynamics.equations import order_parameter_rates
from tsdyn.dynamics.ode import integrate
from tsdyn.dynamics.ode_rhs import OdeRhs, pack, unpack
from tsdyn.dynamics.schedules import Schedule
from tsdyn.order_parameters import OrderParameters


def equations_at(y, op, lr, lr2, sigma, **options):
    Q, R, v = unpack(y, op.K, op.M)
    return pack(*order_parameter_rates(OrderParameters(Q, R, op.T, v, op.vstar), lr=lr, lr2=lr2, sigma=sigma,
                                       **options))


OPTIONS = [dict(weight_decay=0.3), dict(batch=4), dict(weight_decay=0.05, batch=2),
           dict(lr_schedule="inverse:5", weight_decay=0.1), dict(lr_schedule="piecewise:1,2:0.5", lr2_schedule="inverse:3")]


@pytest.mark.parametrize("options", OPTIONS)
def test_kernel_with_options_matches_the_readable_equations_and_finite_differences(options, random_state):
    rng = np.random.default_rng(3)
    op = random_state(4, 2, seed=rng, vstar=rng.uniform(0.5, 3.0, 2))
    lr, lr2, sigma, t = 0.6, 0.4, 0.3, 7.0
    f = OdeRhs(op.T, op.vstar, op.K, lr=lr, lr2=lr2, sigma=sigma, **options)
    s1 = Schedule.parse(options.get("lr_schedule"))
    s2 = Schedule.parse(options.get("lr2_schedule")) if "lr2_schedule" in options else s1
    lr_t, lr2_t = lr * s1.factor(t), lr2 * s2.factor(t)
    eq = dict(batch=options.get("batch", 1), weight_decay=options.get("weight_decay", 0.0))
    y = pack(op.Q, op.R, op.v)
    want = equations_at(y, op, lr_t, lr2_t, sigma, **eq)
    np.testing.assert_allclose(f(t, y), want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    h = 1e-5
    fd = np.column_stack([(f(t, y + h * e) - f(t, y - h * e)) / (2 * h) for e in np.eye(y.size)])
    fd_eq = np.column_stack([(equations_at(y + h * e, op, lr_t, lr2_t, sigma, **eq)
                              - equations_at(y - h * e, op, lr_t, lr2_t, sigma, **eq)) / (2 * h)
                             for e in np.eye(y.size)])
    J = f.jacobian(t, y)
    for ref in (fd, fd_eq):
        np.testing.assert_allclose(J, ref, atol=1e-8 * max(1.0, np.abs(ref).max()))


def test_decay_and_batch_enter_as_the_issue_states(random_state):
    op = random_state(3, 2, seed=4)
    y = pack(op.Q, op.R, op.v)
    base = OdeRhs(op.T, op.vstar, 3, lr=0.5, lr2=0.5, sigma=0.5)(0.0, y)
    kappa = 0.2
    decayed = OdeRhs(op.T, op.vstar, 3, lr=0.5, lr2=0.5, sigma=0.5, weight_decay=kappa)(0.0, y)
    np.testing.assert_allclose(decayed - base, -kappa * pack(2 * op.Q, op.R, op.v), rtol=1e-12, atol=1e-14)
    frozen = OdeRhs(op.T, op.vstar, 3, lr=0.5, lr2=0.0, sigma=0.5, weight_decay=kappa)(0.0, y)
    assert not frozen[-3:].any()                    # a frozen v neither learns nor decays
    # dQ/dt = (lr terms) + (lr^2 terms) / B: linear in 1/B, the same lr^2 part at every B; dR, dv unchanged.
    at = {B: OdeRhs(op.T, op.vstar, 3, lr=0.5, lr2=0.5, sigma=0.5, batch=B)(0.0, y) for B in (2, 5)}
    batched = at[5]
    second = (at[2] - at[5]) / (1 / 2 - 1 / 5)
    np.testing.assert_allclose(base, at[5] + second * (1 - 1 / 5), rtol=1e-12, atol=1e-14)
    assert np.abs(second).max() > 1e-3
    nq = 6
    np.testing.assert_array_equal(batched[nq:], base[nq:])


@pytest.mark.parametrize("B,kappa", [(3, 0.0), (2, 0.4)])
def test_batched_decayed_rhs_is_n_times_the_mean_sgd_step_by_monte_carlo(B, kappa, random_state):
    # One step: w_k <- (1 - kappa/N) w_k - (lr/sqrt N) (1/B) sum_s Delta_s v_k g'(lambda_sk) x_s, and the same
    # for v; times N (dt = 1/N), to O(1): the lr^2 term is the mean over s of the squared single-sample steps
    # divided by B (x_s . x_s' / N -> delta_ss'), the decay -kappa (2 Q, R, v).
    K, M, lr, lr2, sigma = 3, 2, 0.8, 0.3, 0.5
    rng = np.random.default_rng(11)
    op = random_state(K, M, seed=rng)
    n = 300_000
    eigval, eigvec = np.linalg.eigh(op.covariance())
    fields = (rng.standard_normal((n * B, K + M)) @ (eigvec * np.sqrt(np.clip(eigval, 0, None))).T)
    lam, nu = fields[:, :K], fields[:, K:]
    delta = g(lam) @ op.v - g(nu) @ op.vstar - sigma * rng.standard_normal(n * B)
    a = (lr * delta[:, None] * op.v * g_prime(lam)).reshape(n, B, K)
    lam, nu = lam.reshape(n, B, K), nu.reshape(n, B, M)
    lin_Q = -(np.einsum("nsi,nsk->nik", a, lam) + np.einsum("nsk,nsi->nik", a, lam)) / B
    step_Q = lin_Q + np.einsum("nsi,nsk->nik", a, a) / B**2 - 2 * kappa * op.Q
    step_R = -np.einsum("nsi,nsm->nim", a, nu) / B - kappa * op.R
    step_v = -lr2 * (delta.reshape(n, B)[:, :, None] * g(lam)).mean(axis=1) - kappa * op.v
    got = unpack(OdeRhs(op.T, op.vstar, K, lr=lr, lr2=lr2, sigma=sigma, batch=B, weight_decay=kappa)
                 (0.0, pack(op.Q, op.R, op.v)), K, M)
    for rate, samples in zip(got, (step_Q, step_R, step_v)):
        mean, se = samples.mean(axis=0), samples.std(axis=0, ddof=1) / math.sqrt(n)
        assert np.all(np.abs(rate - mean) < 4.5 * se + 1e-9), (rate, mean, se)


def test_schedules_in_the_integrated_ode(random_state):
    op = random_state(3, 2, seed=2, vstar=2.0)
    times = np.array([1.0, 5.0, 10.0, 20.0, 40.0])
    tight = dict(rtol=1e-11, atol=1e-12, times=times)
    doubled = integrate(op, lr=0.25, lr2=0.15, lr_schedule="piecewise:2", **tight)
    plain = integrate(op, lr=0.5, lr2=0.3, **tight)
    np.testing.assert_allclose(doubled.Q, plain.Q, rtol=1e-7, atol=1e-9)
    assert doubled.info["lr_schedule"] == "piecewise:2" and doubled.info["lr2_schedule"] == "piecewise:2"
    # Factor 0 from t = 10 stops learning: the state after t = 10 is the state at 10 (no decay) ...
    stopped = integrate(op, lr=0.5, lr_schedule="piecewise:1,10:0", **tight)
    np.testing.assert_allclose(stopped.Q[2:], np.broadcast_to(stopped.Q[2], stopped.Q[2:].shape), rtol=1e-9)
    np.testing.assert_allclose(stopped.Q[:3], integrate(op, lr=0.5, **tight).Q[:3], rtol=1e-7, atol=1e-9)
    # ... and with decay only the decay acts: R(t) = R(10) exp(-kappa (t - 10)).
    kappa = 0.05
    decayed = integrate(op, lr=0.5, lr_schedule="piecewise:1,10:0", weight_decay=kappa, **tight)
    np.testing.assert_allclose(decayed.R[3:], decayed.R[2] * np.exp(-kappa * (times[3:] - 10.0))[:, None, None],
                               rtol=1e-7)
    # Only the second layer annealed: lr2_schedule alone changes v's rate.
    annealed = integrate(op, lr=0.5, lr_schedule=None, lr2_schedule="inverse:2", **tight)
    assert annealed.info["lr_schedule"] == "constant" and annealed.info["lr2_schedule"] == "inverse:2"
    assert not np.allclose(annealed.v, plain.v)


def test_bad_options_raise_one_line_value_errors_naming_the_parameter(random_state):
    op = random_state(2, 1, seed=0)
    for kwargs, name in [(dict(activation="erf/relu"), "activation"), (dict(activation="tanh"), "activation"),
                         (dict(batch=0), "batch"), (dict(batch=1.5), "batch"), (dict(weight_decay=-0.1), "weight_decay"),
                         (dict(lr_schedule="inverse:-1"), "lr_schedule"), (dict(lr2_schedule="fast"), "lr_schedule")]:
        with pytest.raises(ValueError, match=name):
            integrate(op, tmax=1.0, **kwargs)
