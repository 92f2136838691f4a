"""ReLU I4 and the 4-d orthant probability at near-collinear fields (a student learning its teacher:
1 - r from 1e-6 down to 1e-14, and exactly 1), against a 25-digit mpmath reference of another path
(tests/mp_orthant.py), Monte Carlo and the collinear limit; and the ReLU ODE Jacobian against
finite differences of the right-hand side."""
import math

import numpy as np
import pytest

from mp_orthant import orthant4 as mp_orthant4, relu_i4 as mp_relu_i4
from test_activation_integrals import assert_mc, samples
from tsdyn import conventions as cv
from tsdyn.activation_integrals import field_codes, i4
from tsdyn.dynamics.ode_rhs_general import general_jacobian, general_rhs
from tsdyn.orthant import orthant
from tsdyn.tallis import relu_cache, stale_sets


def near_collinear(seed, one_minus_r, pairs):
    """Covariance of 4 fields where each (a, b) in ``pairs`` has correlation 1 - one_minus_r."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((4, 6)) * rng.uniform(0.5, 2.0, size=(4, 1))
    for a, b in pairs:
        u = A[b] - (A[b] @ A[a]) / (A[a] @ A[a]) * A[a]
        theta = math.acos(1.0 - one_minus_r)
        A[b] = np.linalg.norm(A[b]) * (math.cos(theta) * A[a] / np.linalg.norm(A[a])
                                       + math.sin(theta) * u / np.linalg.norm(u))
    return A @ A.T


@pytest.mark.parametrize("seed, one_minus_r, pairs", [
    (2, 1e-6, ((0, 2),)), (3, 1e-12, ((0, 2),)), (4, 1e-10, ((2, 3),)),     # student-teacher, relu-relu pair
    (1, 1e-9, ((0, 2), (1, 3))), (1, 1e-14, ((0, 2), (1, 3))),            # two students on two teachers
    # triples: two students on one teacher (K > M), the third field near both: every pairing of the
    # path integral has a near-collinear cross pair (tsdyn.orthant._first_panels; 1.7e-7 off without it)
    (6, 1e-6, ((0, 1), (0, 2))), (7, 1e-10, ((0, 2), (0, 3))), (8, 1e-12, ((2, 0), (2, 1))),
    (6, 1e-13, ((0, 1), (0, 2))), (8, 1e-13, ((2, 0), (2, 1))), (7, 1e-14, ((0, 2), (0, 3))),
    (112, 2e-14, ((2, 0), (2, 1))),                                        # 1.9e-7 off with ordered-pair Tallis terms
    (9, 1e-9, ((0, 1), (0, 2), (0, 3))), (9, 1e-13, ((0, 1), (0, 2), (0, 3)))])  # all four near one
def test_near_collinear_relu_i4_and_orthant_probability_against_mpmath_to_1e_8(seed, one_minus_r, pairs):
    C = near_collinear(seed, one_minus_r, pairs)
    p4 = mp_orthant4(C)
    assert orthant(C, np.arange(4), 4) == pytest.approx(float(p4), rel=1e-8)
    assert i4(C, 0, 1, 2, 3, cv.RELU, cv.RELU, cv.RELU) == pytest.approx(float(mp_relu_i4(C, p4)), rel=1e-8)


def test_near_and_exactly_collinear_relu_i4_match_monte_carlo_and_each_other():
    rng = np.random.default_rng(8)
    exact = near_collinear(5, 0.0, ((0, 2), (1, 3)))
    for C in (near_collinear(5, 1e-11, ((0, 2), (1, 3))), exact):
        x = samples(rng, C, 400_000)
        positive = np.all(x > 0, axis=1)
        assert_mc(x[:, 2] * x[:, 3] * positive, i4(C, 0, 1, 2, 3, cv.RELU, cv.RELU, cv.RELU))
    # The collinear limit is continuous: I4 moves by O(sqrt(1 - r)) from r = 1 (the fields merged).
    for one_minus_r in (1e-8, 1e-12):
        near = near_collinear(5, one_minus_r, ((0, 2), (1, 3)))
        gap = abs(i4(near, 0, 1, 2, 3, 1, 1, 1) - i4(exact, 0, 1, 2, 3, 1, 1, 1))
        assert gap < 5 * math.sqrt(one_minus_r) and gap > 0


def relu_state(random_state, seed):
    rng = np.random.default_rng(seed)
    op = random_state(3, 2, seed=rng, vstar=rng.uniform(0.5, 3.0, 2))
    Q, R, v = op.Q.copy(), op.R.copy(), op.v.copy()
    return op, np.concatenate([Q[np.triu_indices(3)], R.ravel(), v])


def test_relu_jacobian_matches_central_differences(random_state):
    op, y = relu_state(random_state, 12)
    args = (op.T, op.vstar, 3, 0.6, 0.4, 0.09, field_codes("relu", 3, 2), 2)
    J = general_jacobian(y, *args)
    h = 1e-5
    fd = np.column_stack([(general_rhs(y + h * e, *args)[0] - general_rhs(y - h * e, *args)[0]) / (2 * h)
                          for e in np.eye(y.size)])
    np.testing.assert_allclose(J, fd, atol=1e-6 * np.abs(fd).max())


def test_relu_jacobian_reuses_only_the_sets_a_column_does_not_move(random_state):
    # Its shortcut (4-sets without both fields of a column's covariance entry kept from the base point)
    # must give the plain forward difference of the full RHS, bit for bit.
    op, y = relu_state(random_state, 13)
    args = (op.T, op.vstar, 3, 0.6, 0.4, 0.09, field_codes("relu", 3, 2), 1)
    J = general_jacobian(y, *args, step=1e-7)
    f0 = general_rhs(y, *args)[0]
    for x in range(y.size):
        up = y.copy()
        up[x] += 1e-7 * max(1.0, abs(y[x]))
        np.testing.assert_array_equal(J[:, x], (general_rhs(up, *args)[0] - f0) / (up[x] - y[x]))
    ids = relu_cache(5)[0]
    ids[:] = 0
    ids[-1] = 1
    stale_sets(ids, 5, 1, 3)                    # keys of sorted sets ((s0 L + s1) L + s2) L + s3
    assert ids[((0 * 5 + 1) * 5 + 2) * 5 + 3] == -2 and ids[((0 * 5 + 1) * 5 + 2) * 5 + 4] == 0
