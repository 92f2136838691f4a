"""The general-activation ODE (tsdyn.dynamics.ode_rhs_general): against the fused erf kernel, the readable
equations and a Monte-Carlo estimate of the SGD drift for relu and linear networks."""
import math

import numpy as np
import pytest

from tsdyn import conventions as cv
from tsdyn.activation_integrals import field_codes
from tsdyn.dynamics.equations import order_parameter_rates
from tsdyn.dynamics.ode import integrate
from tsdyn.dynamics.ode_rhs import OdeRhs, pack, rhs, unpack
from tsdyn.dynamics.ode_rhs_general import general_jacobian, general_rhs

PAIRS = ["relu", "linear", "relu/erf", "linear/erf", "erf/linear", "relu/linear", "linear/relu"]


@pytest.mark.parametrize("K,M,lr2,sigma,batch", [(1, 1, 0.5, 0.0, 1), (4, 2, 0.3, 0.4, 1), (6, 3, 0.0, 0.25, 3)])
def test_general_kernel_with_erf_fields_is_the_fused_kernel(K, M, lr2, sigma, batch, random_state):
    rng = np.random.default_rng(K)
    for _ in range(3):
        op = random_state(K, M, seed=rng, vstar=rng.uniform(0.5, 4.0, M))
        y = pack(op.Q, op.R, op.v)
        fused, _ = rhs(y, op.T, op.vstar, K, 0.7, lr2, sigma**2, batch=batch)
        general, finite = general_rhs(y, op.T, op.vstar, K, 0.7, lr2, sigma**2, field_codes("erf", K, M), batch)
        assert finite
        np.testing.assert_allclose(general, fused, rtol=1e-12, atol=1e-12 * np.abs(fused).max())


@pytest.mark.parametrize("activation", PAIRS)
def test_general_kernel_matches_the_readable_equations(activation, random_state):
    rng = np.random.default_rng(len(activation))
    op = random_state(3, 2, seed=rng, vstar=rng.uniform(0.5, 3.0, 2))
    options = dict(batch=2, weight_decay=0.1)
    f = OdeRhs(op.T, op.vstar, 3, lr=0.6, lr2=0.4, sigma=0.3, activation=cv.activation_pair(activation), **options)
    y = pack(op.Q, op.R, op.v)
    want = pack(*order_parameter_rates(op, lr=0.6, lr2=0.4, sigma=0.3, activation=activation, **options))
    np.testing.assert_allclose(f(0.0, y), want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    if activation == "linear":                      # polynomial: central differences are exact to rounding
        J = general_jacobian(y, op.T, op.vstar, 3, 0.6, 0.4, 0.09, f.codes, 2, step=1e-8)
        h = 1e-4
        fd = np.column_stack([(f(0, y + h * e) - f(0, y - h * e)) / (2 * h) for e in np.eye(y.size)])
        fd += np.diag(f.decay)                      # f includes the decay, the kernel's Jacobian does not
        np.testing.assert_allclose(J, fd, atol=1e-7 * np.abs(fd).max())
        # the default step (1e-6, against the quadratures' noise) leaves a truncation error of its own size
        J6 = general_jacobian(y, op.T, op.vstar, 3, 0.6, 0.4, 0.09, f.codes, 2)
        np.testing.assert_allclose(J6, fd, atol=1e-5 * np.abs(fd).max())
        assert np.abs(J6 - fd).max() > 1e-9 * np.abs(fd).max()     # and it is the step asked for


@pytest.mark.parametrize("activation", ["relu", "linear", "relu/linear", "linear/erf"])
def test_general_rhs_is_n_times_the_mean_sgd_step_by_monte_carlo(activation, random_state):
    # The single-sample SGD step of NOTES.md, written in the fields, averaged over fresh inputs (as
    # tests/test_ode.py does for erf); teacher and student activation each from the pair.
    teacher, student = cv.activation_pair(activation)
    K, M, lr, lr2, sigma = 3, 2, 0.6, 0.4, 0.3
    rng = np.random.default_rng(7)
    op = random_state(K, M, seed=rng, vstar=1.5)
    n = 400_000
    eigval, eigvec = np.linalg.eigh(op.covariance())
    fields = rng.standard_normal((n, K + M)) @ (eigvec * np.sqrt(np.clip(eigval, 0, None))).T
    lam, nu = fields[:, :K], fields[:, K:]
    delta = cv.g(lam, student) @ op.v - cv.g(nu, teacher) @ op.vstar - sigma * rng.standard_normal(n)
    a = lr * delta[:, None] * op.v * cv.g_prime(lam, student)
    step_Q = -(a[:, :, None] * lam[:, None, :] + a[:, None, :] * lam[:, :, None]) + a[:, :, None] * a[:, None, :]
    step_R = -a[:, :, None] * nu[:, None, :]
    step_v = -lr2 * delta[:, None] * cv.g(lam, student)
    f = OdeRhs(op.T, op.vstar, K, lr=lr, lr2=lr2, sigma=sigma, activation=(teacher, student))
    got = unpack(f(0.0, pack(op.Q, op.R, op.v)), K, M)
    for rate, samples in zip(got, (step_Q, step_R, step_v)):
        mean, se = samples.mean(axis=0), samples.std(axis=0, ddof=1) / math.sqrt(n)
        assert np.all(np.abs(rate - mean) < 4.5 * se + 1e-9), (activation, rate, mean, se)


def test_linear_network_ode_in_closed_form():
    # K = M = 1, linear, frozen v = v* = 1, T = 1, no noise: dR/dt = lr (1 - R), dQ/dt = 2 lr (R - Q)
    # + lr^2 (Q - 2 R + 1) (the lr^2 I4 term is E[Delta^2] = eps_g * 2); solve the linear system exactly.
    from scipy.linalg import expm
    from tsdyn.order_parameters import OrderParameters

    lr = 0.3
    op = OrderParameters(np.array([[0.5]]), np.array([[0.1]]), np.array([[1.0]]), np.array([1.0]), np.array([1.0]))
    times = np.array([0.5, 2.0, 10.0])
    traj = integrate(op, lr=lr, activation="linear", train_second_layer=False, times=times, rtol=1e-11, atol=1e-13)
    # state (Q, R, 1): d/dt = A (Q, R, 1)
    A = np.array([[-2 * lr + lr**2, 2 * lr - 2 * lr**2, lr**2], [0.0, -lr, lr], [0.0, 0.0, 0.0]])
    for t, Q, R in zip(times, traj.Q[:, 0, 0], traj.R[:, 0, 0]):
        want = expm(A * t) @ np.array([0.5, 0.1, 1.0])
        np.testing.assert_allclose([Q, R], want[:2], rtol=1e-8)
    np.testing.assert_allclose(traj.eg, 0.5 * (traj.Q[:, 0, 0] - 2 * traj.R[:, 0, 0] + 1.0), rtol=1e-12)
    assert traj.info["activation"] == "linear"


def test_relu_jacobian_columns_in_parallel_threads_give_the_same_matrix(random_state):
    import numba

    rng = np.random.default_rng(11)
    op = random_state(4, 2, seed=rng, vstar=rng.uniform(0.5, 3.0, 2))
    codes = field_codes("relu", 4, 2)
    y = pack(op.Q, op.R, op.v)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = general_jacobian(y, op.T, op.vstar, 4, 0.5, 0.5, 0.0, codes)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = general_jacobian(y, op.T, op.vstar, 4, 0.5, 0.5, 0.0, codes)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, many)
    # and it is the forward difference of the RHS with the default step
    f0, _ = general_rhs(y, op.T, op.vstar, 4, 0.5, 0.5, 0.0, codes)
    x = 3
    h = 1e-6 * max(1.0, abs(y[x]))
    yp = y.copy()
    yp[x] += h
    fx, _ = general_rhs(yp, op.T, op.vstar, 4, 0.5, 0.5, 0.0, codes)
    np.testing.assert_allclose(one[:, x], (fx - f0) / (yp[x] - y[x]), rtol=1e-9, atol=1e-9 * np.abs(one[:, x]).max())
