"""Shared builders of the tests: a random student, the ideal (A6) student, a trained student.

Factories are fixtures that return a function, so each test picks its sizes and seed.
"""
from __future__ import annotations

import math

import numpy as np
import pytest


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


@pytest.fixture
def random_student():
    """``build(K, M, N=200, seed=0, norms=(0.5, 1.5)) -> (w, v, wstar)``: Gaussian weights, node norms
    spread by a uniform factor in ``norms``; ``seed`` may be a Generator (then drawn from, in this order)."""
    def build(K: int, M: int, N: int = 200, seed=0, norms=(0.5, 1.5)):
        rng = _rng(seed)
        w = rng.standard_normal((K, N)) * rng.uniform(*norms, size=(K, 1))
        wstar = rng.standard_normal((M, N))
        return w, rng.standard_normal(K), wstar

    return build


@pytest.fixture
def random_state(random_student):
    """``build(K, M, N=200, seed=0, vstar=4.0) -> OrderParameters`` of :func:`random_student`."""
    from tsdyn.order_parameters import OrderParameters

    def build(K: int, M: int, N: int = 200, seed=0, vstar=4.0):
        w, v, wstar = random_student(K, M, N, seed)
        return OrderParameters.from_weights(w, v, wstar, vstar)

    return build


@pytest.fixture
def ideal_student():
    """``build(M=2, Z=3, N=60, vstar=4.0, seed=0) -> (w, v, wstar)``: the ansatz (A6) exactly, orthogonal
    teacher rows of norm sqrt N (T = I), Z copies of each as student nodes, v = v*/Z."""
    def build(M: int = 2, Z: int = 3, N: int = 60, vstar: float = 4.0, seed=0):
        basis, _ = np.linalg.qr(_rng(seed).standard_normal((N, M)))
        wstar = math.sqrt(N) * basis.T
        return np.repeat(wstar, Z, axis=0), np.full(M * Z, vstar / Z), wstar

    return build


@pytest.fixture(scope="session")
def trained_run():
    """A short training run (M = 2, K = 4, N = 80, sigma = 0.3, seed 1) as the sweep's job returns it."""
    from tsdyn.targets.training import training_jobs

    cfg = dict(N=80, M=2, K=4, lr=0.5, vstar=4.0, steps=4000, sigmas=[0.3], seeds=[1])
    return training_jobs(cfg)[0].run()


@pytest.fixture(scope="session")
def trained_student(trained_run):
    """The :class:`TrainedStudent` of :func:`trained_run`."""
    from tsdyn.pruning.study import TrainedStudent
    from tsdyn.trajectory import Trajectory

    return TrainedStudent.from_trajectory(Trajectory.from_arrays(trained_run), sigma=0.3, seed=1)
