"""Node and edge pruning of a trained student, and the exact GE of the pruned network.

Node pruning (pruning paper Table 1) keeps k_n of the K hidden nodes:

* random: a uniform k_n-subset;
* importance (He et al. 2014): the k_n largest |v_i|;
* DPP: a k-DPP sample with kernel Q (Lemma 1), its data estimate (App. C) or the
  DIVNET RBF kernel (:mod:`tsdyn.pruning.dpp`).

A pruned node loses its row of w and its entry of v; on order parameters that
is the principal submatrix Q_SS, the rows R_S and v_S (T and v* stay). Random
edge pruning keeps each first-layer weight with probability c (a Bernoulli(c)
mask); its expected network has the order parameters of Lemma 6. Reweighting
is in :mod:`tsdyn.pruning.reweighting`. The GE of a pruned network is pruning eqs 5-8
(:func:`tsdyn.eg.eg`) of its order parameters; :mod:`tsdyn.dynamics.testset` measures
the test-set 1/2 MSE with noisy labels on fresh inputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsdyn.conventions import activation_pair
from tsdyn.checks import check_array, check_choice, check_indices, check_int, check_mask, check_real
from tsdyn.pruning.dpp import data_kernel, divnet_kernel, principal_submatrices, sample_kdpp
from tsdyn.eg import eg, eg_of
from tsdyn.order_parameters import OrderParameters
from tsdyn.pruning.reweighting import activation_covariance, divnet_second_layer, optimal_scale, optimal_second_layer

NODE_METHODS = ("random", "importance", "dpp")
KERNELS = ("Q", "data", "divnet")
NODE_REWEIGHTS = (None, "divnet-pre", "divnet-post", "optimal")
EDGE_REWEIGHTS = (None, "scale")


# ---------------------------------------------------------- node selection
def select_random(K: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Random node pruning: a uniform size-k subset of {0..K-1}, sorted."""
    K = check_int("K", K, low=0)
    k = check_int("k", k, low=0, high=K, high_name="K")
    return np.sort(rng.choice(K, size=k, replace=False))


def select_importance(v: np.ndarray, k: int, *, rng: np.random.Generator | None = None) -> np.ndarray:
    """Importance node pruning (He et al. 2014): keep the k nodes of largest |v_i|, sorted.

    Ties (all |v_i| equal in the ideal ansatz) go to the lower index, or are broken
    uniformly at random when ``rng`` is given.
    """
    v = check_array("v", v, ndim=1)
    k = check_int("k", k, low=0, high=v.size, high_name="K")
    order = np.arange(v.size) if rng is None else rng.permutation(v.size)
    ranked = order[np.argsort(-np.abs(v[order]), kind="stable")]
    return np.sort(ranked[:k])


def dpp_kernel(kind: str, op: OrderParameters, *, w: np.ndarray | None = None, n: int = 0,
               rng: np.random.Generator | None = None, beta: float | None = None) -> np.ndarray:
    """The kernel of DPP node pruning: ``"Q"`` (Lemma 1), ``"data"`` (App. C) or ``"divnet"``.

    ``"data"`` and ``"divnet"`` need the first-layer weights ``w``, a number of
    fresh inputs ``n`` and a generator ``rng``.
    """
    if kind == "Q":
        return np.array(op.Q)
    if kind not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kind!r}")
    if w is None or rng is None:
        raise ValueError(f"kernel {kind!r} is estimated from data: pass the weights w and a generator rng")
    n = check_int("n", n, low=1)
    return data_kernel(w, n, rng) if kind == "data" else divnet_kernel(w, n, rng, beta=beta)


def select_nodes(method: str, k: int, op: OrderParameters, *, rng: np.random.Generator | None = None,
                 kernel: np.ndarray | None = None, tie_break: bool = False) -> np.ndarray:
    """The k nodes kept by ``method`` in ``("random", "importance", "dpp")``, sorted.

    ``kernel`` is the DPP kernel (default Q); ``tie_break`` breaks importance ties at random.
    """
    if method not in NODE_METHODS:
        raise ValueError(f"method must be one of {NODE_METHODS}, got {method!r}")
    if method == "importance":
        return select_importance(op.v, k, rng=rng if tie_break else None)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"{method} node pruning is random: pass a numpy Generator rng, got {rng!r}")
    if method == "random":
        return select_random(op.K, k, rng)
    return sample_kdpp(op.Q if kernel is None else kernel, k, rng)


# ------------------------------------------------ pruned order parameters
def _check_keep(keep, K: int) -> np.ndarray:
    return check_indices("keep", keep, K)


def prune_order_parameters(op: OrderParameters, keep, v: np.ndarray | None = None) -> OrderParameters:
    """Order parameters of the student reduced to the nodes ``keep``: Q_SS, R_S, v_S (or ``v``), T, v*."""
    keep = _check_keep(keep, op.K)
    v_S = op.v[keep] if v is None else v
    return OrderParameters(op.Q[np.ix_(keep, keep)], op.R[keep], op.T, v_S, op.vstar)


def reweighted_second_layer(op: OrderParameters, subsets: np.ndarray, reweight: str | None,
                            activation="erf") -> np.ndarray:
    """v_S of the pruned students ``subsets`` ((B, k) -> (B, k)) after ``reweight`` in NODE_REWEIGHTS.

    ``"divnet-pre"`` / ``"divnet-post"``: DIVNET on pre- / post-activations (post: erf only);
    ``"optimal"``: the GE-optimal second layer of ``activation``; ``None``: v_S unchanged.
    """
    subsets = check_indices("subsets", subsets, op.K, ndim=2)
    check_choice("reweight", reweight, NODE_REWEIGHTS)
    if reweight is None:
        return op.v[subsets]
    if reweight == "optimal":
        Q_S = principal_submatrices(op.Q, subsets)
        return optimal_second_layer(Q_S, op.R[subsets], op.T, op.vstar, activation)
    if reweight == "divnet-post" and activation_pair(activation) != ("erf", "erf"):
        raise ValueError(f"reweight='divnet-post' uses the erf post-activation covariance; activation = {activation!r} "
                         "needs reweight in (None, 'optimal', 'divnet-pre')")
    if reweight in ("divnet-pre", "divnet-post"):
        C = activation_covariance(op.Q, reweight.split("-")[1])
        return divnet_second_layer(C, op.v, subsets)
    raise ValueError(f"reweight must be one of {NODE_REWEIGHTS}, got {reweight!r}")


def subset_eg(op: OrderParameters, subsets: np.ndarray, reweight: str | None = None,
              activation="erf") -> np.ndarray:
    """Exact GE (pruning eqs 5-8) of the student pruned to each row of ``subsets``, vectorised: (B, k) -> (B,).

    ``activation`` ("erf", "relu", "linear" or a (teacher, student) pair) gives the exact GE of the
    pruned network of that activation (:func:`tsdyn.eg.eg`); the closed-form lemmas
    (:mod:`tsdyn.pruning.closed_form`) stay erf-only.
    """
    subsets = check_indices("subsets", subsets, op.K, ndim=2)
    v_S = reweighted_second_layer(op, subsets, reweight, activation)
    return np.atleast_1d(eg(principal_submatrices(op.Q, subsets), op.R[subsets], op.T, v_S, op.vstar, activation))


def node_pruned(op: OrderParameters, keep, reweight: str | None = None) -> OrderParameters:
    """Order parameters of the student pruned to ``keep``, after ``reweight`` (see :func:`reweighted_second_layer`)."""
    keep = _check_keep(keep, op.K)
    v_S = reweighted_second_layer(op, keep[None, :], reweight)[0]
    return prune_order_parameters(op, keep, v_S)


# ------------------------------------------------------------ edge pruning
def matched_edge_count(k_n: int, K: int, N: int) -> int:
    """Edges per node k_e with the parameter count of k_n nodes (pruning eq 1: k_n/K = k_e/N).

    k_e = round(N k_n / K), halves rounded up. For N = 500, K = 6 this gives
    83, 167, 250, 333, 417, 500; the paper's list (1:83, 2:166, ...) floors
    166.67 but rounds 416.67 up, so it follows no single rule.
    """
    K = check_int("K", K, low=1)
    k_n = check_int("k_n", k_n, low=0, high=K, high_name="K")
    N = check_int("N", N, low=1)
    return (2 * N * k_n + K) // (2 * K)


def bernoulli_edge_mask(K: int, N: int, c: float, rng: np.random.Generator) -> np.ndarray:
    """Random edge pruning mask (K x N, bool): each first-layer edge kept independently with probability c."""
    K, N = check_int("K", K, low=0), check_int("N", N, low=1)
    c = check_real("c", c, low=0.0, high=1.0)
    return rng.random((K, N)) < c


def expected_edge_pruned(op: OrderParameters, c: float) -> OrderParameters:
    """Order parameters of the expected random-edge-pruned network (Lemma 6).

    E[Q'_ii] = c Q_ii, E[Q'_ik] = c^2 Q_ik (i != k), E[R'] = c R, T' = T; v unchanged.
    Theorem 2 concerns the GE of this expected network, not the expected GE over
    masks (erratum 11); the two agree as N -> infinity.
    """
    c = check_real("c", c, low=0.0, high=1.0)
    Qp = c * c * op.Q + (c - c * c) * np.diag(np.diag(op.Q))
    return OrderParameters(Qp, c * op.R, op.T, op.v, op.vstar)


def scaled(op: OrderParameters, A: float) -> OrderParameters:
    """The same network with second layer A v (edge reweighting, Theorem 3)."""
    return OrderParameters(op.Q, op.R, op.T, A * op.v, op.vstar)


def edge_scale(op: OrderParameters, activation="erf") -> float:
    """GE-optimal scale A of v for the (edge-pruned) network ``op`` (pruning eq 15 minimiser) of ``activation``."""
    return optimal_scale(op.Q, op.R, op.T, op.v, op.vstar, activation)


# --------------------------------------------------------- pruned students
@dataclass(frozen=True)
class PrunedStudent:
    """A pruned student given by its weights.

    Attributes
    ----------
    w : (k, N) first layer (node pruning: kept rows; edge pruning: masked, all rows).
    v : (k,) second layer after any reweighting.
    params : its order parameters against the teacher.
    keep : kept node indices (node pruning), else None.
    mask : kept edges (edge pruning), else None.
    """

    w: np.ndarray
    v: np.ndarray
    params: OrderParameters
    keep: np.ndarray | None = None
    mask: np.ndarray | None = None

    @property
    def eg(self) -> float:
        """Exact GE of the pruned network, pruning eqs 5-8 (erf; other activations: ``eg_of(self.params, activation)``)."""
        return eg_of(self.params)


def prune_student_nodes(w: np.ndarray, v: np.ndarray, wstar: np.ndarray, vstar, keep,
                        reweight: str | None = None) -> PrunedStudent:
    """Remove every node not in ``keep`` from the student (w, v), then apply ``reweight``.

    Reweighting uses the population overlaps Q of the full student (N -> infinity).
    """
    full = OrderParameters.from_weights(w, v, wstar, vstar)
    keep = _check_keep(keep, full.K)
    params = node_pruned(full, keep, reweight)
    return PrunedStudent(np.asarray(w, dtype=float)[keep], np.array(params.v), params, keep=keep)


def node_prune_student(w: np.ndarray, v: np.ndarray, wstar: np.ndarray, vstar, *, method: str, k: int,
                       rng: np.random.Generator | None = None, kernel: str = "Q", kernel_samples: int = 10_000,
                       reweight: str | None = None, tie_break: bool = False) -> PrunedStudent:
    """Select k nodes with ``method`` (DPP kernel ``kernel``, estimated on ``kernel_samples`` fresh
    inputs if it is ``"data"`` or ``"divnet"``), remove the others, then apply ``reweight``."""
    op = OrderParameters.from_weights(w, v, wstar, vstar)
    L = dpp_kernel(kernel, op, w=w, n=kernel_samples, rng=rng) if method == "dpp" else None
    keep = select_nodes(method, k, op, rng=rng, kernel=L, tie_break=tie_break)
    return prune_student_nodes(w, v, wstar, vstar, keep, reweight)


def prune_student_edges(w: np.ndarray, v: np.ndarray, wstar: np.ndarray, vstar, mask: np.ndarray,
                        reweight: str | None = None) -> PrunedStudent:
    """Zero the first-layer weights outside ``mask``; ``reweight="scale"`` then rescales v optimally."""
    check_choice("reweight", reweight, EDGE_REWEIGHTS)
    w = check_array("w", w, ndim=2)
    mask = check_mask("mask", mask, w.shape)
    w_pruned = np.where(mask, w, 0.0)
    params = OrderParameters.from_weights(w_pruned, v, wstar, vstar)
    if reweight == "scale":
        params = scaled(params, edge_scale(params))
    return PrunedStudent(w_pruned, np.array(params.v), params, mask=mask)
