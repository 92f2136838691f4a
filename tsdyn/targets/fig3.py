"""Sweep target ``fig3``: Figure 3 of the pruning paper, order parameters and the DPP kernel.

Panels, rows ordered by block (the teacher node each student node learnt):
(A) the DPP kernel L = Q (Lemma 1); (B) Q and R of the trained student;
(C) both after DPP node pruning with k_n nodes; (D) after random node pruning.
The subsets drawn for C and D come from ``subset_seed``; beside them the exact
probability that each method keeps two nodes of one block.

Outputs: ``fig3.csv`` (every matrix entry shown, long format) and ``fig3.png`` / ``.pdf``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tsdyn.outputs import pyplot, save_figure, write_rows
from tsdyn.pruning.blocks import assign_blocks
from tsdyn.pruning.dpp import sample_kdpp
from tsdyn.pruning.operators import select_random
from tsdyn.pruning.study import same_block_probabilities
from tsdyn.seeds import SUBSET_SEED
from tsdyn.sweep.job import Job
from tsdyn.targets.students import students
from tsdyn.targets.training import training_jobs

#: Numba kernel groups this target's runs and report use (tsdyn.sweep.warmup compiles them first).
KERNELS = ("sgd",)


def jobs(cfg: dict, *, quick: bool) -> list[Job]:
    return training_jobs(cfg)


def panels(cfg: dict, results: dict[str, dict]) -> dict:
    """The matrices of the figure and the facts annotated on it."""
    student = next(students(cfg, results))
    op = student.params
    blocks = assign_blocks(op)
    order = np.lexsort((np.arange(op.K), blocks.teacher))  # by block, then by index
    rng = np.random.default_rng(cfg.get("subset_seed", SUBSET_SEED))
    k_n = int(cfg["kn"])
    kept = {"dpp": np.sort(sample_kdpp(op.Q, k_n, rng)), "random": select_random(op.K, k_n, rng)}
    return dict(student=student, Q=op.Q, R=op.R, order=order, blocks=blocks, kept=kept,
                same_block=same_block_probabilities(op, k_n), k_n=k_n)


def report(cfg: dict, results: dict[str, dict], out: Path) -> list[Path]:
    p = panels(cfg, results)
    rows = []
    for name, keep in (("full", p["order"]), ("dpp", _ordered(p["kept"]["dpp"], p["order"])),
                       ("random", _ordered(p["kept"]["random"], p["order"]))):
        for a, i in enumerate(keep):
            rows += [dict(panel=name, matrix="Q", row=a, col=b, node_i=int(i), node_k=int(k), value=float(p["Q"][i, k]))
                     for b, k in enumerate(keep)]
            rows += [dict(panel=name, matrix="R", row=a, col=n, node_i=int(i), node_k=n, value=float(p["R"][i, n]))
                     for n in range(p["R"].shape[1])]
    paths = [write_rows(rows, Path(out) / "fig3.csv")]
    return paths + plot(p, cfg, Path(out) / "fig3")


def _ordered(keep: np.ndarray, order: np.ndarray) -> np.ndarray:
    return np.array([i for i in order if i in set(keep.tolist())])


def plot(p: dict, cfg: dict, stem: Path) -> list[Path]:
    plt = pyplot()
    Q, R, order, blocks = p["Q"], p["R"], p["order"], p["blocks"]
    lim = float(np.max(np.abs(np.concatenate([Q.ravel(), R.ravel()]))))
    fig, axes = plt.subplots(1, 7, figsize=(17, 3.6), constrained_layout=True,
                             gridspec_kw={"width_ratios": [6, 6, 2, 3, 1.4, 3, 1.4]})

    def show(ax, M, rows, cols, title, row_labels=None):
        im = ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(title, fontsize=9)
        ax.set_yticks(range(len(rows)), row_labels if row_labels is not None else [str(i) for i in rows], fontsize=7)
        ax.set_xticks(range(len(cols)), [str(c) for c in cols], fontsize=7)
        return im

    def labels_of(nodes):
        return [f"{i} (t{blocks.teacher[i]}{'-' if blocks.sign[i] < 0 else ''})" for i in nodes]

    labels = labels_of(order)
    show(axes[0], Q[np.ix_(order, order)], order, order, "(A) DPP kernel L = Q (Lemma 1)", labels)
    show(axes[1], Q[np.ix_(order, order)], order, order, "(B) order parameter Q", labels)
    show(axes[2], R[order], order, range(R.shape[1]), "(B) R", labels)
    for ax_q, ax_r, method, letter in ((axes[3], axes[4], "dpp", "C"), (axes[5], axes[6], "random", "D")):
        keep = _ordered(p["kept"][method], order)
        lab = labels_of(keep)
        show(ax_q, Q[np.ix_(keep, keep)], keep, keep,
             f"({letter}) {method.upper() if method == 'dpp' else method} node, $k_n$ = {p['k_n']}\n"
             f"P(two of one block) = {p['same_block'][method]:.3g}", lab)
        im = show(ax_r, R[keep], keep, range(R.shape[1]), f"({letter}) R", lab)
    fig.colorbar(im, ax=axes, shrink=0.8, label="overlap")
    s = p["student"]
    fig.suptitle(f"Figure 3: trained student M = {cfg['M']}, K = {cfg['K']}, N = {cfg['N']}, seed {s.seed}, "
                 f"$\\sigma$ = {s.sigma}; rows ordered by block (node (teacher, '-' = sign-flipped)); "
                 f"group sizes {blocks.sizes.tolist()}", fontsize=10)
    return save_figure(fig, stem)
