"""Masks from scores: global top-c selection, iterative pruning, random baselines.

Path-kernel paper App. A.4.1: scores are ranked and masked *globally across
the network*, i.e. over the first-layer weights w and the output weights v in
one budget (``layers="both"``, the paper's recipe). ``layers="first"`` ranks
the K N first-layer weights only and keeps every v_k: this project's earlier
adaptation, kept as an option.

A pruned output weight v_k removes every path through node k. Since
g(0) = erf(0) = 0, a node whose first-layer row is all zero contributes
nothing and its v_k never moves under SGD (dv_k is proportional to
g(lambda_k) = 0), so training with v_k pruned is exactly training with node
k's whole row masked: :func:`trainable_mask` gives that first-layer mask.
"""
from __future__ import annotations

import math

import numpy as np

from tsdyn.checks import check_array, check_int, check_real
from tsdyn.pathkernel.kernel import LayerArrays, as_mask, as_network
from tsdyn.pathkernel.scores import score

#: Which parameters a budget counts: both layers (the paper) or the first layer only (adaptation).
LAYERS = ("both", "first")


def check_layers(layers: str) -> str:
    """``layers`` must be one of :data:`LAYERS`."""
    if layers not in LAYERS:
        raise ValueError(f"layers must be one of {LAYERS}, got {layers!r}")
    return layers


def kept_count(density: float, total: int) -> int:
    """Number of parameters a budget ``density`` keeps out of ``total``: round half up of c * total."""
    density = check_real("density", density, low=0.0, high=1.0)
    return int(math.floor(density * total + 0.5 + 1e-9))


def select_top(scores: LayerArrays, density: float, *, include_v: bool = False,
               eligible: LayerArrays | None = None) -> LayerArrays:
    """Global selection: keep the top ``density`` fraction of the parameters by score.

    The budget counts the first-layer weights (K N) or, with ``include_v``, all
    K N + K parameters; it keeps round(c * total) of them. Only ``eligible``
    entries (default: all) can be kept. Ties are broken deterministically: the
    lower flat index (w row-major, then v) wins.

    Returns
    -------
    LayerArrays
        Boolean masks (w: K x N, v: K); v is all True unless ``include_v``.
    """
    sw = check_array("scores.w", scores.w, ndim=2)
    sv = check_array("scores.v", scores.v, shape=(sw.shape[0],))
    ew = as_mask(None if eligible is None else eligible.w, sw.shape)
    ev = np.ones(sv.shape, bool) if eligible is None or not include_v else np.asarray(eligible.v, bool)
    values = np.concatenate([sw.ravel(), sv]) if include_v else sw.ravel()
    allowed = np.concatenate([ew.ravel(), ev]) if include_v else ew.ravel()
    keep = kept_count(density, values.size)
    if keep > allowed.sum():
        raise ValueError(f"density = {density} asks to keep {keep} parameters but only {int(allowed.sum())} are eligible")
    candidates = np.flatnonzero(allowed)
    order = candidates[np.lexsort((candidates, -values[candidates]))]
    flat = np.zeros(values.size, bool)
    flat[order[:keep]] = True
    mask_w = flat[:sw.size].reshape(sw.shape)
    mask_v = flat[sw.size:] if include_v else np.ones(sv.shape, bool)
    return LayerArrays(mask_w, mask_v)


def prune(name: str, w, v, density: float, *, rounds: int = 1, layers: str = "both",
          x=None, y=None, mu=None, progress: bool = False) -> LayerArrays:
    """Mask keeping a ``density`` fraction of parameters, chosen by score ``name``.

    ``layers="both"`` ranks w and v together (path-kernel paper A.4.1),
    ``"first"`` only w. ``rounds = 1`` scores once. ``rounds = n > 1`` is the
    iterative scheme of Tanaka et al. (2020): at round r = 1..n the masked
    network is re-scored and pruned to density c^(r/n) (exponential schedule),
    keeping only survivors. (With ``layers="first"`` the SynFlow-type scores of
    a weight do not depend on the other first-layer weights, so iterating
    changes nothing; with both layers it does.)
    """
    rounds = check_int("rounds", rounds, low=1)
    include_v = check_layers(layers) == "both"
    w, v, _ = as_network(w, v)
    density = check_real("density", density, low=0.0, high=1.0)
    keep = LayerArrays(np.ones(w.shape, bool), np.ones(v.shape, bool))
    iterator = range(1, rounds + 1)
    if progress:
        from tqdm import tqdm
        iterator = tqdm(iterator, desc=f"{name} rounds")
    for r in iterator:
        scores = score(name, w, np.where(keep.v, v, 0.0), mask=keep.w, x=x, y=y, mu=mu)
        keep = select_top(scores, density ** (r / rounds), include_v=include_v, eligible=keep)
    return keep


def random_mask(K: int, N: int, density: float, rng: np.random.Generator, *, layers: str = "both") -> LayerArrays:
    """Random pruning: every counted parameter kept independently with probability ``density``.

    With ``layers="first"`` every v_k is kept (the random *edge* baseline of the pruning paper).
    """
    K, N = check_int("K", K, low=1), check_int("N", N, low=1)
    density = check_real("density", density, low=0.0, high=1.0)
    mask_w = rng.random((K, N)) < density
    mask_v = rng.random(K) < density if check_layers(layers) == "both" else np.ones(K, bool)
    return LayerArrays(mask_w, mask_v)


def node_mask(K: int, N: int, nodes) -> LayerArrays:
    """Node pruning as a mask: the kept nodes keep all N inputs and their v_k, the others nothing."""
    keep = np.zeros(check_int("K", K, low=1), bool)
    keep[np.asarray(nodes, dtype=int)] = True
    return LayerArrays(np.repeat(keep[:, None], check_int("N", N, low=1), axis=1), keep.copy())


def trainable_mask(mask: LayerArrays) -> np.ndarray:
    """First-layer mask that trains exactly as ``mask`` does: rows of nodes whose v_k is pruned are dropped.

    (g(0) = 0: such a node outputs nothing and its v_k stays put, see the module docstring.)
    """
    w = np.asarray(mask.w, bool)
    return w & np.asarray(mask.v, bool)[:, None]


def mask_counts(mask: LayerArrays) -> dict:
    """Kept parameters of a two-layer mask: all, first layer, output weights, and nodes still carrying a path."""
    w, v = np.asarray(mask.w, bool), np.asarray(mask.v, bool)
    return dict(kept=int(w.sum() + v.sum()), kept_w=int(w.sum()), kept_v=int(v.sum()),
                nodes_alive=int(trainable_mask(mask).any(axis=1).sum()))
