"""Gaussian averages of erf, ReLU and linear (tsdyn.activation_integrals, tsdyn.orthant) against
Monte Carlo, brute-force quadrature and the erf closed forms; the GE of eqs 5-8 generalised."""
import math

import numpy as np
import pytest
from scipy.special import ndtr

from tsdyn import conventions as cv
from tsdyn.activation_integrals import field_codes, i3, i4, j2, ode_supported, pair_mean, pair_mean_matrix
from tsdyn.eg import eg
from tsdyn.integrals import I2, I3, I4, J2
from tsdyn.order_parameters import OrderParameters
from tsdyn.orthant import orthant, orthant4_from_corr
from tsdyn.tallis import truncated_moment

CODES = range(len(cv.ACTIVATIONS))


def random_covariance(rng, n, rank=None):
    A = rng.standard_normal((n, rank or n)) * rng.uniform(0.4, 1.5, size=(n, 1))
    return A @ A.T / (rank or n) * rng.uniform(0.5, 3.0)


def samples(rng, C, n):
    eigval, eigvec = np.linalg.eigh(C)
    return rng.standard_normal((n, len(C))) @ (eigvec * np.sqrt(np.clip(eigval, 0, None))).T


def assert_mc(values, exact, z=5.0):
    mean, se = values.mean(), values.std(ddof=1) / math.sqrt(values.size)
    assert abs(mean - exact) < z * se + 1e-12, (mean, exact, se)


def f(x, code):
    return cv.g(x, cv.ACTIVATIONS[code])


def fp(x, code):
    return cv.g_prime(x, cv.ACTIVATIONS[code])


def test_activations_and_their_numba_scalars():
    x = np.linspace(-3, 3, 61)
    h = 1e-6
    for name in cv.ACTIVATIONS:
        code = cv.activation_code(name)
        smooth = np.abs(x) > 1e-3
        fd = (cv.g(x + h, name) - cv.g(x - h, name)) / (2 * h)
        np.testing.assert_allclose(cv.g_prime(x, name)[smooth], fd[smooth], atol=1e-7)
        for t in x:
            assert cv.act_scalar(t, code) == pytest.approx(cv.g(t, name), abs=1e-15)
            assert cv.act_prime_scalar(t, code) == pytest.approx(cv.g_prime(t, name), abs=1e-15)
    for t in x:                                     # erf: the very same floats as the erf-only scalars
        assert cv.act_scalar(t, cv.ERF) == cv.g_scalar(t) and cv.act_prime_scalar(t, cv.ERF) == cv.g_prime_scalar(t)
    assert cv.activation_pair("relu") == ("relu", "relu")
    assert cv.activation_pair(("erf", "linear")) == cv.activation_pair("erf/linear") == ("erf", "linear")
    for bad in ("tanh", ("erf",), 3, ("erf", "sigmoid")):
        with pytest.raises(ValueError, match="activation"):
            cv.activation_pair(bad)


@pytest.mark.parametrize("seed", range(3))
def test_every_integral_of_every_activation_matches_monte_carlo(seed):
    rng = np.random.default_rng(seed)
    C = random_covariance(rng, 4)
    x = samples(rng, C, 600_000)
    for gs in CODES:
        assert_mc(fp(x[:, 0], gs) * fp(x[:, 1], gs), j2(C, 0, 1, gs))
        for fa in CODES:
            assert_mc(f(x[:, 0], gs) * f(x[:, 1], fa), pair_mean(gs, fa, C[0, 0], C[0, 1], C[1, 1]))
            assert_mc(fp(x[:, 0], gs) * x[:, 1] * f(x[:, 2], fa), i3(C, 0, 1, 2, gs, fa))
            for fb in CODES:
                if gs == cv.RELU and cv.ERF in (fa, fb):
                    assert math.isnan(i4(C, 0, 1, 2, 3, gs, fa, fb))       # not reduced: refused
                    continue
                assert_mc(fp(x[:, 0], gs) * fp(x[:, 1], gs) * f(x[:, 2], fa) * f(x[:, 3], fb),
                          i4(C, 0, 1, 2, 3, gs, fa, fb))


def test_integrals_with_coinciding_fields_match_monte_carlo():
    """I4(i, i, a, b), I4(i, k, i, b), I3(i, b, i), J2(i, i): the ODE's repeated indices."""
    rng = np.random.default_rng(7)
    C = random_covariance(rng, 3)
    x = samples(rng, C, 600_000)
    for gs in CODES:
        assert_mc(fp(x[:, 0], gs) ** 2, j2(C, 0, 0, gs))
        for fa in CODES:
            assert_mc(fp(x[:, 0], gs) * x[:, 1] * f(x[:, 0], fa), i3(C, 0, 1, 0, gs, fa))
            if gs == cv.RELU and fa == cv.ERF:
                continue
            assert_mc(fp(x[:, 0], gs) ** 2 * f(x[:, 1], fa) * f(x[:, 2], fa), i4(C, 0, 0, 1, 2, gs, fa, fa))
            assert_mc(fp(x[:, 0], gs) * fp(x[:, 1], gs) * f(x[:, 0], fa) * f(x[:, 2], fa), i4(C, 0, 1, 0, 2, gs, fa, fa))
            assert_mc(fp(x[:, 0], gs) * fp(x[:, 1], gs) * f(x[:, 0], fa) ** 2, i4(C, 0, 1, 0, 0, gs, fa, fa))


def test_erf_is_the_arcsin_closed_form():
    """The tilted-Gaussian reduction reproduces Saad & Solla's erf closed forms (independent formulas)."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        C = random_covariance(rng, 4)
        d = np.diag(C)
        assert i4(C, 0, 1, 2, 3, 0, 0, 0) == pytest.approx(
            I4(C[0, 0], C[0, 1], C[0, 2], C[0, 3], C[1, 1], C[1, 2], C[1, 3], C[2, 2], C[2, 3], C[3, 3]), rel=1e-12)
        assert i3(C, 0, 1, 2, 0, 0) == pytest.approx(I3(d[0], C[0, 1], C[0, 2], C[1, 2], d[2]), rel=1e-12)
        assert j2(C, 0, 1, 0) == pytest.approx(J2(d[0], C[0, 1], d[1]), rel=1e-12)
        assert pair_mean(0, 0, d[0], C[0, 1], d[1]) == pytest.approx(I2(d[0], C[0, 1], d[1]), rel=1e-12)


def brute_force_relu_i4(C, n=80):
    """E[x3 x4 1{x > 0}] by tensor Gauss-Legendre over x1, x2, x3 > 0 with the x4 part in closed form.

    Given (x1, x2, x3), x4 ~ N(m, s^2) and E[x4 1{x4 > 0}] = m Phi(m/s) + s phi(m/s): no orthant
    probability and no Price/Tallis identity enter, so this checks both.
    """
    S, Si = C[:3, :3], np.linalg.inv(C[:3, :3])
    b = C[3, :3] @ Si
    s = math.sqrt(C[3, 3] - b @ C[:3, 3])
    nodes, weights = np.polynomial.legendre.leggauss(n)
    axes = [((nodes + 1) * 4.5 * math.sqrt(C[i, i]), weights * 4.5 * math.sqrt(C[i, i])) for i in range(3)]
    P = np.stack(np.meshgrid(*(a[0] for a in axes), indexing="ij"), -1)
    W = np.einsum("i,j,k->ijk", *(a[1] for a in axes))
    dens = np.exp(-0.5 * np.einsum("...i,ij,...j->...", P, Si, P)) / math.sqrt((2 * math.pi) ** 3 * np.linalg.det(S))
    m = P @ b
    inner = m * ndtr(m / s) + s * np.exp(-0.5 * (m / s) ** 2) / math.sqrt(2 * math.pi)
    return float(np.sum(W * dens * P[..., 2] * inner))


@pytest.mark.parametrize("seed", range(3))
def test_relu_i4_against_brute_force_quadrature_to_1e_8(seed):
    C = random_covariance(np.random.default_rng(100 + seed), 4)
    assert i4(C, 0, 1, 2, 3, cv.RELU, cv.RELU, cv.RELU) == pytest.approx(brute_force_relu_i4(C), rel=1e-8)


def test_relu_i4_and_orthant_probability_at_24_random_covariances_match_monte_carlo():
    rng = np.random.default_rng(11)
    for _ in range(24):
        C = random_covariance(rng, 4, rank=int(rng.integers(4, 7)))
        x = samples(rng, C, 400_000)
        positive = np.all(x > 0, axis=1)
        assert_mc(positive.astype(float), orthant(C, np.arange(4), 4))
        assert_mc(x[:, 2] * x[:, 3] * positive, i4(C, 0, 1, 2, 3, cv.RELU, cv.RELU, cv.RELU))


def test_orthant_probabilities_in_known_cases():
    R = np.eye(4)
    assert orthant4_from_corr(R) == pytest.approx(1 / 16, abs=1e-15)
    for rho in (-0.3, 0.2, 0.7):               # equicorrelated, rho >= -1/3: closed form for n = 4 is not
        R = np.full((4, 4), rho) + (1 - rho) * np.eye(4)   # elementary, but rho = 1/2 is: 1/5
        assert 0 < orthant4_from_corr(R) < 0.5
    R = np.full((4, 4), 0.5) + 0.5 * np.eye(4)
    assert orthant4_from_corr(R) == pytest.approx(1 / 5, abs=1e-12)     # P = 1/(n + 1) at rho = 1/2
    C = np.array([[1.0, 0.3], [0.3, 2.0]])
    S = np.array([0, 0, 1, 1])                  # repeated coordinates count once
    assert truncated_moment(C, 0, 1, S, 4) == pytest.approx(truncated_moment(C, 0, 1, S[1:3], 2), abs=1e-15)


def test_ge_of_every_activation_pair_matches_monte_carlo(random_student):
    rng = np.random.default_rng(4)
    K, M, N = 4, 2, 150
    w, v, wstar = random_student(K, M, N, seed=rng, norms=(0.3, 1.5))
    vstar = np.array([1.5, -2.0])
    op = OrderParameters.from_weights(w, v, wstar, vstar)
    x = rng.standard_normal((300_000, N))
    for teacher in cv.ACTIVATIONS:
        for student in cv.ACTIVATIONS:
            phi_s = cv.network_output(w, v, x, student)
            phi_t = cv.network_output(wstar, vstar, x, teacher)
            assert_mc(0.5 * (phi_s - phi_t) ** 2, eg(op.Q, op.R, op.T, op.v, op.vstar, (teacher, student)))
    assert eg(op.Q, op.R, op.T, op.v, op.vstar, "linear") == pytest.approx(
        0.5 * v @ op.Q @ v + 0.5 * vstar @ op.T @ vstar - v @ op.R @ vstar, rel=1e-13)   # linear: Q, R, T themselves


def test_erf_ge_is_bitwise_the_eqs_5_8_path_and_pair_mean_matrix_is_pair_mean():
    rng = np.random.default_rng(5)
    C = random_covariance(rng, 6)
    Q, R, T = C[:4, :4], C[:4, 4:], C[4:, 4:]
    v, vstar = rng.standard_normal(4), np.array([2.0, 3.0])
    assert eg(Q, R, T, v, vstar) == eg(Q, R, T, v, vstar, ("erf", "erf"))
    d = np.diag(C)
    for a in CODES:
        for b in CODES:
            mat = pair_mean_matrix(a, b, d[:4], C[:4, 4:], d[4:])
            ref = [[pair_mean(a, b, d[i], C[i, 4 + j], d[4 + j]) for j in range(2)] for i in range(4)]
            np.testing.assert_allclose(mat, ref, rtol=1e-13, atol=1e-15)


def test_field_codes_and_the_one_refused_ode_pair():
    np.testing.assert_array_equal(field_codes(("erf", "relu"), 3, 2), [1, 1, 1, 0, 0])
    assert ode_supported("relu") and ode_supported(("relu", "erf")) and ode_supported(("linear", "relu"))
    assert not ode_supported(("erf", "relu"))


@pytest.mark.parametrize("seed", range(4))
def test_relu_i4_of_strongly_correlated_fields_against_brute_force_quadrature_to_1e_8(seed):
    # Fields close to a rank-2 configuration (correlations up to about 0.99, as when students approach
    # their teachers): the orthant path integral must stay accurate where its integrand is steep.
    rng = np.random.default_rng(300 + seed)
    C = random_covariance(rng, 4, rank=2) + 0.05 * np.eye(4)
    d = np.sqrt(np.diag(C))
    assert np.max(np.abs(C / np.outer(d, d) - np.eye(4))) > 0.8
    assert i4(C, 0, 1, 2, 3, cv.RELU, cv.RELU, cv.RELU) == pytest.approx(brute_force_relu_i4(C, n=120), rel=1e-8)
