"""The conventions module owns activation, scalings and time; pin each of them."""
import math

import numpy as np
import pytest
from scipy.integrate import quad

from tsdyn import conventions as cv


def test_g_is_erf_of_x_over_sqrt2_and_odd_and_bounded():
    x = np.linspace(-6, 6, 101)
    expected = np.array([math.erf(t / math.sqrt(2)) for t in x])
    np.testing.assert_allclose(cv.g(x), expected, atol=1e-15)
    np.testing.assert_allclose(cv.g(-x), -cv.g(x), atol=1e-15)
    assert cv.g(0.7) == pytest.approx(math.erf(0.7 / math.sqrt(2)))


def test_g_prime_matches_finite_difference_and_numba_scalars():
    x = np.linspace(-4, 4, 41)
    h = 1e-6
    np.testing.assert_allclose(cv.g_prime(x), (cv.g(x + h) - cv.g(x - h)) / (2 * h), atol=1e-8)
    for t in x:
        assert cv.g_scalar(t) == pytest.approx(cv.g(t), abs=1e-15)
        assert cv.g_prime_scalar(t) == pytest.approx(cv.g_prime(t), abs=1e-15)


def test_gaussian_average_of_g_squared_is_one_third():
    # E[g(u)^2] for u ~ N(0, 1) is (2/pi) arcsin(1/2) = 1/3: the 1/6 per node of Lemma 3.
    val, _ = quad(lambda u: cv.g(u) ** 2 * math.exp(-u * u / 2) / math.sqrt(2 * math.pi), -12, 12)
    assert val == pytest.approx(1 / 3, abs=1e-10)


def test_sgd_scalings_and_time_axis():
    assert cv.first_layer_rate(0.5, 500) == pytest.approx(0.5 / math.sqrt(500))
    assert cv.second_layer_rate(0.5, 500) == pytest.approx(0.5 / 500)
    assert cv.time_of_step(800_000, 500) == 1600
    assert cv.steps_for_time(1600, 500) == 800_000
    np.testing.assert_array_equal(cv.steps_for_time(np.array([0.0, 0.002, 1.0]), 500), [0, 1, 500])


def test_fields_and_network_output_by_explicit_sums():
    rng = np.random.default_rng(0)
    w, v, x = rng.standard_normal((3, 7)), rng.standard_normal(3), rng.standard_normal((4, 7))
    expected = [sum(v[k] * math.erf(sum(w[k, i] * x[n, i] for i in range(7)) / math.sqrt(7) / math.sqrt(2))
                    for k in range(3)) for n in range(4)]
    np.testing.assert_allclose(cv.network_output(w, v, x), expected, rtol=1e-12)
    assert cv.fields(w, x).shape == (4, 3)
