"""Sweep target ``pathkernel``: the path-kernel paper's scores applied to *trained* students.

Every score prunes a student trained by online SGD to the budget of k_n nodes
(c = k_n / K), over both layers (path-kernel paper A.4.1) or the first layer
only; the pruned network's GE is exact (pruning eqs 5-8), without and with the
GE-optimal scale v -> A v (:func:`tsdyn.pathkernel.study.pruned_score_rows`).
The baselines are the pruning study's rows (:mod:`tsdyn.pruning.study`):
random edge pruning matched to k_n nodes (pruning eq 1, mean over ``edge_masks``
masks, optimal A) and DPP node pruning (Lemma 1, exact expectation, optimal v).

The students are the training runs of fig2a (M = 2, K = 6) and fig2b (M = 5,
K = 20): ``sims/pathkernel.toml`` repeats their parameters (a test checks that
the job keys agree), so the sweep trains each once; pruning is the report.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tsdyn.outputs import save_figure, write_rows
from tsdyn.pathkernel.study import mean_sem, pruned_score_rows, pruner_marker, pruner_style
from tsdyn.pruning.study import TrainedStudent, edge_pruning_rows, node_pruning_rows
from tsdyn.sweep.job import Job
from tsdyn.seeds import EDGE_MASK_SEED
from tsdyn.targets.students import run
from tsdyn.targets.training import training_jobs, training_name

#: Numba kernel groups this target's runs and report use (tsdyn.sweep.warmup compiles them first).
KERNELS = ("order", "sgd")

ROW_FIELDS = ("student", "M", "K", "N", "sigma", "seed", "layers", "method", "kn", "c", "eg", "eg_reweighted",
              "kept", "kept_w", "kept_v", "nodes_alive", "trace_pi", "eg_unpruned")


def _students(cfg: dict) -> dict[str, dict]:
    """Training configuration of each student: its table with the target's seeds, and its own sigmas."""
    return {label: {**s, "sigmas": s.get("sigmas", cfg["sigmas"]), "seeds": cfg["seeds"]}
            for label, s in cfg["students"].items()}


def jobs(cfg: dict, *, quick: bool = False) -> list[Job]:
    """The training runs of every student (the same jobs as fig2a / fig2b)."""
    return [job for student in _students(cfg).values() for job in training_jobs(student)]


def report(cfg: dict, results: dict[str, dict], out: Path) -> list[Path]:
    """Prune every trained student; write ``pathkernel.csv`` and the figure ``pathkernel.png/.pdf``."""
    out = Path(out)
    rows = []
    for label, st in _students(cfg).items():
        for sigma in st["sigmas"]:
            for seed in cfg["seeds"]:
                traj = run(results, training_name(st, sigma, seed))
                student = TrainedStudent.from_trajectory(traj, sigma=sigma, seed=seed)
                common = dict(student=label, M=st["M"], K=st["K"], N=st["N"], sigma=float(sigma), seed=int(seed),
                              eg_unpruned=float(traj.eg[-1]))
                rows += [dict(common, **row) for row in pruned_score_rows(
                    student.w, student.v, student.wstar, student.vstar, kn=st["kn"], scores=cfg["scores"], layers=cfg["layers"],
                    sigma=float(sigma), seed=int(seed), score_samples=cfg["score_samples"])]
                rows += [dict(common, **row) for row in _baseline_rows(cfg, st, student)]
    return [write_rows(rows, out / "pathkernel.csv", ROW_FIELDS)] + _figure(cfg, rows, out)


def _baseline_rows(cfg: dict, st: dict, student: TrainedStudent) -> list[dict]:
    """Random edge and DPP node rows of the pruning study, in this target's columns (reweighted = optimal)."""
    K, N = student.w.shape
    out = []
    edge = edge_pruning_rows(student, st["kn"], n_masks=cfg["edge_masks"], seed=EDGE_MASK_SEED)
    dpp_kn = [k for k in st["kn"] if math.comb(K, k) <= cfg["dpp_max_subsets"]]
    dpp = node_pruning_rows(student, dpp_kn, methods=("dpp",))
    for method, found, n_kept in (("random_edge", edge, lambda k: k * N + K), ("dpp_node", dpp, lambda k: k * (N + 1))):
        for k in st["kn"]:
            by = {r["reweight"]: r["eps"] for r in found if r["kn"] == k and r["reweight"] in ("none", "optimal")}
            out.append(dict(layers="first" if method == "random_edge" else "both", method=method, kn=k, c=k / K,
                            eg=by.get("none", math.nan), eg_reweighted=by.get("optimal", math.nan),
                            kept=n_kept(k), kept_w=k * N, kept_v=K if method == "random_edge" else k,
                            nodes_alive=math.nan, trace_pi=math.nan))
    return out


def _figure(cfg: dict, rows: list[dict], out: Path) -> list[Path]:
    from matplotlib.figure import Figure

    sigma = float(cfg["sigmas"][0])
    students = _students(cfg)
    layers = cfg["layers"][0]
    fig = Figure(figsize=(11, 4.0 * len(students)), layout="constrained")
    axes = fig.subplots(len(students), 2, squeeze=False)
    methods = list(cfg["scores"]) + ["random_edge", "dpp_node"]
    for axrow, (label, st) in zip(axes, students.items()):
        sel = [r for r in rows if r["student"] == label and r["sigma"] == sigma
               and (r["layers"] == layers or r["method"] in ("random_edge", "dpp_node"))]
        for ax, key, title in ((axrow[0], "eg", "no reweighting"),
                               (axrow[1], "eg_reweighted", "reweighted (scores, edges: A v; DPP: optimal v)")):
            for method in methods:
                pts = [(k / st["K"], *mean_sem([r[key] for r in sel if r["method"] == method and r["kn"] == k]))
                       for k in st["kn"]]
                c, m, s = map(np.array, zip(*pts))
                ok = np.isfinite(m)
                ax.errorbar(c[ok], m[ok], yerr=np.nan_to_num(s[ok]), marker=pruner_marker(method), ms=4, capsize=2,
                            label=method, **pruner_style(method))
            ax.axhline(np.mean([r["eg_unpruned"] for r in sel]), color="k", lw=0.8, ls=":", label="unpruned")
            ax.set(xlabel="budget c = k_n / K", ylabel=r"$\epsilon_g$ of the pruned student (eqs 5-8)",
                   yscale="log", title=f"M={st['M']}, K={st['K']}: {title}")
        axrow[0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"Trained students pruned by each score ({layers} layers in the budget; $\\sigma$ = {sigma:g}, "
                 f"mean $\\pm$ SEM over {len(cfg['seeds'])} seeds)")
    return save_figure(fig, out / "pathkernel")
