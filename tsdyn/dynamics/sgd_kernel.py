"""Numba kernels of online SGD for the two-layer teacher-student network.

One SGD step on input x (pruning paper Sec. 2 and 4; NOTES.md), with
lambda_k = w_k.x/sqrt(N), nu_m = w*_m.x/sqrt(N) and the error signal

    Delta = sum_k v_k g(lambda_k) - sum_m v*_m g(nu_m) - sigma * zeta,

updates, both from the pre-step values,

    w_k <- w_k - (eta/sqrt N) Delta v_k g'(lambda_k) x,    v_k <- v_k - (eta_v/N) Delta g(lambda_k).

The first-layer update of step s is *pending* until step s+1, which applies it
in the same pass over w that computes the new fields (w is read and written
once per step instead of twice). The state of a run is therefore
(w, v, pending, x_prev): the weights "now" are ``w + pending (x) x_prev``,
which :func:`apply_pending` materialises. Every step performs exactly the same
floating-point operations whatever the block it belongs to, so results do not
depend on how the input stream is cut into blocks or where the run is recorded.

``mask`` is either ``None`` or a (K, N) float array of 0/1: Numba compiles a
separate specialisation for ``None`` (the ``mask is None`` branch is pruned at
compile time), so unpruned runs pay nothing for the pruning feature. Masked
entries receive ``0 * update`` and stay exactly 0.

The kernels release the GIL (``nogil=True``) so that a background thread can
draw the next block of Gaussian inputs meanwhile. ``fastmath`` is limited to
re-association (vectorised dot products); NaN/inf semantics are kept so that
the per-step divergence check of Delta and lambda works.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from tsdyn.conventions import act_prime_scalar, act_scalar, g_prime_scalar, g_scalar
from tsdyn.dynamics.schedules import factor_at

#: Re-association only: lets LLVM vectorise the field dot products, keeps
#: NaN/inf semantics (needed by the divergence check) and never fuses
#: multiply-add, so the fused and the separate pending update agree bitwise.
_FASTMATH = {"reassoc"}

#: Returned by :func:`sgd_steps` when every step stayed finite.
FINITE = -1
#: |Delta| or |lambda| beyond this counts as divergence: labels are O(v*), so such
#: a run cannot recover, and stopping here keeps Q, R and eps_g representable.
DIVERGENCE_BOUND = 1e100


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _update_and_project_pair(w, k, a0, a1, x_prev, x, mask):
    """Rows k, k+1: w_k += a_k x_prev (masked), and return (w_k . x, w_k+1 . x).

    Two rows per pass share the loads of x and x_prev and give the CPU two
    independent sums to pipeline.
    """
    w0, w1 = w[k], w[k + 1]
    acc0 = acc1 = 0.0
    if mask is None:
        for j in range(x.shape[0]):
            xpj, xj = x_prev[j], x[j]
            u0 = w0[j] + a0 * xpj
            u1 = w1[j] + a1 * xpj
            w0[j], w1[j] = u0, u1
            acc0 += u0 * xj
            acc1 += u1 * xj
    else:
        m0, m1 = mask[k], mask[k + 1]
        for j in range(x.shape[0]):
            xpj, xj = x_prev[j], x[j]
            u0 = w0[j] + a0 * xpj * m0[j]
            u1 = w1[j] + a1 * xpj * m1[j]
            w0[j], w1[j] = u0, u1
            acc0 += u0 * xj
            acc1 += u1 * xj
    return acc0, acc1


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _update_and_project(w, k, a, x_prev, x, mask):
    """Row k alone (the last one when K is odd): w_k += a x_prev (masked); return w_k . x."""
    wk = w[k]
    acc = 0.0
    if mask is None:
        for j in range(x.shape[0]):
            u = wk[j] + a * x_prev[j]
            wk[j] = u
            acc += u * x[j]
    else:
        mk = mask[k]
        for j in range(x.shape[0]):
            u = wk[j] + a * x_prev[j] * mk[j]
            wk[j] = u
            acc += u * x[j]
    return acc


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def sgd_steps(w, v, pending, x_prev, wstar, vstar, X, noise, rate_w, rate_v, sigma, train_v, mask):
    """Run one online-SGD step per row of ``X``, updating the state in place.

    Parameters
    ----------
    w : (K, N) float64, first layer of the student, *without* the pending update.
    v : (K,) float64, second layer of the student.
    pending : (K,) float64, coefficients of the not yet applied first-layer update.
    x_prev : (N,) float64, input the pending update belongs to (overwritten with
        the last row of ``X`` on return).
    wstar : (M, N) float64, teacher first layer.  vstar : (M,) teacher second layer.
    X : (S, N) float64, the inputs of the S steps.  noise : (S,) float64, zeta.
    rate_w, rate_v : eta/sqrt(N) and eta_v/N (:mod:`tsdyn.conventions`).
    sigma : label-noise std.  train_v : update v (else frozen).
    mask : None, or (K, N) float64 of 0/1 kept entries of w.

    Returns
    -------
    int
        ``FINITE`` (-1), or the row index of the first step whose fields lambda
        or error signal Delta were NaN or exceeded :data:`DIVERGENCE_BOUND`
        (the run is then beyond repair and the state is undefined).
    """
    K, N = w.shape
    inv_sqrt_n = 1.0 / math.sqrt(N)
    lam, g_lam = np.empty(K), np.empty(K)
    for s in range(X.shape[0]):
        x = X[s]
        xp = x_prev if s == 0 else X[s - 1]
        for k in range(0, K - 1, 2):
            lam[k], lam[k + 1] = _update_and_project_pair(w, k, pending[k], pending[k + 1], xp, x, mask)
        if K % 2:
            lam[K - 1] = _update_and_project(w, K - 1, pending[K - 1], xp, x, mask)
        delta = -sigma * noise[s]
        for k in range(K):
            lam[k] *= inv_sqrt_n
            if not abs(lam[k]) <= DIVERGENCE_BOUND:
                # A saturated g would hide a blown-up weight from Delta: check the field too.
                return s
            g_lam[k] = g_scalar(lam[k])
            delta += v[k] * g_lam[k]
        for m in range(wstar.shape[0]):
            wm, nu = wstar[m], 0.0
            for j in range(N):
                nu += wm[j] * x[j]
            delta -= vstar[m] * g_scalar(nu * inv_sqrt_n)
        if not abs(delta) <= DIVERGENCE_BOUND:         # also catches NaN
            return s
        for k in range(K):
            pending[k] = -rate_w * delta * v[k] * g_prime_scalar(lam[k])
            if train_v:
                v[k] -= rate_v * delta * g_lam[k]
    if X.shape[0] > 0:
        x_prev[:] = X[X.shape[0] - 1]
    return FINITE


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def apply_pending(w, pending, x_prev, mask):
    """Apply the pending first-layer update in place: w += pending (x) x_prev (masked).

    Performs the same operations as the fused update in :func:`sgd_steps`, so
    ``apply_pending`` on a copy gives the current weights bitwise.
    """
    K, N = w.shape
    for k in range(K):
        a = pending[k]
        if mask is None:
            for j in range(N):
                w[k, j] = w[k, j] + a * x_prev[j]
        else:
            for j in range(N):
                w[k, j] = w[k, j] + a * x_prev[j] * mask[k, j]
        pending[k] = 0.0


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def sgd_steps_general(w, v, wstar, vstar, X, noise, first_step, batch, rate_w, rate_v, sigma, train_v, mask,
                      act_teacher, act_student, decay, sched_w, sched_v):
    """Online SGD with the breadth options (issue 16): activations, weight decay, mini-batches, schedules.

    One step per ``batch`` rows of ``X`` (``noise`` one zeta per row); step s (``first_step + s`` updates
    done before it, time t = that / N) applies, from the pre-step values and the mean over its B samples,

        w_k <- (1 - decay/N) w_k - f_w(t) rate_w <Delta v_k g_s'(lambda_k) x>_B,
        v_k <- (1 - decay/N) v_k - f_v(t) rate_v <Delta g_s(lambda_k)>_B   (v frozen if not ``train_v``),

    with g_s, g_t the student's and teacher's activations (``conventions.act_scalar`` codes) and
    f = ``schedules.factor_at(*sched)``. No pending update: ``w`` is always current. Returns ``FINITE``
    or the index of the first bad step (as :func:`sgd_steps`).
    """
    K, N = w.shape
    inv_sqrt_n = 1.0 / math.sqrt(N)
    shrink = 1.0 - decay / N
    lam, g_lam = np.empty(K), np.empty(K)
    grad_w, grad_v, coef = np.empty((K, N)), np.empty(K), np.empty(K)
    for s in range(X.shape[0] // batch):
        t = (first_step + s) / N
        f_w = factor_at(sched_w[0], sched_w[1], sched_w[2], sched_w[3], t)
        f_v = factor_at(sched_v[0], sched_v[1], sched_v[2], sched_v[3], t)
        grad_w[:] = 0.0
        grad_v[:] = 0.0
        for b in range(batch):
            row = s * batch + b
            x = X[row]
            delta = -sigma * noise[row]
            for k in range(K):
                acc = 0.0
                for j in range(N):
                    acc += w[k, j] * x[j]
                lam[k] = acc * inv_sqrt_n
                if not abs(lam[k]) <= DIVERGENCE_BOUND:
                    return s
                g_lam[k] = act_scalar(lam[k], act_student)
                delta += v[k] * g_lam[k]
            for m in range(wstar.shape[0]):
                nu = 0.0
                for j in range(N):
                    nu += wstar[m, j] * x[j]
                delta -= vstar[m] * act_scalar(nu * inv_sqrt_n, act_teacher)
            if not abs(delta) <= DIVERGENCE_BOUND:
                return s
            for k in range(K):
                coef[k] = delta * v[k] * act_prime_scalar(lam[k], act_student)
                grad_v[k] += delta * g_lam[k]
                for j in range(N):
                    grad_w[k, j] += coef[k] * x[j]
        a_w = rate_w * f_w / batch
        for k in range(K):
            for j in range(N):
                u = shrink * w[k, j] - a_w * grad_w[k, j]
                w[k, j] = u if mask is None else u * mask[k, j]
        if train_v:
            a_v = rate_v * f_v / batch
            for k in range(K):
                v[k] = shrink * v[k] - a_v * grad_v[k]
    return FINITE
