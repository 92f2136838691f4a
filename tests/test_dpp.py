"""k-DPP: elementary symmetric polynomials, exact enumeration, the spectral sampler and the kernels."""
import math
from collections import Counter
from itertools import combinations

import numpy as np
import pytest
from scipy.stats import chisquare

from tsdyn.pruning.closed_form import ideal_block_of, ideal_order_parameters
from tsdyn.conventions import g
from tsdyn.pruning.dpp import (all_subsets, data_kernel, divnet_kernel, elementary_symmetric, kdpp_subsets,
                       sample_kdpp, uniform_subsets)


def random_psd(K, rank, rng):
    B = rng.standard_normal((K, rank))
    return B @ B.T / rank


def test_elementary_symmetric_polynomials_match_brute_force_sums():
    lam = np.array([0.3, 1.7, 2.0, 0.0, 5.5])
    E = elementary_symmetric(lam, 4)
    for m in range(len(lam) + 1):
        for l in range(5):
            brute = sum(math.prod(c) for c in combinations(lam[:m], l))
            assert E[l, m] == pytest.approx(brute, rel=1e-13, abs=1e-13)


def test_enumerated_kdpp_is_det_over_e_k():
    # Probabilities proportional to det(L_S), one subset at a time; Cauchy-Binet: sum det = e_k(eig).
    rng = np.random.default_rng(1)
    L = random_psd(7, 7, rng)
    k = 3
    dist = kdpp_subsets(L, k)
    dets = np.array([np.linalg.det(L[np.ix_(S, S)]) for S in combinations(range(7), k)])
    ek = elementary_symmetric(np.linalg.eigvalsh(L), k)[k, -1]
    assert dets.sum() == pytest.approx(ek, rel=1e-12)
    np.testing.assert_allclose(dist.probs, dets / ek, rtol=1e-11)
    assert len(dist.subsets) == math.comb(7, 3)
    assert dist.probs.sum() == pytest.approx(1.0, abs=1e-14)


def kdpp_chi2(samples, dist):
    counts = Counter(map(tuple, samples))
    observed = np.array([counts.get(tuple(S), 0) for S in dist.subsets])
    assert observed.sum() == len(samples), "sampler returned subsets outside the enumeration"
    return chisquare(observed, dist.probs * len(samples)).pvalue


def test_sampler_passes_chi2_against_enumeration_and_uniform_sampling_does_not():
    rng = np.random.default_rng(2)
    L = random_psd(6, 6, rng) + 0.5 * np.diag(rng.uniform(0, 2, 6))
    dist = kdpp_subsets(L, 3)
    n = 15_000
    samples = sample_kdpp(L, 3, rng, size=n)
    assert all(len(s) == 3 and len(set(s)) == 3 for s in samples)
    assert kdpp_chi2(samples, dist) > 1e-3
    # Power of the test: uniform subsets are rejected against the same k-DPP probabilities.
    uniform = [np.sort(rng.choice(6, 3, replace=False)) for _ in range(n)]
    assert kdpp_chi2(uniform, dist) < 1e-6


def test_sampler_on_a_low_rank_kernel_matches_enumeration():
    # rank 4 < K = 7, k = 4: only the spectral phase can get this right (the top eigenvectors all enter).
    rng = np.random.default_rng(3)
    L = random_psd(7, 4, rng)
    dist = kdpp_subsets(L, 4)
    samples = sample_kdpp(L, 4, rng, size=8000)
    support = dist.subsets[dist.probs > 0]
    assert kdpp_chi2(samples, dist.__class__(support, dist.probs[dist.probs > 0], 7)) > 1e-3


@pytest.mark.parametrize("M,Z", [(3, 4), (4, 3), (2, 6)])
def test_kdpp_of_the_ideal_Q_never_keeps_two_nodes_of_one_block(M, Z):
    op = ideal_order_parameters(M, Z)
    block = ideal_block_of(M, Z)
    for k in range(1, M + 1):
        dist = kdpp_subsets(op.Q, k)
        same_block = np.array([len(set(block[S])) < k for S in dist.subsets])
        assert np.all(dist.probs[same_block] == 0.0)
        # The one-per-block subsets (C(M, k) Z^k of them) share the mass equally.
        assert (~same_block).sum() == math.comb(M, k) * Z**k
        np.testing.assert_allclose(dist.probs[~same_block], 1.0 / (math.comb(M, k) * Z**k), rtol=1e-12)
    rng = np.random.default_rng(4)
    for S in sample_kdpp(op.Q, M, rng, size=200):
        assert sorted(block[S]) == list(range(M))


def test_k_larger_than_rank_raises():
    op = ideal_order_parameters(3, 4)            # rank 3
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"k must be <= rank\(L\) = 3"):
        sample_kdpp(op.Q, 4, rng)
    with pytest.raises(ValueError, match=r"k must be <= rank\(L\) = 3"):
        kdpp_subsets(op.Q, 4)
    with pytest.raises(ValueError, match="k must be an integer >= 0 and <= K = 12"):
        sample_kdpp(op.Q, 13, rng)
    with pytest.raises(ValueError, match="L must be positive semi-definite"):
        kdpp_subsets(-np.eye(3), 1)
    with pytest.raises(ValueError, match="L must be square"):
        kdpp_subsets(np.ones((2, 3)), 1)


def test_subset_enumeration_and_expectations():
    S = all_subsets(5, 2)
    assert S.shape == (10, 2) and [tuple(s) for s in S] == list(combinations(range(5), 2))
    dist = uniform_subsets(5, 2)
    # E[1{node 0 kept}] = k / K.
    assert dist.probability(lambda s: np.any(s == 0, axis=1)) == pytest.approx(2 / 5, abs=1e-15)
    assert dist.expect(lambda s: s.sum(axis=1), batch=3) == pytest.approx(2 * 2.0, abs=1e-12)
    assert dist.index_of([3, 1]) == 5
    with pytest.raises(ValueError, match="K must be an integer >= 0 and <= 20"):
        all_subsets(21, 3)


def test_data_kernel_estimates_Q_within_its_wishart_error():
    # Lemma 1: E[(1/n) H^T H / N] = Q, Var(L_ik) = (Q_ii Q_kk + Q_ik^2) / n.
    rng = np.random.default_rng(5)
    K, N, n = 5, 60, 40_000
    w = rng.standard_normal((K, N)) * rng.uniform(0.5, 1.5, (K, 1))
    Q = w @ w.T / N
    L = data_kernel(w, n, rng, chunk=7_000)
    sd = np.sqrt((np.outer(np.diag(Q), np.diag(Q)) + Q**2) / n)
    z = (L - Q) / sd
    assert np.max(np.abs(z)) < 4.5, np.max(np.abs(z))   # 15 distinct entries: P(false alarm) ~ 1e-4


def test_divnet_kernel_matches_a_direct_computation_and_sees_parallel_nodes():
    rng = np.random.default_rng(6)
    N, n = 40, 3_000
    base = rng.standard_normal((3, N))
    w = np.vstack([base, base[0]])                # node 3 duplicates node 0
    L = divnet_kernel(w, n, np.random.default_rng(7), chunk=700)
    x = np.random.default_rng(7).standard_normal((n, N))
    a = g(x @ w.T / math.sqrt(N))
    direct = np.exp(-(10.0 / n) * ((a[:, :, None] - a[:, None, :]) ** 2).sum(axis=0))
    np.testing.assert_allclose(L, direct, rtol=1e-9, atol=1e-12)
    assert L[0, 3] == pytest.approx(1.0, abs=1e-12)
    # Identical rows: a 3-DPP over these 4 nodes never keeps nodes 0 and 3 together.
    dist = kdpp_subsets(L, 3)
    both = np.array([0 in S and 3 in S for S in dist.subsets])
    assert np.max(dist.probs[both]) < 1e-12
