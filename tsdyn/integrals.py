"""Gaussian averages of the activation g(x) = erf(x/sqrt 2) in closed form.

For jointly Gaussian fields with covariance C,

* I2 = E[g(u) g(v)] = (2/pi) arcsin(C12 / sqrt((1 + C11)(1 + C22)))
  (Saad & Solla 1995; Goldt et al. 2019, eq. S26 / (B1)),
* I3 = E[g'(u) v g(w)], I4 = E[g'(u) g'(v) g(w) g(z)], J2 = E[g'(u) g'(v)]:
  the averages of the order-parameter ODEs (Saad & Solla 1995 appendix;
  Goldt et al. 2019 supplement), used by :mod:`tsdyn.dynamics.ode_rhs`; each is checked
  against Monte Carlo in tests/test_integrals.py.

Each takes the entries of the covariance of the fields involved and broadcasts
them against each other; the ``*_tensor`` forms evaluate an integral for every
index tuple of one joint covariance matrix at once.
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


def I3(C11, C12, C13, C23, C33) -> np.ndarray:
    """E[g'(u) v g(w)] for Gaussian (u, v, w) with covariance entries C_ab.

    Saad & Solla 1995 (appendix) / Goldt et al. 2019 (supplement); u carries g', w carries g:
    (2/pi) (C23 (1 + C11) - C12 C13) / ((1 + C11) sqrt(L3)),  L3 = (1 + C11)(1 + C33) - C13^2.
    C22 does not enter. Arguments broadcast against each other.
    """
    C11, C12, C13, C23, C33 = (np.asarray(c, dtype=float) for c in (C11, C12, C13, C23, C33))
    L3 = (1.0 + C11) * (1.0 + C33) - C13**2
    return (2.0 / math.pi) * (C23 * (1.0 + C11) - C12 * C13) / ((1.0 + C11) * np.sqrt(L3))


def I4(C11, C12, C13, C14, C22, C23, C24, C33, C34, C44) -> np.ndarray:
    """E[g'(u1) g'(u2) g(u3) g(u4)] for Gaussian (u1..u4) with covariance entries C_ab.

    Saad & Solla 1995 (appendix) / Goldt et al. 2019 (supplement):
    (4/pi^2) arcsin(L0 / sqrt(L1 L2)) / sqrt(L4) with L4 = (1+C11)(1+C22) - C12^2,
    L0 = L4 C34 - C23 C24 (1+C11) - C13 C14 (1+C22) + C12 C13 C24 + C12 C14 C23,
    L1 = L4 (1+C33) - C23^2 (1+C11) - C13^2 (1+C22) + 2 C12 C13 C23, and L2 likewise with 4 for 3.
    Arguments broadcast against each other; ``ValueError`` if an arcsin argument leaves [-1, 1].
    """
    C11, C12, C13, C14, C22, C23, C24, C33, C34, C44 = (
        np.asarray(c, dtype=float) for c in (C11, C12, C13, C14, C22, C23, C24, C33, C34, C44))
    a1, a2 = 1.0 + C11, 1.0 + C22
    L4 = a1 * a2 - C12**2
    L0 = L4 * C34 - C23 * C24 * a1 - C13 * C14 * a2 + C12 * (C13 * C24 + C14 * C23)
    L1 = L4 * (1.0 + C33) - C23**2 * a1 - C13**2 * a2 + 2.0 * C12 * C13 * C23
    L2 = L4 * (1.0 + C44) - C24**2 * a1 - C14**2 * a2 + 2.0 * C12 * C14 * C24
    arg = safe_arcsin(L0 / np.sqrt(L1 * L2), what="I4 arcsin argument")
    return (4.0 / math.pi**2) * arg / np.sqrt(L4)


def J2(C11, C12, C22) -> np.ndarray:
    """E[g'(u) g'(v)] = (2/pi) / sqrt((1 + C11)(1 + C22) - C12^2): the sigma^2 term of dQ/dt (Goldt et al. 2019)."""
    C11, C12, C22 = (np.asarray(c, dtype=float) for c in (C11, C12, C22))
    return (2.0 / math.pi) / np.sqrt((1.0 + C11) * (1.0 + C22) - C12**2)


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
