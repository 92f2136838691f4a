"""eps_g of eqs 5-8 against independent Monte Carlo and exact special cases."""
import math

import numpy as np
import pytest

from tsdyn.conventions import g
from tsdyn.eg import eg, eg_of
from tsdyn.order_parameters import OrderParameters


def monte_carlo_half_mse(w, v, wstar, vstar, n, rng, chunk=20_000):
    """1/2 (phi_s - phi_t)^2 over fresh Gaussian inputs: mean and standard error."""
    N = w.shape[1]
    vals = []
    for start in range(0, n, chunk):
        x = rng.standard_normal((min(chunk, n - start), N))
        diff = g(x @ w.T / math.sqrt(N)) @ v - g(x @ wstar.T / math.sqrt(N)) @ vstar
        vals.append(0.5 * diff**2)
    vals = np.concatenate(vals)
    return vals.mean(), vals.std(ddof=1) / math.sqrt(n)


@pytest.mark.parametrize("K,M,seed", [(6, 2, 0), (3, 3, 1), (20, 5, 2)])
def test_eg_matches_monte_carlo_for_random_weights(K, M, seed, random_student):
    rng = np.random.default_rng(seed)
    w, v, wstar = random_student(K, M, 200, seed=rng, norms=(0.3, 1.5))
    vstar = rng.uniform(1, 4, size=M)
    exact = eg_of(OrderParameters.from_weights(w, v, wstar, vstar))
    mean, se = monte_carlo_half_mse(w, v, wstar, vstar, 200_000, rng)
    assert abs(exact - mean) < 4 * se, (exact, mean, se)


def test_eg_vanishes_for_student_equal_to_teacher_and_is_batched():
    rng = np.random.default_rng(3)
    wstar = rng.standard_normal((2, 300))
    op = OrderParameters.from_weights(wstar, np.array([4.0, 4.0]), wstar, 4.0)
    assert eg_of(op) == pytest.approx(0.0, abs=1e-13)
    # The ideal ansatz with Z copies per teacher node and v = v*/Z is also exact (Lemma 3 with l = Z).
    Z = 3
    w = np.repeat(wstar, Z, axis=0)
    op = OrderParameters.from_weights(w, np.full(2 * Z, 4.0 / Z), wstar, 4.0)
    assert eg_of(op) == pytest.approx(0.0, abs=1e-12)
    batch = eg(np.stack([op.Q] * 4), np.stack([op.R] * 4), op.T, np.stack([op.v] * 4), op.vstar)
    assert batch.shape == (4,)


def test_empty_student_has_the_teacher_variance_over_two():
    # No student node: eps = 1/2 E[phi_t^2] = f2(T); for T = I and v* = 4 that is M * 16 / 6.
    M = 3
    e = eg(np.zeros((0, 0)), np.zeros((0, M)), np.eye(M), np.zeros(0), np.full(M, 4.0))
    assert e == pytest.approx(M * 16 / 6)


def test_invalid_order_parameters_raise_naming_the_problem():
    T = np.eye(2)
    with pytest.raises(ValueError, match="Q must be symmetric"):
        OrderParameters(np.array([[1.0, 0.5], [0.2, 1.0]]), np.zeros((2, 2)), T, np.ones(2), 4.0)
    with pytest.raises(ValueError, match="Q must be positive semi-definite"):
        OrderParameters(np.array([[1.0, 2.0], [2.0, 1.0]]), np.zeros((2, 2)), T, np.ones(2), 4.0)
    with pytest.raises(ValueError, match="joint covariance"):
        OrderParameters(np.eye(2), 2 * np.eye(2), T, np.ones(2), 4.0)
    with pytest.raises(ValueError, match="R must have shape"):
        OrderParameters(np.eye(2), np.zeros((3, 2)), T, np.ones(2), 4.0)
    with pytest.raises(ValueError, match="vstar must be a scalar or have length M = 2"):
        OrderParameters(np.eye(2), np.zeros((2, 2)), T, np.ones(2), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="arcsin argument must lie in"):
        eg(np.eye(2), 3 * np.eye(2), T, np.ones(2), 4.0)


def test_order_parameters_copy_and_freeze_without_touching_the_callers_arrays():
    v = np.ones(2)
    op = OrderParameters(np.eye(2), np.zeros((2, 2)), np.eye(2), v, 4.0)
    v[0] = 7.0  # the caller's array stays writable and independent
    assert op.v[0] == 1.0
    with pytest.raises(ValueError):
        op.v[0] = 2.0
