"""The NTK of the masked two-layer student, its path-kernel factorisation, and Theorem 1.

Path-kernel paper Sec. 3.1: the NTK Theta(X, X) = grad_theta phi grad_theta phi^T
(path-kernel eq 3) is written as J_v^f(X) Pi J_v^f(X)^T (path-kernel eq 11), with the data factor
(J_v^f)_{mu,(k,i)} = g'(lambda_k) x_i / sqrt N (one column per kept path) and
the path kernel Pi (:mod:`.kernel`). For the w-block this is exact; for v it
puts lambda_k g'(lambda_k) where the true gradient has g(lambda_k), so for
g = erf the factorised kernel is not the NTK (they agree only for homogeneous
activations, the paper's setting). Both are computed here, on the same inputs.

Theorem 1 (path-kernel paper): with lambda_i the eigenvalues of Theta, nu_i
those of the data factor and pi_i those of Pi (all in decreasing order),
lambda_i <= nu_i pi_i and sum_i lambda_i <= sum_i nu_i pi_i. We read nu_i as
the eigenvalues of J_v^f^T J_v^f (squared singular values; J_v^f is not
square). For the factorised kernel the sum bound is von Neumann's trace
inequality and always holds; the bound provable for each i is
lambda_i <= min(nu_1 pi_i, nu_i pi_1) (Weyl / Horn), which is weaker than the
paper's lambda_i <= nu_i pi_i. :func:`theorem1_check` measures both.

Masks are first-layer masks already combined with the output mask
(:func:`tsdyn.pathkernel.selection.trainable_mask`): a node with v_k pruned has
no paths and no gradient.
"""
from __future__ import annotations

import math

import numpy as np

from tsdyn.checks import check_array
from tsdyn.conventions import g, g_prime
from tsdyn.pathkernel.kernel import as_network, path_kernel_eigenvalues


def _fields(w, v, mask, x):
    w, v, mask = as_network(w, v, mask)
    x = check_array("x", x, shape=(None, w.shape[1]))
    lam = x @ np.where(mask, w, 0.0).T / math.sqrt(w.shape[1])
    return w, v, mask, x, lam


def ntk_gradients(w, v, x, mask=None) -> np.ndarray:
    """grad_theta phi(x_mu) of the masked network, one row per sample: kept w_ki, then v_k of nodes with a path.

    d phi / d w_ki = v_k g'(lambda_k) x_i / sqrt N;  d phi / d v_k = g(lambda_k)  (Sec. 2, path-kernel eq 3).
    """
    w, v, mask, x, lam = _fields(w, v, mask, x)
    alive = mask.any(axis=1)
    nodes, inputs = np.nonzero(mask)
    gw = (v * g_prime(lam))[:, nodes] * x[:, inputs] / math.sqrt(w.shape[1])
    return np.concatenate([gw, g(lam)[:, alive]], axis=1)


def data_factor(w, v, x, mask=None) -> np.ndarray:
    """J_v^f(X): (J)_{mu,(k,i)} = g'(lambda_k) x_i / sqrt N on the kept paths, row-major (path-kernel eq 10)."""
    w, v, mask, x, lam = _fields(w, v, mask, x)
    nodes, inputs = np.nonzero(mask)
    return g_prime(lam)[:, nodes] * x[:, inputs] / math.sqrt(w.shape[1])


def ntk_gram(w, v, x, mask=None) -> np.ndarray:
    """The true NTK Theta(X, X) = G G^T, G = grad_theta phi (path-kernel eq 3), n x n."""
    G = ntk_gradients(w, v, x, mask)
    return G @ G.T


def factorised_ntk_gram(w, v, x, mask=None) -> np.ndarray:
    """J_v^f(X) Pi J_v^f(X)^T (path-kernel eq 11) without forming Pi: Pi = v_k^2 I + w_k w_k^T per node.

    Entry (mu, nu) = sum_k g'_k(mu) g'_k(nu) [v_k^2 (x_mu . x_nu)_kept / N + lambda_k(mu) lambda_k(nu)].
    """
    w, v, mask, x, lam = _fields(w, v, mask, x)
    gp = g_prime(lam)
    N = w.shape[1]
    out = np.zeros((x.shape[0], x.shape[0]))
    for k in np.flatnonzero(mask.any(axis=1)):
        xk = x[:, mask[k]]
        out += np.outer(gp[:, k], gp[:, k]) * (v[k] ** 2 * (xk @ xk.T) / N + np.outer(lam[:, k], lam[:, k]))
    return out


def ntk_traces(w, v, x, mask=None) -> tuple[float, float]:
    """(Tr Theta / n, Tr J_v^f Pi J_v^f^T / n): per-sample traces of the true and the factorised NTK.

    They differ in the v-block only: g(lambda)^2 against (lambda g'(lambda))^2.
    """
    w, v, mask, x, lam = _fields(w, v, mask, x)
    gp2 = g_prime(lam) ** 2
    kept_sq = (x**2) @ mask.T / w.shape[1]          # (n, K): sum over kept i of x_i^2 / N
    common = gp2 * (v**2) * kept_sq
    alive = mask.any(axis=1)
    true = np.sum(common + np.where(alive, g(lam) ** 2, 0.0), axis=1)
    fact = np.sum(common + gp2 * lam**2, axis=1)
    return float(true.mean()), float(fact.mean())


def theorem1_check(w, v, x, mask=None) -> dict:
    """Path-kernel Theorem 1 on one masked network and inputs x, for the true and the factorised NTK.

    Returns, for ``kind`` in (``true``, ``factorised``):

    * ``{kind}_pointwise_frac``: fraction of i <= min(n, P) with lambda_i <= nu_i pi_i (paper's claim);
    * ``{kind}_pointwise_max_ratio``: max_i lambda_i / (nu_i pi_i) (> 1 where it fails);
    * ``{kind}_weyl_frac``: fraction of i with lambda_i <= min(nu_1 pi_i, nu_i pi_1) (the provable bound);
    * ``{kind}_sum_ratio``: sum lambda_i / sum nu_i pi_i (<= 1 where the trace bound holds).

    All NaN when the mask leaves no path.
    """
    w, v, mask = as_network(w, v, mask)
    pi = path_kernel_eigenvalues(w, v, mask)[::-1]
    if pi.size == 0 or not np.any(pi > 0):     # no path left (e.g. every v_k pruned): nothing to bound
        return {f"{kind}_{key}": math.nan for kind in ("true", "factorised")
                for key in ("pointwise_frac", "pointwise_max_ratio", "weyl_frac", "sum_ratio")}
    J = data_factor(w, v, x, mask)
    nu = np.linalg.svd(J, compute_uv=False) ** 2
    out = {}
    for kind, gram in (("true", ntk_gram(w, v, x, mask)), ("factorised", factorised_ntk_gram(w, v, x, mask))):
        lam = np.sort(np.linalg.eigvalsh(gram))[::-1]
        n = min(lam.size, nu.size, pi.size)
        bound = nu[:n] * pi[:n]
        tol = 1e-9 * max(lam[0], 1e-300)
        weyl = np.minimum(nu[0] * pi[:n], nu[:n] * pi[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(bound > 0, lam[:n] / bound, np.where(lam[:n] > tol, np.inf, 0.0))
        out[f"{kind}_pointwise_frac"] = float(np.mean(lam[:n] <= bound + tol))
        out[f"{kind}_pointwise_max_ratio"] = float(np.max(ratio))
        out[f"{kind}_weyl_frac"] = float(np.mean(lam[:n] <= weyl + tol))
        out[f"{kind}_sum_ratio"] = float(lam[:n].sum() / bound.sum())
    return out
