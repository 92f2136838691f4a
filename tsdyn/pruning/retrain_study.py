"""Retraining after pruning applied to one trained student: recovery curves per method (issue 13).

Each function returns *curves*: dicts with the labels of ``figures/retrain.csv``
(kn, method, reweight, draw, level) and ``eg``, the eps_g at the record times
Delta t of the run. Node pruning (DPP with kernel Q, importance, random;
pruning Table 1) is retrained from the pruned order parameters by the ODEs
(Goldt et al. 2019; one per draw) and by online SGD at N with the exact
order-parameter engine; random edge pruning (pruning eq 1, Bernoulli masks)
by SGD on the weights with the mask held. :func:`engine_pair` runs one pruned
start by both SGD engines, the check that the order engine stands for the weights.
"""
from __future__ import annotations

import numpy as np

from tsdyn.pruning.operators import bernoulli_edge_mask, matched_edge_count, select_importance, subset_eg
from tsdyn.pruning.recovery import initial_rate
from tsdyn.pruning.retrain import (NODE_METHODS, REWEIGHTS, edge_start, node_start, node_start_weights, node_subsets,
                                   retrain_ode, retrain_order, retrain_weights)
from tsdyn.pruning.study import TrainedStudent, node_subset_distributions
from tsdyn.seeds import RETRAIN_DATA_SEED, RETRAIN_EDGE_MASK_SEED, RETRAIN_SUBSET_SEED


def run_seed(student: TrainedStudent, *labels: int) -> int:
    """The SGD seed of one retraining run: distinct per student, labels and draw (purpose RETRAIN_DATA_SEED)."""
    seq = np.random.SeedSequence([RETRAIN_DATA_SEED, student.seed, round(student.sigma * 1e6), *map(int, labels)])
    return int(seq.generate_state(1)[0])


def _rng(purpose: int, student: TrainedStudent, *labels: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([purpose, student.seed, round(student.sigma * 1e6),
                                                         *map(int, labels)]))


def draw_subsets(student: TrainedStudent, kn: int, method: str, draws: int, t0_code: int = 0) -> list[np.ndarray]:
    """The kept nodes of the ``draws`` prunings of ``student`` by ``method`` that the study retrains (fixed seeds)."""
    return node_subsets(student.params, method, int(kn), draws,
                        _rng(RETRAIN_SUBSET_SEED, student, kn, NODE_METHODS.index(method), t0_code))


def node_curves(student: TrainedStudent, kn_values, *, draws: int, sgd_draws: int, N: int, lr: float,
                times: np.ndarray, t0_code: int = 0, methods=NODE_METHODS, sgd_kn=None,
                importance_replicas: int = 1, reweights=REWEIGHTS) -> list[dict]:
    """ODE (every draw) and SGD (the first ``sgd_draws`` draws, order engine at N; only k_n in ``sgd_kn``
    if given) recovery after node pruning.

    The same subsets serve both reweightings, so their curves are paired. ``t0_code``
    labels the pruning time in the seeds (0: the trained student). Importance pruning keeps one
    subset; ``importance_replicas`` > 1 retrains it by SGD that many times on other data (draws
    0, 1, ...; its ODE is draw 0), so that its SGD mean has a standard error too. ``reweights``: the
    reweightings retrained (seeds unchanged when one is left out).
    """
    op = student.params
    curves = []
    for kn in kn_values:
        for m_code, method in enumerate(methods):
            subsets = draw_subsets(student, int(kn), method, draws, t0_code)
            if method == "importance" and importance_replicas > 1:
                subsets = subsets * int(importance_replicas)
            for r_code, reweight in enumerate(REWEIGHTS):
                if reweight not in reweights:
                    continue
                for draw, keep in enumerate(subsets):
                    start = node_start(op, keep, reweight)
                    base = dict(kn=int(kn), method=method, reweight=reweight, draw=draw,
                                rate0=initial_rate(start, lr=lr, sigma=student.sigma)["total"])
                    if draw == 0 or method != "importance":
                        curves.append(dict(base, level="ode", eg=retrain_ode(start, lr=lr, sigma=student.sigma,
                                                                             times=times)))
                    if draw < sgd_draws and (sgd_kn is None or kn in sgd_kn):
                        seed = run_seed(student, t0_code, kn, m_code, r_code, draw)
                        curves.append(dict(base, level="sgd", eg=retrain_order(start, N=N, lr=lr, sigma=student.sigma,
                                                                               times=times, seed=seed)))
    return curves


def edge_masks(student: TrainedStudent, kn: int, n_masks: int, t0_code: int = 0) -> list[np.ndarray]:
    """``n_masks`` Bernoulli(c) masks with c = k_e / N the parameter count of k_n nodes (pruning eq 1)."""
    K, N = student.w.shape
    c = matched_edge_count(int(kn), K, N) / N
    rng = _rng(RETRAIN_EDGE_MASK_SEED, student, kn, t0_code)
    return [bernoulli_edge_mask(K, N, c, rng) for _ in range(int(n_masks))]


def edge_curves(student: TrainedStudent, kn_values, *, masks: int, lr: float, times: np.ndarray,
                t0_code: int = 0, reweights=REWEIGHTS, only_draw: int | None = None) -> list[dict]:
    """SGD recovery (weights engine, mask held) after random edge pruning, without and with the scale A.

    ``only_draw``: retrain only that mask of the ``masks`` (one sweep job per mask; same masks, same seeds).
    """
    curves = []
    for kn in kn_values:
        for draw, mask in enumerate(edge_masks(student, kn, masks, t0_code)):
            if only_draw is not None and draw != only_draw:
                continue
            for r_code, reweight in enumerate(REWEIGHTS):
                if reweight not in reweights:
                    continue
                w, v, params = edge_start(student.w, student.v, student.wstar, student.vstar, mask, reweight)
                seed = run_seed(student, t0_code, kn, len(NODE_METHODS), r_code, draw)
                eg = retrain_weights(w, v, student.wstar, student.vstar, lr=lr, sigma=student.sigma, times=times,
                                     seed=seed, mask=mask)
                curves.append(dict(kn=int(kn), method="random_edge", reweight=reweight, draw=draw, level="sgd",
                                   rate0=float("nan"), eg=eg))
    return curves


def exact_initial_eg(student: TrainedStudent, kn_values) -> list[dict]:
    """eps_g just after pruning, exact: expectations over the k-DPP and uniform subsets (enumerated), importance.

    The pruning study's values (:func:`tsdyn.pruning.study.node_pruning_rows`) for the two reweightings
    retrained here only: enumerating C(20, 6) subsets per reweighting is the cost of this reference.
    """
    op = student.params
    rows = []
    for kn in kn_values:
        dists = node_subset_distributions(op, int(kn))
        importance = select_importance(op.v, int(kn))[None, :]
        for reweight in REWEIGHTS:
            rw = None if reweight == "none" else "optimal"
            for method in NODE_METHODS:
                value = (float(subset_eg(op, importance, rw)[0]) if method == "importance"
                         else dists[method].expect(lambda S, rw=rw: subset_eg(op, S, rw)))
                rows.append(dict(kn=int(kn), method=method, reweight=reweight, eps=value))
    return rows


def engine_pair(student: TrainedStudent, keep, *, reweight: str, replicas: int, lr: float,
                times: np.ndarray) -> list[dict]:
    """One node-pruned start retrained ``replicas`` times by each SGD engine (same data seeds) and once by the ODE.

    The engines draw differently, so they agree in law, not run by run: compare means over replicas.
    """
    op = student.params
    start = node_start(op, keep, reweight)
    w, v = node_start_weights(student.w, op, keep, reweight)
    N = student.w.shape[1]
    rows = [dict(engine="ode", replica=0, eg=retrain_ode(start, lr=lr, sigma=student.sigma, times=times))]
    for r in range(int(replicas)):
        seed = run_seed(student, 99, len(keep), r)
        rows.append(dict(engine="order", replica=r, eg=retrain_order(start, N=N, lr=lr, sigma=student.sigma,
                                                                     times=times, seed=seed)))
        rows.append(dict(engine="weights", replica=r, eg=retrain_weights(w, v, student.wstar, student.vstar, lr=lr,
                                                                         sigma=student.sigma, times=times, seed=seed)))
    return rows
