"""Gaussian averages of the activation g(x) = erf(x/sqrt 2) in closed form.

For jointly Gaussian fields with covariance C,

* I2 = E[g(u) g(v)] = (2/pi) arcsin(C12 / sqrt((1 + C11)(1 + C22)))
  (Saad & Solla 1995; Goldt et al. 2019, eq. S26 / (B1)).

The ODE integrals I3, I4 and J2 live in :mod:`tsdyn.integrals` too once the ODE
layer adds them; everything is vectorised over index tuples by broadcasting.
"""
from __future__ import annotations

import math

import numpy as np

#: Slack on |arcsin argument| <= 1 tolerated as round-off before it is an error.
ARCSIN_SLACK = 1e-10


def arcsin_argument(C12, C11, C22) -> np.ndarray:
    """C12 / sqrt((1 + C11)(1 + C22)), broadcast over arrays."""
    return np.asarray(C12, dtype=float) / np.sqrt((1.0 + np.asarray(C11, dtype=float)) * (1.0 + np.asarray(C22, dtype=float)))


def safe_arcsin(x: np.ndarray, *, what: str = "arcsin argument") -> np.ndarray:
    """arcsin with round-off clipping; ``ValueError`` if |x| exceeds 1 by more than slack."""
    x = np.asarray(x, dtype=float)
    worst = float(np.max(np.abs(x))) if x.size else 0.0
    if not math.isfinite(worst) or worst > 1.0 + ARCSIN_SLACK:
        raise ValueError(
            f"{what} must lie in [-1, 1] (the order parameters are not a valid covariance), "
            f"but reaches {worst:.6g}")
    return np.arcsin(np.clip(x, -1.0, 1.0))


def I2(C11, C12, C22) -> np.ndarray:
    """E[g(u) g(v)] for (u, v) Gaussian with variances C11, C22 and covariance C12.

    Goldt et al. 2019 eq. (B1) / Saad & Solla 1995: (2/pi) arcsin(C12 / sqrt((1+C11)(1+C22))).
    Arguments broadcast against each other.
    """
    return (2.0 / math.pi) * safe_arcsin(arcsin_argument(C12, C11, C22), what="I2 arcsin argument")


def I2_matrix(var_a: np.ndarray, cross: np.ndarray, var_b: np.ndarray) -> np.ndarray:
    """Matrix of I2 over index pairs: out[..., i, j] = I2(var_a[..., i], cross[..., i, j], var_b[..., j]).

    Leading axes are batch axes (e.g. record times).
    """
    var_a = np.asarray(var_a, dtype=float)
    var_b = np.asarray(var_b, dtype=float)
    return I2(var_a[..., :, None], cross, var_b[..., None, :])
