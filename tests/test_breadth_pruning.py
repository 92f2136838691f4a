"""Issue 16, part 6: the exact GE of pruned students, and their GE-optimal reweightings, for every activation.

Independent checks: Monte Carlo of the pruned network's output on fresh Gaussian inputs, and the
reweightings' optimality by brute-force minimisation of the exact GE.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

from tsdyn.conventions import g
from tsdyn.eg import eg
from tsdyn.order_parameters import OrderParameters
from tsdyn.pruning.operators import edge_scale, expected_edge_pruned, scaled, subset_eg
from tsdyn.pruning.reweighting import optimal_second_layer

PAIRS = ["erf", "relu", "linear", "erf/relu", "relu/linear"]


def _student(seed=0, N=40, K=5, M=2):
    rng = np.random.default_rng(seed)
    w, wstar, v = rng.standard_normal((K, N)), rng.standard_normal((M, N)), rng.standard_normal(K)
    return w, v, wstar, np.array([1.0, -0.7])


def _pair(activation):
    teacher, _, student = activation.partition("/")
    return teacher, student or teacher


@pytest.mark.parametrize("activation", PAIRS)
def test_pruned_ge_equals_monte_carlo_of_the_pruned_network(activation):
    w, v, wstar, vstar = _student()
    N = w.shape[1]
    op = OrderParameters.from_weights(w, v, wstar, vstar)
    keep = np.array([[0, 2, 3]])
    exact = subset_eg(op, keep, activation=activation)[0]
    teacher, student = _pair(activation)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400_000, N))
    diff = g(x @ w[keep[0]].T / np.sqrt(N), student) @ v[keep[0]] - g(x @ wstar.T / np.sqrt(N), teacher) @ vstar
    half_sq = 0.5 * diff ** 2
    assert exact == pytest.approx(half_sq.mean(), abs=4 * half_sq.std() / np.sqrt(x.shape[0]))


@pytest.mark.parametrize("activation", PAIRS)
def test_optimal_second_layer_and_scale_minimise_the_exact_ge(activation):
    w, v, wstar, vstar = _student(seed=3)
    op = OrderParameters.from_weights(w, v, wstar, vstar)
    keep = np.array([1, 2, 4])
    Q, R = op.Q[np.ix_(keep, keep)], op.R[keep]
    best = optimal_second_layer(Q, R, op.T, op.vstar, activation)
    brute = minimize(lambda u: eg(Q, R, op.T, u, op.vstar, activation), np.zeros(3), method="BFGS",
                     options=dict(gtol=1e-10)).x
    np.testing.assert_allclose(best, brute, atol=1e-5)
    pruned = expected_edge_pruned(op, 0.4)
    A = edge_scale(pruned, activation)
    scan = minimize_scalar(lambda a: eg(pruned.Q, pruned.R, pruned.T, a * pruned.v, pruned.vstar, activation),
                           bracket=(0.0, 1.0), tol=1e-12).x
    assert A == pytest.approx(scan, rel=1e-5, abs=1e-7)
    assert eg(**_fields(scaled(pruned, A)), activation=activation) <= eg(**_fields(pruned), activation=activation)


def test_erf_default_is_unchanged():
    w, v, wstar, vstar = _student(seed=5)
    pruned = expected_edge_pruned(OrderParameters.from_weights(w, v, wstar, vstar), 0.3)
    assert edge_scale(pruned) == edge_scale(pruned, "erf")


def _fields(op):
    return dict(Q=op.Q, R=op.R, T=op.T, v=op.v, vstar=op.vstar)
