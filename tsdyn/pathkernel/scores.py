"""Pruning-at-initialisation scores of the two-layer student, and selection.

Path-kernel paper (Gebhart et al.), Sec. 4: every score is a saliency
S(theta) = dF/dtheta (.) theta of some feature F of the network,

* ``magnitude``        |theta|;
* ``snip``             |theta (.) dL/dtheta|, L the training loss on teacher labels (Sec. 4.1);
* ``grasp``            S = -(H dL/dtheta) (.) theta with the exact Hessian H of L (Sec. 4.3, path-kernel eq 17);
* ``synflow``          |theta| (.) dR_SF/d|theta| at x = 1 (path-kernel eq 16; Tanaka et al. 2020);
* ``synflow_l2``       |dR_PK/d theta^2 (.) theta| at x = 1 (path-kernel eq 15, Sec. 4.2);
* ``synflow_dist_mean``, ``synflow_l2_dist_mean``: the paper's -Dist recipe (Sec. 4.2):
  x = mu, the *mean* of the inputs estimated from samples (signed), scores in
  absolute value (as SynFlow implementations rank |S|);
* ``synflow_dist``, ``synflow_l2_dist``: this project's adaptation, x = mu_i =
  <x_i^2> (a non-negative relevance): for isotropic inputs a constant up to
  sampling noise, so these rank as SynFlow / SynFlow-L2.

Every function returns an *importance* (keep the largest) as a
:class:`~tsdyn.pathkernel.kernel.LayerArrays` ``(w, v)``. Two readings are fixed here
(see ``theory/path_kernel.md``):

GraSP
    Wang et al. (2020) remove the weights with the *largest*
    S = -theta (.) Hg (their removal lowers the gradient norm least), so the
    importance is theta (.) Hg = -S, as in Tanaka et al.'s reference code.
SynFlow-L2
    The paper writes S = dR_PK(1, theta)/d theta^2 (.) theta = v_k^2 w_ki: a
    signed number, which would keep only positive weights. We take its
    magnitude, v_k^2 |w_ki| x_i. (The other reading, dR_PK/dtheta (.) theta =
    2 v_k^2 w_ki^2, is a monotone function of the SynFlow score |v_k||w_ki| in
    this network - one path per first-layer weight - and so keeps the very
    same edges as SynFlow.)

The network is phi(x) = sum_k v_k g(w_k . x / sqrt N), g = erf(x / sqrt 2);
the loss is the paper's L = 1/2 (phi(x) - y)^2, averaged over the n inputs.
Scores of the first layer are what the selection uses; scores of v are
returned too; :mod:`tsdyn.pathkernel.selection` ranks both layers in one
budget (the paper) or the first layer only.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from tsdyn.checks import check_array, check_int, check_real
from tsdyn.conventions import g, g_prime, network_output
from tsdyn.order_parameters import as_vstar
from tsdyn.pathkernel.kernel import (LayerArrays, as_input, as_network,
                                    path_kernel_objective_grad_sq, synflow_objective_grad_abs)

#: Names of the one-shot scores, in the order figures list them.
SCORE_NAMES = ("magnitude", "snip", "grasp", "synflow", "synflow_l2", "synflow_dist_mean", "synflow_l2_dist_mean",
               "synflow_dist", "synflow_l2_dist")
#: Scores that need training data (inputs x and teacher labels y).
DATA_SCORES = ("snip", "grasp")
#: Scores that need a relevance vector mu, and the statistic of the inputs each takes as mu.
DIST_SCORES = ("synflow_dist_mean", "synflow_l2_dist_mean", "synflow_dist", "synflow_l2_dist")
DIST_STATISTIC = {"synflow_dist_mean": "mean", "synflow_l2_dist_mean": "mean",
                  "synflow_dist": "second_moment", "synflow_l2_dist": "second_moment"}


# ---------------------------------------------------------------- network and loss
def teacher_data(wstar, vstar, n: int, *, seed: int = 0, sigma: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """n i.i.d. inputs x ~ N(0, I_N) and teacher labels y = phi*(x) + sigma * zeta (pruning paper Sec. 2)."""
    wstar = check_array("wstar", wstar, ndim=2)
    vstar = as_vstar(vstar, wstar.shape[0])
    n = check_int("n", n, low=1)
    sigma = check_real("sigma", sigma, low=0.0)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, wstar.shape[1]))
    y = network_output(wstar, vstar, x) + sigma * rng.standard_normal(n)
    return x, y


def _as_data(w: np.ndarray, x, y) -> tuple[np.ndarray, np.ndarray]:
    if x is None or y is None:
        raise ValueError("x and y (inputs and teacher labels) are required by this score")
    x = check_array("x", x, shape=(None, w.shape[1]))
    y = check_array("y", y, shape=(x.shape[0],))
    return x, y


class _Fields:
    """Pre-activations of the masked network on a batch and what the loss derivatives need."""

    def __init__(self, w, v, mask, x, y):
        self.w, self.v, self.mask = w, v, mask
        self.x, self.n, self.sqrtN = x, x.shape[0], math.sqrt(w.shape[1])
        self.lam = x @ np.where(mask, w, 0.0).T / self.sqrtN
        self.G, self.Gp = g(self.lam), g_prime(self.lam)
        self.delta = self.G @ v - y

    def back_w(self, A: np.ndarray) -> np.ndarray:
        """sum over samples of A[mu, k] x_mu / sqrt N / n, masked: the first-layer pull-back."""
        return np.where(self.mask, A.T @ self.x / (self.n * self.sqrtN), 0.0)


def training_loss(w, v, x, y, mask=None) -> float:
    """L = mean over samples of 1/2 (phi(x) - y)^2, the paper's quadratic training loss."""
    w, v, mask = as_network(w, v, mask)
    x, y = _as_data(w, x, y)
    return float(0.5 * np.mean(_Fields(w, v, mask, x, y).delta ** 2))


def loss_gradient(w, v, x, y, mask=None) -> LayerArrays:
    """dL/dtheta: dL/dw_k = <Delta v_k g'(lambda_k) x> / sqrt N, dL/dv_k = <Delta g(lambda_k)>."""
    w, v, mask = as_network(w, v, mask)
    f = _Fields(w, v, mask, *_as_data(w, x, y))
    return LayerArrays(f.back_w(f.delta[:, None] * f.Gp * v), f.G.T @ f.delta / f.n)


def loss_hessian_vector(w, v, x, y, direction: LayerArrays, mask=None) -> LayerArrays:
    """Exact Hessian-vector product H u of the training loss (path-kernel paper eq 17, A.3).

    H = <grad phi grad phi^T + Delta hess phi>. With mu_k = u_w,k . x / sqrt N and
    dphi = sum_k (v_k g'(lambda_k) mu_k + u_v,k g(lambda_k)), and g'' = -lambda g':

        (H u)_w,k = < [dphi v_k g'_k + Delta (v_k g''_k mu_k + g'_k u_v,k)] x > / sqrt N
        (H u)_v,k = < dphi g_k + Delta g'_k mu_k >

    Pruned first-layer entries are no parameters: they are zero in u and in H u.
    """
    w, v, mask = as_network(w, v, mask)
    f = _Fields(w, v, mask, *_as_data(w, x, y))
    u_w = np.where(mask, check_array("direction.w", direction.w, shape=w.shape), 0.0)
    u_v = check_array("direction.v", direction.v, shape=v.shape)
    mu = f.x @ u_w.T / f.sqrtN
    dphi = (f.Gp * mu) @ v + f.G @ u_v
    Gpp = -f.lam * f.Gp
    A = dphi[:, None] * f.Gp * v + f.delta[:, None] * (v * Gpp * mu + f.Gp * u_v)
    hv_v = (f.G.T @ dphi + np.sum(f.delta[:, None] * f.Gp * mu, axis=0)) / f.n
    return LayerArrays(f.back_w(A), hv_v)


# ---------------------------------------------------------------- scores
def magnitude_scores(w, v, mask=None) -> LayerArrays:
    """|theta| (pruned edges score 0)."""
    w, v, mask = as_network(w, v, mask)
    return LayerArrays(np.where(mask, np.abs(w), 0.0), np.abs(v))


def snip_scores(w, v, x, y, mask=None) -> LayerArrays:
    """SNIP |theta (.) dL/dtheta| on the batch (x, y) (Lee et al. 2019; path-kernel paper Sec. 4.1)."""
    w, v, mask = as_network(w, v, mask)
    grad = loss_gradient(w, v, x, y, mask)
    return LayerArrays(np.abs(np.where(mask, w, 0.0) * grad.w), np.abs(v * grad.v))


def grasp_scores(w, v, x, y, mask=None) -> LayerArrays:
    """GraSP importance theta (.) H g = -S_GraSP, g = dL/dtheta, H exact (Sec. 4.3; Wang et al. 2020).

    GraSP removes the largest S = -(H g) (.) theta, i.e. keeps the largest theta (.) H g.
    """
    w, v, mask = as_network(w, v, mask)
    hg = loss_hessian_vector(w, v, x, y, loss_gradient(w, v, x, y, mask), mask)
    return LayerArrays(np.where(mask, w, 0.0) * hg.w, v * hg.v)


def synflow_scores(w, v, mask=None, mu=None) -> LayerArrays:
    """SynFlow |theta| (.) dR_SF(x, theta)/d|theta| with x = 1, or x = mu for SynFlow-Dist (path-kernel eq 16).

    For a first-layer weight: |v_k| |w_ki| x_i.
    """
    w, v, mask = as_network(w, v, mask)
    grad = synflow_objective_grad_abs(_relevance(mu, w), w, v, mask)
    return LayerArrays(grad.w * np.abs(w), grad.v * np.abs(v))


def synflow_l2_scores(w, v, mask=None, mu=None) -> LayerArrays:
    """SynFlow-L2 |dR_PK(x, theta)/d theta^2 (.) theta|, x = 1 or mu for SynFlow-L2-Dist (path-kernel eq 15).

    For a first-layer weight: v_k^2 |w_ki| x_i (see the module docstring for the reading).
    """
    w, v, mask = as_network(w, v, mask)
    grad = path_kernel_objective_grad_sq(_relevance(mu, w), w, v, mask)
    return LayerArrays(grad.w * np.abs(w), grad.v * np.abs(v))


def _relevance(mu, w: np.ndarray) -> np.ndarray:
    x = as_input(mu, w.shape[1])
    if np.any(x < 0):
        raise ValueError("mu (the input relevance vector) must be non-negative: it weights path flows")
    return x


def synflow_dist_mean_scores(w, v, mu, mask=None) -> LayerArrays:
    """SynFlow-Dist as the paper defines it: |dR_SF(mu, theta)/dtheta (.) theta|, mu the input mean (Sec. 4.2).

    mu may have any sign; for w_ki the score is |v_k| |w_ki| |mu_i|, for v_k
    |v_k| |sum_i |w_ki| mu_i|.
    """
    w, v, mask = as_network(w, v, mask)
    grad = synflow_objective_grad_abs(as_input(mu, w.shape[1]), w, v, mask)
    return LayerArrays(np.abs(grad.w * np.abs(w)), np.abs(grad.v * np.abs(v)))


def synflow_l2_dist_mean_scores(w, v, mu, mask=None) -> LayerArrays:
    """SynFlow-L2-Dist as the paper defines it: |dR_PK(mu, theta)/dtheta^2 (.) theta|, mu the input mean (path-kernel eq 15).

    For w_ki: v_k^2 |w_ki| |mu_i|; for v_k: |v_k| |sum_i w_ki^2 mu_i|.
    """
    w, v, mask = as_network(w, v, mask)
    grad = path_kernel_objective_grad_sq(as_input(mu, w.shape[1]), w, v, mask)
    return LayerArrays(np.abs(grad.w * w), np.abs(grad.v * v))


def input_relevance(x, kind: str = "second_moment") -> np.ndarray:
    """Relevance vector mu of the -Dist scores from input samples x (n, N).

    ``"mean"``: mu_i = <x_i>, the paper's choice (Sec. 4.2), signed; for our
    centred inputs it is pure sampling noise of size 1/sqrt(n).
    ``"second_moment"`` (this project's adaptation): mu_i = <x_i^2>;
    ``"abs_mean"``: mu_i = <|x_i|>. For isotropic Gaussian inputs both
    magnitudes are constant in expectation (1 and sqrt(2/pi)): the -Dist scores
    then rank exactly as SynFlow / SynFlow-L2, up to the sampling noise of mu.
    """
    x = check_array("x", x, ndim=2)
    if kind == "mean":
        return np.mean(x, axis=0)
    if kind == "second_moment":
        return np.mean(x**2, axis=0)
    if kind == "abs_mean":
        return np.mean(np.abs(x), axis=0)
    raise ValueError(f"kind must be 'mean', 'second_moment' or 'abs_mean', got {kind!r}")


def score(name: str, w, v, *, mask=None, x=None, y=None, mu=None) -> LayerArrays:
    """Importance of every parameter under the score ``name`` (one of :data:`SCORE_NAMES`).

    ``x, y`` (inputs, teacher labels) are needed by SNIP and GraSP; ``mu`` by the
    -Dist scores. Pruned edges (``mask`` False) are treated as absent.
    """
    if name not in _SCORERS:
        raise ValueError(f"name must be one of {SCORE_NAMES}, got {name!r}")
    if name in DIST_SCORES and mu is None:
        raise ValueError(f"mu (input relevance vector) is required by {name}")
    return _SCORERS[name](w, v, mask, x, y, mu)


_SCORERS: dict[str, Callable[..., LayerArrays]] = {
    "magnitude": lambda w, v, mask, x, y, mu: magnitude_scores(w, v, mask),
    "snip": lambda w, v, mask, x, y, mu: snip_scores(w, v, x, y, mask),
    "grasp": lambda w, v, mask, x, y, mu: grasp_scores(w, v, x, y, mask),
    "synflow": lambda w, v, mask, x, y, mu: synflow_scores(w, v, mask),
    "synflow_l2": lambda w, v, mask, x, y, mu: synflow_l2_scores(w, v, mask),
    "synflow_dist_mean": lambda w, v, mask, x, y, mu: synflow_dist_mean_scores(w, v, mu, mask),
    "synflow_l2_dist_mean": lambda w, v, mask, x, y, mu: synflow_l2_dist_mean_scores(w, v, mu, mask),
    "synflow_dist": lambda w, v, mask, x, y, mu: synflow_scores(w, v, mask, mu),
    "synflow_l2_dist": lambda w, v, mask, x, y, mu: synflow_l2_scores(w, v, mask, mu),
}
