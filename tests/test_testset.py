"""The test set: labels, 1/2 MSE against eps_g + sigma^2/2, and three ways of scoring that must agree."""
import numpy as np
import pytest

import tsdyn.dynamics.streams
from tsdyn.conventions import network_output
from tsdyn.eg import eg_of, test_mse_expected
from tsdyn.order_parameters import OrderParameters
from tsdyn.dynamics.streams import fill_from_stream
from tsdyn.dynamics.testset import TestSet


def teacher_and_student(K=4, M=2, N=120, seed=0):
    rng = np.random.default_rng(seed)
    wstar = rng.standard_normal((M, N))
    w = 0.7 * np.repeat(wstar, K // M + 1, axis=0)[:K] + 0.7 * rng.standard_normal((K, N))
    return w, rng.standard_normal(K), wstar, rng.uniform(1, 4, M)


@pytest.mark.parametrize("sigma", [0.0, 0.25])
def test_half_mse_estimates_eg_plus_half_sigma_squared(sigma):
    w, v, wstar, vstar = teacher_and_student()
    result = TestSet.from_seed(wstar, vstar, sigma=sigma, n=60_000, seed=3).half_mse(w, v)
    expected = test_mse_expected(eg_of(OrderParameters.from_weights(w, v, wstar, vstar)), sigma)
    assert result.n == 60_000 and result.stderr > 0
    assert abs(result.mean - expected) < 4 * result.stderr, (result, expected)


def test_chunks_are_the_streams_rows_with_noisy_teacher_labels(monkeypatch):
    monkeypatch.setattr(tsdyn.dynamics.streams, "CHUNK_BYTES", 8 * 120 * 64)    # 64-row chunks; n is not a multiple
    _, _, wstar, vstar = teacher_and_student()
    test = TestSet.from_seed(wstar, vstar, sigma=0.3, n=1000, seed=1)
    chunks = [(x.copy(), y.copy()) for x, y in test.chunks()]
    x = np.concatenate([c[0] for c in chunks])
    y = np.concatenate([c[1] for c in chunks])
    assert x.shape == (1000, 120) and max(len(c[0]) for c in chunks) == 64
    zeta = fill_from_stream(test.noise, 64, 0, np.empty(1000))
    np.testing.assert_array_equal(x, fill_from_stream(test.inputs, 64, 0, np.empty((1000, 120))))
    np.testing.assert_allclose(y, network_output(wstar, vstar, x) + 0.3 * zeta, rtol=1e-13, atol=1e-13)
    again = np.concatenate([c[1].copy() for c in test.chunks()])
    np.testing.assert_array_equal(again, y)                              # every evaluation, the same test set
    noiseless = TestSet.from_seed(wstar, vstar, sigma=0.0, n=1000, seed=1)
    np.testing.assert_allclose(np.concatenate([c[1].copy() for c in noiseless.chunks()]),
                               network_output(wstar, vstar, x), rtol=1e-13, atol=1e-13)


def test_many_students_at_once_and_second_moments_agree_with_one_by_one():
    w, v, wstar, vstar = teacher_and_student(K=5)
    test = TestSet.from_seed(wstar, vstar, sigma=0.2, n=5000, seed=4)
    rng = np.random.default_rng(0)
    W = w[None] + 0.3 * rng.standard_normal((3, *w.shape))
    V = v[None] + rng.standard_normal((3, len(v)))
    one_by_one = [test.half_mse(W[i], V[i]).mean for i in range(3)]
    np.testing.assert_allclose(test.half_mse_of_many(W, V), one_by_one, rtol=1e-12)
    moments = test.moments(w)
    subsets, u = np.array([[0, 2, 4], [1, 3, 4]]), rng.standard_normal((2, 3))
    direct = [test.half_mse(w[S], u_S).mean for S, u_S in zip(subsets, u)]
    np.testing.assert_allclose(moments.half_mse(subsets, u), direct, rtol=1e-10)


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=0), "n must be an integer >= 1"),
    (dict(sigma=-0.1), "sigma must be"),
    (dict(vstar=[1.0, 2.0, 3.0]), "vstar"),
])
def test_bad_test_sets_are_refused_naming_the_parameter(kwargs, message):
    _, _, wstar, vstar = teacher_and_student()
    args = {"sigma": 0.1, "n": 10, "vstar": vstar, **kwargs}
    with pytest.raises(ValueError, match=message):
        TestSet.from_seed(wstar, args.pop("vstar"), seed=0, **args)


def test_students_of_the_wrong_shape_are_refused():
    w, v, wstar, vstar = teacher_and_student()
    test = TestSet.from_seed(wstar, vstar, sigma=0.0, n=10, seed=0)
    with pytest.raises(ValueError, match=r"w must have shape \(any, 120\)"):
        test.half_mse(w[:, :50], v)
    with pytest.raises(ValueError, match=r"v must have shape \(4\)"):
        test.half_mse(w, v[:3])
