"""Gaussian averages of the activation g(x) = erf(x/sqrt 2) in closed form.

For jointly Gaussian fields with covariance C (Saad & Solla 1995, appendix; Goldt et al. 2019,
supplement, whose notation lambda_0..lambda_4 this module keeps):

* I2 = E[g(u) g(v)] = (2/pi) arcsin(C12 / sqrt((1 + C11)(1 + C22))),
* I3 = E[g'(u) v g(w)] = (2/pi) (C23 - C12 C13 / (1 + C11)) / sqrt(lambda_3),
  lambda_3 = (1 + C11)(1 + C33) - C13^2,
* I4 = E[g'(u1) g'(u2) g(u3) g(u4)] = (4/pi^2) arcsin(lambda_0 / sqrt(lambda_1 lambda_2)) / sqrt(lambda_4),
* J2 = E[g'(u) g'(v)] = (2/pi) / sqrt(lambda_4), lambda_4 = (1 + C11)(1 + C22) - C12^2,

the averages of the order-parameter ODEs (:mod:`tsdyn.dynamics.equations`); each is checked against
Monte Carlo in tests/test_integrals.py.

Each formula is written once, in the *pieces* below (:func:`lambda_det`, :func:`i2_argument`,
:func:`i3_numerator`, :func:`i3_reduced_numerator`, :func:`i4_lambda`, :func:`i4_lambda0_coefficients`,
:func:`i4_lambda0`): plain arithmetic that broadcasts over NumPy arrays, from which
:func:`I2`, :func:`I3`, :func:`I4`, :func:`J2` are assembled, and which ``numba_scalar``
compiles for the fused ODE kernel (:mod:`tsdyn.dynamics.ode_rhs`), so the kernel and the
readable equations evaluate the same formulas. The pieces take a = 1 + C_aa rather than C_aa
because the kernel forms those sums once per field.

The public integrals take the entries of the covariance of the fields involved and broadcast
them against each other; the ``*_tensor`` forms evaluate an integral for every index tuple of
one joint covariance matrix at once.
"""
from __future__ import annotations

import math

import numba
import numpy as np

TWO_OVER_PI = 2.0 / math.pi
FOUR_OVER_PI2 = 4.0 / math.pi**2

#: Slack on |arcsin argument| <= 1 tolerated as round-off before it is an error.
ARCSIN_SLACK = 1e-10



def numba_scalar(formula):
    """``formula`` compiled by Numba for scalars, inlined into the kernels that call it.

    Numba's cache does not notice edits of an inlined function in another file: after changing
    a formula here, clear ``__pycache__`` of :mod:`tsdyn.dynamics.ode_rhs` (or its ``*.nbi``).
    """
    return numba.njit(cache=True, inline="always")(formula)


def lambda_det(a1, C12, a2):
    """(1 + C11)(1 + C22) - C12^2 from a1 = 1 + C11, a2 = 1 + C22.

    lambda_4 of I4 and J2 for fields (1, 2), lambda_3 of I3 for fields (1, 3) (Saad & Solla 1995).
    """
    return a1 * a2 - C12 * C12


def i2_argument(a1, C12, a2):
    """The arcsin argument C12 / sqrt((1 + C11)(1 + C22)) of I2, from a1 = 1 + C11, a2 = 1 + C22."""
    return C12 / np.sqrt(a1 * a2)


def i3_numerator(a1, C12, C13, C23):
    """C23 (1 + C11) - C12 C13: I3 = (2/pi) times this over (1 + C11) sqrt(lambda_3).

    The form the analytic Jacobian differentiates; :func:`i3_reduced_numerator` is it over
    1 + C11 (tests/test_integrals.py checks the two agree).
    """
    return C23 * a1 - C12 * C13


def i3_reduced_numerator(a1, C12, C13, C23):
    """C23 - C12 C13 / (1 + C11): I3 = (2/pi) times this over sqrt(lambda_3).

    Linear in (C13, C23) at fixed C11, C12, so a weighted sum of I3 over its third field
    can be taken inside (the kernel's G[i, b]).
    """
    return C23 - C12 / a1 * C13


def i4_lambda(L4, a1, a2, C12, C13, C23, a3):
    """lambda_1 = lambda_4 (1 + C33) - C23^2 (1 + C11) - C13^2 (1 + C22) + 2 C12 C13 C23 of I4.

    With field 4 for field 3 (C14, C24, a4) it is lambda_2.
    """
    return L4 * a3 - C23 * C23 * a1 - C13 * C13 * a2 + 2.0 * C12 * C13 * C23


def i4_lambda0_coefficients(a1, a2, C12, C13, C23):
    """(h2, h1) = (C12 C13 - (1 + C11) C23, C12 C23 - (1 + C22) C13): field 3's part of lambda_0.

    lambda_0 = lambda_4 C34 + h2 C24 + h1 C14 (:func:`i4_lambda0`) is bilinear in the
    covariances of field 3 and field 4, which lets the kernel form these per field, not per pair.
    """
    return C12 * C13 - a1 * C23, C12 * C23 - a2 * C13


def i4_lambda0(L4_C34, h2, h1, C14, C24):
    """lambda_0 = lambda_4 C34 - C23 C24 (1 + C11) - C13 C14 (1 + C22) + C12 (C13 C24 + C14 C23).

    Given L4_C34 = lambda_4 C34 and (h2, h1) of :func:`i4_lambda0_coefficients`.
    """
    return L4_C34 + h2 * C24 + h1 * C14


def arcsin_argument(C12, C11, C22) -> np.ndarray:
    """C12 / sqrt((1 + C11)(1 + C22)) (:func:`i2_argument`), broadcast over arrays."""
    C11, C12, C22 = (np.asarray(c, dtype=float) for c in (C11, C12, C22))
    return i2_argument(1.0 + C11, C12, 1.0 + C22)


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
    return TWO_OVER_PI * safe_arcsin(arcsin_argument(C12, C11, C22), what="I2 arcsin argument")


def I2_matrix(var_a: np.ndarray, cross: np.ndarray, var_b: np.ndarray) -> np.ndarray:
    """Matrix of I2 over index pairs: out[..., i, j] = I2(var_a[..., i], cross[..., i, j], var_b[..., j]).

    Leading axes are batch axes (e.g. record times).
    """
    var_a = np.asarray(var_a, dtype=float)
    var_b = np.asarray(var_b, dtype=float)
    return I2(var_a[..., :, None], cross, var_b[..., None, :])


def I3(C11, C12, C13, C23, C33) -> np.ndarray:
    """E[g'(u) v g(w)] for Gaussian (u, v, w) with covariance entries C_ab.

    Saad & Solla 1995 (appendix) / Goldt et al. 2019 (supplement); u carries g', w carries g:
    (2/pi) (C23 - C12 C13 / (1 + C11)) / sqrt(lambda_3),  lambda_3 = (1 + C11)(1 + C33) - C13^2.
    C22 does not enter. Arguments broadcast against each other.
    """
    C11, C12, C13, C23, C33 = (np.asarray(c, dtype=float) for c in (C11, C12, C13, C23, C33))
    a1 = 1.0 + C11
    return TWO_OVER_PI * i3_reduced_numerator(a1, C12, C13, C23) / np.sqrt(lambda_det(a1, C13, 1.0 + C33))


def I4(C11, C12, C13, C14, C22, C23, C24, C33, C34, C44) -> np.ndarray:
    """E[g'(u1) g'(u2) g(u3) g(u4)] for Gaussian (u1..u4) with covariance entries C_ab.

    Saad & Solla 1995 (appendix) / Goldt et al. 2019 (supplement):
    (4/pi^2) arcsin(lambda_0 / sqrt(lambda_1 lambda_2)) / sqrt(lambda_4), with lambda_4
    (:func:`lambda_det`), lambda_1, lambda_2 (:func:`i4_lambda`) and lambda_0 (:func:`i4_lambda0`).
    Arguments broadcast against each other; ``ValueError`` if an arcsin argument leaves [-1, 1].
    """
    C11, C12, C13, C14, C22, C23, C24, C33, C34, C44 = (
        np.asarray(c, dtype=float) for c in (C11, C12, C13, C14, C22, C23, C24, C33, C34, C44))
    a1, a2 = 1.0 + C11, 1.0 + C22
    L4 = lambda_det(a1, C12, a2)
    L0 = i4_lambda0(L4 * C34, *i4_lambda0_coefficients(a1, a2, C12, C13, C23), C14, C24)
    L1 = i4_lambda(L4, a1, a2, C12, C13, C23, 1.0 + C33)
    L2 = i4_lambda(L4, a1, a2, C12, C14, C24, 1.0 + C44)
    arg = safe_arcsin(L0 / np.sqrt(L1 * L2), what="I4 arcsin argument")
    return FOUR_OVER_PI2 * arg / np.sqrt(L4)


def J2(C11, C12, C22) -> np.ndarray:
    """E[g'(u) g'(v)] = (2/pi) / sqrt(lambda_4): the sigma^2 term of dQ/dt (Goldt et al. 2019)."""
    C11, C12, C22 = (np.asarray(c, dtype=float) for c in (C11, C12, C22))
    return TWO_OVER_PI / np.sqrt(lambda_det(1.0 + C11, C12, 1.0 + C22))


def I3_tensor(C: np.ndarray, rows: int | None = None) -> np.ndarray:
    """out[a, b, c] = I3 of the fields (a, b, c) of the joint covariance C (L x L).

    Only the first ``rows`` fields take the place of the g' argument (the
    students, in the ODEs); the result has shape (rows, L, L).
    """
    C = np.asarray(C, dtype=float)
    rows = C.shape[0] if rows is None else rows
    d = np.diagonal(C)
    a = np.arange(rows)[:, None, None]
    b = np.arange(C.shape[0])[None, :, None]
    c = np.arange(C.shape[0])[None, None, :]
    return I3(d[a], C[a, b], C[a, c], C[b, c], d[c])


def I4_tensor(C: np.ndarray, rows: int | None = None) -> np.ndarray:
    """out[a, b, c, e] = I4 of the fields (a, b, c, e) of C, with a, b < ``rows``.

    Shape (rows, rows, L, L); the first two fields carry g', the last two g.
    """
    C = np.asarray(C, dtype=float)
    rows = C.shape[0] if rows is None else rows
    d = np.diagonal(C)
    a = np.arange(rows)[:, None, None, None]
    b = np.arange(rows)[None, :, None, None]
    c = np.arange(C.shape[0])[None, None, :, None]
    e = np.arange(C.shape[0])[None, None, None, :]
    return I4(d[a], C[a, b], C[a, c], C[a, e], d[b], C[b, c], C[b, e], d[c], C[c, e], d[e])


def J2_matrix(C: np.ndarray) -> np.ndarray:
    """out[a, b] = J2 of the fields (a, b) of the covariance C."""
    C = np.asarray(C, dtype=float)
    d = np.diagonal(C)
    return J2(d[:, None], C, d[None, :])


#: The pieces compiled for scalars, for the Numba kernels (one formula, two evaluators).
lambda_det_nb = numba_scalar(lambda_det)
i2_argument_nb = numba_scalar(i2_argument)
i3_numerator_nb = numba_scalar(i3_numerator)
i3_reduced_numerator_nb = numba_scalar(i3_reduced_numerator)
i4_lambda_nb = numba_scalar(i4_lambda)
i4_lambda0_coefficients_nb = numba_scalar(i4_lambda0_coefficients)
i4_lambda0_nb = numba_scalar(i4_lambda0)
