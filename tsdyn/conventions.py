"""The conventions of the theory, owned in one place.

Every other module takes the activation, the SGD scalings, the time axis and
the paper's default setting from here; ``tests/test_conventions.py`` pins them.

References
----------
Pruning paper: Acharyya et al., "Understanding diversity based neural network
pruning in teacher student setup", Sec. 2 and Sec. 4.
Goldt et al. 2019, "Dynamics of stochastic gradient descent for two-layer
neural networks in the teacher-student setup", NeurIPS.
``shared/papers/NOTES.md`` fixes the choices where the papers are loose.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from scipy.special import erf

SQRT2 = math.sqrt(2.0)
#: g'(0) = sqrt(2/pi): the prefactor of the derivative of erf(x/sqrt 2).
GPRIME_PREFACTOR = math.sqrt(2.0 / math.pi)

# The paper's setting (pruning paper, Sec. 4; NOTES.md).
DEFAULT_N = 500
DEFAULT_M = 2
DEFAULT_K = 6
DEFAULT_LR = 0.5
DEFAULT_VSTAR = 4.0
DEFAULT_TRAIN_STEPS = 800_000
DEFAULT_TEST_SAMPLES = 80_000
DEFAULT_NOISY_SIGMA = 0.25
#: Record times per decade of t on the default log-spaced grid (simulations and ODE alike).
DEFAULT_PER_DECADE = 10


def g(x: np.ndarray | float) -> np.ndarray | float:
    """Activation g(x) = erf(x / sqrt 2) (NOTES.md; erratum 4 of the pruning paper).

    The arcsin closed forms of pruning eqs 5-8 and of the integrals I2, I3, I4 hold only
    for this activation, which the papers call "sigmoid".
    """
    return erf(np.asarray(x) / SQRT2) if np.ndim(x) else math.erf(float(x) / SQRT2)


def g_prime(x: np.ndarray | float) -> np.ndarray | float:
    """Derivative g'(x) = sqrt(2/pi) exp(-x^2 / 2) of :func:`g`."""
    x = np.asarray(x, dtype=float)
    out = GPRIME_PREFACTOR * np.exp(-0.5 * x * x)
    return out if out.ndim else float(out)


@numba.njit(cache=True, inline="always")
def g_scalar(x: float) -> float:
    """:func:`g` for one float, for use inside Numba kernels."""
    return math.erf(x / SQRT2)


@numba.njit(cache=True, inline="always")
def g_prime_scalar(x: float) -> float:
    """:func:`g_prime` for one float, for use inside Numba kernels."""
    return GPRIME_PREFACTOR * math.exp(-0.5 * x * x)


def fields(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Pre-activations lambda = w . x / sqrt(N) of every node for every input: x (n, N), w (K, N) -> (n, K)."""
    w = np.asarray(w, dtype=float)
    return np.asarray(x, dtype=float) @ w.T / math.sqrt(w.shape[1])


def network_output(w: np.ndarray, v: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Output phi(x) = sum_k v_k g(w_k . x / sqrt N) of a two-layer network for each input (n,)."""
    return g(fields(w, x)) @ np.asarray(v, dtype=float)


def first_layer_rate(lr: float, N: int) -> float:
    """Per-step learning rate of the first layer, eta / sqrt(N) (pruning paper Sec. 4)."""
    return lr / math.sqrt(N)


def second_layer_rate(lr2: float, N: int) -> float:
    """Per-step learning rate of the second layer, eta_v / N (pruning paper Sec. 4)."""
    return lr2 / N


def time_of_step(step: np.ndarray | int, N: int) -> np.ndarray | float:
    """Continuous time t = steps / N of online SGD (Goldt et al. 2019)."""
    return np.asarray(step) / N if np.ndim(step) else step / N


def steps_for_time(t: np.ndarray | float, N: int) -> np.ndarray | int:
    """Number of SGD steps reached at time t (nearest integer of t * N)."""
    steps = np.rint(np.asarray(t, dtype=float) * N).astype(np.int64)
    return steps if steps.ndim else int(steps)
