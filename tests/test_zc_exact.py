"""Exact node-pruning expectations of tsdyn.pruning.zc_exact (inclusion probabilities, k-DPP pairs via Schur
complements, the Numba eps_hat loop) against the direct enumeration of tsdyn.pruning.dpp.SubsetDistribution.expect,
at small K, for random node and every k-DPP kernel, eps and eps_hat; and the target's wiring (student_rows)."""
from __future__ import annotations

import numpy as np
import pytest

from tsdyn.order_parameters import OrderParameters
from tsdyn.pruning.dpp import kdpp_subsets, uniform_subsets
from tsdyn.pruning.operators import subset_eg
from tsdyn.pruning.zc import (ZC_KERNELS, exact_node_errors, importance_distribution, importance_inclusion,
                              node_errors, student_rows, zc_kernel)
from tsdyn.pruning.zc_exact import epshat_expectations, expected_eps, kdpp_inclusion, random_inclusion


def _trained_like(K: int, M: int, seed: int, duplicate: bool = False) -> OrderParameters:
    """A student far from A6: random directions and norms, second layer of mixed signs and sizes."""
    rng = np.random.default_rng(seed)
    D = K + M + 3
    wt = rng.standard_normal((M, D)) / np.sqrt(D)
    w = rng.standard_normal((K, D)) * rng.uniform(0.4, 1.8, (K, 1)) / np.sqrt(D) + 0.5 * wt[rng.integers(0, M, K)]
    v = rng.normal(1.5, 1.0, K)
    if duplicate:                       # node K-1 a copy of node 0: singular G_SS and L_S
        w[-1], v[-1] = w[0], v[0] * 0.5
    return OrderParameters(w @ w.T, w @ wt.T, wt @ wt.T, v, np.full(M, 4.0))


CASES = [(4, 2, 0), (6, 2, 1), (6, 3, 2), (7, 2, 3)]


@pytest.mark.parametrize("K,M,seed", CASES)
def test_random_node_eps_and_epshat_equal_enumeration(K, M, seed):
    op = _trained_like(K, M, seed)
    for k in range(1, K + 1):
        unif = uniform_subsets(K, k)
        eps = unif.expect(lambda S: subset_eg(op, S))
        hat = unif.expect(lambda S: subset_eg(op, S, "optimal"))
        assert abs(expected_eps(op, *random_inclusion(K, k)) - eps) < 1e-12
        assert abs(epshat_expectations(op, k, {})["random"] - hat) < 1e-12


@pytest.mark.parametrize("K,M,seed", CASES)
@pytest.mark.parametrize("kind", ZC_KERNELS)
def test_kdpp_inclusion_probabilities_and_expectations_equal_enumeration(K, M, seed, kind):
    op = _trained_like(K, M, seed)
    L = zc_kernel(kind, op.Q)
    incl = kdpp_inclusion(L, range(1, K + 1))
    for k in range(1, K + 1):
        d = kdpp_subsets(L, k)
        pi, pij = incl[k]
        member = np.zeros((len(d.subsets), K))
        np.put_along_axis(member, d.subsets, 1.0, axis=1)
        assert np.max(np.abs(pi - d.probs @ member)) < 1e-12
        off = ~np.eye(K, dtype=bool)
        assert np.max(np.abs((pij - (member.T * d.probs) @ member)[off])) < 1e-12
        assert abs(pi.sum() - k) < 1e-12
        eps = d.expect(lambda S: subset_eg(op, S))
        hat = d.expect(lambda S: subset_eg(op, S, "optimal"))
        assert abs(expected_eps(op, pi, pij) - eps) < 1e-12
        assert abs(epshat_expectations(op, k, {kind: L})[kind] - hat) < 1e-12


def test_rank_deficient_kernel_and_singular_gram_follow_the_enumeration():
    # Node K-1 copies node 0: Q (and Qcos) have rank K-1, so no k-DPP at k = K; pairs {0, K-1} have
    # probability 0; eps_hat uses the pseudo-inverse of the singular G_SS (as optimal_second_layer).
    K, M = 6, 2
    op = _trained_like(K, M, 5, duplicate=True)
    for kind in ("Q", "Qcos"):
        L = zc_kernel(kind, op.Q)
        incl = kdpp_inclusion(L, range(1, K + 1))
        assert K not in incl and K - 1 in incl
        with pytest.raises(ValueError):
            kdpp_subsets(L, K)
        for k in range(2, K):
            d = kdpp_subsets(L, k)
            assert incl[k][1][0, K - 1] == 0.0
            assert abs(expected_eps(op, *incl[k]) - d.expect(lambda S: subset_eg(op, S))) < 1e-10
            hat = epshat_expectations(op, k, {kind: L})[kind]
            assert abs(hat - d.expect(lambda S: subset_eg(op, S, "optimal"))) < 1e-10
        assert kind not in epshat_expectations(op, K, {kind: L})
    for k in range(1, K + 1):
        hat = uniform_subsets(K, k).expect(lambda S: subset_eg(op, S, "optimal"))
        assert abs(epshat_expectations(op, k, {})["random"] - hat) < 1e-10


def test_importance_inclusion_equals_its_tie_distribution():
    v = np.array([2.0, -1.0, 1.0, 1.0, 0.1, -1.0])
    for k in range(1, 7):
        d = importance_distribution(v, k)
        member = np.zeros((len(d.subsets), v.size))
        np.put_along_axis(member, d.subsets, 1.0, axis=1)
        pi, pij = importance_inclusion(v, k)
        assert np.allclose(pi, d.probs @ member, atol=1e-14)
        off = ~np.eye(v.size, dtype=bool)
        assert np.allclose(pij[off], ((member.T * d.probs) @ member)[off], atol=1e-14)


@pytest.mark.parametrize("K,M,seed", CASES[:3])
def test_exact_node_errors_equal_the_enumerating_node_errors(K, M, seed):
    op = _trained_like(K, M, seed)
    exact = exact_node_errors(op, range(1, K + 1), max_subsets=10 ** 6)
    for k in range(1, K + 1):
        ref = node_errors(op, k)
        assert set(exact[k]) == set(ref)
        for key, value in ref.items():
            assert abs(exact[k][key] - value) < 1e-12, (k, key)
    # Beyond the subset budget the eps_hat entries are left out, the eps ones stay.
    capped = exact_node_errors(op, [2], max_subsets=1)[2]
    assert ("random", True) not in capped and ("random", False) in capped
    assert ("dpp-Q", True) not in capped and ("dpp-Q", False) in capped


def test_student_rows_beyond_M_are_the_enumeration_margins():
    # The target's code path (student_rows with beyond_M) at k_n = M+1..K against node_errors.
    K, M = 6, 2
    op = _trained_like(K, M, 7)
    scale = float(np.sum(op.vstar ** 2))
    rows = {(r["kn"], r["kernel"], r["theorem"]): r["margin"]
            for r in student_rows(op, max_subsets=10 ** 6, beyond_M=True)}
    assert {k for k, _, _ in rows} == set(range(1, K + 1))
    for k in range(M + 1, K + 1):
        ref = node_errors(op, k)
        for kind in ZC_KERNELS:
            d = (f"dpp-{kind}", False), (f"dpp-{kind}", True)
            assert abs(rows[(k, kind, "1a")] - (ref[("random", False)] - ref[d[0]]) / scale) < 1e-12
            assert abs(rows[(k, kind, "1b")] - (ref[("random", True)] - ref[d[1]]) / scale) < 1e-12
            assert abs(rows[(k, kind, "1d")] - (ref[("importance", True)] - ref[d[1]]) / scale) < 1e-12
            assert (k, kind, "2") not in rows
