"""Sweep target ``pathkernel``: the path-kernel paper's scores applied to *trained* students.

Every score of :mod:`tsdyn.pathkernel.scores` prunes the first layer of a student trained
by online SGD to the budget of k_n nodes (pruning paper eq 1: k_n / K = k_e / N
= c; globally c K N edges). The pruned network is a two-layer network, so its
GE is exact: eqs 5-8 of its order parameters, without and with the GE-optimal
scalar reweighting v -> A v (Theorem 3, eq 15; :mod:`tsdyn.pruning.reweighting`). The
baselines are random edge pruning (Bernoulli(c) masks, mean over
``edge_masks``) with the same reweighting, and DPP node pruning with kernel Q
(Lemma 1) as an exact expectation over all k_n-subsets, without reweighting
and with the GE-optimal second layer of the kept nodes (the reweighting of
Lemma 2 / Theorem 3).

The students are the training runs of fig2a (M = 2, K = 6) and fig2b (M = 5,
K = 20) with the same parameters, so the sweep trains them once; pruning them
is cheap and happens in :func:`report`.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tsdyn.pruning.dpp import kdpp_subsets, kernel_spectrum
from tsdyn.eg import eg
from tsdyn.order_parameters import Q as overlap_Q, R as overlap_R, T as overlap_T, OrderParameters, as_vstar
from tsdyn.pathkernel.kernel import path_kernel_trace
from tsdyn.pruning.operators import bernoulli_edge_mask, subset_eg
from tsdyn.pruning.reweighting import optimal_scale
from tsdyn.pathkernel.scores import DATA_SCORES, DIST_SCORES, input_relevance, score, select_top, teacher_data
from tsdyn.sweep.config import load_config
from tsdyn.sweep.job import Job
from tsdyn.outputs import save_figure, write_rows
from tsdyn.targets.prune_at_init import DATA_SEED_OFFSET, MASK_SEED_OFFSET, pruner_marker, pruner_style
from tsdyn.targets.training import training_jobs, training_name

ROW_FIELDS = ("student", "M", "K", "N", "sigma", "seed", "method", "kn", "c", "eg", "eg_reweighted",
              "eg_sd", "eg_reweighted_sd", "nodes_alive", "trace_pi", "eg_unpruned")


def jobs(cfg: dict, *, quick: bool = False) -> list[Job]:
    """The training runs of every student setting (shared with fig2a / fig2b)."""
    return [job for student in cfg["students"].values() for job in training_jobs(_training_cfg(cfg, student))]


def _training_cfg(cfg: dict, student: dict) -> dict:
    """Training parameters of a student: those of the target it names (``setting = "fig2a"``), so the
    runs are shared and cannot drift apart, or given inline (tests, ad-hoc studies)."""
    if "setting" in student:
        base = load_config(student["setting"], Path(cfg["sims_dir"]), quick=cfg["quick"])
        student = {**{k: base[k] for k in ("M", "K", "N", "lr", "vstar", "steps")}, **student}
    return {**student, "sigmas": cfg["sigmas"], "seeds": cfg["seeds"]}


# ---------------------------------------------------------------- analysis
def prune_trained(w, v, wstar, vstar, *, kn: list[int], scores: list[str], sigma: float, seed: int,
                  score_samples: int, edge_masks: int, dpp_max_subsets: int) -> list[dict]:
    """Exact GE of the trained student (w, v) pruned by each score and by the baselines, per budget k_n.

    Returns one row per (method, k_n): ``eg`` / ``eg_reweighted`` (means over the
    random masks or the DPP), their standard deviations (random edge only), the
    number of nodes left with an edge, and Tr Pi of the pruned network (eq 14).
    DPP node pruning is left out (NaN) when C(K, k_n) > ``dpp_max_subsets`` or
    when k_n > rank(Q) (then no k_n-DPP exists).
    """
    w, v, wstar = (np.asarray(a, dtype=float) for a in (w, v, wstar))
    K, N = w.shape
    x, y = teacher_data(wstar, vstar, score_samples, seed=DATA_SEED_OFFSET + seed, sigma=sigma)
    data = {"x": x, "y": y, "mu": input_relevance(x)}
    importance = {name: score(name, w, v, **(data if name in DATA_SCORES + DIST_SCORES else {})) for name in scores}
    full = OrderParameters.from_weights(w, v, wstar, vstar)
    rng = np.random.default_rng(MASK_SEED_OFFSET + seed)
    rows = []
    for k in kn:
        c = k / K
        for name, s in importance.items():
            mask = select_top(s, c).w
            rows.append(_edge_row(name, k, c, [mask], w, v, wstar, vstar))
        masks = [bernoulli_edge_mask(K, N, c, rng) for _ in range(edge_masks)]
        rows.append(_edge_row("random_edge", k, c, masks, w, v, wstar, vstar))
        rows.append(_dpp_row(full, k, c, dpp_max_subsets))
    return rows


def _edge_row(method: str, k: int, c: float, masks: list[np.ndarray], w, v, wstar, vstar) -> dict:
    # The masks' order parameters are stacked so that eqs 5-8 and the optimal A run batched.
    pruned = [np.where(m, w, 0.0) for m in masks]
    Q = np.stack([overlap_Q(p) for p in pruned])
    R = np.stack([overlap_R(p, wstar) for p in pruned])
    T, vs = overlap_T(wstar), as_vstar(vstar, wstar.shape[0])
    V = np.broadcast_to(v, (len(masks), v.size))
    plain = np.atleast_1d(eg(Q, R, T, V, vs))
    A = np.atleast_1d(optimal_scale(Q, R, T, V, vs))
    scaled = np.atleast_1d(eg(Q, R, T, A[:, None] * V, vs))
    sd = (lambda a: float(np.std(a, ddof=1)) if len(a) > 1 else 0.0)
    return dict(method=method, kn=k, c=c, eg=float(np.mean(plain)), eg_reweighted=float(np.mean(scaled)),
                eg_sd=sd(plain), eg_reweighted_sd=sd(scaled),
                nodes_alive=float(np.mean([m.any(axis=1).sum() for m in masks])),
                trace_pi=float(np.mean([path_kernel_trace(w, v, m) for m in masks])))


def _dpp_row(full: OrderParameters, k: int, c: float, max_subsets: int) -> dict:
    row = dict(method="dpp_node", kn=k, c=c, eg=math.nan, eg_reweighted=math.nan, eg_sd=0.0,
               eg_reweighted_sd=0.0, nodes_alive=float(k), trace_pi=math.nan)
    if math.comb(full.K, k) <= max_subsets and k <= np.count_nonzero(kernel_spectrum(full.Q)[0]):
        dist = kdpp_subsets(full.Q, k)
        row["eg"] = dist.expect(lambda S: subset_eg(full, S))
        row["eg_reweighted"] = dist.expect(lambda S: subset_eg(full, S, "optimal"))
    return row


# ---------------------------------------------------------------- report
def report(cfg: dict, results: dict[str, dict], out: Path) -> list[Path]:
    """Prune every trained student; write ``pathkernel.csv`` and the figure ``pathkernel.png/.pdf``."""
    out = Path(out)
    rows = []
    for label, student in cfg["students"].items():
        tcfg = student = _training_cfg(cfg, student)
        for sigma in cfg["sigmas"]:
            for seed in cfg["seeds"]:
                r = results[training_name(tcfg, sigma, seed)]
                eg_full = float(r["eg"][-1])
                for row in prune_trained(r["w"], r["v"], r["wstar"], r["vstar"], kn=student["kn"],
                                         scores=cfg["scores"], sigma=float(sigma), seed=int(seed),
                                         score_samples=cfg["score_samples"], edge_masks=cfg["edge_masks"],
                                         dpp_max_subsets=cfg["dpp_max_subsets"]):
                    rows.append(dict(student=label, M=student["M"], K=student["K"], N=student["N"],
                                     sigma=float(sigma), seed=int(seed), eg_unpruned=eg_full, **row))
    return [write_rows(rows, out / "pathkernel.csv", ROW_FIELDS)] + _figure(cfg, rows, out)


def _figure(cfg: dict, rows: list[dict], out: Path) -> list[Path]:
    from matplotlib.figure import Figure

    sigma = float(cfg["sigmas"][0])
    labels = list(cfg["students"])
    fig = Figure(figsize=(11, 4.0 * len(labels)), constrained_layout=True)
    axes = fig.subplots(len(labels), 2, squeeze=False)
    methods = list(cfg["scores"]) + ["random_edge", "dpp_node"]
    for axrow, label in zip(axes, labels):
        student = _training_cfg(cfg, cfg["students"][label])
        sel = [r for r in rows if r["student"] == label and r["sigma"] == sigma]
        for ax, key, title in ((axrow[0], "eg", "no reweighting"),
                               (axrow[1], "eg_reweighted", "reweighted (edges: A v; DPP: optimal v)")):
            for method in methods:
                pts = [(k / student["K"], np.mean([r[key] for r in sel if r["method"] == method and r["kn"] == k]))
                       for k in student["kn"]]
                c, m = map(np.array, zip(*pts))
                ok = np.isfinite(m)
                ax.plot(c[ok], m[ok], marker=pruner_marker(method), label=method,
                        **(pruner_style(method) if method != "dpp_node" else {"color": "k", "ls": "-."}))
            unpruned = np.mean([r["eg_unpruned"] for r in sel])
            ax.axhline(unpruned, color="k", lw=0.8, ls=":", label="unpruned")
            ax.set(xlabel="budget c = k_n / K", ylabel=r"$\epsilon_g$ of the pruned student (eqs 5-8)",
                   yscale="log", title=f"M={student['M']}, K={student['K']}: {title}")
        axrow[0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"Trained students pruned by each score (N = {_training_cfg(cfg, cfg['students'][labels[0]])['N']}, "
                 f"$\\sigma$ = {sigma:g}, mean over {len(cfg['seeds'])} seeds)")
    return save_figure(fig, out / "pathkernel")
