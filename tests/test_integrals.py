"""Closed forms I2, I3, I4, J2 against Monte Carlo, 1-d quadrature and their tensor forms."""
import math

import numpy as np
import pytest
from scipy.integrate import quad

from tsdyn.conventions import g, g_prime
from tsdyn.integrals import I2, I3, I3_tensor, I4, I4_tensor, J2, J2_matrix

N_SAMPLES = 400_000


def random_covariance(rng, n, rank=None):
    """A random covariance of n fields (rank-deficient if rank < n), entries of order 1."""
    A = rng.standard_normal((n, rank or n)) * rng.uniform(0.4, 1.5, size=(n, 1))
    return A @ A.T / (rank or n) * rng.uniform(0.5, 3.0)


def gaussian_fields(rng, C, n=N_SAMPLES):
    """Samples (n, dim) of N(0, C); C may be singular."""
    eigval, eigvec = np.linalg.eigh(C)
    return rng.standard_normal((n, len(C))) @ (eigvec * np.sqrt(np.clip(eigval, 0, None))).T


def assert_mc(estimate_samples, exact, *, z=4.5):
    mean = estimate_samples.mean()
    se = estimate_samples.std(ddof=1) / math.sqrt(estimate_samples.size)
    assert abs(mean - exact) < z * se + 1e-12, (mean, exact, se)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_I3_I4_J2_I2_match_monte_carlo_for_random_covariances(seed):
    rng = np.random.default_rng(seed)
    C = random_covariance(rng, 4)
    x = gaussian_fields(rng, C)
    u1, u2, u3, u4 = x.T
    assert_mc(g_prime(u1) * u2 * g(u3), I3(C[0, 0], C[0, 1], C[0, 2], C[1, 2], C[2, 2]))
    assert_mc(g_prime(u1) * g_prime(u2) * g(u3) * g(u4),
              I4(C[0, 0], C[0, 1], C[0, 2], C[0, 3], C[1, 1], C[1, 2], C[1, 3], C[2, 2], C[2, 3], C[3, 3]))
    assert_mc(g_prime(u1) * g_prime(u2), J2(C[0, 0], C[0, 1], C[1, 1]))
    assert_mc(g(u3) * g(u4), I2(C[2, 2], C[2, 3], C[3, 3]))


def test_integrals_with_repeated_fields_match_monte_carlo():
    # The ODEs need I3(i, i, a), I3(i, b, i), I4(i, k, i, b), I4(i, i, a, a), ...: degenerate covariances.
    rng = np.random.default_rng(7)
    C = random_covariance(rng, 3)
    u, w, z = gaussian_fields(rng, C).T
    c = lambda a, b: C[a, b]  # noqa: E731
    assert_mc(g_prime(u) * u * g(w), I3(c(0, 0), c(0, 0), c(0, 1), c(0, 1), c(1, 1)))
    assert_mc(g_prime(u) * w * g(u), I3(c(0, 0), c(0, 1), c(0, 0), c(1, 0), c(0, 0)))
    assert_mc(g_prime(u) * g_prime(w) * g(u) * g(z),
              I4(c(0, 0), c(0, 1), c(0, 0), c(0, 2), c(1, 1), c(1, 0), c(1, 2), c(0, 0), c(0, 2), c(2, 2)))
    assert_mc(g_prime(u) ** 2 * g(z) ** 2,
              I4(c(0, 0), c(0, 0), c(0, 2), c(0, 2), c(0, 0), c(0, 2), c(0, 2), c(2, 2), c(2, 2), c(2, 2)))


@pytest.mark.parametrize("var", [0.0, 0.3, 1.0, 4.0])
def test_one_field_integrals_match_quadrature(var):
    # E over u ~ N(0, var) by 1-d quadrature: J2(u, u), I3(u, u, u), I4(u, u, u, u).
    def expect(f):
        if var == 0.0:
            return f(0.0)
        s = math.sqrt(var)
        return quad(lambda t: f(s * t) * math.exp(-t * t / 2) / math.sqrt(2 * math.pi), -12, 12, epsabs=1e-13)[0]
    assert J2(var, var, var) == pytest.approx(expect(lambda u: g_prime(u) ** 2), abs=1e-11)
    assert J2(var, var, var) == pytest.approx(2 / math.pi / math.sqrt(1 + 2 * var), rel=1e-12)
    assert I3(var, var, var, var, var) == pytest.approx(expect(lambda u: g_prime(u) * u * g(u)), abs=1e-11)
    assert I4(*[var] * 10) == pytest.approx(expect(lambda u: g_prime(u) ** 2 * g(u) ** 2), abs=1e-11)


def test_tensor_forms_match_monte_carlo_index_by_index():
    # One joint covariance of 2 "students" and 2 "teachers"; every index tuple against the same samples.
    rng = np.random.default_rng(11)
    C = random_covariance(rng, 4, rank=3)
    x = gaussian_fields(rng, C, n=200_000)
    gx, gpx = g(x), g_prime(x)
    rows = 2
    t3, t4, j2 = I3_tensor(C, rows), I4_tensor(C, rows), J2_matrix(C)
    assert t3.shape == (2, 4, 4) and t4.shape == (2, 2, 4, 4) and j2.shape == (4, 4)
    mc3 = np.einsum("sa,sb,sc->abc", gpx[:, :rows], x, gx) / len(x)
    mc4 = np.einsum("sa,sb,sc,sd->abcd", gpx[:, :rows], gpx[:, :rows], gx, gx) / len(x)
    mcj = gpx.T @ gpx / len(x)
    # Standard errors are below 0.01 for all these averages of bounded-variance products.
    np.testing.assert_allclose(t3, mc3, atol=0.02)
    np.testing.assert_allclose(t4, mc4, atol=0.01)
    np.testing.assert_allclose(j2, mcj, atol=0.01)
    # Symmetries the ODE kernel exploits.
    np.testing.assert_allclose(t4, t4.transpose(1, 0, 2, 3), atol=1e-14)
    np.testing.assert_allclose(t4, t4.transpose(0, 1, 3, 2), atol=1e-14)


def test_integrals_broadcast_and_reject_invalid_covariances():
    var = np.array([0.5, 1.0, 2.0])
    assert J2(var[:, None], 0.1, var[None, :]).shape == (3, 3)
    assert I3(var, 0.1, 0.2, 0.3, 1.0).shape == (3,)
    with pytest.raises(ValueError, match="I4 arcsin argument must lie in"):
        # |C34| far beyond sqrt(C33 C44): no covariance.
        I4(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 5.0, 1.0)


def test_numba_pieces_evaluate_the_same_formulas_as_the_numpy_integrals():
    # The ODE kernel calls the *_nb twins of the pieces I2, I3, I4, J2 are built from; both must agree.
    from tsdyn import integrals as I

    rng = np.random.default_rng(3)
    for _ in range(20):
        C = random_covariance(rng, 4)
        a = 1.0 + np.diag(C)
        L4 = I.lambda_det_nb(a[0], C[0, 1], a[1])
        assert L4 == pytest.approx(I.lambda_det(a[0], C[0, 1], a[1]), rel=1e-15)
        assert I.J2(C[0, 0], C[0, 1], C[1, 1]) == pytest.approx(I.TWO_OVER_PI / math.sqrt(L4), rel=1e-14)
        n3 = I.i3_reduced_numerator_nb(a[0], C[0, 1], C[0, 2], C[1, 2])
        assert n3 == pytest.approx(I.i3_numerator_nb(a[0], C[0, 1], C[0, 2], C[1, 2]) / a[0], rel=1e-13, abs=1e-15)
        L3 = I.lambda_det_nb(a[0], C[0, 2], a[2])
        assert I.I3(C[0, 0], C[0, 1], C[0, 2], C[1, 2], C[2, 2]) == pytest.approx(
            I.TWO_OVER_PI * n3 / math.sqrt(L3), rel=1e-14)
        L1 = I.i4_lambda_nb(L4, a[0], a[1], C[0, 1], C[0, 2], C[1, 2], a[2])
        L2 = I.i4_lambda_nb(L4, a[0], a[1], C[0, 1], C[0, 3], C[1, 3], a[3])
        h2, h1 = I.i4_lambda0_coefficients_nb(a[0], a[1], C[0, 1], C[0, 2], C[1, 2])
        L0 = I.i4_lambda0_nb(L4 * C[2, 3], h2, h1, C[0, 3], C[1, 3])
        want = I.I4(C[0, 0], C[0, 1], C[0, 2], C[0, 3], C[1, 1], C[1, 2], C[1, 3], C[2, 2], C[2, 3], C[3, 3])
        assert want == pytest.approx(I.FOUR_OVER_PI2 * math.asin(L0 / math.sqrt(L1 * L2)) / math.sqrt(L4), rel=1e-13)
        assert I.I2(C[0, 0], C[0, 1], C[1, 1]) == pytest.approx(
            I.TWO_OVER_PI * math.asin(I.i2_argument_nb(a[0], C[0, 1], a[1])), rel=1e-14)


def test_lambda0_is_the_expanded_determinant_form_by_sympy():
    # lambda_0 written through field 3's coefficients (h2, h1) equals Saad & Solla's expanded form.
    sympy = pytest.importorskip("sympy")
    from tsdyn.integrals import i4_lambda0, i4_lambda0_coefficients, lambda_det

    C11, C12, C13, C14, C22, C23, C24, C34 = sympy.symbols("C11 C12 C13 C14 C22 C23 C24 C34")
    a1, a2 = 1 + C11, 1 + C22
    L4 = lambda_det(a1, C12, a2)
    got = i4_lambda0(L4 * C34, *i4_lambda0_coefficients(a1, a2, C12, C13, C23), C14, C24)
    want = L4 * C34 - C23 * C24 * a1 - C13 * C14 * a2 + C12 * C13 * C24 + C12 * C14 * C23
    assert sympy.expand(got - want) == 0
