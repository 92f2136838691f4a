"""Block assignment of student nodes and the distance from the ideal ansatz (A6)."""
import numpy as np
import pytest

from tsdyn.pruning.blocks import ansatz_deviation, assign_blocks
from tsdyn.pruning.closed_form import ideal_block_of, ideal_order_parameters
from tsdyn.order_parameters import OrderParameters


def test_assignment_recovers_planted_unequal_groups_with_sign_flips():
    rng = np.random.default_rng(0)
    M, N = 3, 4000
    wstar = rng.standard_normal((M, N))
    teacher = np.array([0, 2, 0, 1, 2, 0])
    sign = np.array([1, 1, -1, 1, -1, 1])
    scale = rng.uniform(0.7, 1.4, teacher.size)
    w = (sign * scale)[:, None] * wstar[teacher] + 0.3 * rng.standard_normal((teacher.size, N))
    op = OrderParameters.from_weights(w, rng.standard_normal(teacher.size), wstar, 4.0)
    blocks = assign_blocks(op)
    np.testing.assert_array_equal(blocks.teacher, teacher)
    np.testing.assert_array_equal(blocks.sign, sign)
    np.testing.assert_array_equal(blocks.sizes, [3, 1, 2])
    np.testing.assert_array_equal(blocks.members(0), [0, 2, 5])
    np.testing.assert_array_equal(blocks.counts([0, 1, 2]), [2, 0, 1])


def test_ideal_student_has_zero_deviation_and_sign_flipped_nodes_are_still_ideal():
    op = ideal_order_parameters(3, 4)
    dev = ansatz_deviation(op)
    assert dev.equal_groups and dev.empty_groups == 0
    for name in ("Q_pattern", "R_pattern", "norm", "norm_spread", "v_share", "v_sum"):
        assert getattr(dev, name) == pytest.approx(0.0, abs=1e-14), name
    np.testing.assert_array_equal(assign_blocks(op).teacher, ideal_block_of(3, 4))
    # Flip node 1 (w_1 -> -w_1, v_1 -> -v_1): the same function, the same ansatz up to the sign.
    s = np.ones(12)
    s[1] = -1
    flipped = OrderParameters(op.Q * np.outer(s, s), op.R * s[:, None], op.T, op.v * s, op.vstar)
    assert assign_blocks(flipped).sign[1] == -1
    assert max(ansatz_deviation(flipped).as_dict()[k] for k in ("Q_pattern", "R_pattern", "v_share", "v_sum")) \
        == pytest.approx(0.0, abs=1e-14)


def test_deviation_measures_equal_hand_computed_values():
    # Ideal M = 2, Z = 2, v* = 4; node 0 rescaled by a = 1.2 (norm 1.44) and v_0 = 2.5 instead of 2.
    op = ideal_order_parameters(2, 2, 4.0)
    a = np.array([1.2, 1, 1, 1])
    v = np.array([2.5, 2.0, 2.0, 2.0])
    dev = ansatz_deviation(OrderParameters(op.Q * np.outer(a, a), op.R * a[:, None], op.T, v, op.vstar))
    assert dev.Q_pattern == pytest.approx(0.0, abs=1e-14)      # cosines are unchanged by a norm
    assert dev.R_pattern == pytest.approx(0.0, abs=1e-14)
    assert dev.norm == pytest.approx(0.44)
    assert dev.norm_spread == pytest.approx(0.44 / (4.44 / 4))
    assert dev.v_share == pytest.approx(2.5 * 2 / 4 - 1)
    assert dev.v_sum == pytest.approx(4.5 / 4 - 1)


def test_tilted_nodes_and_empty_groups_are_measured():
    # Node 2 of the ideal M = 2, Z = 2 student tilted to angle theta between w*_0 and w*_1.
    theta = 0.3
    u = np.array([[1, 0], [1, 0], [np.cos(theta), np.sin(theta)], [0, 1]])
    op = OrderParameters(u @ u.T, u, np.eye(2), np.full(4, 2.0), 4.0)
    dev = ansatz_deviation(op)
    assert dev.R_pattern == pytest.approx(max(1 - np.cos(theta), np.sin(theta)))
    assert dev.Q_pattern == pytest.approx(max(1 - np.cos(theta), np.sin(theta)))
    # Every node on teacher 0: teacher 1 unexplained, groups unequal.
    lone = OrderParameters(np.ones((3, 3)), np.column_stack([np.ones(3), np.zeros(3)]), np.eye(2),
                           np.full(3, 4 / 3), 4.0)
    dev = ansatz_deviation(lone)
    assert dev.empty_groups == 1 and not dev.equal_groups
    assert dev.v_sum == pytest.approx(1.0)
