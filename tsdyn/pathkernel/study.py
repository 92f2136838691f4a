"""The path-kernel study: pruners, their seeds and styles, the at-init job, and trained students pruned by scores.

One registry for both path-kernel targets (``pathkernel``: scores on trained
students; ``prune_at_init`` / ``pathkernel_speed``: pruning at initialisation,
then training): the seed offsets of the scoring data and of the random masks,
the pruners and how a pruner becomes a two-layer mask, and the plot styles.

Budgets: a density c keeps round(c * total) parameters, total = K N + K with
both layers in the budget (path-kernel paper A.4.1, the default) or K N with
the first layer only (``layers="first"``, this project's adaptation). Random
node pruning keeps c K whole nodes (with their v), the same parameter count
k_n (N + 1) when c K is a whole number (pruning paper eq 1).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from tsdyn.eg import eg
from tsdyn.integrals import I2_matrix
from tsdyn.order_parameters import Q as overlap_Q, R as overlap_R, T as overlap_T, as_vstar
from tsdyn.pathkernel.kernel import LayerArrays, path_kernel_trace
from tsdyn.pathkernel.ntk import ntk_traces, theorem1_check
from tsdyn.pathkernel.scores import DATA_SCORES, DIST_SCORES, DIST_STATISTIC, SCORE_NAMES, input_relevance, \
    score, teacher_data
from tsdyn.pathkernel.selection import (check_layers, mask_counts, node_mask, prune, random_mask, select_top,
                                        trainable_mask)
from tsdyn.pruning.operators import select_random
from tsdyn.pruning.reweighting import optimal_scale
from tsdyn.seeds import AT_INIT_DATA_SEED_OFFSET, AT_INIT_MASK_SEED_OFFSET, AT_INIT_NTK_SEED_OFFSET

#: Pruners that are no score: random parameters (Bernoulli(c) in the budget) and c K whole random nodes.
BASELINES = ("random_edge", "random_node")
ITERATIVE = "synflow_iter"
DENSE = "dense"
PRUNERS = SCORE_NAMES + (ITERATIVE,) + BASELINES


def scoring_data(name: str, wstar, vstar, n: int, *, seed: int, sigma: float) -> dict:
    """What score ``name`` needs: n teacher-labelled inputs (SNIP, GraSP) or mu from them (-Dist)."""
    if name not in DATA_SCORES + DIST_SCORES:
        return {}
    x, y = teacher_data(wstar, vstar, n, seed=AT_INIT_DATA_SEED_OFFSET + seed, sigma=sigma)
    return {"x": x, "y": y, "mu": input_relevance(x, DIST_STATISTIC[name])} if name in DIST_SCORES else {"x": x, "y": y}


def initial_mask(pruner: str, w, v, wstar, vstar, density: float, *, seed: int, sigma: float = 0.0,
                 layers: str = "both", score_samples: int = 1000, rounds: int = 100) -> LayerArrays:
    """Two-layer mask (w: K x N, v: K) of ``pruner`` (one of :data:`PRUNERS` or ``"dense"``) at budget ``density``.

    ``synflow_iter`` is iterative SynFlow with ``rounds`` rounds. ``random_node``
    needs density * K to be a whole number (it raises otherwise).
    """
    K, N = np.shape(w)
    rng = np.random.default_rng(AT_INIT_MASK_SEED_OFFSET + seed)
    if pruner == DENSE:
        return LayerArrays(np.ones((K, N), bool), np.ones(K, bool))
    if pruner == "random_edge":
        return random_mask(K, N, density, rng, layers=layers)
    if pruner == "random_node":
        return node_mask(K, N, select_random(K, node_count(density, K), rng))
    if pruner not in PRUNERS:
        raise ValueError(f"pruner must be one of {PRUNERS + (DENSE,)}, got {pruner!r}")
    name, n_rounds = ("synflow", rounds) if pruner == ITERATIVE else (pruner, 1)
    data = scoring_data(name, wstar, vstar, score_samples, seed=seed, sigma=sigma)
    return prune(name, w, v, density, rounds=n_rounds, layers=layers, **data)


def node_count(density: float, K: int) -> int:
    """c K nodes of random node pruning; ``density * K`` must be a whole number."""
    k = density * K
    if abs(k - round(k)) > 1e-9 or round(k) < 1:
        raise ValueError(f"random_node needs density * K to be a whole number >= 1, got {density} * {K} = {k:g}")
    return int(round(k))


def pruner_applies(pruner: str, density: float, K: int) -> bool:
    """Whether ``pruner`` has a mask at this budget (random node needs c K whole nodes)."""
    if pruner != "random_node":
        return True
    return abs(density * K - round(density * K)) < 1e-9 and round(density * K) >= 1


# ---------------------------------------------------------------- the at-init job
def output_norm(Q, v) -> np.ndarray:
    """sqrt(E_x[phi(x)^2]) of the student from its order parameters, per record time (I2 of Goldt et al.)."""
    Q, v = np.asarray(Q, float), np.asarray(v, float)
    d = np.diagonal(Q, axis1=-2, axis2=-1)
    return np.sqrt(np.einsum("...k,...kl,...l->...", v, I2_matrix(d, Q, d), v))


def train_pruned(*, N: int, M: int, K: int, lr: float, vstar: float, sigma: float, steps: int, seed: int,
                 pruner: str, density: float, layers: str, score_samples: int, rounds: int,
                 speed_times: list[float], ntk_samples: int) -> dict:
    """Prune the seed's initial student with ``pruner`` to ``density``, then train it by online SGD.

    Returns the GE history, the GE and output norm at ``speed_times`` (the
    convergence study, path-kernel Sec. 5.1), Tr Pi at initialisation and after
    the first epoch (t = 1, a second run of the same seed: identical first
    steps), ||w(1) - w(0)||, the true and the factorised NTK trace per sample
    at initialisation on ``ntk_samples`` fresh inputs, Theorem 1 on them, and the mask.
    """
    from tsdyn.simulate import simulate  # imported in the worker, after the fork
    from tsdyn.trajectory import record_grid

    check_layers(layers)
    common = dict(N=N, M=M, K=K, lr=lr, vstar=vstar, sigma=sigma, seed=seed)
    start = simulate(**common, steps=0)
    w0, v0 = start.w, start.v[-1]
    mask = initial_mask(pruner, w0, v0, start.wstar, vstar, density, seed=seed, sigma=sigma, layers=layers,
                        score_samples=score_samples, rounds=rounds)
    train_mask = trainable_mask(mask)
    epoch = simulate(**common, steps=N, mask=train_mask)
    speed = np.asarray(speed_times, float)
    times = np.union1d(record_grid(steps / N, N=N), np.round(speed[speed <= steps / N] * N) / N)
    full = simulate(**common, steps=steps, mask=train_mask, times=times)
    at = np.searchsorted(full.times, np.round(speed * N) / N)
    x_ntk = np.random.default_rng(AT_INIT_NTK_SEED_OFFSET + seed).standard_normal((ntk_samples, N))
    ntk_true, ntk_fact = ntk_traces(w0, v0, x_ntk, train_mask)
    return dict(times=full.times, eg=full.eg, eg_speed=full.eg[at], out_norm_speed=output_norm(full.Q[at], full.v[at]),
                trace_pi0=path_kernel_trace(w0, v0, train_mask),
                trace_pi1=path_kernel_trace(epoch.w, epoch.v[-1], train_mask),
                dw1=float(np.linalg.norm(epoch.w - np.where(train_mask, w0, 0.0))),
                ntk_trace0=ntk_true, ntk_trace0_factorised=ntk_fact,
                **{f"thm1_{k}": val for k, val in theorem1_check(w0, v0, x_ntk, train_mask).items()},
                mask_w=mask.w, mask_v=mask.v, w0=w0, v0=v0, **mask_counts(mask))


# ---------------------------------------------------------------- trained students
def pruned_score_rows(w, v, wstar, vstar, *, kn: list[int], scores: list[str], layers: list[str], sigma: float,
                      seed: int, score_samples: int) -> list[dict]:
    """Exact GE (pruning eqs 5-8) of a trained student pruned by each score at c = k_n / K, per budget and rule.

    ``layers``: the budget rules to apply (each score is computed once).
    ``eg``: no reweighting; ``eg_reweighted``: the GE-optimal scale v -> A v
    (pruning Theorem 3, path-kernel eq 15). Also the nodes left with a path, the output
    weights kept and Tr Pi of the pruned network (path-kernel eq 14).
    """
    w, v, wstar = (np.asarray(a, dtype=float) for a in (w, v, wstar))
    K = w.shape[0]
    vs, T = as_vstar(vstar, wstar.shape[0]), overlap_T(wstar)
    rows = []
    for name in scores:
        importance = score(name, w, v, **scoring_data(name, wstar, vstar, score_samples, seed=seed, sigma=sigma))
        for rule, k in itertools.product(layers, kn):
            mask = select_top(importance, k / K, include_v=check_layers(rule) == "both")
            keep = trainable_mask(mask)
            wp, vp = np.where(keep, w, 0.0), np.where(mask.v, v, 0.0)
            Q, R = overlap_Q(wp), overlap_R(wp, wstar)
            A = float(optimal_scale(Q, R, T, vp, vs)) if np.any(vp) else 1.0
            rows.append(dict(method=name, layers=rule, kn=int(k), c=k / K, eg=float(eg(Q, R, T, vp, vs)),
                             eg_reweighted=float(eg(Q, R, T, A * vp, vs)), trace_pi=path_kernel_trace(w, v, keep),
                             **mask_counts(mask)))
    return rows


# ---------------------------------------------------------------- styles
_COLORS = {"magnitude": "C0", "snip": "C1", "grasp": "C2", "synflow": "C3", "synflow_l2": "C4",
           "synflow_dist": "C5", "synflow_l2_dist": "C6", "synflow_dist_mean": "C5", "synflow_l2_dist_mean": "C6",
           ITERATIVE: "C3", "random_edge": "0.45", "random_node": "C9", "dpp_node": "k", DENSE: "k"}


def pruner_style(pruner: str) -> dict:
    """Line colour and style of a pruner, the same in every path-kernel figure."""
    ls = "-."
    if pruner.endswith("_mean") or pruner == ITERATIVE:
        ls = ":"
    elif pruner.startswith("random") or "dist" in pruner:
        ls = "--"
    elif pruner != "dpp_node":
        ls = "-"
    return {"color": _COLORS.get(pruner), "ls": ls}


def pruner_marker(pruner: str) -> str:
    """Marker of a pruner in the path-kernel figures."""
    return {"random_edge": "x", "random_node": "s", "grasp": "^", "snip": "v", ITERATIVE: "d",
            "dpp_node": "P"}.get(pruner, "o")


def mean_sem(values) -> tuple[float, float]:
    """Mean and standard error of the mean (NaN error for fewer than two values)."""
    a = np.asarray(values, float)
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else math.nan
