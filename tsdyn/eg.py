"""Generalisation error of a two-layer student against its teacher (pruning paper eqs 5-8).

    eps_g = f1(Q) + f2(T) - f3(R, Q, T)                                   (5)
    f1 = (1/pi) sum_ik v_i v_k  arcsin(Q_ik / sqrt((1+Q_ii)(1+Q_kk)))     (6)
    f2 = (1/pi) sum_nm v*_n v*_m arcsin(T_nm / sqrt((1+T_nn)(1+T_mm)))    (7)
    f3 = (2/pi) sum_in v_i v*_n arcsin(R_in / sqrt((1+Q_ii)(1+T_nn)))     (8)

This equals 1/2 E_x[(phi_student(x) - phi_teacher(x))^2], noise-free (erratum 3:
the 1/2 is never stated in the paper). It is the one place that fixes the GE
normalisation; with the noisy labels of the simulations the test-set 1/2 MSE is
eps_g + sigma^2 / 2 (:func:`test_mse_expected`).

Other activations (``activation=``, :func:`tsdyn.conventions.activation_pair`): the arcsin kernel
(2/pi) arcsin(.) of eqs 6-8 becomes the Gaussian pair mean E[f(x) h(y)] of the activations of the
two nodes (:func:`tsdyn.activation_integrals.pair_mean_matrix`: the arc-cosine kernel for ReLU,
the overlap itself for linear), with the same 1/2 E[(phi_s - phi_t)^2] normalisation; erf keeps
the code path above unchanged.
"""
from __future__ import annotations

import numpy as np

from tsdyn.conventions import DEFAULT_ACTIVATION, activation_code, activation_pair
from tsdyn.integrals import I2_matrix


def eg(Q: np.ndarray, R: np.ndarray, T: np.ndarray, v: np.ndarray, vstar: np.ndarray,
       activation=DEFAULT_ACTIVATION) -> np.ndarray | float:
    """Generalisation error eps_g, pruning paper eqs (5)-(8); other activations by their Gaussian pair means.

    Parameters
    ----------
    Q : (..., K, K) student-student overlaps.
    R : (..., K, M) student-teacher overlaps.
    T : (M, M) or (..., M, M) teacher-teacher overlaps.
    v : (..., K) student second layer.
    vstar : (M,) or (..., M) teacher second layer.
    activation : "erf" (default: eqs 5-8 exactly), "relu", "linear", or a (teacher, student) pair.

    Returns
    -------
    float or ndarray
        eps_g = 1/2 E[(phi_s - phi_t)^2]; an array over the leading batch axes.

    Raises
    ------
    ValueError
        If an arcsin argument leaves [-1, 1] (the overlaps are no covariance).
    """
    Q, R, T = (np.asarray(a, dtype=float) for a in (Q, R, T))
    v, vstar = np.asarray(v, dtype=float), np.asarray(vstar, dtype=float)
    if vstar.ndim == 0:
        vstar = np.full(T.shape[-1], float(vstar))
    dQ = np.diagonal(Q, axis1=-2, axis2=-1)
    dT = np.diagonal(T, axis1=-2, axis2=-1)
    teacher_act, student_act = activation_pair(activation)
    if teacher_act == student_act == "erf":
        kernels = I2_matrix(dQ, Q, dQ), I2_matrix(dT, T, dT), I2_matrix(dQ, R, dT)
    else:
        from tsdyn.activation_integrals import pair_mean_matrix

        ft, fs = activation_code(teacher_act), activation_code(student_act)
        kernels = pair_mean_matrix(fs, fs, dQ, Q, dQ), pair_mean_matrix(ft, ft, dT, T, dT), \
            pair_mean_matrix(fs, ft, dQ, R, dT)
    student = np.einsum("...i,...ij,...j->...", v, kernels[0], v)
    teacher = np.einsum("...n,...nm,...m->...", vstar, kernels[1], vstar)
    cross = np.einsum("...i,...in,...n->...", v, kernels[2], vstar)
    out = 0.5 * student + 0.5 * teacher - cross
    return float(out) if np.ndim(out) == 0 else out


def eg_of(params, activation=DEFAULT_ACTIVATION) -> float:
    """eps_g of an :class:`tsdyn.order_parameters.OrderParameters` (pruning eqs 5-8; ``activation`` as :func:`eg`)."""
    return eg(params.Q, params.R, params.T, params.v, params.vstar, activation)


def test_mse_expected(eps_g, sigma: float):
    """Expected test-set 1/2 MSE against noisy labels y = teacher + sigma*zeta: eps_g + sigma^2/2."""
    return eps_g + 0.5 * sigma**2


test_mse_expected.__test__ = False  # not a pytest test despite its name
