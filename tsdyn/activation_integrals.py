"""Gaussian averages of every activation pair: the GE kernel and the ODE integrals I2, I3, I4, J2.

The activation of each field is given by its code (:data:`tsdyn.conventions.ACTIVATIONS`: erf 0,
relu 1, linear 2); a field u carrying g' is a *student* field and takes the student's activation.
All closed forms follow from Stein's lemma E[X h(X)] = sum_k C_Xk E[d_k h] and, for erf, from the
Gaussian tilt E[exp(-u^2/2) F(X)] = (1 + C_uu)^(-1/2) E'[F(X)] with C' = C - C_.u C_u. / (1 + C_uu):

* pair mean E[f(x) h(y)] (:func:`pair_mean`; I2 of the ODE and the GE kernel of eqs 5-8):
  erf-erf (2/pi) asin(C_xy / sqrt((1 + C_xx)(1 + C_yy))) (Saad & Solla 1995);
  relu-relu the arc-cosine kernel (Cho & Saul 2009) (sqrt(C_xx C_yy - C_xy^2) + (pi - acos rho) C_xy) / (2 pi);
  linear-linear C_xy; erf-linear sqrt(2/pi) C_xy / sqrt(1 + C_xx); relu-linear C_xy / 2;
  erf-relu C_xy / sqrt(2 pi (1 + C_xx)).
* E[f'(w)] over w ~ N(0, C_ww) (:func:`mean_prime`): erf sqrt(2/pi) / sqrt(1 + C_ww), relu 1/2, linear 1.
* I3 = E[g'(u) v f(w)] (:func:`i3`): linear student C_vw E[f'(w)]; erf student, by the tilt,
  sqrt(2/pi) / sqrt(1 + C_uu) C'_vw E'[f'(w)] (for erf f this is the arcsin-free closed form of
  :func:`tsdyn.integrals.I3`); relu student: for relu f, C_vu sqrt(C_uu C_ww - C_uw^2) / (2 pi C_uu)
  + C_vw P(u > 0, w > 0); for linear f C_vw / 2; for erf f C_vw / sqrt(2 pi (1 + C_ww)).
* I4 = E[g'(u1) g'(u2) f3(u3) f4(u4)] (:func:`i4`): linear student E[f3 f4]; erf student
  (2/pi) / sqrt(lambda_4) times the pair mean of (u3, u4) under the twice-tilted covariance;
  relu student with relu / linear f3, f4: the truncated moments E[u3 u4 1{u1, u2 (, u3, u4) > 0}] of
  :mod:`tsdyn.orthant` (one-dimensional integral for relu-relu). A relu student with erf fields
  in f3 or f4 (a relu student of an erf teacher) has no reduction here: :func:`i4` returns NaN,
  and the ODE refuses that pair (:func:`ode_supported`).
* J2 = E[g'(u) g'(v)] (:func:`j2`): erf (2/pi) / sqrt(lambda_4), relu P(u > 0, v > 0), linear 1.

Each is tested against Monte Carlo and quadrature in tests/test_activation_integrals.py, and for
erf against the closed forms of :mod:`tsdyn.integrals` (which stay the erf path of the ODE kernel
and of :func:`tsdyn.eg.eg`).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from tsdyn.conventions import ERF, LINEAR, RELU, activation_code, activation_pair
from tsdyn.orthant import orthant2
from tsdyn.tallis import truncated_moment, truncated_moment_cached

TWO_OVER_PI = 2.0 / math.pi
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
TWO_PI = 2.0 * math.pi


@numba.njit(cache=True)
def pair_mean(fa: int, fb: int, caa: float, cab: float, cbb: float) -> float:
    """E[f_a(x) f_b(y)] for (x, y) Gaussian with variances caa, cbb and covariance cab (module docstring)."""
    if fa > fb:                                     # the table below lists each unordered pair once
        fa, fb, caa, cbb = fb, fa, cbb, caa
    if fa == ERF and fb == ERF:
        arg = cab / math.sqrt((1.0 + caa) * (1.0 + cbb))
        return TWO_OVER_PI * math.asin(min(1.0, max(-1.0, arg)))
    if fa == ERF and fb == RELU:
        return cab / math.sqrt(TWO_PI * (1.0 + caa))
    if fa == ERF:                                   # erf-linear
        return SQRT_2_OVER_PI * cab / math.sqrt(1.0 + caa)
    if fa == RELU and fb == RELU:
        d = caa * cbb
        if not d > 0.0:
            return 0.0
        rho = min(1.0, max(-1.0, cab / math.sqrt(d)))
        return (math.sqrt(max(d - cab * cab, 0.0)) + (math.pi - math.acos(rho)) * cab) / TWO_PI
    if fa == RELU:                                  # relu-linear
        return 0.5 * cab
    return cab                                      # linear-linear


@numba.njit(cache=True)
def mean_prime(f: int, cww: float) -> float:
    """E[f'(w)] for w ~ N(0, cww)."""
    if f == ERF:
        return SQRT_2_OVER_PI / math.sqrt(1.0 + cww)
    if f == RELU:
        return 0.5
    return 1.0


@numba.njit(cache=True)
def i3(C, u: int, v: int, w: int, gs: int, f: int) -> float:
    """E[g_s'(x_u) x_v f(x_w)] for the fields u, v, w of the covariance C (module docstring)."""
    if gs == LINEAR:
        return C[v, w] * mean_prime(f, C[w, w])
    if gs == ERF:
        a = 1.0 + C[u, u]
        return SQRT_2_OVER_PI / math.sqrt(a) * (C[v, w] - C[u, v] * C[u, w] / a) * \
            mean_prime(f, C[w, w] - C[u, w] * C[u, w] / a)
    if f == LINEAR:
        return 0.5 * C[v, w]
    if f == ERF:
        return C[v, w] / math.sqrt(TWO_PI * (1.0 + C[w, w]))
    # relu student, relu field: Stein's lemma on x_v
    if u == w:
        return 0.5 * C[v, w]
    out = C[v, w] * orthant2(C[u, u], C[u, w], C[w, w])
    if C[u, u] > 0.0:
        out += C[v, u] * math.sqrt(max(C[u, u] * C[w, w] - C[u, w] ** 2, 0.0)) / (TWO_PI * C[u, u])
    return out


@numba.njit(cache=True)
def i4(C, i: int, k: int, a: int, b: int, gs: int, fa: int, fb: int) -> float:
    """E[g_s'(x_i) g_s'(x_k) f_a(x_a) f_b(x_b)] for the fields of C (module docstring); NaN where not reduced."""
    return i4_cached(C, i, k, a, b, gs, fa, fb, np.empty(0, dtype=np.int64), np.empty(0), np.empty((0, 4, 4)))


@numba.njit(cache=True)
def i4_cached(C, i: int, k: int, a: int, b: int, gs: int, fa: int, fb: int, ids, P, W) -> float:
    """:func:`i4` with ReLU's four-dimensional set pieces shared through the workspace (ids, P, W) of
    :func:`tsdyn.tallis.relu_cache` (``ids`` empty: none, the plain :func:`tsdyn.tallis.truncated_moment`)."""
    if gs == LINEAR:
        return pair_mean(fa, fb, C[a, a], C[a, b], C[b, b])
    if gs == ERF:
        # tilt by exp(-(x_i^2 + x_k^2)/2): (a_ij) = I + C_{ik block}, C' = C - C_.,ik (I + C_ik)^-1 C_ik,.
        # (i == k needs no case of its own: det = 1 + 2 C_ii, the tilt of g'(x)^2 = (2/pi) exp(-x^2).)
        a11, a12, a22 = 1.0 + C[i, i], C[i, k], 1.0 + C[k, k]
        det = a11 * a22 - a12 * a12
        caa = C[a, a] - _tilt(C, i, k, a, a, a11, a12, a22, det)
        cab = C[a, b] - _tilt(C, i, k, a, b, a11, a12, a22, det)
        cbb = C[b, b] - _tilt(C, i, k, b, b, a11, a12, a22, det)
        return TWO_OVER_PI / math.sqrt(det) * pair_mean(fa, fb, caa, cab, cbb)
    if fa == ERF or fb == ERF:
        return math.nan
    S = np.empty(4, dtype=np.int64)
    S[0], S[1], n = i, k, 2
    if fa == RELU:
        S[n] = a
        n += 1
    if fb == RELU:
        S[n] = b
        n += 1
    if ids.size == 0:
        return truncated_moment(C, a, b, S, n)
    return truncated_moment_cached(C, a, b, S, n, ids, P, W)


@numba.njit(cache=True, inline="always")
def _tilt(C, i, k, x, y, a11, a12, a22, det):
    """[C_xi C_xk] A^-1 [C_yi C_yk]^T for A = [[a11, a12], [a12, a22]]."""
    return (a22 * C[x, i] * C[y, i] - a12 * (C[x, i] * C[y, k] + C[x, k] * C[y, i]) + a11 * C[x, k] * C[y, k]) / det


@numba.njit(cache=True)
def j2(C, i: int, k: int, gs: int) -> float:
    """E[g_s'(x_i) g_s'(x_k)], the sigma^2 term of dQ/dt."""
    if gs == ERF:
        return TWO_OVER_PI / math.sqrt((1.0 + C[i, i]) * (1.0 + C[k, k]) - C[i, k] ** 2)
    if gs == RELU:
        return 0.5 if i == k else orthant2(C[i, i], C[i, k], C[k, k])
    return 1.0


def ode_supported(activation) -> bool:
    """Whether the ODE integrals are reduced for this (teacher, student) pair: all but a relu student of an erf teacher."""
    teacher, student = activation_pair(activation)
    return not (student == "relu" and teacher == "erf")


def field_codes(activation, K: int, M: int) -> np.ndarray:
    """Activation code of every field (K students, then M teachers) of the joint covariance."""
    teacher, student = activation_pair(activation)
    return np.array([activation_code(student)] * K + [activation_code(teacher)] * M, dtype=np.int64)


def pair_mean_matrix(fa: int, fb: int, var_a, cross, var_b) -> np.ndarray:
    """out[..., i, j] = E[f_a(x_i) f_b(y_j)] over batches: the GE kernel of a general activation pair.

    Vectorised NumPy form of :func:`pair_mean` (tests hold them equal), for :func:`tsdyn.eg.eg`.
    """
    var_a = np.asarray(var_a, dtype=float)[..., :, None]
    var_b = np.asarray(var_b, dtype=float)[..., None, :]
    cross = np.asarray(cross, dtype=float)
    return _pair_mean_array(fb, fa, var_b, cross, var_a) if fa > fb else _pair_mean_array(fa, fb, var_a, cross, var_b)


def _pair_mean_array(fa: int, fb: int, var_a, cross, var_b) -> np.ndarray:
    """:func:`pair_mean` on broadcast arrays, for fa <= fb."""
    if fa == ERF and fb == ERF:
        arg = np.clip(cross / np.sqrt((1.0 + var_a) * (1.0 + var_b)), -1.0, 1.0)
        return TWO_OVER_PI * np.arcsin(arg)
    if fa == ERF:
        scale = 1.0 / np.sqrt(TWO_PI * (1.0 + var_a)) if fb == RELU else SQRT_2_OVER_PI / np.sqrt(1.0 + var_a)
        return cross * scale
    if fa == RELU and fb == RELU:
        d = var_a * var_b
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.where(d > 0, np.clip(cross / np.sqrt(np.where(d > 0, d, 1.0)), -1.0, 1.0), 0.0)
        return (np.sqrt(np.maximum(d - cross**2, 0.0)) + (np.pi - np.arccos(rho)) * cross) / TWO_PI
    return 0.5 * cross if fa == RELU else np.array(cross)
