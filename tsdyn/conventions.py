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

#: The activations tsdyn knows, by name; their integer codes (the tuple index) specialise the Numba kernels.
ACTIVATIONS = ("erf", "relu", "linear")
ERF, RELU, LINEAR = 0, 1, 2
DEFAULT_ACTIVATION = "erf"

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


def activation_code(name) -> int:
    """Integer code of an activation name ("erf" 0, "relu" 1, "linear" 2); one-line ``ValueError`` otherwise."""
    if isinstance(name, str) and name in ACTIVATIONS:
        return ACTIVATIONS.index(name)
    raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}, got {name!r}")


def activation_pair(activation) -> tuple[str, str]:
    """``(teacher, student)`` activations from ``activation=``: one name for both, or a (teacher, student) pair.

    Also accepts "teacher/student" (e.g. "erf/relu"), the form of the command lines and TOMLs.
    """
    if isinstance(activation, str) and "/" in activation:
        activation = tuple(activation.split("/"))
    if isinstance(activation, str):
        activation_code(activation)
        return activation, activation
    try:
        teacher, student = activation
    except (TypeError, ValueError):
        raise ValueError(f"activation must be a name in {ACTIVATIONS} or a (teacher, student) pair of them, "
                         f"got {activation!r}") from None
    activation_code(teacher)
    activation_code(student)
    return str(teacher), str(student)


def activation_label(activation) -> str:
    """The canonical text of ``activation=``: "relu" for one, "erf/relu" for a (teacher, student) pair."""
    teacher, student = activation_pair(activation)
    return teacher if teacher == student else f"{teacher}/{student}"


def g(x: np.ndarray | float, activation: str = DEFAULT_ACTIVATION) -> np.ndarray | float:
    """Activation g(x): erf(x / sqrt 2) (default; NOTES.md, erratum 4 of the pruning paper), max(0, x) or x.

    The arcsin closed forms of pruning eqs 5-8 and of the integrals I2, I3, I4 hold only
    for erf, which the papers call "sigmoid"; :mod:`tsdyn.activation_integrals`
    gives those of the other activations.
    """
    code = activation_code(activation)
    if code == ERF:
        return erf(np.asarray(x) / SQRT2) if np.ndim(x) else math.erf(float(x) / SQRT2)
    if code == RELU:
        return np.maximum(np.asarray(x, dtype=float), 0.0) if np.ndim(x) else max(float(x), 0.0)
    return np.array(x, dtype=float) if np.ndim(x) else float(x)


def g_prime(x: np.ndarray | float, activation: str = DEFAULT_ACTIVATION) -> np.ndarray | float:
    """Derivative of :func:`g`: sqrt(2/pi) exp(-x^2 / 2) (erf), Theta(x) (relu; 0 at x = 0), 1 (linear)."""
    code = activation_code(activation)
    x = np.asarray(x, dtype=float)
    if code == ERF:
        out = GPRIME_PREFACTOR * np.exp(-0.5 * x * x)
    elif code == RELU:
        out = (x > 0.0).astype(float)
    else:
        out = np.ones_like(x)
    return out if out.ndim else float(out)


@numba.njit(cache=True, inline="always")
def g_scalar(x: float) -> float:
    """:func:`g` for one float, for use inside Numba kernels."""
    return math.erf(x / SQRT2)


@numba.njit(cache=True, inline="always")
def g_prime_scalar(x: float) -> float:
    """:func:`g_prime` for one float, for use inside Numba kernels."""
    return GPRIME_PREFACTOR * math.exp(-0.5 * x * x)


@numba.njit(cache=True, inline="always")
def act_scalar(x: float, code: int) -> float:
    """:func:`g` of activation ``code`` for one float, inside Numba kernels (erf: exactly :func:`g_scalar`)."""
    if code == ERF:
        return math.erf(x / SQRT2)
    if code == RELU:
        return x if x > 0.0 else 0.0
    return x


@numba.njit(cache=True, inline="always")
def act_prime_scalar(x: float, code: int) -> float:
    """:func:`g_prime` of activation ``code`` for one float, inside Numba kernels (erf: exactly :func:`g_prime_scalar`)."""
    if code == ERF:
        return GPRIME_PREFACTOR * math.exp(-0.5 * x * x)
    if code == RELU:
        return 1.0 if x > 0.0 else 0.0
    return 1.0


def fields(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Pre-activations lambda = w . x / sqrt(N) of every node for every input: x (n, N), w (K, N) -> (n, K)."""
    w = np.asarray(w, dtype=float)
    return np.asarray(x, dtype=float) @ w.T / math.sqrt(w.shape[1])


def network_output(w: np.ndarray, v: np.ndarray, x: np.ndarray, activation: str = DEFAULT_ACTIVATION) -> np.ndarray:
    """Output phi(x) = sum_k v_k g(w_k . x / sqrt N) of a two-layer network for each input (n,)."""
    return g(fields(w, x), activation) @ np.asarray(v, dtype=float)


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
