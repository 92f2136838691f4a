"""The order-parameter ODEs as Goldt et al. 2019 and Saad & Solla 1995 write them (readable, not fast).

Online SGD on the two-layer network of NOTES.md (w-rate lr/sqrt N, v-rate lr2/N, t = steps/N,
output noise sigma) has, as N -> infinity, the deterministic dynamics

    dR_in/dt = lr v_i [ sum_m v*_m I3(i, n, m) - sum_j v_j I3(i, n, j) ]
    dQ_ik/dt = lr v_i [ sum_m v*_m I3(i, k, m) - sum_j v_j I3(i, k, j) ]  + (i <-> k)
               + lr^2 v_i v_k [ sum_nm v*_n v*_m I4(i, k, n, m) - 2 sum_jn v_j v*_n I4(i, k, j, n)
                                + sum_jl v_j v_l I4(i, k, j, l) + sigma^2 J2(i, k) ]
    dv_i/dt  = lr2 [ sum_n v*_n I2(i, n) - sum_j v_j I2(i, j) ]

(Goldt et al. 2019, NeurIPS, Sec. 2 and supplement, the ODEs for R, Q and v; the pruning paper
cites the v equation as their (S36), in its proof of Lemma 5. Saad & Solla 1995, PRE 52, 4225,
the same equations for v = v* = 1.) Indices i, j, k, l run over the K student nodes, n, m over
the M teacher nodes; an integral's arguments name the fields whose covariance it takes from
C = [[Q, R], [R^T, T]], the first one (two for I4) carrying g'.

Options (issue 16): ``activation`` (the integrals of :mod:`tsdyn.activation_integrals` per
field pair instead of the erf closed forms), ``batch`` B (the lr^2 terms, I4 and sigma^2 J2, over B:
the mean gradient of B samples), ``weight_decay`` kappa (per-step factor 1 - kappa/N on both
layers: -kappa R, -2 kappa Q, -kappa v). A schedule only sets the lr, lr2 passed in.

Each function below is one of these equations, written with the integral tensors of
:mod:`tsdyn.integrals`; the fused Numba kernel (:mod:`tsdyn.dynamics.ode_rhs`), which
integrates them, is tested against these functions in tests/test_ode.py.
"""
from __future__ import annotations

import numpy as np

from tsdyn.activation_integrals import field_codes, i3, i4, j2, pair_mean
from tsdyn.checks import check_int, check_real
from tsdyn.conventions import activation_pair
from tsdyn.integrals import I2_matrix, I3_tensor, I4_tensor, J2_matrix
from tsdyn.order_parameters import OrderParameters


def _is_erf(activation) -> bool:
    return activation_pair(activation) == ("erf", "erf")


def integral_tensors(C: np.ndarray, K: int, activation) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(I2[i, a], I3[i, b, a], I4[i, k, a, b], J2[i, k]) over all fields, student i, k, for any ODE pair.

    Plain loops over the scalar integrals of :mod:`tsdyn.activation_integrals` (slow, readable).
    """
    codes = field_codes(activation, K, C.shape[0] - K)
    L = C.shape[0]
    gs = int(codes[0])
    t2 = np.array([[pair_mean(gs, codes[a], C[i, i], C[i, a], C[a, a]) for a in range(L)] for i in range(K)])
    t3 = np.array([[[i3(C, i, b, a, gs, codes[a]) for a in range(L)] for b in range(L)] for i in range(K)])
    t4 = np.array([[[[i4(C, i, k, a, b, gs, codes[a], codes[b]) for b in range(L)] for a in range(L)]
                    for k in range(K)] for i in range(K)])
    tj = np.array([[j2(C, i, k, gs) for k in range(K)] for i in range(K)])
    return t2, t3, t4, tj


def dR_dt(op: OrderParameters, lr: float, activation="erf", weight_decay: float = 0.0) -> np.ndarray:
    """dR_in/dt (K, M): Goldt et al. 2019, the R equation; Saad & Solla 1995.

    lr v_i [sum_m v*_m I3(i, n, m) - sum_j v_j I3(i, n, j)] - kappa R_in, the field n (second argument)
    being teacher n.
    """
    K = op.K
    if not _is_erf(activation):
        t3 = integral_tensors(op.covariance(), K, activation)[1]
    else:
        t3 = I3_tensor(op.covariance(), K)          # t3[i, b, a] = I3(i, b, a) over all fields b, a
    teacher = np.einsum("m,inm->in", op.vstar, t3[:, K:, K:])
    student = np.einsum("j,inj->in", op.v, t3[:, K:, :K])
    out = lr * op.v[:, None] * (teacher - student)
    return out - weight_decay * op.R if weight_decay else out


def dQ_dt(op: OrderParameters, lr: float, sigma: float = 0.0, activation="erf", batch: int = 1,
          weight_decay: float = 0.0) -> np.ndarray:
    """dQ_ik/dt (K, K): Goldt et al. 2019, the Q equation; Saad & Solla 1995 (sigma = 0).

    The lr term: lr v_i [sum_m v*_m I3(i, k, m) - sum_j v_j I3(i, k, j)] + (i <-> k).
    The lr^2 term: lr^2 v_i v_k [sum_nm v*_n v*_m I4(i, k, n, m) - 2 sum_jn v_j v*_n I4(i, k, j, n)
    + sum_jl v_j v_l I4(i, k, j, l) + sigma^2 J2(i, k)]; sigma is the output-noise std.
    """
    K = op.K
    C = op.covariance()
    if not _is_erf(activation):
        _, t3, t4, tj = integral_tensors(C, K, activation)
    else:
        t3 = I3_tensor(C, K)
        t4 = I4_tensor(C, K)                        # t4[i, k, a, b] = I4(i, k, a, b)
        tj = J2_matrix(C)[:K, :K]
    first = op.v[:, None] * (np.einsum("m,ikm->ik", op.vstar, t3[:, :K, K:])
                             - np.einsum("j,ikj->ik", op.v, t3[:, :K, :K]))
    second = (np.einsum("n,m,iknm->ik", op.vstar, op.vstar, t4[:, :, K:, K:])
              - 2.0 * np.einsum("j,n,ikjn->ik", op.v, op.vstar, t4[:, :, :K, K:])
              + np.einsum("j,l,ikjl->ik", op.v, op.v, t4[:, :, :K, :K])
              + sigma**2 * tj)
    out = lr * (first + first.T) + lr**2 * np.outer(op.v, op.v) * second / batch
    return out - 2.0 * weight_decay * op.Q if weight_decay else out


def dv_dt(op: OrderParameters, lr2: float, activation="erf", weight_decay: float = 0.0) -> np.ndarray:
    """dv_i/dt (K,): Goldt et al. 2019, the v equation ((S36) as the pruning paper cites it).

    lr2 [sum_n v*_n I2(i, n) - sum_j v_j I2(i, j)]; lr2 = 0 is a frozen second layer.
    """
    d = np.diag(op.covariance())
    K = op.K
    if not _is_erf(activation):
        i2 = integral_tensors(op.covariance(), K, activation)[0]
    else:
        i2 = I2_matrix(d[:K], op.covariance()[:K], d)   # i2[i, a] = I2(i, a) over all fields a
    out = lr2 * (i2[:, K:] @ op.vstar - i2[:, :K] @ op.v)
    return out - weight_decay * op.v if weight_decay else out


def order_parameter_rates(op: OrderParameters, *, lr: float, lr2: float, sigma: float = 0.0,
                          train_second_layer: bool = True, activation="erf", batch: int = 1,
                          weight_decay: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dQ/dt, dR/dt, dv/dt) at ``op``; ``train_second_layer=False`` gives dv/dt = 0 (no decay either).

    The rates are checked like :func:`tsdyn.dynamics.ode.integrate` checks them: lr > 0, lr2 >= 0,
    sigma >= 0.
    """
    lr = check_real("lr", lr, low=0.0, low_open=True)
    lr2 = check_real("lr2", lr2, low=0.0)
    sigma = check_real("sigma", sigma, low=0.0)
    batch = check_int("batch", batch, low=1)
    weight_decay = check_real("weight_decay", weight_decay, low=0.0)
    dv = dv_dt(op, lr2, activation, weight_decay) if train_second_layer else np.zeros(op.K)
    return dQ_dt(op, lr, sigma, activation, batch, weight_decay), dR_dt(op, lr, activation, weight_decay), dv
