"""Numba kernel of the exact order-parameter chain with the breadth options (issue 16; ``theory/order_engine.md`` §4).

The default model (erf, no decay, one sample per step, constant rates) runs the kernel of
:mod:`tsdyn.dynamics.order_kernel`, unchanged; every other model runs this one. It is the same
chain in the same coordinates C = [A | Cs] (that module's docstring), with the update of
:func:`tsdyn.dynamics.sgd_kernel.sgd_steps_general` written in them:

* activations: g_t, g_s of the teacher and the student (``conventions.act_scalar`` codes);
* weight decay: the student's coordinates (all of C, the teacher-span part A included) and v are
  multiplied by shrink = 1 - kappa/N before the gradient step is added; the teacher's are not;
* learning-rate schedules: factor_at(t), t = (updates done before the step) / N, on eta and eta_v;
* mini-batches of B samples, gradient = mean over them. The B inputs' coordinates in the current
  basis (width D) are B independent N(0, I_D) vectors z_b; their parts orthogonal to the basis are B
  independent Gaussian vectors in N - D dimensions, x_perp = L E with E (B orthonormal rows) and L
  lower triangular: the Bartlett factor of their Wishart(N - D, I_B) Gram matrix, L_ii^2 ~
  chi^2_{N-D-i}, L_ij ~ N(0, 1) (j < i), all independent (and of E, which is uniform: rotation
  invariance). With u_kb = (eta f(t) / (N B)) v_k g_s'(lambda_kb) delta_b the step is

      C[k, :D] <- shrink C[k, :D] + sum_b u_kb z_b,    C[k, D + i] = sum_{b >= i} u_kb L_bi  (i < B),
      v_k <- shrink v_k + (eta_v f_v(t) / (N B)) sum_b delta_b g_s(lambda_kb),

  so each step appends B basis directions (the rows of E), and Q = C C^T receives
  sum_ab u_a u_b^T (z_a . z_b + (L L^T)_ab), where z_a . z_b + (L L^T)_ab = x_a . x_b: the cross terms
  of the weights kernel's mean gradient, exactly (tests/test_order_engine_breadth.py).

Draws of step j of a compression cycle (width D = M + K + j B): B D normals (the z_b, sample after
sample), then the B (B - 1) / 2 Bartlett normals (row after row of the strict lower triangle), B
chi^2 of N - D - i degrees of freedom (i < B) and B label noises. For B = 1 this is the stream of
:mod:`tsdyn.dynamics.order_kernel` step for step.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from tsdyn.conventions import act_prime_scalar, act_scalar
from tsdyn.dynamics.order_kernel import DIVERGENCE_BOUND, FINITE, compress
from tsdyn.dynamics.schedules import factor_at

_FASTMATH = {"reassoc"}

__all__ = ["batch_cycle_normals", "batch_normals_offset", "step_normals", "general_step", "order_steps_general"]


@numba.njit(cache=True, inline="always")
def step_normals(M: int, K: int, j: int, batch: int) -> int:
    """Normals drawn by step j of a cycle: B (M + K + j B) coordinates and B (B - 1) / 2 Bartlett entries."""
    return batch * (M + K + j * batch) + batch * (batch - 1) // 2


@numba.njit(cache=True, inline="always")
def batch_cycle_normals(M: int, K: int, period: int, batch: int) -> int:
    """Normals drawn by one compression cycle of ``period`` steps (B = 1: ``order_kernel.cycle_normals``)."""
    return period * (batch * (M + K) + batch * (batch - 1) // 2) + batch * batch * (period * (period - 1) // 2)


@numba.njit(cache=True, inline="always")
def batch_normals_offset(s: int, M: int, K: int, period: int, batch: int) -> int:
    """Index of the first normal of step s (counted from a cycle boundary) in the flat stream."""
    j = s % period
    return ((s // period) * batch_cycle_normals(M, K, period, batch)
            + j * (batch * (M + K) + batch * (batch - 1) // 2) + batch * batch * (j * (j - 1) // 2))


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def general_step(CT, LT, v, vstar, z, off, chi2, coff, width, noise, noff, batch, a_w, a_v, shrink, sigma,
                 train_v, act_t, act_s, lam, g_lam, u, delta):
    """One mini-batch SGD step in coordinates (module docstring); False if a field or delta diverged.

    Parameters
    ----------
    CT : (>= width + batch, K) student coordinates (transposed), updated in place. LT : (M, M) teacher's.
    v : (K,) student second layer (in place). vstar : (M,).
    z, off : sample b's coordinates are z[off + b width : off + (b + 1) width]; the Bartlett normals follow.
    chi2, coff : L_ii^2 = chi2[coff + i], chi^2 with N - width - i degrees of freedom.
    noise, noff : zeta of sample b is noise[noff + b].
    a_w, a_v : eta f(t) / (N B) and eta_v f_v(t) / (N B): the rates of the mean over the batch, per coordinate.
    shrink : 1 - kappa / N. act_t, act_s : activation codes of teacher and student.
    lam, g_lam, u : (batch, K) work arrays (on return: fields, g(fields), steps u_kb); delta : (batch,).
    The state is unchanged when False is returned.
    """
    K, M = CT.shape[1], LT.shape[0]
    for b in range(batch):
        zo = off + b * width
        d = sigma * noise[noff + b]
        for n in range(M):
            nu = 0.0
            for m in range(n + 1):
                nu += LT[n, m] * z[zo + m]
            d += vstar[n] * act_scalar(nu, act_t)
        for k in range(K):
            lam[b, k] = z[zo] * CT[0, k]
        for c in range(1, width):
            zc = z[zo + c]
            for k in range(K):
                lam[b, k] += zc * CT[c, k]
        for k in range(K):
            if not abs(lam[b, k]) <= DIVERGENCE_BOUND:   # as sgd_kernel: a saturated g hides a blown-up weight
                return False
            g_lam[b, k] = act_scalar(lam[b, k], act_s)
            d -= v[k] * g_lam[b, k]
        if not abs(d) <= DIVERGENCE_BOUND:
            return False
        delta[b] = d
        for k in range(K):
            u[b, k] = a_w * d * v[k] * act_prime_scalar(lam[b, k], act_s)   # from the pre-step v, as SGD
    for c in range(width):
        for k in range(K):
            acc = 0.0
            for b in range(batch):
                acc += z[off + b * width + c] * u[b, k]
            CT[c, k] = shrink * CT[c, k] + acc
    bo = off + batch * width                              # the Bartlett normals, row after row
    for i in range(batch):
        root = math.sqrt(chi2[coff + i])
        for k in range(K):
            CT[width + i, k] = root * u[i, k]             # L_ii
    for b in range(1, batch):
        for i in range(b):
            lbi = z[bo + b * (b - 1) // 2 + i]            # L_bi, i < b
            for k in range(K):
                CT[width + i, k] += lbi * u[b, k]
    if train_v:
        for k in range(K):
            acc = 0.0
            for b in range(batch):
                acc += delta[b] * g_lam[b, k]
            v[k] = shrink * v[k] + a_v * acc
    return True


@numba.njit(cache=True, nogil=True)
def order_steps_general(CT, LT, v, vstar, normals, chi2, noise, lo, hi, period, batch, first_step, N, rate_w,
                        rate_v, sigma, train_v, act_t, act_s, decay, sched_w, sched_v):
    """Run steps lo..hi-1 of a chunk that starts at a cycle boundary; return FINITE or the first bad step.

    Step s of the chunk reads its normals at :func:`batch_normals_offset` (s), ``chi2[s B : (s + 1) B]``
    and ``noise[s B : (s + 1) B]``; its time is t = (first_step + s) / N (``first_step``: updates before
    the chunk). rate_w, rate_v : eta / N and eta_v / N (coordinates are w / sqrt N); decay : kappa;
    sched_w, sched_v : packed schedules (``Schedule.packed``). Width M + K + (s % period) B; a cycle ends
    with a compression. ``CT`` needs M + K + period B rows.
    """
    K, M = CT.shape[1], LT.shape[0]
    lam, g_lam, u = np.empty((batch, K)), np.empty((batch, K)), np.empty((batch, K))
    delta = np.empty(batch)
    S, F = np.empty((K, K)), np.empty((K, K))
    shrink = 1.0 - decay / N
    j, off = lo % period, batch_normals_offset(lo, M, K, period, batch)
    for s in range(lo, hi):
        t = (first_step + s) / N
        a_w = rate_w * factor_at(sched_w[0], sched_w[1], sched_w[2], sched_w[3], t) / batch
        a_v = rate_v * factor_at(sched_v[0], sched_v[1], sched_v[2], sched_v[3], t) / batch
        width = M + K + j * batch
        if not general_step(CT, LT, v, vstar, normals, off, chi2, s * batch, width, noise, s * batch, batch, a_w,
                            a_v, shrink, sigma, train_v, act_t, act_s, lam, g_lam, u, delta):
            return s
        off += step_normals(M, K, j, batch)
        j += 1
        if j == period:
            compress(CT, M, width + batch, S, F)
            j = 0
    return FINITE
