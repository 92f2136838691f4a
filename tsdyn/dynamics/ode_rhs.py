"""The fused Numba right-hand side of the order-parameter ODEs (Goldt et al. 2019; Saad & Solla 1995).

The equations, as the papers write them, are :mod:`tsdyn.dynamics.equations` (plain NumPy, one
function per order parameter, with their equation numbers); this module evaluates the same sums
fast, and tests/test_ode.py checks it against them to 1e-12. With Delta = sum_a c_a g(field_a),
c = (v, -v*), over the fields of the joint covariance C (:mod:`tsdyn.dynamics.ode_state`):

    dR_in/dt = -lr v_i sum_a c_a I3(i, n, a)                                   (R equation)
    dQ_ik/dt = -lr [v_i sum_a c_a I3(i, k, a) + v_k sum_a c_a I3(k, i, a)]
               + lr^2 v_i v_k [sum_ab c_a c_b I4(i, k, a, b) + sigma^2 J2(i, k)]   (Q equation)
    dv_i/dt  = -lr2 sum_a c_a I2(i, a)                                         (v equation)

Every integral is built from the pieces of :mod:`tsdyn.integrals`, compiled for scalars
(``*_nb``), so each closed form is written once for both. What this module adds is the order of
evaluation: sums over a field are taken before the integral where the closed form is linear in
that field (I3), the I4 arcsin arguments of all pairs (i <= k) x (a <= b) are formed in one
array, NumPy takes their arcsins in one vectorised call, and the contraction follows.

:func:`rhs` gives dy/dt, :func:`jacobian` its analytic Jacobian
(:mod:`tsdyn.dynamics.ode_jacobian`; for the implicit solvers, about 4 RHS evaluations' cost
at K = 6 and 12 at K = 20, where finite differences would cost n + 1 = 331), and
:class:`OdeRhs` wraps both as ``f(t, y)``. Time stepping is :mod:`tsdyn.dynamics.ode`'s.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from tsdyn.dynamics.ode_jacobian import jacobian_kernel
from tsdyn.dynamics.schedules import factor_at
from tsdyn.dynamics.ode_state import (FASTMATH, covariance_is_psd, covariance_terms, joint_covariance,  # noqa: F401
                                      pack, pair_weights, unpack)
from tsdyn.integrals import (ARCSIN_SLACK, FOUR_OVER_PI2, TWO_OVER_PI, i2_argument_nb, i3_reduced_numerator_nb,
                             i4_lambda0_coefficients_nb, i4_lambda0_nb, i4_lambda_nb, lambda_det_nb)


@numba.njit(cache=True, fastmath=FASTMATH)
def first_stage(y: np.ndarray, T: np.ndarray, vstar: np.ndarray, K: int, lr: float, sigma2: float,
                args4: np.ndarray, args2: np.ndarray, lr_sq: float):
    """Everything of d y / dt except the arcsin sums, plus those sums' arguments.

    ``lr_sq`` is the factor of the lr^2 terms: lr^2 / B for mini-batches of B samples.
    Returns ``(dy, weights4, prefactor4, c)``; fills ``args4[q, p]`` with the
    I4 arcsin argument of student pair p = (i <= k) and field pair q = (a <= b),
    and ``args2[i, a]`` with that of I2(i, a). The arcsins are taken by NumPy in one vectorised call
    (its SIMD arcsin is several times faster than the scalar libm one Numba
    calls) and :func:`second_stage` contracts them. Student pairs run along
    the last axis so that the inner loops are long and vectorise.

    With Delta = sum_a c_a g(field_a), c = (v, -v*):

    * G[i, b] = E[g'(lambda_i) field_b Delta] = sum_a c_a I3(i, b, a)
      = (2/pi) [sum_a C_ba s_ia - C_ib / (1 + C_ii) sum_a C_ia s_ia],
      s_ia = c_a / sqrt(lambda_3(i, a)): the I3 numerator is linear in the third field's
      covariances, so the sum over a is taken first; G gives the lr terms;
    * H_ik = E[g'(lambda_i) g'(lambda_k) Delta^2] = sum_ab c_a c_b I4(i, k, a, b)
      = prefactor4[p] / (lr^2 v_i v_k) * sum_q weights4[q] arcsin(args4[q, p]),
      symmetric in (i, k) and (a, b), so only i <= k and a <= b are formed.
    """
    M = T.shape[0]
    L = K + M
    P = K * (K + 1) // 2
    C, c, one_d = covariance_terms(y, T, vstar, K)
    weights4 = pair_weights(c)

    G = np.empty((K, L))
    s = np.empty(L)
    for i in range(K):
        diag_sum = 0.0
        for a in range(L):
            s[a] = c[a] / math.sqrt(lambda_det_nb(one_d[i], C[i, a], one_d[a]))
            diag_sum += C[i, a] * s[a]
        for b in range(L):
            acc = 0.0
            for a in range(L):
                acc += C[b, a] * s[a]
            G[i, b] = TWO_OVER_PI * i3_reduced_numerator_nb(one_d[i], C[i, b], diag_sum, acc)

    # I4 with fields (1, 2, 3, 4) = (i, k, a, b): per student pair p = (i, k) lambda_4, and per
    # field a r = lambda_1(a)^(-1/2), xr = C_ia r, zr = C_ka r.
    dy = np.zeros(y.shape[0])
    prefactor4 = np.empty(P)
    L4 = np.empty(P)
    Cik = np.empty(P)
    odi = np.empty(P)
    odk = np.empty(P)
    r = np.empty((L, P))
    xr = np.empty((L, P))
    zr = np.empty((L, P))
    p = 0
    for i in range(K):
        for k in range(i, K):
            L4[p] = lambda_det_nb(one_d[i], C[i, k], one_d[k])
            Cik[p], odi[p], odk[p] = C[i, k], one_d[i], one_d[k]
            for a in range(L):
                xr[a, p] = C[i, a]
                zr[a, p] = C[k, a]
            inv_sqrt_L4 = 1.0 / math.sqrt(L4[p])
            lr2_vv = lr_sq * c[i] * c[k]
            prefactor4[p] = lr2_vv * FOUR_OVER_PI2 * inv_sqrt_L4
            # sigma^2 J2(i, k), J2 = (2/pi) lambda_4^(-1/2)
            dy[p] = -lr * (c[i] * G[i, k] + c[k] * G[k, i]) + lr2_vv * sigma2 * TWO_OVER_PI * inv_sqrt_L4
            p += 1
    for i in range(K):
        for n in range(M):
            dy[p] = -lr * c[i] * G[i, K + n]
            p += 1

    for a in range(L):
        for p in range(P):
            xa, za = xr[a, p], zr[a, p]
            r[a, p] = 1.0 / math.sqrt(i4_lambda_nb(L4[p], odi[p], odk[p], Cik[p], xa, za, one_d[a]))
            xr[a, p] = xa * r[a, p]
            zr[a, p] = za * r[a, p]

    # lambda_0 is bilinear in the covariances of fields a and b, so with theirs scaled by r_a and r_b
    # it is lambda_0 r_a r_b = lambda_0 / sqrt(lambda_1 lambda_2), the arcsin argument itself; field a's
    # coefficients (h2, h1) are formed once per (a, p), not per (a, b, p).
    A1 = np.empty(P)
    h2 = np.empty(P)
    h1 = np.empty(P)
    q = 0
    for a in range(L):
        for p in range(P):
            A1[p] = L4[p] * r[a, p]
            h2[p], h1[p] = i4_lambda0_coefficients_nb(odi[p], odk[p], Cik[p], xr[a, p], zr[a, p])
        for b in range(a, L):
            Cab = C[a, b]
            for p in range(P):
                args4[q, p] = i4_lambda0_nb(Cab * A1[p] * r[b, p], h2[p], h1[p], xr[b, p], zr[b, p])
            q += 1
    for i in range(K):
        for a in range(L):
            args2[i, a] = i2_argument_nb(one_d[i], C[i, a], one_d[a])
    return dy, weights4, prefactor4, c


@numba.njit(cache=True, fastmath=FASTMATH)
def second_stage(dy: np.ndarray, asin4: np.ndarray, asin2: np.ndarray, weights4: np.ndarray,
                 prefactor4: np.ndarray, c: np.ndarray, lr2: float) -> tuple[np.ndarray, bool]:
    """``dy`` plus the lr^2 I4 sums in dQ and the I2 sums in dv (lr2 = 0: frozen v); all finite?"""
    Lp, P = asin4.shape
    K, L = asin2.shape
    out = dy.copy()
    H = np.zeros(P)
    for q in range(Lp):
        w = weights4[q]
        for p in range(P):
            H[p] += w * asin4[q, p]
    for p in range(P):
        out[p] += prefactor4[p] * H[p]
    if lr2 != 0.0:
        start = out.shape[0] - K
        for i in range(K):
            acc = 0.0
            for a in range(L):
                acc += c[a] * asin2[i, a]
            out[start + i] = -lr2 * TWO_OVER_PI * acc
    finite = True
    for x in out:
        finite = finite and math.isfinite(x)
    return out, finite


def arcsin_buffer(K: int, M: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Work buffer of :func:`first_stage`: (flat, I4 view (L(L+1)/2, K(K+1)/2), I2 view (K, L))."""
    L = K + M
    n4 = (L * (L + 1) // 2) * (K * (K + 1) // 2)
    flat = np.empty(n4 + K * L)
    return flat, flat[:n4].reshape(L * (L + 1) // 2, K * (K + 1) // 2), flat[n4:].reshape(K, L)


def rhs(y: np.ndarray, T: np.ndarray, vstar: np.ndarray, K: int, lr: float, lr2: float, sigma2: float,
        buffer: tuple | None = None, batch: int = 1) -> tuple[np.ndarray, bool]:
    """d y / dt of the ODEs above, and whether every arcsin argument was valid.

    ``lr2 = 0`` freezes the second layer; ``sigma2`` is the noise variance; ``batch`` B divides
    the lr^2 terms (I4 and sigma^2 J2: the mean gradient of B samples has 1/B of the variance).
    Weight decay and schedules are :class:`OdeRhs`'s (decay is linear, schedules only scale lr).
    An arcsin argument beyond [-1, 1] (the state left the valid domain, or a
    solver's trial stage overshot) is clipped so that the derivative stays
    finite, and the flag is False if one exceeded 1 by more than round-off
    (:data:`tsdyn.integrals.ARCSIN_SLACK`) or the result is not finite.
    ``buffer`` is an optional :func:`arcsin_buffer` to reuse.
    """
    flat, args4, args2 = arcsin_buffer(K, T.shape[0]) if buffer is None else buffer
    lr_sq = lr * lr / batch
    dy0, weights4, prefactor4, c = first_stage(y, T, vstar, K, lr, sigma2, args4, args2, lr_sq)
    # Common case without a per-element bound check: an argument beyond +-1 gives NaN here
    # (and a RuntimeWarning unless the caller silenced it with np.errstate) ...
    np.arcsin(flat, out=flat)
    dy, finite = second_stage(dy0, args4, args2, weights4, prefactor4, c, lr2)
    if finite:
        return dy, True
    # ... and only then are the arguments formed again, measured and clipped.
    dy0, weights4, prefactor4, c = first_stage(y, T, vstar, K, lr, sigma2, args4, args2, lr_sq)
    worst = float(np.max(np.abs(flat))) if flat.size else 0.0
    np.arcsin(np.clip(flat, -1.0, 1.0, out=flat), out=flat)
    dy, finite = second_stage(dy0, args4, args2, weights4, prefactor4, c, lr2)
    return dy, bool(finite and worst <= 1.0 + ARCSIN_SLACK)


def jacobian(y: np.ndarray, T: np.ndarray, vstar: np.ndarray, K: int, lr: float, lr2: float, sigma2: float,
             buffer: tuple | None = None, batch: int = 1) -> np.ndarray:
    """Jacobian d(dy/dt)/dy of :func:`rhs` at ``y`` (analytic; an (n, n) array)."""
    flat, args4, args2 = arcsin_buffer(K, T.shape[0]) if buffer is None else buffer
    lr_sq = lr * lr / batch
    first_stage(y, T, vstar, K, lr, sigma2, args4, args2, lr_sq)
    s4 = args4.copy()
    np.arcsin(np.clip(flat, -1.0, 1.0, out=flat), out=flat)
    return jacobian_kernel(y, T, vstar, K, lr, lr2, sigma2, s4, args4, lr_sq)


class OdeRhs:
    """The ODE right-hand side as a callable ``f(t, y)`` for a fixed (T, v*, K, rates, options).

    Parameters
    ----------
    T : (M, M) teacher overlaps.
    vstar : (M,) teacher second layer.
    K : number of student nodes.
    lr, lr2 : learning rates of the first and second layer (lr2 = 0 freezes v).
    sigma : output-noise standard deviation.
    weight_decay : kappa >= 0; adds dQ/dt -= 2 kappa Q, dR/dt -= kappa R, dv/dt -= kappa v (the
        per-step factor 1 - kappa/N on both layers, to O(1/N); a frozen v does not decay).
    batch : mini-batch size B; the lr^2 terms (I4, sigma^2 J2) are divided by B.
    lr_schedule, lr2_schedule : :class:`tsdyn.dynamics.schedules.Schedule` or None (constant);
        the rates at time t are lr f(t) and lr2 f2(t) (lr2_schedule None: the same as lr_schedule).
    activation : "erf" (the fused kernel above) or any pair the ODE supports
        (:func:`tsdyn.activation_integrals.ode_supported`; the general kernel of
        :mod:`tsdyn.dynamics.ode_rhs_general`).

    Attributes
    ----------
    nfev, njev : number of evaluations of f and of its Jacobian so far.
    in_domain : whether every arcsin argument of the last evaluation was in [-1, 1].
    """

    def __init__(self, T: np.ndarray, vstar: np.ndarray, K: int, *, lr: float, lr2: float, sigma: float,
                 weight_decay: float = 0.0, batch: int = 1, lr_schedule=None, lr2_schedule=None,
                 activation="erf"):
        from tsdyn.activation_integrals import field_codes
        from tsdyn.dynamics.schedules import Schedule

        # Own writable copies: Numba compiles a separate specialisation for read-only arrays, so callers
        # passing frozen order parameters would otherwise cost every process a second compile of the kernels.
        self.T = np.array(T, dtype=float, order="C")
        self.vstar = np.array(vstar, dtype=float, order="C")
        self.K = int(K)
        M = self.T.shape[0]
        self.lr, self.lr2, self.sigma2 = float(lr), float(lr2), float(sigma) ** 2
        self.batch = int(batch)
        self.weight_decay = float(weight_decay)
        self.decay = decay_rates(self.K, M, self.weight_decay, self.lr2 != 0.0)
        first = Schedule.parse(lr_schedule)
        second = first if lr2_schedule is None else Schedule.parse(lr2_schedule)
        self._schedules = None if first.kind == second.kind == "constant" else (first.packed(), second.packed())
        self.codes = field_codes(activation, self.K, M)
        self.general = bool(np.any(self.codes != 0))
        self.nfev = 0
        self.njev = 0
        self.in_domain = True
        self._buffer = None if self.general else arcsin_buffer(self.K, M)
        if self.general:
            from tsdyn.tallis import relu_cache
            self._work = relu_cache(self.K + M)

    def rates(self, t: float) -> tuple[float, float]:
        """(lr(t), lr2(t)): the rates scaled by the schedules' factors at t."""
        if self._schedules is None:
            return self.lr, self.lr2
        (c1, tau1, t1, f1), (c2, tau2, t2, f2) = self._schedules
        return self.lr * factor_at(c1, tau1, t1, f1, float(t)), self.lr2 * factor_at(c2, tau2, t2, f2, float(t))

    def jacobian(self, t: float, y: np.ndarray) -> np.ndarray:
        """d f / d y at ``y`` (:func:`jacobian`, or the general kernel's), for implicit solvers."""
        self.njev += 1
        lr, lr2 = self.rates(t)
        if self.general:
            from tsdyn.dynamics.ode_rhs_general import general_jacobian
            J = general_jacobian(y, self.T, self.vstar, self.K, lr, lr2, self.sigma2, self.codes, self.batch,
                                 work=self._work)
        else:
            J = jacobian(y, self.T, self.vstar, self.K, lr, lr2, self.sigma2, self._buffer, self.batch)
        if self.weight_decay != 0.0:
            J[np.diag_indices_from(J)] -= self.decay
        return J

    def __call__(self, t: float, y: np.ndarray) -> np.ndarray:
        self.nfev += 1
        lr, lr2 = self.rates(t)
        if self.general:
            from tsdyn.dynamics.ode_rhs_general import general_rhs
            dy, self.in_domain = general_rhs(y, self.T, self.vstar, self.K, lr, lr2, self.sigma2, self.codes,
                                             self.batch, self._work)
        else:
            dy, self.in_domain = rhs(y, self.T, self.vstar, self.K, lr, lr2, self.sigma2, self._buffer, self.batch)
        if self.weight_decay != 0.0:
            dy -= self.decay * y
        return dy


def decay_rates(K: int, M: int, weight_decay: float, train_second_layer: bool = True) -> np.ndarray:
    """kappa times (2 for each Q entry, 1 for each R entry, 1 for each v_i, 0 if v is frozen): dy/dt -= this * y.

    From w <- (1 - kappa/N) w + O(eta/sqrt N), v <- (1 - kappa/N) v + O(eta_v/N) at t = steps / N:
    Q = w w^T / N shrinks by (1 - kappa/N)^2, R and v by (1 - kappa/N) per step.
    """
    nq = K * (K + 1) // 2
    return weight_decay * np.concatenate([np.full(nq, 2.0), np.ones(K * M),
                                          np.full(K, 1.0 if train_second_layer else 0.0)])
